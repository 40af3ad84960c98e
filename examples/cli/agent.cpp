// `keel agent --model FILE [--tools FILE] [--config FILE] [--max-turns N] [--timeout-ms N]
// ["task"]`: one agent run. The tools file lists subprocess skills; the agent configuration
// (system prompt, limits, firewall, screening) is the JSON of keel/agent.hpp. Prints the result
// JSON (output, stop_reason, messages, tool_calls, usage). Without a task argument, stdin is the
// task. Ctrl-C cancels the run, which still prints what it has (stop_reason "cancelled").
// Exit status 1 when the run stopped on an error (the model failed), else 0.
#include <csignal>
#include <future>
#include <iostream>

#include "cli.hpp"
#include "keel/agent.hpp"

namespace keel::cli {

namespace {

struct AgentOptions {
  std::string model_path;
  std::string tools_path;
  std::string config_path;
  int max_turns = 0;
  long long timeout_ms = 0;
  std::string task;
};

volatile std::sig_atomic_t interrupted = 0;

int run_agent(const AgentOptions& options, bool task_given) {
  AgentConfig config;
  if (!options.config_path.empty()) {
    config = AgentConfig::from_json(read_json_file(options.config_path, "agent config"));
  }
  if (options.max_turns > 0) config.max_turns = options.max_turns;
  ToolRegistry tools;
  if (!options.tools_path.empty()) tools = ToolRegistry::load(options.tools_path);
  auto model = make_chat_model(read_json_file(options.model_path, "model file"));
  Agent agent(std::move(config), model, std::move(tools));

  std::string task = task_given ? options.task : read_all(std::cin);
  if (task.empty()) throw UsageError("agent: the task is empty");

  CancellationSource cancel;
  AgentRunOptions run;
  run.cancel = cancel.token();
  if (options.timeout_ms > 0) run.deadline = Deadline::after_ms(options.timeout_ms);
  std::promise<AgentResult> promise;
  auto future = promise.get_future();
  auto previous = std::signal(SIGINT, [](int) { interrupted = 1; });
  agent.run_async({Message::user(std::move(task))}, std::move(run),
                  [&promise](AgentResult result) { promise.set_value(std::move(result)); });
  while (future.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    if (interrupted) cancel.cancel();
  }
  std::signal(SIGINT, previous);
  AgentResult result = future.get();
  print_json(result.to_json());
  if (result.stop_reason == StopReason::error) {
    std::cerr << "keel: agent: " << (result.error ? result.error->what() : "the run failed") << "\n";
    return exit_error;
  }
  return exit_ok;
}

}  // namespace

void add_agent(CLI::App& app, int& status) {
  static AgentOptions options;
  auto* agent = app.add_subcommand("agent", "One agent run with skills: prints the result JSON");
  agent->add_option("--model", options.model_path, "Model configuration JSON file")->required();
  agent->add_option("--tools", options.tools_path, "Tools file: {\"tools\": [skills...]}");
  agent->add_option("--config", options.config_path,
                    "Agent configuration JSON file (system_prompt, limits, firewall, screen)");
  agent->add_option("--max-turns", options.max_turns, "Model calls at most (default 10)")
      ->check(CLI::Range(1, 1000));
  agent->add_option("--timeout-ms", options.timeout_ms, "Deadline for the whole run")
      ->check(CLI::NonNegativeNumber);
  auto* task = agent->add_option("TASK", options.task, "The user's task (default: stdin)");
  agent->callback([&status, task] { status = run_agent(options, task->count() > 0); });
}

}  // namespace keel::cli
