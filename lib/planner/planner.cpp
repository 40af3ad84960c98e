// The planner: prompts, asking the model for a plan (re-asking with the validation errors),
// running plans, the joiner and re-planning, and the journal for durable runs.
#include <algorithm>
#include <future>
#include <set>
#include <random>

#include "core/text.hpp"
#include "planner/plan_check.hpp"
#include "planner/planner_impl.hpp"

namespace keel {

namespace {

using detail::cut_utf8;

std::string new_run_id() {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  static const char* digits = "0123456789abcdef";
  std::string id = "run-";
  for (int i = 0; i < 16; ++i) id += digits[random() & 15];
  return id;
}

std::string join_issues(const std::vector<PlanIssue>& issues) {
  std::string out;
  for (const auto& issue : issues) out += "\n- " + issue.to_string();
  return out;
}

// The JSON object in a model's answer: the whole text, or inside a ``` fence, or from the first
// '{' to the last '}'.
Json json_in(const std::string& text) {
  Json parsed = Json::parse(text, nullptr, false);
  if (!parsed.is_discarded()) return parsed;
  auto first = text.find('{');
  auto last = text.rfind('}');
  if (first != std::string::npos && last != std::string::npos && last > first) {
    parsed = Json::parse(text.substr(first, last - first + 1), nullptr, false);
    if (!parsed.is_discarded()) return parsed;
  }
  throw Error(Errc::parse, "the answer is not a JSON object: " + cut_utf8(text, 200));
}

std::string results_text(const Plan& plan, const std::vector<TaskOutcome>& outcomes, std::size_t limit) {
  std::string out;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const auto& o = outcomes[i];
    out += "- " + o.id + " (" + o.tool + " " + cut_utf8(dump_json(plan.tasks[i].args), 400) + "): " + o.status;
    if (o.status == "done") {
      out += " -> " + cut_utf8(o.output.is_string() ? o.output.get<std::string>() : dump_json(o.output), limit);
    } else if (!o.error.empty()) {
      out += ": " + o.error;
    }
    out += "\n";
  }
  return out;
}

}  // namespace

namespace planner {

std::vector<Json> TaskStream::feed(std::string_view piece) {
  std::vector<Json> tasks;
  buffer_.append(piece);
  for (; scanned_ < buffer_.size(); ++scanned_) {
    char c = buffer_[scanned_];
    if (in_string_) {
      if (escape_) {
        escape_ = false;
      } else if (c == '\\') {
        escape_ = true;
      } else if (c == '"') {
        in_string_ = false;
        if (depth_ == 1) last_key_ = buffer_.substr(string_start_, scanned_ - string_start_);
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string_ = true;
        string_start_ = scanned_ + 1;
        break;
      case '{':
        if (in_tasks_ && depth_ == 2) object_start_ = scanned_;
        ++depth_;
        break;
      case '}':
        --depth_;
        if (in_tasks_ && depth_ == 2) {
          Json task = Json::parse(buffer_.substr(object_start_, scanned_ - object_start_ + 1), nullptr, false);
          if (!task.is_discarded()) tasks.push_back(std::move(task));
        }
        break;
      case '[':
        ++depth_;
        if (depth_ == 2 && last_key_ == "tasks") in_tasks_ = true;
        break;
      case ']':
        --depth_;
        if (depth_ == 1) in_tasks_ = false;
        break;
      default:
        break;
    }
  }
  return tasks;
}

}  // namespace planner

Planner::Planner(PlannerConfig config, std::shared_ptr<ChatModel> model, ToolRegistry tools)
    : impl_(std::make_shared<Impl>()) {
  if (tools.find("llm") != nullptr) {
    throw Error(Errc::invalid_config, "tools: \"llm\" is the planner's name for the model; rename that tool");
  }
  impl_->config = std::move(config);
  impl_->model = std::move(model);
  impl_->tools = std::move(tools);
  impl_->executor = impl_->model ? &impl_->model->executor() : &Executor::shared();
  if (impl_->config.circuit_breaker) {
    for (const auto& spec : impl_->tools.specs()) {
      impl_->breakers.emplace(spec.name, std::make_unique<CircuitBreaker>(*impl_->config.circuit_breaker,
                                                                          "tool " + spec.name));
    }
  }
  if (!impl_->config.journal.empty()) impl_->journal = std::make_unique<planner::Journal>(impl_->config.journal);
}

Planner::~Planner() = default;

namespace planner {

std::vector<PlanIssue> validate(const Planner::Impl& impl, const Plan& plan) {
  auto issues = validate_plan(plan, impl.tools, impl.model != nullptr);
  if (!impl.model) {
    for (const auto& task : plan.tasks) {
      if (task.tool == "llm") issues.push_back({task.id, "an llm task needs a model, and this planner has none"});
    }
  }
  return issues;
}

std::string planning_prompt(const Planner::Impl& impl, std::string_view goal) {
  std::string tools;
  for (const auto& spec : impl.tools.specs()) {
    tools += "- " + spec.name + ": " + spec.description + "\n  parameters: " + dump_json(spec.parameters) + "\n";
  }
  if (impl.model) tools += "- llm: the language model writes text. args: {\"prompt\": \"...\"}\n";
  std::string prompt =
      "Plan how to reach the goal below with the tools listed. Answer with one JSON object and "
      "nothing else:\n"
      "{\"tasks\": [{\"id\": \"t1\", \"tool\": \"<tool name>\", \"args\": {...}, \"deps\": []}]}\n"
      "Rules:\n"
      "- ids are short and unique: t1, t2, t3...\n"
      "- \"tool\" is one of the tools below; \"args\" follow that tool's parameters.\n"
      "- To use an earlier task's output as an argument, write \"$t1\" (the whole output) or "
      "\"${t1.field}\" (a field of it; array items by index, \"${t1.items.0}\"). A task that refers "
      "to another depends on it.\n"
      "- \"deps\" lists other tasks that must finish first. Tasks that do not depend on each other "
      "run at the same time.\n"
      "- No cycles. Use as few tasks as the goal needs.\n"
      "Tools:\n" + tools;
  if (!impl.config.instructions.empty()) prompt += "Instructions:\n" + impl.config.instructions + "\n";
  prompt += "Goal: " + std::string(goal);
  return prompt;
}

void emit_model_call(const Planner::Impl& impl, std::string_view stage, std::chrono::steady_clock::time_point started,
                     const Result<ChatResponse>& answer) {
  if (!impl.events) return;
  Json event = make_event("plan.model_call", std::chrono::duration_cast<std::chrono::microseconds>(
                                                 std::chrono::steady_clock::now() - started).count());
  event["stage"] = stage;
  if (answer.ok()) {
    event["input_tokens"] = answer.value().usage.input_tokens;
    event["output_tokens"] = answer.value().usage.output_tokens;
  } else {
    event["error"] = to_string(answer.error().code());
  }
  emit(impl.events, event);
}

// A run's end, for plans and goals alike: its duration, the journal's summary line and the
// "plan.run" event.
void close_run(const Planner::Impl& impl, PlanRun& result, std::chrono::steady_clock::time_point started) {
  result.duration_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();
  if (impl.journal) {
    try {
      impl.journal->run_finished(result.run_id, result.status);
    } catch (const Error&) {
      // The tasks are recorded; only the run's summary line is missing.
    }
  }
  if (impl.events) {
    Json event = make_event("plan.run", result.duration_us);
    event["run_id"] = result.run_id;
    event["status"] = result.status;
    event["tasks"] = result.tasks.size();
    event["replans"] = result.replans;
    emit(impl.events, event);
  }
}

}  // namespace planner

std::vector<PlanIssue> Planner::validate(const Plan& plan) const { return planner::validate(*impl_, plan); }

std::string Planner::planning_prompt(std::string_view goal) const { return planner::planning_prompt(*impl_, goal); }

namespace {

// Asks for a plan, re-asking with the validation errors; completes once on an executor thread.
class PlanRequest : public std::enable_shared_from_this<PlanRequest> {
 public:
  PlanRequest(std::shared_ptr<const Planner::Impl> impl, std::string prompt, CallOptions options,
              std::function<void(Result<Plan>, Usage)> done)
      : impl_(std::move(impl)), options_(std::move(options)), done_(std::move(done)) {
    messages_.push_back(Message::user(std::move(prompt)));
  }

  /// Continues after an answer that did not give a valid plan (a streamed one): the model sees
  /// it and the problems, and it counts as an attempt.
  void after_invalid(std::string answer, const std::vector<PlanIssue>& issues) {
    ++attempts_;
    messages_.push_back(Message::assistant(std::move(answer)));
    messages_.push_back(Message::user("That plan cannot run:" + join_issues(issues) +
                                      "\nAnswer with the corrected plan, as one JSON object."));
  }

  void ask() {
    if (attempts_ >= impl_->config.max_plan_attempts) {
      return done_(Error(Errc::parse, "no valid plan after " + std::to_string(attempts_) + " answers"), usage_);
    }
    ++attempts_;
    ChatRequest request;
    request.messages = messages_;
    request.json_response = true;
    CallOptions options;
    options.deadline = options_.deadline;
    options.cancel = options_.cancel;
    auto started = std::chrono::steady_clock::now();
    impl_->model->chat_async(std::move(request), std::move(options),
                             [self = shared_from_this(), started](Result<ChatResponse> r) {
                               planner::emit_model_call(*self->impl_, "plan", started, r);
                               self->on_answer(std::move(r));
                             });
  }

 private:
  void on_answer(Result<ChatResponse> answer) {
    if (!answer.ok()) return done_(answer.error(), usage_);
    usage_ += answer.value().usage;
    const std::string& text = answer.value().message.content;
    std::vector<PlanIssue> issues;
    std::optional<Plan> plan;
    try {
      plan = Plan::from_json(json_in(text));
      issues = planner::validate(*impl_, *plan);
    } catch (const Error& e) {
      issues.push_back({"", e.what()});
    }
    if (issues.empty()) return done_(std::move(*plan), usage_);
    if (attempts_ >= impl_->config.max_plan_attempts) {
      return done_(Error(Errc::parse, "no valid plan after " + std::to_string(attempts_) +
                                          " answers; the last one:" + join_issues(issues)),
                   usage_);
    }
    messages_.push_back(Message::assistant(text));
    messages_.push_back(Message::user("That plan cannot run:" + join_issues(issues) +
                                      "\nAnswer with the corrected plan, as one JSON object."));
    ask();
  }

  std::shared_ptr<const Planner::Impl> impl_;
  CallOptions options_;
  std::function<void(Result<Plan>, Usage)> done_;
  std::vector<Message> messages_;
  int attempts_ = 0;
  Usage usage_;
};

}  // namespace

void Planner::plan_async(std::string goal, CallOptions options, std::function<void(Result<Plan>)> done) const {
  if (!impl_->model) throw Error(Errc::invalid_argument, "planner: planning a goal needs a model");
  auto request = std::make_shared<PlanRequest>(impl_, planning_prompt(goal), std::move(options),
                                               [done = std::move(done)](Result<Plan> r, Usage) { done(std::move(r)); });
  request->ask();
}

Plan Planner::plan(std::string_view goal, CallOptions options) const {
  if (impl_->executor->running_in_this_thread()) {
    throw Error(Errc::invalid_argument, "Planner::plan() from an executor thread would wait on itself");
  }
  std::promise<Result<Plan>> promise;
  plan_async(std::string(goal), std::move(options), [&promise](Result<Plan> r) { promise.set_value(std::move(r)); });
  return promise.get_future().get().value();
}

void Planner::run_async(Plan plan, PlanRunOptions options, std::function<void(PlanRun)> done) const {
  auto impl = impl_;
  auto started = std::chrono::steady_clock::now();
  PlanRun result;
  result.run_id = options.run_id.empty() ? new_run_id() : options.run_id;
  std::map<std::string, planner::Journal::Task> previous;
  std::size_t seq = 0;
  if (impl->journal) {
    if (auto stored = impl->journal->load(result.run_id)) {
      if (!stored->plans.empty()) {
        if (!plan.tasks.empty() && plan.to_json() != stored->plans.back().to_json()) {
          throw Error(Errc::invalid_argument,
                      "run " + result.run_id + " was started with another plan; resume it with the same one");
        }
        plan = stored->plans.back();
        seq = stored->plans.size() - 1;
        previous = std::move(stored->tasks);
      }
    }
  }
  auto issues = validate(plan);
  if (plan.tasks.empty() && !options.run_id.empty()) {
    issues = {{"", "no plan was given, and run " + result.run_id +
                       (impl->journal ? " is not in the journal" : " cannot be resumed without a journal")}};
  }
  result.plans.push_back(plan);
  if (!issues.empty()) {
    result.status = "invalid";
    result.error = Error(Errc::invalid_argument, "the plan cannot run:" + join_issues(issues));
    for (const auto& t : plan.tasks) {
      TaskOutcome o;
      o.id = t.id;
      o.tool = t.tool;
      result.tasks.push_back(std::move(o));
    }
    impl->executor->post([done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
    return;
  }
  if (impl->journal) {
    impl->journal->begin_run(result.run_id, "");
    if (previous.empty()) impl->journal->add_plan(result.run_id, seq, plan);
  }
  std::string run_id = result.run_id;
  planner::run_dag(impl, std::move(plan), seq, run_id, std::move(previous), options.deadline, options.cancel,
                   [impl, result = std::move(result), started, done = std::move(done)](planner::DagResult dag) mutable {
                     result.tasks = std::move(dag.tasks);
                     result.usage += dag.usage;
                     result.status = dag.status;
                     result.error = std::move(dag.error);
                     planner::close_run(*impl, result, started);
                     done(std::move(result));
                   });
}

PlanRun Planner::run(Plan plan, PlanRunOptions options) const {
  if (impl_->executor->running_in_this_thread()) {
    throw Error(Errc::invalid_argument, "Planner::run() from an executor thread would wait on itself");
  }
  std::promise<PlanRun> promise;
  run_async(std::move(plan), std::move(options), [&promise](PlanRun r) { promise.set_value(std::move(r)); });
  return promise.get_future().get();
}

namespace {

// A goal: plan, run, join; re-plan when the joiner asks (bounded).
class Solve : public std::enable_shared_from_this<Solve> {
 public:
  Solve(std::shared_ptr<const Planner::Impl> impl, std::string goal, PlanRunOptions options,
        std::function<void(PlanRun)> done)
      : impl_(std::move(impl)), goal_(std::move(goal)), options_(std::move(options)),
        done_(std::move(done)) {
    result_.run_id = options_.run_id.empty() ? new_run_id() : options_.run_id;
    started_ = std::chrono::steady_clock::now();
  }

  void start() {
    if (impl_->journal) {
      if (auto stored = impl_->journal->load(result_.run_id); stored && !stored->plans.empty()) {
        // Resume: the plans made so far, and the last one's tasks.
        result_.plans = stored->plans;
        result_.replans = static_cast<int>(stored->plans.size()) - 1;
        return run_plan(stored->plans.back(), std::move(stored->tasks));
      }
      impl_->journal->begin_run(result_.run_id, goal_);
      // A journalled run records its whole plan before any task runs, so that a resumed run
      // knows every task: it does not start tasks while the plan streams in.
      return ask_for_plan(planner::planning_prompt(*impl_, goal_));
    }
    ask_streaming(planner::planning_prompt(*impl_, goal_));
  }

 private:
  // The plan streams in: each task starts as soon as it has arrived, is valid on its own and its
  // dependencies are done. When the whole answer turns out invalid, what runs is stopped and the
  // model is asked again (without streaming) with the problems.
  void ask_streaming(std::string prompt) {
    auto self = shared_from_this();
    stream_ = std::make_shared<Streamed>();
    stream_->prompt = prompt;
    stream_->dag = planner::start_streaming_dag(impl_, result_.run_id, options_.deadline, options_.cancel,
                                                [self](planner::DagResult dag) { self->on_streamed_dag(std::move(dag)); });
    ChatRequest request;
    request.messages.push_back(Message::user(std::move(prompt)));
    request.json_response = true;
    CallOptions options;
    options.deadline = options_.deadline;
    options.cancel = options_.cancel;
    options.on_delta = [self, stream = stream_](const StreamDelta& delta) {
      if (delta.kind != StreamDelta::Kind::text) return;
      self->on_plan_piece(*stream, delta.text);
    };
    auto started = std::chrono::steady_clock::now();
    impl_->model->chat_async(std::move(request), std::move(options), [self, started](Result<ChatResponse> r) {
      planner::emit_model_call(*self->impl_, "plan", started, r);
      self->on_streamed_answer(std::move(r));
    });
  }

  struct Streamed {
    std::mutex mutex;
    std::string prompt;
    planner::TaskStream scanner;
    Plan arrived;  // the tasks started so far, in order
    bool broken = false;
    std::shared_ptr<planner::StreamingDag> dag;
    // Set when the answer was invalid: the re-ask to make once the stopped run has ended.
    std::string invalid_answer;
    std::vector<PlanIssue> issues;
    std::optional<Error> failure;
    std::optional<Plan> plan;  // the whole plan, once valid
  };

  // Adds `task` to the streamed plan when it is valid given the tasks before it.
  bool admit(Streamed& stream, const Json& task_json) {
    Plan one;
    try {
      one = Plan::from_json(Json{{"tasks", Json::array({task_json})}});
    } catch (const Error&) {
      return false;
    }
    PlanTask& task = one.tasks[0];
    if (stream.arrived.find(task.id) >= 0) return false;
    stream.arrived.tasks.push_back(task);
    auto known = [&](std::string_view id) {
      auto at = stream.arrived.find(id);
      return at >= 0 && static_cast<std::size_t>(at) + 1 < stream.arrived.tasks.size();
    };
    auto issues =
        planner::check_task(stream.arrived, stream.arrived.tasks.size() - 1, impl_->tools, known, impl_->model != nullptr);
    if (task.tool == "llm" && !impl_->model) issues.push_back({task.id, "no model"});
    if (!issues.empty()) {
      stream.arrived.tasks.pop_back();
      return false;
    }
    return true;
  }

  void on_plan_piece(Streamed& stream, const std::string& piece) {
    std::vector<PlanTask> start;
    {
      std::lock_guard lock(stream.mutex);
      if (stream.broken) return;
      for (const auto& task : stream.scanner.feed(piece)) {
        if (!admit(stream, task)) {
          stream.broken = true;  // the rest waits for the whole answer
          break;
        }
        start.push_back(stream.arrived.tasks.back());
      }
    }
    for (auto& task : start) stream.dag->add(std::move(task));
  }

  void on_streamed_answer(Result<ChatResponse> answer) {
    auto stream = stream_;
    if (!answer.ok()) {
      {
        std::lock_guard lock(stream->mutex);
        stream->failure = answer.error();
      }
      return stream->dag->abort(answer.error());
    }
    result_.usage += answer.value().usage;
    const std::string& text = answer.value().message.content;
    std::vector<PlanIssue> issues;
    std::optional<Plan> plan;
    try {
      plan = Plan::from_json(json_in(text));
      issues = planner::validate(*impl_, *plan);
    } catch (const Error& e) {
      issues.push_back({"", e.what()});
    }
    std::vector<PlanTask> rest;
    {
      std::lock_guard lock(stream->mutex);
      if (issues.empty()) {
        // Every started task must be the plan's own, unchanged (the stream is the answer).
        for (const auto& started : stream->arrived.tasks) {
          auto at = plan->find(started.id);
          if (at < 0 || plan->tasks[static_cast<std::size_t>(at)].to_json() != started.to_json()) {
            issues.push_back({started.id, "differs from the task that started while the answer streamed"});
          }
        }
      }
      if (issues.empty()) {
        for (const auto& task : plan->tasks) {
          if (stream->arrived.find(task.id) < 0) rest.push_back(task);
        }
        stream->plan = plan;
        result_.plans.push_back(*plan);
      } else {
        stream->invalid_answer = text;
        stream->issues = issues;
      }
    }
    if (!issues.empty()) return stream->dag->abort(Error(Errc::parse, "the plan cannot run:" + join_issues(issues)));
    // Tasks the scanner did not see (a plan with an unusual layout): their dependencies are all
    // in the plan now, but a task may need one listed after it, so add them in a valid order.
    add_in_order(*stream, std::move(rest));
    stream->dag->close();
  }

  void add_in_order(Streamed& stream, std::vector<PlanTask> rest) {
    std::set<std::string> added;
    for (const auto& t : stream.arrived.tasks) added.insert(t.id);
    Plan whole = *stream.plan;
    while (!rest.empty()) {
      bool progress = false;
      for (auto it = rest.begin(); it != rest.end();) {
        auto deps = whole.dependencies(static_cast<std::size_t>(whole.find(it->id)));
        bool ready = std::all_of(deps.begin(), deps.end(), [&](const std::string& d) { return added.count(d) > 0; });
        if (ready) {
          added.insert(it->id);
          stream.dag->add(*it);
          it = rest.erase(it);
          progress = true;
        } else {
          ++it;
        }
      }
      if (!progress) break;  // cannot happen for a valid plan (no cycles)
    }
  }

  void on_streamed_dag(planner::DagResult dag) {
    auto stream = stream_;
    std::unique_lock lock(stream->mutex);
    if (stream->failure) {
      lock.unlock();
      return finish_with(*stream->failure, "failed");
    }
    if (!stream->plan) {
      // The answer was invalid: ask again, showing it and its problems.
      auto answer = stream->invalid_answer;
      auto issues = stream->issues;
      auto prompt = stream->prompt;
      lock.unlock();
      return ask_for_plan(std::move(prompt), std::move(answer), std::move(issues));
    }
    Plan plan = *stream->plan;
    lock.unlock();
    result_.tasks = std::move(dag.tasks);
    // The streamed run lists tasks in the order they arrived; report them in plan order.
    std::sort(result_.tasks.begin(), result_.tasks.end(), [&](const TaskOutcome& a, const TaskOutcome& b) {
      return plan.find(a.id) < plan.find(b.id);
    });
    result_.usage += dag.usage;
    result_.status = dag.status;
    result_.error = std::move(dag.error);
    if (result_.status == "cancelled") return finish();
    join(plan);
  }

  std::shared_ptr<Streamed> stream_;

  void ask_for_plan(std::string prompt, std::string invalid_answer = {}, std::vector<PlanIssue> issues = {}) {
    CallOptions options;
    options.deadline = options_.deadline;
    options.cancel = options_.cancel;
    auto request = std::make_shared<PlanRequest>(impl_, std::move(prompt), std::move(options),
                                                 [self = shared_from_this()](Result<Plan> plan, Usage usage) {
                                                   self->result_.usage += usage;
                                                   if (!plan.ok()) {
                                                     // "invalid" only when the model wrote no valid plan.
                                                     return self->finish_with(
                                                         plan.error(), plan.error().code() == Errc::parse ? "invalid" : "failed");
                                                   }
                                                   self->result_.plans.push_back(plan.value());
                                                   if (self->impl_->journal) {
                                                     self->impl_->journal->add_plan(self->result_.run_id,
                                                                                    self->result_.plans.size() - 1,
                                                                                    plan.value());
                                                   }
                                                   self->run_plan(std::move(plan.value()), {});
                                                 });
    if (!invalid_answer.empty()) request->after_invalid(std::move(invalid_answer), issues);
    request->ask();
  }

  void run_plan(Plan plan, std::map<std::string, planner::Journal::Task> previous) {
    auto self = shared_from_this();
    planner::run_dag(impl_, plan, result_.plans.size() - 1, result_.run_id, std::move(previous), options_.deadline,
                     options_.cancel, [self, plan](planner::DagResult dag) {
                       self->result_.tasks = std::move(dag.tasks);
                       self->result_.usage += dag.usage;
                       self->result_.status = dag.status;
                       self->result_.error = std::move(dag.error);
                       if (self->result_.status == "cancelled") return self->finish();
                       self->join(plan);
                     });
  }

  void join(const Plan& plan) {
    bool may_replan = result_.replans < impl_->config.max_replans;
    std::string prompt =
        "Goal: " + goal_ + "\n\nA plan ran to reach it. Its tasks and their results:\n" +
        results_text(plan, result_.tasks, impl_->config.max_output_bytes) +
        "\nAnswer with one JSON object: {\"answer\": \"<the answer to the goal, from these results>\"}" +
        (may_replan ? " or, when these results cannot answer it, {\"replan\": \"<what went wrong and what to do "
                      "differently>\"}."
                    : ".");
    if (!impl_->config.instructions.empty()) prompt += "\nInstructions:\n" + impl_->config.instructions;
    ChatRequest request;
    request.messages.push_back(Message::user(std::move(prompt)));
    request.json_response = true;
    CallOptions options;
    options.deadline = options_.deadline;
    options.cancel = options_.cancel;
    auto started = std::chrono::steady_clock::now();
    impl_->model->chat_async(std::move(request), std::move(options),
                             [self = shared_from_this(), plan, may_replan, started](Result<ChatResponse> r) {
                               planner::emit_model_call(*self->impl_, "join", started, r);
                               self->on_join(plan, may_replan, std::move(r));
                             });
  }

  void on_join(const Plan& plan, bool may_replan, Result<ChatResponse> r) {
    if (!r.ok()) return finish_with(r.error(), "failed");  // no answer: the goal is not reached
    result_.usage += r.value().usage;
    const std::string& text = r.value().message.content;
    Json answer = Json::parse(text, nullptr, false);
    if (answer.is_discarded()) {
      try {
        answer = json_in(text);
      } catch (const Error&) {
        answer = Json{{"answer", text}};  // plain text is taken as the answer
      }
    }
    if (answer.is_object() && answer.contains("replan") && may_replan) {
      ++result_.replans;
      std::string why = answer["replan"].is_string() ? answer["replan"].get<std::string>() : dump_json(answer["replan"]);
      std::string prompt = planner::planning_prompt(*impl_, goal_) + "\n\nA previous plan did not reach the goal:\n" +
                           dump_json(plan.to_json()) + "\nIts results:\n" +
                           results_text(plan, result_.tasks, impl_->config.max_output_bytes) +
                           "What to do differently: " + why + "\nWrite a new plan.";
      return ask_for_plan(std::move(prompt));
    }
    if (answer.is_object() && answer.contains("answer")) {
      result_.answer = answer["answer"].is_string() ? answer["answer"].get<std::string>() : dump_json(answer["answer"]);
    } else {
      result_.answer = text;
    }
    finish();
  }

  void finish_with(const Error& error, const std::string& status) {
    result_.error = error;
    result_.status = error.code() == Errc::cancelled ? "cancelled" : status.empty() ? "failed" : status;
    finish();
  }

  void finish() {
    planner::close_run(*impl_, result_, started_);
    auto done = std::move(done_);
    done(std::move(result_));
  }

  std::shared_ptr<const Planner::Impl> impl_;
  std::string goal_;
  PlanRunOptions options_;
  std::function<void(PlanRun)> done_;
  PlanRun result_;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace

void Planner::solve_async(std::string goal, PlanRunOptions options, std::function<void(PlanRun)> done) const {
  if (!impl_->model) throw Error(Errc::invalid_argument, "planner: solving a goal needs a model");
  auto solve = std::make_shared<Solve>(impl_, std::move(goal), std::move(options), std::move(done));
  solve->start();
}

PlanRun Planner::solve(std::string goal, PlanRunOptions options) const {
  if (impl_->executor->running_in_this_thread()) {
    throw Error(Errc::invalid_argument, "Planner::solve() from an executor thread would wait on itself");
  }
  std::promise<PlanRun> promise;
  solve_async(std::move(goal), std::move(options), [&promise](PlanRun r) { promise.set_value(std::move(r)); });
  return promise.get_future().get();
}

void Planner::set_event_sink(EventSink sink) { impl_->events = std::move(sink); }
const PlannerConfig& Planner::config() const noexcept { return impl_->config; }
const ToolRegistry& Planner::tools() const noexcept { return impl_->tools; }

}  // namespace keel
