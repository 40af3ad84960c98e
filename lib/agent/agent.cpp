// The agent loop. A run is a small state machine guarded by one mutex: start → model call →
// (final answer | a batch of tool calls → model call → ...) → finish. Every callback (the
// model's, each tool's, a tool's timer, the run's deadline, the caller's cancellation) takes the
// mutex, updates the state, and collects what must happen next as actions that run after the
// mutex is released (starting a call, emitting an event, delivering the result), so no callback
// ever runs foreign code under the lock. The first path that finishes the run wins; whatever
// arrives later finds it finished and is ignored.
#include <algorithm>
#include <future>
#include <mutex>

#include "core/text.hpp"
#include "keel/agent.hpp"
#include "tools/checked_call.hpp"

namespace keel {

namespace {

using Clock = std::chrono::steady_clock;
using Actions = std::vector<std::function<void()>>;

std::int64_t micros_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
}

std::string excerpt(const std::string& text, std::size_t limit = 200) {
  if (text.size() <= limit) return text;
  std::size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end) + "...";
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

std::vector<std::string> categories_of(const Verdict& verdict) {
  std::vector<std::string> out;
  for (const auto& f : verdict.findings) {
    if (std::find(out.begin(), out.end(), f.category) == out.end()) out.push_back(f.category);
  }
  return out;
}

// Replaces the vault's placeholders inside every string of a JSON value.
void restore_strings(Json& value, const Vault& vault) {
  if (value.is_string()) {
    value = Firewall::restore(value.get_ref<const std::string&>(), vault);
  } else if (value.is_array() || value.is_object()) {
    for (auto& item : value) restore_strings(item, vault);
  }
}

}  // namespace

struct Agent::Impl {
  AgentConfig config;
  std::shared_ptr<ChatModel> model;
  ToolRegistry tools;
  std::vector<ToolSpec> specs;
  std::string tool_names;  // "a, b, c" for the unknown-tool message
  std::shared_ptr<const Firewall> firewall;
  EventSink events;
};

namespace {

class Run : public std::enable_shared_from_this<Run> {
 public:
  Run(std::shared_ptr<const Agent::Impl> agent, AgentRunOptions options,
      std::function<void(AgentResult)> done)
      : agent_(std::move(agent)),
        executor_(agent_->model->executor()),
        caller_cancel_(std::move(options.cancel)),
        done_(std::move(done)),
        started_(Clock::now()) {
    deadline_ = options.deadline;
    if (agent_->config.timeout.count() > 0) {
      deadline_ = deadline_.earliest(Deadline::after(agent_->config.timeout));
    }
  }

  void start(std::vector<Message> conversation) {
    Actions actions;
    {
      std::lock_guard lock(mutex_);
      const auto& config = agent_->config;
      if (!config.system_prompt.empty() && conversation.front().role != Message::Role::system) {
        result_.messages.push_back(Message::system(config.system_prompt));
      }
      for (auto& m : conversation) result_.messages.push_back(std::move(m));
      screen_input(actions);
      if (!finished_) {
        if (deadline_.expired()) {
          finish(StopReason::error, Error(Errc::timeout, "the run's deadline passed before it started"), actions);
        } else if (caller_cancel_.cancelled()) {
          finish(StopReason::cancelled, Error(Errc::cancelled, "the run was cancelled before it started"), actions);
        } else {
          call_model(actions);
        }
      }
    }
    run(actions);
    if (finished()) return;
    // Registered after the first call started: a cancellation or a deadline arriving now
    // finishes the run from its own thread.
    std::weak_ptr<Run> weak = weak_from_this();
    auto registration = caller_cancel_.on_cancel([weak] {
      if (auto self = weak.lock()) self->stop(StopReason::cancelled, Error(Errc::cancelled, "the run was cancelled"));
    });
    Timer timer;
    if (deadline_.is_set()) {
      timer = executor_.at(deadline_, [weak](bool fired) {
        if (!fired) return;
        if (auto self = weak.lock()) self->stop_at_deadline();
      });
    }
    std::lock_guard lock(mutex_);
    if (finished_) {
      timer.cancel();
      return;  // the registration is released as it goes out of scope
    }
    cancel_registration_ = std::move(registration);
    deadline_timer_ = timer;
  }

 private:
  // One tool call of the current turn.
  struct Pending {
    std::size_t record = 0;  // index into result_.tool_calls
    const Tool* tool = nullptr;
    Json arguments;     // restored, for the handler
    std::string reply;  // what the model will read
    bool runnable = false;
    bool started = false;
    bool done = false;
    Clock::time_point started_at;
    CancellationSource cancel;
    Timer timer;
  };

  bool finished() {
    std::lock_guard lock(mutex_);
    return finished_;
  }

  void run(Actions& actions) {
    for (auto& action : actions) action();
  }

  void emit_later(Json event, Actions& actions) {
    if (!agent_->events) return;
    actions.push_back([sink = agent_->events, event = std::move(event)] { emit(sink, event); });
  }

  // ---- screening --------------------------------------------------------------------------

  // Scans `text` for a stage. Returns the verdict when the policy scans; redacts `text` in
  // place when the policy redacts.
  std::optional<Verdict> screen(std::string_view stage, const ScreenPolicy& policy, std::string& text,
                                Direction direction, const std::string& call_id, Actions& actions) {
    if (!policy.scan || !agent_->firewall || text.empty()) return std::nullopt;
    const Firewall& firewall = *agent_->firewall;
    auto started = Clock::now();
    Verdict verdict = firewall.scan(text, direction);
    bool blocked = policy.block && verdict.decision == Decision::block;
    std::string action = blocked ? "block" : "flag";
    if (!blocked && policy.redact) {
      Redaction redaction = firewall.redact(text, vault_, direction);
      if (!redaction.findings.empty()) {
        text = std::move(redaction.text);
        action = "redact";
      }
    }
    Screening screening{std::string(stage), verdict.decision, verdict.risk, action,
                        categories_of(verdict), call_id};
    Json event = make_event("agent.screen", micros_since(started));
    event["stage"] = stage;
    event["decision"] = to_string(verdict.decision);
    event["risk"] = verdict.risk;
    event["action"] = action;
    event["categories"] = screening.categories;
    emit_later(std::move(event), actions);
    // A clean verdict is an event only; the result lists what the firewall found.
    if (!verdict.findings.empty()) result_.screenings.push_back(std::move(screening));
    return verdict;
  }

  void screen_input(Actions& actions) {
    const auto& policy = agent_->config.screen_input;
    if (!policy.scan || !agent_->firewall) return;
    // The user's input is what follows the model's last message.
    std::size_t first = 0;
    for (std::size_t i = result_.messages.size(); i-- > 0;) {
      if (result_.messages[i].role == Message::Role::assistant) {
        first = i + 1;
        break;
      }
    }
    for (std::size_t i = first; i < result_.messages.size(); ++i) {
      Message& m = result_.messages[i];
      if (m.role != Message::Role::user) continue;
      auto verdict = screen("input", policy, m.content, Direction::input, "", actions);
      if (verdict && policy.block && verdict->decision == Decision::block) {
        finish(StopReason::blocked,
               Error(Errc::invalid_argument,
                     "the firewall blocked the input (" + join(categories_of(*verdict), ", ") + ")"),
               actions);
        return;
      }
    }
  }

  // ---- the model ----------------------------------------------------------------------------

  void call_model(Actions& actions) {
    const auto& config = agent_->config;
    ChatRequest request;
    request.messages = result_.messages;
    request.tools = agent_->specs;
    request.temperature = config.temperature;
    request.max_tokens = config.max_tokens;
    if (!agent_->specs.empty()) request.tool_choice = result_.turns == 0 ? config.tool_choice : "auto";
    ++result_.turns;
    model_started_ = Clock::now();
    CallOptions options;
    options.deadline = deadline_;
    options.cancel = stop_.token();
    actions.push_back([self = shared_from_this(), request = std::move(request),
                       options = std::move(options)]() mutable {
      self->agent_->model->chat_async(std::move(request), std::move(options),
                                      [self](Result<ChatResponse> response) {
                                        self->on_model(std::move(response));
                                      });
    });
  }

  void on_model(Result<ChatResponse> response) {
    Actions actions;
    {
      std::lock_guard lock(mutex_);
      if (finished_) return;  // cancelled or timed out meanwhile: this answer is not wanted
      Json event = make_event("agent.model_call", micros_since(model_started_));
      event["turn"] = result_.turns;
      if (!response.ok()) {
        event["error"] = to_string(response.error().code());
        emit_later(std::move(event), actions);
        const Error& e = response.error();
        finish(StopReason::error,
               Error(e.code(), "the model failed on turn " + std::to_string(result_.turns) + ": " + e.what()),
               actions);
      } else {
        ChatResponse& answer = response.value();
        result_.usage += answer.usage;
        event["finish_reason"] = answer.finish_reason;
        event["model"] = answer.model;
        event["tool_calls"] = answer.message.tool_calls.size();
        event["input_tokens"] = answer.usage.input_tokens;
        event["output_tokens"] = answer.usage.output_tokens;
        emit_later(std::move(event), actions);
        answer.message.role = Message::Role::assistant;
        for (std::size_t i = 0; i < answer.message.tool_calls.size(); ++i) {
          auto& call = answer.message.tool_calls[i];
          if (call.id.empty()) call.id = "call_" + std::to_string(result_.turns) + "_" + std::to_string(i + 1);
        }
        // A copy: answering the calls appends to the transcript, which may move its messages.
        std::vector<ToolCall> calls = answer.message.tool_calls;
        std::string content = answer.message.content;
        result_.messages.push_back(std::move(answer.message));
        if (calls.empty()) {
          answer_final(std::move(content), actions);
        } else if (result_.turns >= agent_->config.max_turns) {
          record_unrun(calls, "the run reached its limit of " +
                                 std::to_string(agent_->config.max_turns) + " turns");
          finish(StopReason::max_turns,
                 Error(Errc::limit_exceeded, "the model still asked for tools after " +
                                                 std::to_string(result_.turns) + " turns"),
                 actions);
        } else if (agent_->config.token_budget > 0 &&
                   result_.usage.total() >= agent_->config.token_budget) {
          record_unrun(calls, "the run's token budget is spent");
          finish(StopReason::budget,
                 Error(Errc::limit_exceeded,
                       std::to_string(result_.usage.total()) + " tokens used of a budget of " +
                           std::to_string(agent_->config.token_budget)),
                 actions);
        } else {
          start_batch(calls, actions);
        }
      }
    }
    run(actions);
  }

  void answer_final(std::string text, Actions& actions) {
    auto verdict = screen("output", agent_->config.screen_output, text, Direction::output, "", actions);
    if (verdict && agent_->config.screen_output.block && verdict->decision == Decision::block) {
      finish(StopReason::blocked,
             Error(Errc::invalid_argument,
                   "the firewall blocked the output (" + join(categories_of(*verdict), ", ") + ")"),
             actions);
      return;
    }
    result_.output = vault_.empty() ? std::move(text) : Firewall::restore(text, vault_);
    finish(StopReason::final, std::nullopt, actions);
  }

  // Answers every call of an assistant message "not run" (the run stops before running them),
  // so the transcript stays one a model accepts if the host continues it.
  void record_unrun(const std::vector<ToolCall>& calls, const std::string& why) {
    for (const auto& call : calls) {
      ToolCallRecord record;
      record.id = call.id;
      record.name = call.name;
      record.arguments = call.arguments_valid ? call.arguments : Json(call.arguments_text);
      record.turn = result_.turns;
      record.status = "not_run";
      record.error = "not run: " + why;
      result_.messages.push_back(Message::tool_result(call.id, call.name, "error: " + record.error));
      result_.tool_calls.push_back(std::move(record));
    }
  }

  // ---- tools --------------------------------------------------------------------------------

  void start_batch(const std::vector<ToolCall>& calls, Actions& actions) {
    batch_.clear();
    batch_.reserve(calls.size());
    next_ = 0;
    outstanding_ = 0;
    for (const auto& call : calls) {
      auto& pending = batch_.emplace_back();
      pending.record = result_.tool_calls.size();
      ToolCallRecord record;
      record.id = call.id;
      record.name = call.name;
      record.arguments = call.arguments_valid ? call.arguments : Json(call.arguments_text);
      record.turn = result_.turns;
      const Tool* tool = agent_->tools.find(call.name);
      if (tool == nullptr) {
        record.status = "unknown_tool";
        record.error = "there is no tool named \"" + call.name + "\"; the tools are: " + agent_->tool_names;
      } else if (!call.arguments_valid) {
        record.status = "invalid_arguments";
        record.error = "the arguments of " + call.name + " are not a JSON object: " +
                       excerpt(call.arguments_text) +
                       ". Send a JSON object that follows the parameters schema: " +
                       dump_json(tool->spec().parameters);
      } else if (auto violations = tool->check(call.arguments); !violations.empty()) {
        record.status = "invalid_arguments";
        record.error = "invalid arguments for " + call.name + ": " + join(violations, "; ") +
                       ". The parameters schema is: " + dump_json(tool->spec().parameters);
      } else {
        pending.tool = tool;
        pending.runnable = true;
        pending.arguments = call.arguments;
        if (!vault_.empty()) restore_strings(pending.arguments, vault_);
      }
      if (!pending.runnable) {
        pending.done = true;
        pending.reply = "error: " + record.error;
        emit_tool_event(record, actions);
      }
      result_.tool_calls.push_back(std::move(record));
    }
    launch_more(actions);
  }

  // Starts queued calls while the parallelism allows; closes the batch when all are done.
  void launch_more(Actions& actions) {
    const auto& config = agent_->config;
    std::size_t limit = config.parallel_tool_calls ? config.max_parallel_tools : 1;
    while (next_ < batch_.size() && outstanding_ < limit) {
      std::size_t index = next_++;
      Pending& pending = batch_[index];
      if (!pending.runnable) continue;
      pending.started = true;
      pending.started_at = Clock::now();
      ++outstanding_;
      std::weak_ptr<Run> weak = weak_from_this();
      if (config.tool_timeout.count() > 0) {
        pending.timer = executor_.after(config.tool_timeout, [weak, index](bool fired) {
          if (!fired) return;
          if (auto self = weak.lock()) self->on_tool_timeout(index);
        });
      }
      ToolContext context;
      context.call_id = result_.tool_calls[pending.record].id;
      // The tool hears of the earlier of the run's deadline and its own timeout.
      context.deadline = config.tool_timeout.count() > 0
                             ? deadline_.earliest(Deadline::after(config.tool_timeout))
                             : deadline_;
      context.cancel = pending.cancel.token();
      // The arguments were checked above; with redacted text restored into them they are
      // checked again, against what the tool will really see.
      actions.push_back([self = shared_from_this(), tool = pending.tool, index, checked = vault_.empty(),
                         arguments = std::move(pending.arguments), context = std::move(context)]() mutable {
        Callback<Json> done = [self, index](Result<Json> outcome) { self->on_tool(index, std::move(outcome)); };
        if (checked) {
          detail::call_checked(*tool, std::move(arguments), std::move(context), std::move(done), self->executor_);
        } else {
          tool->call_async(std::move(arguments), std::move(context), std::move(done), self->executor_);
        }
      });
    }
    if (outstanding_ == 0 && next_ == batch_.size()) close_batch(actions);
  }

  void on_tool(std::size_t index, Result<Json> outcome) {
    Actions actions;
    {
      std::lock_guard lock(mutex_);
      if (finished_ || index >= batch_.size() || batch_[index].done) return;  // late
      Pending& pending = batch_[index];
      ToolCallRecord& record = result_.tool_calls[pending.record];
      pending.done = true;
      pending.timer.cancel();
      record.duration_us = micros_since(pending.started_at);
      if (outcome.ok()) {
        Json value = std::move(outcome.value());
        std::string text = value.is_string() ? value.get<std::string>() : dump_json(value);
        text = detail::cut_utf8(std::move(text), agent_->config.max_tool_result_bytes, "\n");
        auto verdict = screen("tool_result", agent_->config.screen_tool_results, text,
                              Direction::input, record.id, actions);
        record.result = std::move(value);
        if (verdict && agent_->config.screen_tool_results.block && verdict->decision == Decision::block) {
          record.status = "blocked";
          record.error = "the firewall withheld this result (" + join(categories_of(*verdict), ", ") +
                         "): it looked like an attempt to give instructions";
          pending.reply = "error: " + record.error;
        } else {
          record.status = "ok";
          pending.reply = std::move(text);
        }
      } else {
        const Error& e = outcome.error();
        switch (e.code()) {
          case Errc::timeout: record.status = "timeout"; break;
          case Errc::cancelled: record.status = "cancelled"; break;
          case Errc::invalid_argument: record.status = "invalid_arguments"; break;
          default: record.status = "error"; break;
        }
        record.error = e.what();
        auto timeout_us = std::chrono::duration_cast<std::chrono::microseconds>(agent_->config.tool_timeout).count();
        if (record.status == "timeout" && !deadline_.expired() && timeout_us > 0 &&
            record.duration_us + 5000 >= timeout_us) {
          // The tool's own timeout (it was told the earlier of it and the run's deadline).
          record.error = record.name + " timed out after " +
                         std::to_string(agent_->config.tool_timeout.count()) + " ms";
        }
        pending.reply = "error: " + record.error;
      }
      emit_tool_event(record, actions);
      --outstanding_;
      launch_more(actions);
    }
    run(actions);
  }

  void on_tool_timeout(std::size_t index) {
    Actions actions;
    {
      std::lock_guard lock(mutex_);
      if (finished_ || index >= batch_.size() || batch_[index].done) return;
      Pending& pending = batch_[index];
      ToolCallRecord& record = result_.tool_calls[pending.record];
      pending.done = true;
      record.duration_us = micros_since(pending.started_at);
      record.status = "timeout";
      record.error = record.name + " timed out after " +
                     std::to_string(agent_->config.tool_timeout.count()) + " ms";
      pending.reply = "error: " + record.error;
      actions.push_back([source = pending.cancel]() mutable { source.cancel(); });
      emit_tool_event(record, actions);
      --outstanding_;
      launch_more(actions);
    }
    run(actions);
  }

  void emit_tool_event(const ToolCallRecord& record, Actions& actions) {
    if (!agent_->events) return;
    Json event = make_event("agent.tool_call", record.duration_us);
    event["turn"] = record.turn;
    event["call_id"] = record.id;
    event["tool"] = record.name;
    event["status"] = record.status;
    emit_later(std::move(event), actions);
  }

  // Every call of the turn is answered: the results go into the transcript in the order the
  // model asked for them, and the model is called again.
  void close_batch(Actions& actions) {
    append_replies();
    if (deadline_.expired()) {
      finish(StopReason::error, Error(Errc::timeout, deadline_message()), actions);
    } else {
      call_model(actions);
    }
  }

  void append_replies() {
    for (auto& pending : batch_) {
      const auto& record = result_.tool_calls[pending.record];
      result_.messages.push_back(Message::tool_result(record.id, record.name, std::move(pending.reply)));
    }
    batch_.clear();
    next_ = outstanding_ = 0;
  }

  // ---- the end ------------------------------------------------------------------------------

  std::string deadline_message() const {
    return "the run's deadline passed on turn " + std::to_string(result_.turns);
  }

  // From the caller's cancellation or the deadline.
  void stop(StopReason reason, Error error) {
    Actions actions;
    {
      std::lock_guard lock(mutex_);
      if (finished_) return;
      finish(reason, std::move(error), actions);
    }
    run(actions);
  }

  // From the run's deadline timer: the message names the turn, read under the lock.
  void stop_at_deadline() {
    Actions actions;
    {
      std::lock_guard lock(mutex_);
      if (finished_) return;
      finish(StopReason::error, Error(Errc::timeout, deadline_message()), actions);
    }
    run(actions);
  }

  void finish(StopReason reason, std::optional<Error> error, Actions& actions) {
    finished_ = true;
    // Calls still running are answered as cancelled (or timed out), so the transcript is whole.
    if (!batch_.empty()) {
      bool timed_out = error && error->code() == Errc::timeout;
      for (auto& pending : batch_) {
        if (pending.done) continue;
        auto& record = result_.tool_calls[pending.record];
        if (pending.started) {
          record.duration_us = micros_since(pending.started_at);
          record.status = timed_out ? "timeout" : "cancelled";
          record.error = timed_out ? "the run's deadline passed while it ran" : "cancelled: the run was stopped";
          pending.timer.cancel();
          actions.push_back([source = pending.cancel]() mutable { source.cancel(); });
        } else {
          record.status = "not_run";
          record.error = "not run: the run was stopped";
        }
        pending.reply = "error: " + record.error;
      }
      append_replies();
    }
    result_.stop_reason = reason;
    result_.error = std::move(error);
    result_.duration_us = micros_since(started_);
    actions.push_back([source = stop_]() mutable { source.cancel(); });
    deadline_timer_.cancel();
    actions.push_back([self = shared_from_this()] {
      self->cancel_registration_.reset();
      // After the lock: cancel_registration_ is only written under it before finish.
    });
    if (agent_->events) {
      Json event = make_event("agent.run", result_.duration_us);
      event["stop_reason"] = to_string(reason);
      event["turns"] = result_.turns;
      event["tool_calls"] = result_.tool_calls.size();
      event["input_tokens"] = result_.usage.input_tokens;
      event["output_tokens"] = result_.usage.output_tokens;
      if (result_.error) event["error"] = to_string(result_.error->code());
      emit_later(std::move(event), actions);
    }
    actions.push_back([self = shared_from_this()] {
      self->executor_.post([self] {
        auto done = std::move(self->done_);
        done(std::move(self->result_));
      });
    });
  }

  std::shared_ptr<const Agent::Impl> agent_;
  Executor& executor_;
  CancellationToken caller_cancel_;
  std::function<void(AgentResult)> done_;
  Clock::time_point started_;
  Deadline deadline_;

  std::mutex mutex_;
  bool finished_ = false;
  AgentResult result_;
  Vault vault_;
  CancellationSource stop_;  // cancels the model call in flight
  CancellationToken::Registration cancel_registration_;
  Timer deadline_timer_;
  Clock::time_point model_started_;
  std::vector<Pending> batch_;
  std::size_t next_ = 0;
  std::size_t outstanding_ = 0;
};

}  // namespace

Agent::Agent(AgentConfig config, std::shared_ptr<ChatModel> model, ToolRegistry tools,
             std::shared_ptr<const Firewall> firewall)
    : impl_(std::make_shared<Impl>()) {
  if (!model) throw Error(Errc::invalid_argument, "agent: a model is required");
  impl_->config = std::move(config);
  impl_->model = std::move(model);
  impl_->tools = std::move(tools);
  impl_->specs = impl_->tools.specs();
  for (const auto& spec : impl_->specs) {
    if (!impl_->tool_names.empty()) impl_->tool_names += ", ";
    impl_->tool_names += spec.name;
  }
  if (impl_->tool_names.empty()) impl_->tool_names = "(none)";
  if (!firewall && impl_->config.firewall) {
    try {
      firewall = std::make_shared<Firewall>(*impl_->config.firewall);
    } catch (const Error& e) {
      throw Error(Errc::invalid_config, std::string("firewall.") + e.what());
    }
  }
  impl_->firewall = std::move(firewall);
}

Agent::~Agent() = default;

void Agent::run_async(std::vector<Message> conversation, AgentRunOptions options,
                      std::function<void(AgentResult)> done) const {
  if (conversation.empty()) throw Error(Errc::invalid_argument, "agent run: the conversation is empty");
  if (!done) throw Error(Errc::invalid_argument, "agent run: no completion callback");
  auto run = std::make_shared<Run>(impl_, std::move(options), std::move(done));
  run->start(std::move(conversation));
}

AgentResult Agent::run(std::vector<Message> conversation, AgentRunOptions options) const {
  if (impl_->model->executor().running_in_this_thread()) {
    throw Error(Errc::invalid_argument,
                "Agent::run() called from one of the executor's threads would wait on itself; "
                "use run_async() there");
  }
  std::promise<AgentResult> promise;
  auto future = promise.get_future();
  run_async(std::move(conversation), std::move(options),
            [&promise](AgentResult result) { promise.set_value(std::move(result)); });
  return future.get();
}

AgentResult Agent::run(std::string_view task, AgentRunOptions options) const {
  return run(std::vector<Message>{Message::user(std::string(task))}, std::move(options));
}

void Agent::set_event_sink(EventSink sink) { impl_->events = std::move(sink); }
const AgentConfig& Agent::config() const noexcept { return impl_->config; }
const ToolRegistry& Agent::tools() const noexcept { return impl_->tools; }
const Firewall* Agent::firewall() const noexcept { return impl_->firewall.get(); }

}  // namespace keel
