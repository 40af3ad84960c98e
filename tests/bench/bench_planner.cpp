// The planner's executor: scheduling overhead per task and parallel wall time.
//   1. A 1,000-task DAG (task i needs (i * 7919) % i and (i * 104729) % i) of no-op in-process
//      tools that answer at once: the run's wall time divided by 1,000 — validation, Kahn's
//      bookkeeping, reference substitution, the guarded call (timeout, breaker), events off.
//   2. Width 100, depth 10 (task i needs i - 100): each tool answers after 50 ms without
//      holding a thread; on 2 executor threads the run should take about the 500 ms critical
//      path (goal: within 1.1x).
//   Baseline in the same run: the same DAGs on Python asyncio (tests/bench/planner_baseline.py).
//   build/bin/bench_planner [--runs N] [--threads N (executor threads, default 2)]
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include "bench.hpp"
#include "keel/planner.hpp"

using namespace keel;
using namespace keel::bench;

namespace {

Plan dag(int n, std::vector<std::string> (*deps)(int), const char* tool) {
  Plan plan;
  for (int i = 0; i < n; ++i) {
    PlanTask task;
    task.id = "t" + std::to_string(i);
    task.tool = tool;
    task.deps = deps(i);
    task.args = Json{{"i", i}};
    plan.tasks.push_back(std::move(task));
  }
  return plan;
}

std::vector<std::string> random_deps(int i) {
  if (i == 0) return {};
  std::vector<std::string> out{"t" + std::to_string((i * 7919) % i)};
  std::string second = "t" + std::to_string((i * 104729) % i);
  if (second != out[0]) out.push_back(second);
  return out;
}

std::vector<std::string> layered(int i) {
  if (i < 100) return {};
  return {"t" + std::to_string(i - 100)};
}

void python_baseline() {
  std::string command = "python3 " KEEL_SOURCE_DIR "/tests/bench/planner_baseline.py";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return;
  char line[256];
  while (std::fgets(line, sizeof line, pipe)) std::printf("  %s", line);
  ::pclose(pipe);
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 20;
  unsigned threads = 2;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--runs") == 0) runs = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--threads") == 0) threads = static_cast<unsigned>(std::max(1, std::atoi(argv[i + 1])));
  }
  std::printf("keel planner benchmark\n\n");
  Executor executor(Executor::Options{threads});
  auto model = std::make_shared<ScriptedModel>(std::vector<Json>{}, executor);  // for its executor
  ToolRegistry tools;
  ToolSpec noop_spec{"noop", "answers at once", Json{{"type", "object"}}};
  tools.add(Tool::asynchronous(noop_spec, [](Json args, ToolContext, Callback<Json> done) { done(std::move(args)); }));
  ToolSpec wait_spec{"wait50", "answers after 50 ms", Json{{"type", "object"}}};
  tools.add(Tool::asynchronous(wait_spec, [&executor](Json args, ToolContext, Callback<Json> done) {
    executor.after(std::chrono::milliseconds(50), [done, args](bool) { done(args); });
  }));
  PlannerConfig config;
  config.max_parallel = 1000;
  Planner planner(config, model, tools);

  Plan wide = dag(1000, random_deps, "noop");
  (void)planner.run(wide);
  std::vector<double> per_task;
  for (int r = 0; r < runs; ++r) {
    auto start = Clock::now();
    PlanRun run = planner.run(wide);
    per_task.push_back(micros(Clock::now() - start) / 1000.0);
    if (run.status != "succeeded") {
      std::printf("run failed: %s\n", run.error ? run.error->what() : "?");
      return 1;
    }
  }
  std::printf("1. scheduling overhead per task (1,000-task DAG of no-op tools, run / 1,000, %u executor threads)\n",
              threads);
  report("   keel", per_task);
  std::printf("   goal p50 <= 10 us\n");

  Plan layers = dag(1000, layered, "wait50");
  std::vector<double> walls;
  for (int r = 0; r < 3; ++r) {
    auto start = Clock::now();
    PlanRun run = planner.run(layers);
    walls.push_back(micros(Clock::now() - start) / 1000.0);
    if (run.status != "succeeded") return 1;
  }
  std::printf("\n2. width 100, depth 10, tools answering after 50 ms, %u executor threads\n", threads);
  std::printf("   keel: wall %.1f ms (median of 3) = %.3fx the 500 ms critical path (goal <= 1.1x)\n",
              percentile(walls, 50), percentile(walls, 50) / 500.0);
  std::printf("\nbaseline: the same DAGs on Python asyncio (tests/bench/planner_baseline.py)\n");
  python_baseline();
  return 0;
}
