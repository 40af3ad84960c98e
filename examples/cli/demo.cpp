// `keel demo`: a tour of keel on embedded defaults, offline, with timings. It is the one
// subcommand whose output is meant for people: text by default, a JSON report with --json.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <mutex>

#include "cli.hpp"

namespace keel::cli {

namespace {

using Clock = std::chrono::steady_clock;

double micros_since(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

Json tour_core() {
  Executor& executor = Executor::shared();

  // Post work to the thread pool and wait for all of it.
  constexpr int tasks = 10000;
  std::atomic<int> done{0};
  std::mutex mutex;
  std::condition_variable finished;
  auto start = Clock::now();
  for (int i = 0; i < tasks; ++i) {
    executor.post([&] {
      if (done.fetch_add(1) + 1 == tasks) {
        std::lock_guard lock(mutex);
        finished.notify_one();
      }
    });
  }
  {
    std::unique_lock lock(mutex);
    finished.wait(lock, [&] { return done.load() == tasks; });
  }
  double post_us = micros_since(start);

  // A timer waits without holding a thread.
  std::promise<double> fired;
  start = Clock::now();
  executor.after(std::chrono::milliseconds(10),
                 [&](bool) { fired.set_value(micros_since(start)); });
  double timer_us = fired.get_future().get();

  return {{"threads", executor.threads()},
          {"tasks_posted", tasks},
          {"tasks_us", post_us},
          {"timer_10ms_fired_after_us", timer_us}};
}

}  // namespace

void add_demo(CLI::App& app, int& status) {
  auto* demo = app.add_subcommand("demo", "Tour keel on embedded defaults, offline, with timings");
  static bool as_json = false;
  demo->add_flag("--json", as_json, "Print a JSON report instead of text");
  demo->callback([&status] {
    Json report = {{"version", std::string(runtime_version())}};
    report["core"] = tour_core();
    if (as_json) {
      print_json(report);
    } else {
      const Json& core = report["core"];
      std::printf("keel %s — a tour on embedded defaults, offline\n\n", runtime_version().data());
      std::printf("core\n");
      std::printf("  executor: %u threads; %d tasks posted and run in %.0f us (%.2f us each)\n",
                  core["threads"].get<unsigned>(), core["tasks_posted"].get<int>(),
                  core["tasks_us"].get<double>(),
                  core["tasks_us"].get<double>() / core["tasks_posted"].get<double>());
      std::printf("  timer: asked for 10 ms, fired after %.2f ms, holding no thread meanwhile\n",
                  core["timer_10ms_fired_after_us"].get<double>() / 1000.0);
    }
    status = exit_ok;
  });
}

}  // namespace keel::cli
