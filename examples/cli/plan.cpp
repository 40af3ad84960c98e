// `keel plan --tools FILE (--plan FILE | --model FILE "goal") [--config FILE] [--journal FILE]
// [--run-id ID] [--max-parallel N] [--timeout-ms N]`: runs a given plan, or plans a goal with the
// model, runs the plan and has the model answer; prints the run JSON (every task's status,
// output and timings). A plan that fails validation exits 2 with every problem on stderr (a
// cycle names its tasks); a run that failed or was cancelled exits 1 after printing its JSON.
// Ctrl-C cancels the run, which still prints what it has.
#include <csignal>
#include <future>
#include <iostream>

#include "cli.hpp"
#include "keel/planner.hpp"

namespace keel::cli {

namespace {

struct PlanOptions {
  std::string tools_path;
  std::string plan_path;
  std::string model_path;
  std::string config_path;
  std::string journal;
  std::string run_id;
  std::size_t max_parallel = 0;
  long long timeout_ms = 0;
  std::string goal;
};

volatile std::sig_atomic_t interrupted = 0;

int run_plan(const PlanOptions& options, bool goal_given) {
  if (!options.plan_path.empty() && goal_given) throw UsageError("plan: give --plan FILE or a goal, not both");
  if (options.plan_path.empty() && options.run_id.empty()) {
    if (options.model_path.empty()) throw UsageError("plan: give --plan FILE, or --model FILE and a goal");
    if (!goal_given) throw UsageError("plan: --model needs a goal to plan");
  }
  PlannerConfig config;
  if (!options.config_path.empty()) config = PlannerConfig::from_json(read_json_file(options.config_path, "planner config"));
  if (!options.journal.empty()) config.journal = options.journal;
  if (options.max_parallel > 0) config.max_parallel = options.max_parallel;
  ToolRegistry tools;
  if (!options.tools_path.empty()) tools = ToolRegistry::load(options.tools_path);
  std::shared_ptr<ChatModel> model;
  if (!options.model_path.empty()) model = make_chat_model(read_json_file(options.model_path, "model file"));
  Planner planner(std::move(config), model, std::move(tools));

  Plan plan;
  if (!options.plan_path.empty()) {
    try {
      plan = Plan::from_json(read_json_file(options.plan_path, "plan file"));
    } catch (const Error& e) {
      if (e.code() == Errc::invalid_argument) throw UsageError(e.what());
      throw;
    }
    if (options.run_id.empty() || planner.config().journal.empty()) {
      auto issues = planner.validate(plan);
      if (!issues.empty()) {
        std::string message = "plan " + options.plan_path + " cannot run:";
        for (const auto& issue : issues) message += "\n  " + issue.to_string();
        throw UsageError(message);
      }
    }
  }

  CancellationSource cancel;
  PlanRunOptions run;
  run.cancel = cancel.token();
  run.run_id = options.run_id;
  if (options.timeout_ms > 0) run.deadline = Deadline::after_ms(options.timeout_ms);
  std::promise<PlanRun> promise;
  auto future = promise.get_future();
  auto previous = std::signal(SIGINT, [](int) { interrupted = 1; });
  auto done = [&promise](PlanRun result) { promise.set_value(std::move(result)); };
  if (!options.plan_path.empty() || !goal_given) {
    planner.run_async(std::move(plan), std::move(run), done);
  } else {
    planner.solve_async(options.goal, std::move(run), done);
  }
  while (future.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    if (interrupted) cancel.cancel();
  }
  std::signal(SIGINT, previous);
  PlanRun result = future.get();
  print_json(result.to_json());
  if (result.status == "invalid") {
    std::cerr << "keel: " << (result.error ? result.error->what() : "the plan cannot run") << "\n";
    return exit_usage;
  }
  if (result.status != "succeeded") {
    std::cerr << "keel: plan " << result.status << (result.error ? std::string(": ") + result.error->what() : "") << "\n";
    return exit_error;
  }
  return exit_ok;
}

}  // namespace

void add_plan(CLI::App& app, int& status) {
  static PlanOptions options;
  auto* plan = app.add_subcommand("plan", "Run a plan of tools, or plan a goal with a model and run it");
  plan->add_option("--tools", options.tools_path, "Tools file: {\"tools\": [skills...]}");
  plan->add_option("--plan", options.plan_path, "A plan JSON file to run");
  plan->add_option("--model", options.model_path, "Model configuration JSON file (planning, llm tasks, the answer)");
  plan->add_option("--config", options.config_path, "Planner configuration JSON file");
  plan->add_option("--journal", options.journal, "SQLite journal: a run can be resumed with --run-id");
  plan->add_option("--run-id", options.run_id, "Names the run in the journal; a known id resumes it");
  plan->add_option("--max-parallel", options.max_parallel, "Tasks running at once (default 8)")
      ->check(CLI::Range(1, 4096));
  plan->add_option("--timeout-ms", options.timeout_ms, "Deadline for the whole run")->check(CLI::NonNegativeNumber);
  auto* goal = plan->add_option("GOAL", options.goal, "The goal to plan (with --model)");
  plan->callback([&status, goal] { status = run_plan(options, goal->count() > 0); });
}

}  // namespace keel::cli
