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

/// `text` cut to `limit` bytes at a UTF-8 boundary, saying so.
std::string cut_text(std::string text, std::size_t limit);

}  // namespace planner
}  // namespace keel
