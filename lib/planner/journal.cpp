#include "planner/journal.hpp"

#include "keel/events.hpp"

namespace keel::planner {

Journal::Journal(const std::string& path) {
  try {
    db_ = std::make_unique<knowledge::Connection>(path, false);
    db_->exec("PRAGMA journal_mode=WAL");
    db_->exec("PRAGMA synchronous=NORMAL");  // durable across a killed process (WAL)
    db_->exec(
        "CREATE TABLE IF NOT EXISTS plan_runs(run_id TEXT PRIMARY KEY, goal TEXT NOT NULL, "
        "status TEXT NOT NULL, updated_us INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS plan_versions(run_id TEXT NOT NULL, seq INTEGER NOT NULL, "
        "plan TEXT NOT NULL, PRIMARY KEY(run_id, seq));"
        "CREATE TABLE IF NOT EXISTS plan_tasks(run_id TEXT NOT NULL, seq INTEGER NOT NULL, "
        "task_id TEXT NOT NULL, status TEXT NOT NULL, output TEXT, error TEXT, "
        "attempts INTEGER NOT NULL, PRIMARY KEY(run_id, seq, task_id));");
  } catch (const Error& e) {
    throw Error(Errc::invalid_config, "journal: " + std::string(e.what()));
  }
}

std::optional<Journal::Run> Journal::load(const std::string& run_id) {
  std::lock_guard lock(mutex_);
  Run run;
  {
    auto s = db_->prepare("SELECT goal, status FROM plan_runs WHERE run_id = ?");
    s.bind_text(1, run_id);
    if (!s.step()) return std::nullopt;
    run.goal = std::string(s.text(0));
    run.status = std::string(s.text(1));
  }
  {
    auto s = db_->prepare("SELECT plan FROM plan_versions WHERE run_id = ? ORDER BY seq");
    s.bind_text(1, run_id);
    while (s.step()) run.plans.push_back(Plan::from_json(parse_json(s.text(0), "journal plan")));
  }
  if (!run.plans.empty()) {
    auto s = db_->prepare(
        "SELECT task_id, status, output, error, attempts FROM plan_tasks WHERE run_id = ? AND seq = ?");
    s.bind_text(1, run_id);
    s.bind(2, static_cast<std::int64_t>(run.plans.size() - 1));
    while (s.step()) {
      Task task;
      task.status = std::string(s.text(1));
      if (!s.is_null(2)) task.output = parse_json(s.text(2), "journal output");
      if (!s.is_null(3)) task.error = std::string(s.text(3));
      task.attempts = static_cast<int>(s.int64(4));
      run.tasks.emplace(std::string(s.text(0)), std::move(task));
    }
  }
  return run;
}

void Journal::begin_run(const std::string& run_id, const std::string& goal) {
  std::lock_guard lock(mutex_);
  auto s = db_->prepare(
      "INSERT INTO plan_runs(run_id, goal, status, updated_us) VALUES(?, ?, 'running', ?) "
      "ON CONFLICT(run_id) DO UPDATE SET status = 'running', updated_us = excluded.updated_us");
  s.bind_text(1, run_id).bind_text(2, goal).bind(3, unix_time_us());
  s.run();
}

void Journal::add_plan(const std::string& run_id, std::size_t seq, const Plan& plan) {
  std::lock_guard lock(mutex_);
  auto s = db_->prepare("INSERT OR REPLACE INTO plan_versions(run_id, seq, plan) VALUES(?, ?, ?)");
  s.bind_text(1, run_id).bind(2, static_cast<std::int64_t>(seq)).bind_text(3, dump_json(plan.to_json()));
  s.run();
}

void Journal::task_started(const std::string& run_id, std::size_t seq, const std::string& task, int attempt) {
  std::lock_guard lock(mutex_);
  auto s = db_->prepare(
      "INSERT OR REPLACE INTO plan_tasks(run_id, seq, task_id, status, output, error, attempts) "
      "VALUES(?, ?, ?, 'running', NULL, NULL, ?)");
  s.bind_text(1, run_id).bind(2, static_cast<std::int64_t>(seq)).bind_text(3, task).bind(4, std::int64_t{attempt});
  s.run();
}

void Journal::task_finished(const std::string& run_id, std::size_t seq, const TaskOutcome& outcome) {
  std::lock_guard lock(mutex_);
  auto s = db_->prepare(
      "INSERT OR REPLACE INTO plan_tasks(run_id, seq, task_id, status, output, error, attempts) "
      "VALUES(?, ?, ?, ?, ?, ?, ?)");
  s.bind_text(1, run_id).bind(2, static_cast<std::int64_t>(seq)).bind_text(3, outcome.id).bind_text(4, outcome.status);
  if (outcome.status == "done") {
    s.bind_text(5, dump_json(outcome.output));
  } else {
    s.bind_null(5);
  }
  if (outcome.error.empty()) {
    s.bind_null(6);
  } else {
    s.bind_text(6, outcome.error);
  }
  s.bind(7, std::int64_t{outcome.attempts});
  s.run();
}

void Journal::run_finished(const std::string& run_id, const std::string& status) {
  std::lock_guard lock(mutex_);
  auto s = db_->prepare("UPDATE plan_runs SET status = ?, updated_us = ? WHERE run_id = ?");
  s.bind_text(1, status).bind(2, unix_time_us()).bind_text(3, run_id);
  s.run();
}

}  // namespace keel::planner
