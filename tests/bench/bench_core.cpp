// Core hot paths: posting work to the executor (every async step of the agent and planner goes
// through it) and reading a configuration (every component's from_json).
// Baselines in the same run: a bare std::thread hand-off through a mutex and condition
// variable, and nlohmann::json parsing alone.
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "bench.hpp"
#include "keel/core.hpp"

using namespace keel;
using namespace keel::bench;

int main() {
  std::printf("keel core benchmark (%u hardware threads)\n\n", std::thread::hardware_concurrency());

  // Executor: post -> run -> signal back, round trip.
  Executor executor(Executor::Options{1});
  auto round_trip = sample(20000, [&] {
    std::promise<void> done;
    executor.post([&] { done.set_value(); });
    done.get_future().wait();
  });
  report("executor post round trip", round_trip);

  // Baseline: the same hand-off to a dedicated thread with a mutex + condition variable.
  std::mutex m;
  std::condition_variable cv;
  int requested = 0, served = 0;
  bool stop = false;
  std::thread worker([&] {
    std::unique_lock lock(m);
    while (!stop) {
      cv.wait(lock, [&] { return stop || requested > served; });
      if (requested > served) {
        served++;
        cv.notify_all();
      }
    }
  });
  auto baseline = sample(20000, [&] {
    std::unique_lock lock(m);
    int target = ++requested;
    cv.notify_all();
    cv.wait(lock, [&] { return served >= target; });
  });
  {
    std::lock_guard lock(m);
    stop = true;
  }
  cv.notify_all();
  worker.join();
  report("baseline: thread hand-off (mutex + condvar)", baseline);

  // Configuration reading on top of parsing.
  const std::string text = R"({"exit_threshold": 0.8, "fallback": "general", "routes": [
    {"name": "billing", "description": "Invoices, charges, refunds", "threshold": 0.8,
     "utterances": ["I was billed the wrong amount", "refund my order", "invoice copy"]},
    {"name": "support", "description": "Technical help", "threshold": 0.7,
     "utterances": ["the app crashes", "cannot log in", "error 500"]}]})";
  auto parse_only = sample(20000, [&] {
    Json json = Json::parse(text);
    (void)json;
  });
  auto parse_and_read = sample(20000, [&] {
    Json json = parse_json(text, "routes");
    ConfigReader root(json);
    (void)root.number("exit_threshold", 0.8, 0, 1);
    (void)root.optional<std::string>("fallback", "");
    for (auto& route : root.objects("routes")) {
      (void)route.required<std::string>("name");
      (void)route.optional<std::string>("description", "");
      (void)route.number("threshold", 0.8, 0, 1);
      (void)route.optional<std::vector<std::string>>("utterances", {});
      route.finish();
    }
    root.finish();
  });
  report("baseline: nlohmann parse of a routes file", parse_only);
  report("parse_json + ConfigReader (checked)", parse_and_read);
  std::printf("\nchecked config reading costs %.2fx plain parsing (p50)\n",
              percentile(parse_and_read, 50) / percentile(parse_only, 50));
  return 0;
}
