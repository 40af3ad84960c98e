#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "keel/executor.hpp"

using namespace std::chrono_literals;
using keel::CancellationSource;
using keel::Deadline;
using keel::Executor;

TEST_CASE("posted work runs on the executor's threads") {
  Executor executor(Executor::Options{2});
  CHECK(executor.threads() == 2);
  std::promise<bool> on_pool;
  executor.post([&] { on_pool.set_value(executor.running_in_this_thread()); });
  CHECK(on_pool.get_future().get());
  CHECK_FALSE(executor.running_in_this_thread());
}

TEST_CASE("many posts all run") {
  Executor executor(Executor::Options{2});
  std::atomic<int> count{0};
  std::promise<void> all;
  constexpr int n = 5000;
  for (int i = 0; i < n; ++i) {
    executor.post([&] {
      if (count.fetch_add(1) + 1 == n) all.set_value();
    });
  }
  CHECK(all.get_future().wait_for(10s) == std::future_status::ready);
}

TEST_CASE("a timer fires after its delay") {
  Executor executor(Executor::Options{1});
  std::promise<bool> result;
  auto start = std::chrono::steady_clock::now();
  executor.after(20ms, [&](bool fired) { result.set_value(fired); });
  CHECK(result.get_future().get());
  CHECK(std::chrono::steady_clock::now() - start >= 20ms);
}

TEST_CASE("a cancelled timer reports cancellation exactly once") {
  Executor executor(Executor::Options{2});
  std::atomic<int> calls{0};
  std::promise<bool> result;
  auto timer = executor.after(10s, [&](bool fired) {
    calls++;
    result.set_value(fired);
  });
  timer.cancel();
  timer.cancel();
  CHECK_FALSE(result.get_future().get());
  std::this_thread::sleep_for(20ms);
  CHECK(calls == 1);
}

TEST_CASE("timers do not hold threads while they wait") {
  Executor executor(Executor::Options{1});
  std::atomic<int> fired{0};
  std::promise<void> all;
  constexpr int n = 1000;
  for (int i = 0; i < n; ++i) {
    executor.after(50ms, [&](bool) {
      if (fired.fetch_add(1) + 1 == n) all.set_value();
    });
  }
  // One thread, a thousand concurrent 50 ms waits: finishes in about 50 ms, not 50 s.
  CHECK(all.get_future().wait_for(5s) == std::future_status::ready);
}

TEST_CASE("timers fire in the order of their expiry, whatever the order they were set in") {
  Executor executor(Executor::Options{1});
  std::mutex mutex;
  std::vector<int> order;
  std::promise<void> all;
  auto record = [&](int id) {
    return [&, id](bool fired) {
      CHECK(fired);
      std::lock_guard lock(mutex);
      order.push_back(id);
      if (order.size() == 4) all.set_value();
    };
  };
  // Each later-set timer expires earlier, so the queue re-arms its wake-up every time.
  executor.after(80ms, record(4));
  executor.after(60ms, record(3));
  executor.after(40ms, record(2));
  executor.after(20ms, record(1));
  REQUIRE(all.get_future().wait_for(5s) == std::future_status::ready);
  CHECK(order == std::vector<int>{1, 2, 3, 4});
}

TEST_CASE("timers cancelled while they expire answer exactly once") {
  Executor executor(Executor::Options{2});
  constexpr int n = 2000;
  std::vector<std::atomic<int>> calls(n);
  std::vector<keel::Timer> timers;
  std::atomic<int> answered{0};
  std::promise<void> all;
  for (int i = 0; i < n; ++i) {
    timers.push_back(executor.after(std::chrono::microseconds(i % 1000), [&, i](bool) {
      calls[i]++;
      if (answered.fetch_add(1) + 1 == n) all.set_value();
    }));
  }
  // Cancelled from another thread while the queue is firing them: each is either fired or
  // cancelled, never both.
  for (int i = 0; i < n; i += 2) timers[i].cancel();
  REQUIRE(all.get_future().wait_for(10s) == std::future_status::ready);
  std::this_thread::sleep_for(20ms);
  for (int i = 0; i < n; ++i) CHECK(calls[i] == 1);
}

TEST_CASE("a timer cancelled on an executor thread answers on that thread, after the callback") {
  Executor executor(Executor::Options{2});
  std::promise<std::pair<bool, bool>> answer;  // {same thread, after the cancelling callback}
  executor.post([&] {
    auto self = std::this_thread::get_id();
    auto returned = std::make_shared<std::atomic<bool>>(false);
    auto timer = executor.after(10s, [&, self, returned](bool fired) {
      CHECK_FALSE(fired);
      answer.set_value({std::this_thread::get_id() == self, returned->load()});
    });
    timer.cancel();
    *returned = true;
  });
  auto [same_thread, after_callback] = answer.get_future().get();
  CHECK(same_thread);
  CHECK(after_callback);
}

TEST_CASE("deferred work follows the current callback on its thread, and is posted from elsewhere") {
  Executor executor(Executor::Options{2});
  std::promise<bool> same;
  executor.post([&] {
    auto self = std::this_thread::get_id();
    executor.defer([&, self] { same.set_value(std::this_thread::get_id() == self); });
  });
  CHECK(same.get_future().get());
  std::promise<bool> outside;
  executor.defer([&] { outside.set_value(executor.running_in_this_thread()); });
  CHECK(outside.get_future().get());
}

TEST_CASE("timers may outlive their executor") {
  keel::Timer pending, cancelled_late;
  auto dropped = std::make_shared<int>(0);
  {
    Executor executor(Executor::Options{1});
    pending = executor.after(1h, [dropped](bool) { FAIL("a timer of a destroyed executor ran"); });
    cancelled_late = executor.after(1h, [](bool) {});
  }
  // The executor is gone: its waiting timers were dropped uncalled, and cancelling is harmless.
  cancelled_late.cancel();
  pending = keel::Timer();
  CHECK(dropped.use_count() == 1);
}

TEST_CASE("a deadline in the past fires at once and an unset one never fires") {
  Executor executor(Executor::Options{1});
  std::promise<bool> past;
  executor.at(Deadline::after(-1s), [&](bool fired) { past.set_value(fired); });
  CHECK(past.get_future().get());

  std::promise<bool> never;
  auto timer = executor.at(Deadline::never(), [&](bool fired) { never.set_value(fired); });
  auto future = never.get_future();
  CHECK(future.wait_for(30ms) == std::future_status::timeout);
  timer.cancel();
  CHECK_FALSE(future.get());
}

TEST_CASE("deadlines compare and count down") {
  CHECK_FALSE(Deadline().is_set());
  CHECK_FALSE(Deadline().expired());
  CHECK(Deadline().remaining() == Deadline::Clock::duration::max());
  auto soon = Deadline::after(1s), later = Deadline::after(10s);
  CHECK(soon.earliest(later).time() == soon.time());
  CHECK(later.earliest(Deadline()).time() == later.time());
  CHECK(Deadline::after(-1ms).expired());
  CHECK(Deadline::after(-1ms).remaining() == Deadline::Clock::duration::zero());
}

TEST_CASE("cancellation runs callbacks once and late registrations at once") {
  CancellationSource source;
  auto token = source.token();
  int calls = 0;
  auto registration = token.on_cancel([&] { calls++; });
  CHECK_FALSE(token.cancelled());
  source.cancel();
  source.cancel();
  CHECK(token.cancelled());
  CHECK(calls == 1);
  auto late = token.on_cancel([&] { calls += 10; });
  CHECK(calls == 11);
}

TEST_CASE("a dropped registration is not called") {
  CancellationSource source;
  int calls = 0;
  {
    auto registration = source.token().on_cancel([&] { calls++; });
  }
  source.cancel();
  CHECK(calls == 0);
}

TEST_CASE("a default token is never cancelled") {
  keel::CancellationToken token;
  CHECK_FALSE(token.can_be_cancelled());
  CHECK_FALSE(token.cancelled());
  int calls = 0;
  auto registration = token.on_cancel([&] { calls++; });
  CHECK(calls == 0);
}

TEST_CASE("cancel from many threads races safely with registration") {
  for (int round = 0; round < 50; ++round) {
    CancellationSource source;
    std::atomic<int> calls{0};
    std::vector<keel::CancellationToken::Registration> registrations;
    std::thread canceller([&] { source.cancel(); });
    for (int i = 0; i < 20; ++i) {
      registrations.push_back(source.token().on_cancel([&] { calls++; }));
    }
    canceller.join();
    CHECK(calls == 20);
  }
}

TEST_CASE("an exception escaping a callback does not stop the executor") {
  Executor executor(Executor::Options{1});
  executor.post([] { throw std::runtime_error("host callback failed"); });
  std::promise<void> after;
  executor.post([&] { after.set_value(); });
  CHECK(after.get_future().wait_for(5s) == std::future_status::ready);
}

TEST_CASE("the shared executor exists and runs work") {
  std::promise<void> ran;
  Executor::shared().post([&] { ran.set_value(); });
  CHECK(ran.get_future().wait_for(5s) == std::future_status::ready);
  CHECK(Executor::shared().threads() >= 1);
}
