// Internal: what a planner shares with its runs, and the DAG executor.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "keel/planner.hpp"
#include "planner/journal.hpp"

namespace keel {

struct Planner::Impl {
  PlannerConfig config;
  std::shared_ptr<ChatModel> model;
  ToolRegistry tools;
  Executor* executor = nullptr;
  EventSink events;
  std::unique_ptr<planner::Journal> journal;
  /// One breaker per tool (and one for "llm"), shared by the planner's runs.
  std::map<std::string, std::unique_ptr<CircuitBreaker>, std::less<>> breakers;
};

namespace planner {

struct DagResult {
  std::vector<TaskOutcome> tasks;  // in plan order
  Usage usage;
  std::string status;  // "succeeded", "failed", "cancelled"
  std::optional<Error> error;
};

/// Runs a valid plan: Kahn's algorithm on the executor, up to max_parallel tasks at once.
/// `previous` (a resumed run's journal entries for this plan) supplies outputs of finished tasks
/// and says which were started. `done` runs once on an executor thread.
void run_dag(std::shared_ptr<const Planner::Impl> planner, Plan plan, std::size_t seq,
             std::string run_id, std::map<std::string, Journal::Task> previous, Deadline deadline,
             CancellationToken cancel, std::function<void(DagResult)> done);

/// A DAG run whose plan is still arriving (a streamed plan): tasks join as they come, each
/// depending only on tasks added before it; close() says no more will come.
class StreamingDag {
 public:
  virtual ~StreamingDag() = default;
  virtual void add(PlanTask task) = 0;
  virtual void close() = 0;
  /// Stops the run (running tasks cancelled) and closes it: its result has status "failed".
  virtual void abort(Error error) = 0;
};

std::shared_ptr<StreamingDag> start_streaming_dag(std::shared_ptr<const Planner::Impl> planner,
                                                  std::string run_id, Deadline deadline,
                                                  CancellationToken cancel,
                                                  std::function<void(DagResult)> done);

/// Finds the task objects of a plan as its JSON text arrives in pieces: each complete element
/// of the top-level "tasks" array, parsed. Text around the JSON (a ``` fence) is ignored.
class TaskStream {
 public:
  std::vector<Json> feed(std::string_view piece);

 private:
  std::string buffer_;
  std::size_t scanned_ = 0;
  int depth_ = 0;
  bool in_string_ = false;
  bool escape_ = false;
  std::size_t string_start_ = 0;
  std::string last_key_;
  bool in_tasks_ = false;
  std::size_t object_start_ = 0;
};


}  // namespace planner
}  // namespace keel
