// The DAG executor: Kahn's algorithm on the executor. Each task counts the dependencies it still
// waits for; a task whose count reaches zero joins the ready queue, and ready tasks start while
// fewer than max_parallel run. Like the agent loop, one mutex guards the run's state and every
// callback collects what must happen next (start a call, write the journal, emit an event,
// deliver the result) as actions run after the mutex is released.
#include <deque>
#include <unordered_map>

#include "planner/planner_impl.hpp"
#include "planner/references.hpp"
#include "tools/checked_call.hpp"

namespace keel::planner {

namespace {

using Clock = std::chrono::steady_clock;
using Actions = std::vector<std::function<void()>>;

// What one task's attempts share with its completion.
struct TaskCall {
  ResilienceConfig resilience;
  std::atomic<int> attempts{0};
  std::mutex mutex;
  Usage usage;  // llm tasks
};

class DagRun : public StreamingDag, public std::enable_shared_from_this<DagRun> {
 public:
  DagRun(std::shared_ptr<const Planner::Impl> planner, Plan plan, std::size_t seq, std::string run_id,
         Deadline deadline, CancellationToken cancel, std::function<void(DagResult)> done, bool open = false)
      : planner_(std::move(planner)),
        plan_(std::move(plan)),
        seq_(seq),
        run_id_(std::move(run_id)),
        deadline_(deadline),
        caller_(std::move(cancel)),
        done_(std::move(done)),
        started_(Clock::now()),
        open_(open) {}

  void start(const std::map<std::string, Journal::Task>& previous) {
    Actions actions;
    {
      std::lock_guard lock(mutex_);
      const std::size_t n = plan_.tasks.size();
      nodes_.resize(n);
      outcomes_.resize(n);
      for (std::size_t i = 0; i < n; ++i) {
        index_.emplace(plan_.tasks[i].id, i);
        outcomes_[i].id = plan_.tasks[i].id;
        outcomes_[i].tool = plan_.tasks[i].tool;
      }
      for (std::size_t i = 0; i < n; ++i) {
        for (const auto& d : plan_.dependencies(i)) {
          nodes_[index_.at(d)].dependents.push_back(i);
          ++nodes_[i].waiting;
        }
        nodes_[i].references = has_references(i);
      }
      // A resumed run: finished tasks keep their outputs; a started task whose tool may not run
      // twice is interrupted.
      std::vector<std::size_t> interrupted;
      for (const auto& [id, task] : previous) {
        auto it = index_.find(id);
        if (it == index_.end()) continue;
        std::size_t i = it->second;
        if (task.status == "done") {
          TaskOutcome& o = outcomes_[i];
          o.status = "done";
          o.output = task.output;
          o.attempts = task.attempts;
          o.reloaded = true;
          outputs_[o.id] = task.output;
          settle(i);
        } else if ((task.status == "running" || task.status == "interrupted") && !may_repeat(i)) {
          // It may have had its effect: a non-idempotent task is never started twice.
          interrupted.push_back(i);
        }
      }
      for (std::size_t i = 0; i < n; ++i) {
        if (outcomes_[i].status == "done") release(i, actions);
      }
      for (std::size_t i : interrupted) {
        if (nodes_[i].settled) continue;
        outcomes_[i].status = "interrupted";
        outcomes_[i].error = "it was running when the run stopped, and " + plan_.tasks[i].tool +
                             " is not idempotent: not run again";
        emit_task(i, "interrupted", actions);
        journal_finished(i, actions);
        failed(i, actions);
      }
      for (std::size_t i = 0; i < n; ++i) {
        if (!nodes_[i].settled && nodes_[i].waiting == 0 && !nodes_[i].queued) queue(i, actions);
      }
      launch(actions);
      maybe_finish(actions);
    }
    run(actions);
    if (is_finished()) return;
    std::weak_ptr<DagRun> weak = weak_from_this();
    auto registration = caller_.on_cancel([weak] {
      if (auto self = weak.lock()) self->stop("cancelled", Error(Errc::cancelled, "the run was cancelled"));
    });
    Timer timer;
    if (deadline_.is_set()) {
      timer = planner_->executor->at(deadline_, [weak](bool fired) {
        if (!fired) return;
        if (auto self = weak.lock()) self->stop("failed", Error(Errc::timeout, "the run's deadline passed"));
      });
    }
    std::lock_guard lock(mutex_);
    if (finished_) {
      timer.cancel();
      return;
    }
    registration_ = std::move(registration);
    timer_ = timer;
  }

 private:
  struct Node {
    std::vector<std::size_t> dependents;
    // Whether its arguments refer to other tasks' outputs. Those without were checked against
    // the tool's schema with the plan; those with are checked once filled in.
    bool references = false;
    std::size_t waiting = 0;
    bool queued = false;
    bool settled = false;
  };

  bool is_finished() {
    std::lock_guard lock(mutex_);
    return finished_;
  }

  static void run(Actions& actions) {
    for (auto& a : actions) a();
  }

  bool has_references(std::size_t i) const {
    std::vector<Reference> found;
    collect_references(plan_.tasks[i].args, [this](std::string_view id) { return index_.count(id) > 0; }, found);
    return !found.empty();
  }

  bool may_repeat(std::size_t i) const {
    const auto& tool = plan_.tasks[i].tool;
    if (tool == "llm") return true;
    const Tool* t = planner_->tools.find(tool);
    return t != nullptr && t->idempotent();
  }

  std::int64_t now_us() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started_).count();
  }

  void emit_task(std::size_t i, std::string_view state, Actions& actions) {
    if (!planner_->events) return;
    const TaskOutcome& o = outcomes_[i];
    Json event = make_event("plan.task", state == "queued" || state == "started" ? 0 : o.duration_us);
    event["run_id"] = run_id_;
    event["id"] = o.id;
    event["tool"] = o.tool;
    event["state"] = state;
    if (o.attempts > 0) event["attempt"] = o.attempts;
    actions.push_back([sink = planner_->events, event = std::move(event)] { emit(sink, event); });
  }

  void journal_finished(std::size_t i, Actions& actions) {
    if (!planner_->journal) return;
    actions.push_back([self = shared_from_this(), outcome = outcomes_[i]] {
      try {
        self->planner_->journal->task_finished(self->run_id_, self->seq_, outcome);
      } catch (const Error& e) {
        self->journal_failed(e);
      }
    });
  }

  // The journal could not record: the run stops rather than go on without durability.
  void journal_failed(const Error& e) { stop("failed", Error(Errc::io, std::string("journal: ") + e.what())); }

  void settle(std::size_t i) {
    if (nodes_[i].settled) return;
    nodes_[i].settled = true;
    ++settled_;
  }

  void queue(std::size_t i, Actions& actions) {
    nodes_[i].queued = true;
    ready_.push_back(i);
    emit_task(i, "queued", actions);
  }

  // Task i is done (or, with continue, failed): its dependents wait for one task less.
  void release(std::size_t i, Actions& actions) {
    for (std::size_t j : nodes_[i].dependents) {
      if (nodes_[j].waiting > 0) --nodes_[j].waiting;
      if (nodes_[j].waiting == 0 && !nodes_[j].settled && !nodes_[j].queued && !stopping_) queue(j, actions);
    }
  }

  // Task i failed (or was interrupted): the failure policy decides what follows.
  void failed(std::size_t i, Actions& actions) {
    settle(i);
    switch (planner_->config.failure_policy) {
      case FailurePolicy::fail_fast:
        if (!stopping_) {
          stop_locked("failed",
                      Error(Errc::tool, outcomes_[i].id + " failed: " + outcomes_[i].error), actions);
        }
        break;
      case FailurePolicy::skip_dependents:
        skip_dependents(i, actions);
        break;
      case FailurePolicy::continue_all:
        outputs_[outcomes_[i].id] = nullptr;
        release(i, actions);
        break;
    }
  }

  void skip_dependents(std::size_t i, Actions& actions) {
    for (std::size_t j : nodes_[i].dependents) {
      if (nodes_[j].settled || outcomes_[j].status == "running") continue;
      outcomes_[j].status = "skipped";
      outcomes_[j].error = "needs " + outcomes_[i].id + ", which " +
                           (outcomes_[i].status == "skipped" ? "was skipped" : "did not finish");
      settle(j);
      ready_.erase(std::remove(ready_.begin(), ready_.end(), j), ready_.end());
      emit_task(j, "skipped", actions);
      journal_finished(j, actions);
      skip_dependents(j, actions);
    }
  }

  void launch(Actions& actions) {
    while (!ready_.empty() && running_ < planner_->config.max_parallel && !stopping_) {
      std::size_t i = ready_.front();
      ready_.pop_front();
      if (nodes_[i].settled) continue;
      start_task(i, actions);
    }
  }

  void start_task(std::size_t i, Actions& actions) {
    const PlanTask& task = plan_.tasks[i];
    TaskOutcome& o = outcomes_[i];
    auto is_task = [this](std::string_view id) { return index_.count(id) > 0; };
    Json args;
    try {
      args = nodes_[i].references ? substitute(task.args, outputs_, is_task) : task.args;
    } catch (const Error& e) {
      o.status = "failed";
      o.error = std::string("its arguments could not be filled in: ") + e.what();
      o.started_us = o.finished_us = now_us();
      emit_task(i, "failed", actions);
      journal_finished(i, actions);
      failed(i, actions);
      return;
    }
    o.status = "running";
    o.started_us = now_us();
    o.error.clear();
    ++running_;
    emit_task(i, "started", actions);

    auto call = std::make_shared<TaskCall>();
    call->resilience.timeout = task.timeout.value_or(planner_->config.task_timeout);
    call->resilience.retry = planner_->config.retry;
    if (!may_repeat(i) || task.tool == "llm") call->resilience.retry.max_attempts = 1;  // models retry themselves
    auto breaker_it = planner_->breakers.find(task.tool);
    CircuitBreaker* breaker = breaker_it == planner_->breakers.end() ? nullptr : breaker_it->second.get();

    Attempt<Json> attempt;
    if (task.tool == "llm") {
      std::string prompt = args.value("prompt", "");
      auto model = planner_->model;
      attempt = [model, prompt, call, deadline = deadline_](const CancellationToken& token, Callback<Json> done) {
        ++call->attempts;
        ChatRequest request;
        request.messages.push_back(Message::user(prompt));
        CallOptions options;
        options.deadline = deadline;
        options.cancel = token;
        model->chat_async(std::move(request), std::move(options), [call, done](Result<ChatResponse> r) {
          if (!r.ok()) return done(r.error());
          {
            std::lock_guard lock(call->mutex);
            call->usage += r.value().usage;
          }
          done(Json(r.value().message.content));
        });
      };
    } else {
      const Tool* tool = planner_->tools.find(task.tool);
      attempt = [tool, args = std::move(args), checked = !nodes_[i].references, call, id = task.id,
                 deadline = deadline_, executor = planner_->executor](const CancellationToken& token,
                                                                      Callback<Json> done) {
        ++call->attempts;
        ToolContext context;
        context.call_id = id;
        context.deadline = deadline;
        context.cancel = token;
        // A tool's own failure is worth another attempt (only idempotent tools get one); bad
        // arguments, timeouts and cancellations keep their own verdicts.
        Callback<Json> answer = [done = std::move(done)](Result<Json> r) {
          if (!r.ok() && r.error().code() == Errc::tool && r.error().details().retryable < 0) {
            ErrorDetails details = r.error().details();
            details.retryable = 1;
            return done(Error(Errc::tool, r.error().what(), details));
          }
          done(std::move(r));
        };
        if (checked) {
          detail::call_checked(*tool, args, std::move(context), std::move(answer), *executor);
        } else {
          tool->call_async(args, std::move(context), std::move(answer), *executor);
        }
      };
    }
    actions.push_back([self = shared_from_this(), i, call, breaker, attempt = std::move(attempt)]() mutable {
      if (self->planner_->journal) {
        try {
          self->planner_->journal->task_started(self->run_id_, self->seq_, self->plan_.tasks[i].id, 1);
        } catch (const Error& e) {
          self->on_task(i, call, Error(Errc::io, std::string("journal: ") + e.what()));
          self->journal_failed(e);
          return;
        }
      }
      run_resilient<Json>(*self->planner_->executor, call->resilience, breaker, nullptr, self->deadline_,
                          self->stop_.token(), std::move(attempt),
                          [self, i, call](Result<Json> r) { self->on_task(i, call, std::move(r)); });
    });
  }

  // A task's answer. Answers arrive on any thread; one thread at a time takes them in (the one
  // that found nobody doing so), while the others only queue theirs: the run's bookkeeping then
  // never makes a thread wait for another that is busy with it, which on a small machine costs
  // more than the bookkeeping.
  void on_task(std::size_t i, std::shared_ptr<TaskCall> call, Result<Json> result) {
    {
      std::lock_guard lock(inbox_mutex_);
      inbox_.push_back(Answer{i, std::move(call), std::move(result)});
      if (taking_in_) return;
      taking_in_ = true;
    }
    for (;;) {
      std::vector<Answer> answers;
      {
        std::lock_guard lock(inbox_mutex_);
        if (inbox_.empty()) {
          taking_in_ = false;
          return;
        }
        answers.swap(inbox_);
      }
      Actions actions;
      {
        std::lock_guard lock(mutex_);
        for (auto& answer : answers) settle_answer(answer, actions);
        if (!finished_) {
          launch(actions);
          maybe_finish(actions);
        }
      }
      run(actions);
    }
  }

  struct Answer {
    std::size_t task;
    std::shared_ptr<TaskCall> call;
    Result<Json> result;
  };

  void settle_answer(Answer& answer, Actions& actions) {
    const std::size_t i = answer.task;
    if (finished_ || outcomes_[i].status != "running") return;
    --running_;
    TaskOutcome& o = outcomes_[i];
    o.finished_us = now_us();
    o.duration_us = o.finished_us - o.started_us;
    o.attempts = answer.call->attempts.load();
    {
      std::lock_guard call_lock(answer.call->mutex);
      usage_ += answer.call->usage;
    }
    Result<Json>& result = answer.result;
    if (result.ok()) {
      o.status = "done";
      o.output = std::move(result.value());
      outputs_[o.id] = o.output;
      settle(i);
      emit_task(i, "finished", actions);
      journal_finished(i, actions);
      release(i, actions);
    } else if (stopping_ && result.error().code() == Errc::cancelled) {
      o.status = "cancelled";
      o.error = stop_error_ ? stop_error_->what() : "cancelled";
      settle(i);
      emit_task(i, "cancelled", actions);
      journal_finished(i, actions);
    } else {
      o.status = "failed";
      o.error = result.error().what();
      emit_task(i, "failed", actions);
      journal_finished(i, actions);
      failed(i, actions);
    }
  }

 public:
  // ---- a plan that is still arriving (StreamingDag) ----------------------------------------

  void add(PlanTask task) override {
    Actions actions;
    {
      std::lock_guard lock(mutex_);
      if (finished_ || !open_) return;
      std::size_t i = plan_.tasks.size();
      plan_.tasks.push_back(std::move(task));
      nodes_.emplace_back();
      outcomes_.emplace_back();
      outcomes_[i].id = plan_.tasks[i].id;
      outcomes_[i].tool = plan_.tasks[i].tool;
      index_.emplace(plan_.tasks[i].id, i);
      nodes_[i].references = has_references(i);
      std::optional<std::size_t> failed_dependency;
      for (const auto& d : plan_.dependencies(i)) {
        auto it = index_.find(d);
        if (it == index_.end() || it->second == i) continue;  // checked before it was added
        std::size_t j = it->second;
        if (!nodes_[j].settled) {
          nodes_[j].dependents.push_back(i);
          ++nodes_[i].waiting;
        } else if (outcomes_[j].status != "done" && planner_->config.failure_policy != FailurePolicy::continue_all) {
          failed_dependency = j;
        }
      }
      if (stopping_) {
        outcomes_[i].status = "cancelled";
        outcomes_[i].error = std::string("not started: ") + (stop_error_ ? stop_error_->what() : "stopped");
        settle(i);
        emit_task(i, "cancelled", actions);
      } else if (failed_dependency) {
        outcomes_[i].status = "skipped";
        outcomes_[i].error = "needs " + outcomes_[*failed_dependency].id + ", which did not finish";
        settle(i);
        emit_task(i, "skipped", actions);
      } else if (nodes_[i].waiting == 0) {
        queue(i, actions);
        launch(actions);
      }
    }
    run(actions);
  }

  void close() override {
    Actions actions;
    {
      std::lock_guard lock(mutex_);
      open_ = false;
      if (!finished_) maybe_finish(actions);
    }
    run(actions);
  }

  void abort(Error error) override {
    stop("failed", std::move(error));
    close();
  }

 private:
  void stop(const std::string& status, Error error) {
    Actions actions;
    {
      std::lock_guard lock(mutex_);
      if (finished_ || stopping_) return;
      stop_locked(status, std::move(error), actions);
      maybe_finish(actions);
    }
    run(actions);
  }

  // Starts nothing more: tasks not started are cancelled now, running ones are cancelled and
  // settle when they answer (at once: run_resilient completes on cancellation).
  void stop_locked(const std::string& status, Error error, Actions& actions) {
    stopping_ = true;
    stop_status_ = status;
    stop_error_ = std::move(error);
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i].settled || outcomes_[i].status == "running") continue;
      outcomes_[i].status = "cancelled";
      outcomes_[i].error = std::string("not started: ") + stop_error_->what();
      settle(i);
      emit_task(i, "cancelled", actions);
      journal_finished(i, actions);
    }
    ready_.clear();
    actions.push_back([source = stop_]() mutable { source.cancel(); });
  }

  void maybe_finish(Actions& actions) {
    if (!open_ && settled_ == nodes_.size() && running_ == 0) finish(actions);
  }

  void finish(Actions& actions) {
    finished_ = true;
    DagResult result;
    result.tasks = std::move(outcomes_);
    result.usage = usage_;
    if (stopping_) {
      result.status = stop_status_;
      result.error = stop_error_;
    } else if (deadline_.expired()) {
      // The run's deadline and a task's own deadline fire together: report the run's.
      result.status = "failed";
      result.error = Error(Errc::timeout, "the run's deadline passed");
    } else {
      result.status = "succeeded";
      for (const auto& t : result.tasks) {
        if (t.status != "done") {
          result.status = "failed";
          if (!result.error) result.error = Error(Errc::tool, t.id + " " + t.status + ": " + t.error);
        }
      }
    }
    timer_.cancel();
    actions.push_back([self = shared_from_this(), result = std::move(result)]() mutable {
      self->registration_.reset();
      self->planner_->executor->post([self, result = std::move(result)]() mutable {
        auto done = std::move(self->done_);
        done(std::move(result));
      });
    });
  }

  std::shared_ptr<const Planner::Impl> planner_;
  Plan plan_;
  std::size_t seq_;
  std::string run_id_;
  Deadline deadline_;
  CancellationToken caller_;
  std::function<void(DagResult)> done_;
  Clock::time_point started_;

  std::mutex inbox_mutex_;  // guards the two below
  std::vector<Answer> inbox_;
  bool taking_in_ = false;

  std::mutex mutex_;
  bool finished_ = false;
  bool stopping_ = false;
  std::string stop_status_;
  std::optional<Error> stop_error_;
  bool open_ = false;  // a streamed plan: more tasks may come
  std::map<std::string, std::size_t, std::less<>> index_;
  std::vector<Node> nodes_;
  std::vector<TaskOutcome> outcomes_;
  std::map<std::string, Json, std::less<>> outputs_;
  std::deque<std::size_t> ready_;
  std::size_t running_ = 0;
  std::size_t settled_ = 0;
  Usage usage_;
  CancellationSource stop_;
  CancellationToken::Registration registration_;
  Timer timer_;
};

}  // namespace

void run_dag(std::shared_ptr<const Planner::Impl> planner, Plan plan, std::size_t seq, std::string run_id,
             std::map<std::string, Journal::Task> previous, Deadline deadline, CancellationToken cancel,
             std::function<void(DagResult)> done) {
  auto run = std::make_shared<DagRun>(std::move(planner), std::move(plan), seq, std::move(run_id), deadline,
                                      std::move(cancel), std::move(done));
  run->start(previous);
}

std::shared_ptr<StreamingDag> start_streaming_dag(std::shared_ptr<const Planner::Impl> planner, std::string run_id,
                                                  Deadline deadline, CancellationToken cancel,
                                                  std::function<void(DagResult)> done) {
  auto run = std::make_shared<DagRun>(std::move(planner), Plan{}, 0, std::move(run_id), deadline, std::move(cancel),
                                      std::move(done), true);
  run->start({});
  return run;
}

}  // namespace keel::planner
