/// \file
/// The planner: a goal becomes a plan — a DAG of tool calls the model writes as JSON — which is
/// validated, run in parallel with Kahn's algorithm on the executor, and answered by the model
/// from the results (or re-planned). Plans may also come straight from the host.
///
/// A plan:
///   {"tasks": [{"id": "t1", "tool": "search", "args": {"q": "keel"}, "deps": []},
///              {"id": "t2", "tool": "fetch", "args": {"url": "${t1.hits.0.url}"}},
///              {"id": "t3", "tool": "llm", "args": {"prompt": "Summarise: $t2"}, "deps": ["t2"]}]}
/// An argument string that is exactly "$t1" or "${t1.field.0}" is replaced by that output (or the
/// value at that path in it) keeping its JSON type; a reference inside a longer string is replaced
/// by the value's text. References make their task a dependency whether or not `deps` says so.
/// The tool "llm" is the model itself: its `prompt` (with references) is answered as text.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keel/events.hpp"
#include "keel/executor.hpp"
#include "keel/export.hpp"
#include "keel/json.hpp"
#include "keel/llm.hpp"
#include "keel/resilience.hpp"
#include "keel/tools.hpp"

namespace keel {

/// One task of a plan.
struct KEEL_API PlanTask {
  /// Unique in the plan: 1 to 64 letters, digits, '_' or '-'.
  std::string id;
  std::string tool;  ///< a tool's name, or "llm"
  /// The tool's arguments; strings in them may hold references to other tasks' outputs.
  Json args = Json::object();
  std::vector<std::string> deps;  ///< as written; references add to them (Plan::dependencies)
  std::optional<std::chrono::milliseconds> timeout;  ///< replaces the planner's task timeout

  /// {"id", "tool", "args", "deps", "timeout_ms"?}
  Json to_json() const;
};

/// A plan: tasks in the order written.
struct KEEL_API Plan {
  /// The tasks.
  std::vector<PlanTask> tasks;

  /// Reads the plan JSON. Errors (Error(invalid_argument)) name the place: "tasks[2].id:
  /// required". Semantic checks (tools, references, cycles) are Planner::validate's.
  static Plan from_json(const Json& json);
  /// {"tasks": [...]}
  Json to_json() const;
  /// Task `index`'s `deps` plus every task its arguments reference, without repeats.
  std::vector<std::string> dependencies(std::size_t index) const;
  /// The index of a task, or -1.
  std::ptrdiff_t find(std::string_view id) const;
};

/// A problem with a plan: the task it concerns ("" for the plan as a whole) and what is wrong.
struct KEEL_API PlanIssue {
  /// The task's id; "" for the plan as a whole.
  std::string task;
  /// What is wrong.
  std::string problem;
  std::string to_string() const;  ///< "t3: unknown tool \"serch\""
};

/// What to do when a task fails (after its retries).
enum class FailurePolicy {
  fail_fast,        ///< cancel what runs, start nothing more; the run fails
  skip_dependents,  ///< tasks that need it are skipped; the others go on
  continue_all,     ///< dependents run anyway, their references to it read null
};
/// "fail_fast", "skip_dependents" or "continue" (the JSON names).
KEEL_API std::string_view to_string(FailurePolicy policy) noexcept;

/// A planner's configuration. JSON (every key optional):
/// {"max_parallel": 8, "failure_policy": "fail_fast" | "skip_dependents" | "continue",
///  "task_timeout_ms": 60000, "retry": {RetryPolicy}, "circuit_breaker": {...} | false,
///  "max_plan_attempts": 3, "max_replans": 1, "journal": "path.sqlite", "instructions": "...",
///  "max_output_bytes": 65536}
struct KEEL_API PlannerConfig {
  std::size_t max_parallel = 8;  ///< tasks running at once (1..4096)
  /// What a task's failure does to the rest of the run.
  FailurePolicy failure_policy = FailurePolicy::skip_dependents;
  std::chrono::milliseconds task_timeout{60000};  ///< per attempt; 0 = none
  /// Retries of a failed task; only tools declared idempotent (and llm tasks) are retried.
  RetryPolicy retry = RetryPolicy{2, std::chrono::milliseconds(100), std::chrono::milliseconds(2000)};
  /// One breaker per tool, shared by the planner's runs; nullopt = none.
  std::optional<CircuitBreaker::Config> circuit_breaker = CircuitBreaker::Config{};
  int max_plan_attempts = 3;  ///< model answers per plan, re-asks with the errors included
  int max_replans = 1;        ///< how often the joiner may ask for a new plan
  std::string journal;        ///< SQLite file for durable runs; "" = none
  std::string instructions;   ///< added to the planner and joiner prompts
  /// A task output longer than this (as JSON text) is cut before it reaches a prompt.
  std::size_t max_output_bytes = 64 * 1024;

  /// Throws Error(invalid_config) naming the JSON path.
  static PlannerConfig from_json(const Json& json);
  /// The JSON form above ("circuit_breaker": false when there is none).
  Json to_json() const;
};

/// One task of a run and what became of it. status: "pending", "running", "done", "failed",
/// "skipped" (a dependency failed), "cancelled", "interrupted" (a resumed run found it started
/// and its tool is not idempotent, so it was not run again).
struct KEEL_API TaskOutcome {
  /// The task's id.
  std::string id;
  /// The task's tool.
  std::string tool;
  /// "pending", "running", "done", ... (see above).
  std::string status = "pending";
  Json output;        ///< the tool's value when done
  std::string error;  ///< when failed, skipped, cancelled or interrupted
  /// Attempts made, retries included.
  int attempts = 0;
  std::int64_t started_us = 0;   ///< since the run started; 0 when it never started
  std::int64_t finished_us = 0;  ///< since the run started
  /// How long the task ran, in microseconds.
  std::int64_t duration_us = 0;
  bool reloaded = false;  ///< a resumed run took its output from the journal
  /// {"id", "tool", "status", "output", "error"?, "attempts", "started_us", "finished_us",
  ///  "duration_us", "reloaded"?}
  Json to_json() const;
};

/// A run's result. JSON: {"run_id", "status": "succeeded" | "failed" | "cancelled" |
/// "invalid", "answer"?, "error"?: {"code", "message"}, "tasks": [...], "plans": [...],
/// "replans", "usage", "duration_us"}.
struct KEEL_API PlanRun {
  /// The run's id (PlanRunOptions::run_id, or a new one).
  std::string run_id;
  /// "succeeded", "failed", "cancelled" or "invalid".
  std::string status = "failed";
  std::string answer;  ///< the joiner's answer (goal runs)
  /// Why the run did not succeed; for "invalid", every issue of the plan.
  std::optional<Error> error;
  std::vector<TaskOutcome> tasks;  ///< of the last plan, in plan order
  std::vector<Plan> plans;         ///< every plan run (more than one after a re-plan)
  /// How many times the joiner asked for a new plan.
  int replans = 0;
  Usage usage;  ///< the model's tokens (planning, llm tasks, joining)
  /// How long the run took, in microseconds.
  std::int64_t duration_us = 0;
  /// The JSON form above.
  Json to_json() const;
  /// The outcome of task `id` of the last plan, or nullptr.
  const TaskOutcome* task(std::string_view id) const;
};

/// Per-run options.
struct KEEL_API PlanRunOptions {
  /// When the run stops: status "failed" with Error(timeout).
  Deadline deadline;
  /// Cancelling it stops the run: status "cancelled", running tasks cancelled.
  CancellationToken cancel;
  /// Names the run in the journal: a run with an id the journal knows resumes it. "" = a new id.
  std::string run_id;
};

/// The planner. Thread-safe: any number of runs at once.
class KEEL_API Planner {
 public:
  /// `model` may be null for host plans without llm tasks. Throws Error(invalid_config) when the
  /// journal cannot be opened.
  Planner(PlannerConfig config, std::shared_ptr<ChatModel> model, ToolRegistry tools);
  ~Planner();
  Planner(const Planner&) = delete;
  Planner& operator=(const Planner&) = delete;

  /// Every problem of a plan: unique ids, known tools, existing dependencies and references, no
  /// cycle (one issue naming the tasks in it), arguments valid for each tool's schema (a value
  /// that is a reference is checked when it is known, at run time). Empty when it is valid.
  std::vector<PlanIssue> validate(const Plan& plan) const;

  /// The prompt asking the model for a plan: the goal, the tools with their schemas, the
  /// format and its rules.
  std::string planning_prompt(std::string_view goal) const;

  /// Asks the model for a plan, sending the validation errors back up to max_plan_attempts
  /// times. Throws Error(parse) with the last errors when no valid plan came; the options'
  /// deadline and cancellation token bound the whole exchange.
  Plan plan(std::string_view goal, CallOptions options = {}) const;
  /// The asynchronous form: `done` runs once on an executor thread with the plan or the error
  /// (Error(cancelled) once `options.cancel` is cancelled). Throws Error(invalid_argument) at
  /// once when the planner has no model.
  void plan_async(std::string goal, CallOptions options, std::function<void(Result<Plan>)> done) const;

  /// Runs a plan (validated first: an invalid plan is a run with status "invalid" and the
  /// issues in `error`). `done` runs once on an executor thread.
  void run_async(Plan plan, PlanRunOptions options, std::function<void(PlanRun)> done) const;
  /// The blocking form. Throws Error(invalid_argument) when called from one of the executor's
  /// threads (it would wait on itself).
  PlanRun run(Plan plan, PlanRunOptions options = {}) const;

  /// The whole loop for a goal: plan (streamed: tasks start as the model writes them), run,
  /// then the joiner answers from the results or asks for a new plan (at most max_replans).
  void solve_async(std::string goal, PlanRunOptions options, std::function<void(PlanRun)> done) const;
  /// The blocking form. Throws Error(invalid_argument) when called from one of the executor's
  /// threads (it would wait on itself).
  PlanRun solve(std::string goal, PlanRunOptions options = {}) const;

  /// "plan.task" events (id, tool, state: queued | started | finished | failed | skipped |
  /// cancelled | interrupted, duration_us, attempt), "plan.model_call", "plan.run". Set before
  /// sharing.
  void set_event_sink(EventSink sink);

  /// The configuration it was built with.
  const PlannerConfig& config() const noexcept;
  /// The tools plans may call (its own copy).
  const ToolRegistry& tools() const noexcept;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace keel
