// Internal: the durable journal of plan runs (SQLite, WAL). Every task is recorded as started
// before it runs and with its outcome after, each in its own commit, so a run killed at any point
// (SIGKILL included) can be resumed: finished tasks are reloaded, started ones are known.
// Thread-safe (one connection behind a mutex).
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "keel/planner.hpp"
#include "knowledge/sqlite.hpp"

namespace keel::planner {

class Journal {
 public:
  struct Task {
    std::string status;  // "running", "done", "failed", "skipped", "cancelled", "interrupted"
    Json output;
    std::string error;
    int attempts = 0;
  };
  struct Run {
    std::string goal;
    std::string status;
    std::vector<Plan> plans;
    std::map<std::string, Task> tasks;  // of the last plan
  };

  /// Opens or creates the journal; throws Error(invalid_config) naming the path.
  explicit Journal(const std::string& path);

  std::optional<Run> load(const std::string& run_id);
  void begin_run(const std::string& run_id, const std::string& goal);
  void add_plan(const std::string& run_id, std::size_t seq, const Plan& plan);
  void task_started(const std::string& run_id, std::size_t seq, const std::string& task, int attempt);
  void task_finished(const std::string& run_id, std::size_t seq, const TaskOutcome& outcome);
  void run_finished(const std::string& run_id, const std::string& status);

 private:
  std::mutex mutex_;
  std::unique_ptr<knowledge::Connection> db_;
};

}  // namespace keel::planner
