#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "keel/resilience.hpp"

using namespace std::chrono_literals;
using keel::Attempt;
using keel::CancellationSource;
using keel::CancellationToken;
using keel::CircuitBreaker;
using keel::Deadline;
using keel::Errc;
using keel::Error;
using keel::ErrorDetails;
using keel::Executor;
using keel::Json;
using keel::ResilienceConfig;
using keel::Result;
using keel::RetryBudget;
using Clock = std::chrono::steady_clock;

namespace {

Error transient(const std::string& message = "HTTP 503") {
  return Error(Errc::provider, message, ErrorDetails{503, "", -1, -1});
}

Error rate_limited(long long retry_after_ms) {
  return Error(Errc::provider, "HTTP 429",
               ErrorDetails{429, "rate_limit_error", retry_after_ms, -1});
}

Error bad_request() {
  return Error(Errc::provider, "HTTP 400", ErrorDetails{400, "invalid_request_error", -1, -1});
}

// Short waits so the suite stays fast: 5, 10, 20, 20... ms between attempts.
ResilienceConfig fast_config(int max_attempts = 3) {
  ResilienceConfig config;
  config.timeout = 2000ms;
  config.retry.max_attempts = max_attempts;
  config.retry.base_delay = 5ms;
  config.retry.max_delay = 20ms;
  config.retry.jitter = keel::RetryPolicy::Jitter::none;
  return config;
}

// Where a run's `done` reports: counts its calls and checks it runs on the executor.
struct Completion {
  std::atomic<int> calls{0};
  std::atomic<bool> on_executor{true};
  std::atomic<long long> at_ns{0};
  std::promise<Result<int>> promise;
  std::future<Result<int>> future = promise.get_future();
};

keel::Callback<int> recorder(const std::shared_ptr<Completion>& completion, Executor& executor) {
  return [completion, &executor](Result<int> result) {
    if (!executor.running_in_this_thread()) completion->on_executor = false;
    if (completion->calls.fetch_add(1) == 0) {
      completion->at_ns = Clock::now().time_since_epoch().count();
      completion->promise.set_value(std::move(result));
    }
  };
}

// Waits for the outcome (generously, so a bug fails rather than hangs) and checks that `done`
// ran once, on the executor, and is not called again.
Result<int> outcome(Completion& completion) {
  REQUIRE(completion.future.wait_for(5s) == std::future_status::ready);
  Result<int> result = completion.future.get();
  std::this_thread::sleep_for(30ms);
  CHECK(completion.calls == 1);
  CHECK(completion.on_executor);
  return result;
}

// Completes `done` from another task, as real I/O would.
void complete_later(Executor& executor, keel::Callback<int> done, Result<int> result) {
  executor.post([done = std::move(done), result = std::move(result)] { done(result); });
}

// An attempt that answers attempt n (1-based) with outcomes[n - 1], the last one repeating.
Attempt<int> scripted(Executor& executor, std::vector<Result<int>> outcomes,
                      std::shared_ptr<std::atomic<int>> attempts) {
  return [&executor, outcomes = std::move(outcomes), attempts](const CancellationToken&,
                                                               keel::Callback<int> done) {
    const int n = ++*attempts;
    const auto index = std::min<std::size_t>(static_cast<std::size_t>(n - 1), outcomes.size() - 1);
    complete_later(executor, std::move(done), outcomes[index]);
  };
}

// An attempt that never finishes on its own: it completes (with cancelled) only when its token
// is cancelled. Keeps the registrations alive for the test's duration.
struct Hanging {
  std::mutex mutex;
  std::vector<CancellationToken::Registration> registrations;
  std::atomic<int> attempts{0};
  std::atomic<int> cancelled{0};

  Attempt<int> attempt() {
    return [this](const CancellationToken& token, keel::Callback<int> done) {
      ++attempts;
      auto registration = token.on_cancel([this, done] {
        ++cancelled;
        done(Error(Errc::cancelled, "attempt cancelled"));
      });
      std::lock_guard lock(mutex);
      registrations.push_back(std::move(registration));
    };
  }
};

long long ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

}  // namespace

TEST_CASE("a first-try success completes with the value after one attempt") {
  Executor executor(Executor::Options{2});
  auto attempts = std::make_shared<std::atomic<int>>(0);
  auto completion = std::make_shared<Completion>();
  keel::run_resilient<int>(executor, fast_config(), nullptr, nullptr, Deadline::never(), {},
                           scripted(executor, {42}, attempts), recorder(completion, executor));
  auto result = outcome(*completion);
  REQUIRE(result.ok());
  CHECK(result.value() == 42);
  CHECK(*attempts == 1);
}

TEST_CASE("a retryable failure is retried until an attempt succeeds") {
  Executor executor(Executor::Options{2});
  auto attempts = std::make_shared<std::atomic<int>>(0);
  auto completion = std::make_shared<Completion>();
  keel::run_resilient<int>(executor, fast_config(5), nullptr, nullptr, Deadline::never(), {},
                           scripted(executor, {transient(), transient(), 7}, attempts),
                           recorder(completion, executor));
  auto result = outcome(*completion);
  REQUIRE(result.ok());
  CHECK(result.value() == 7);
  CHECK(*attempts == 3);
}

TEST_CASE("a non-retryable error is returned without a retry") {
  Executor executor(Executor::Options{2});
  auto attempts = std::make_shared<std::atomic<int>>(0);
  auto completion = std::make_shared<Completion>();
  keel::run_resilient<int>(executor, fast_config(5), nullptr, nullptr, Deadline::never(), {},
                           scripted(executor, {bad_request(), 1}, attempts),
                           recorder(completion, executor));
  auto result = outcome(*completion);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().details().http_status == 400);
  CHECK(*attempts == 1);
}

TEST_CASE("when every attempt fails the last error is returned") {
  Executor executor(Executor::Options{2});
  auto attempts = std::make_shared<std::atomic<int>>(0);
  auto completion = std::make_shared<Completion>();
  keel::run_resilient<int>(
      executor, fast_config(3), nullptr, nullptr, Deadline::never(), {},
      scripted(executor, {transient("first"), transient("second"), transient("third")}, attempts),
      recorder(completion, executor));
  auto result = outcome(*completion);
  REQUIRE_FALSE(result.ok());
  CHECK(std::string(result.error().what()) == "third");
  CHECK(*attempts == 3);
}

TEST_CASE("an attempt that throws counts as a failed attempt") {
  Executor executor(Executor::Options{2});
  std::atomic<int> attempts{0};
  auto completion = std::make_shared<Completion>();
  keel::run_resilient<int>(
      executor, fast_config(3), nullptr, nullptr, Deadline::never(), {},
      [&](const CancellationToken&, keel::Callback<int> done) {
        if (++attempts == 1) throw transient();
        complete_later(executor, std::move(done), 5);
      },
      recorder(completion, executor));
  auto result = outcome(*completion);
  REQUIRE(result.ok());
  CHECK(result.value() == 5);
  CHECK(attempts == 2);
}

TEST_CASE(
    "an attempt past its timeout is cancelled, reported as a timeout, and its late result "
    "ignored") {
  Executor executor(Executor::Options{2});
  auto config = fast_config(1);
  config.timeout = 30ms;
  std::atomic<bool> token_cancelled{false};
  std::promise<void> late_result_sent;
  auto completion = std::make_shared<Completion>();
  keel::run_resilient<int>(
      executor, config, nullptr, nullptr, Deadline::never(), {},
      [&](const CancellationToken& token, keel::Callback<int> done) {
        // Ignores its token and answers long after the timeout.
        executor.after(120ms, [&, token, done](bool) {
          token_cancelled = token.cancelled();
          done(99);
          late_result_sent.set_value();
        });
      },
      recorder(completion, executor));
  auto result = outcome(*completion);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code() == Errc::timeout);
  CHECK(result.error().details().retryable == 1);
  CHECK(std::string(result.error().what()).find("timed out after 30 ms") != std::string::npos);

  REQUIRE(late_result_sent.get_future().wait_for(5s) == std::future_status::ready);
  std::this_thread::sleep_for(20ms);
  CHECK(token_cancelled);
  CHECK(completion->calls == 1);  // the late 99 did not reach done
}

TEST_CASE("a timed-out attempt is retried") {
  Executor executor(Executor::Options{2});
  auto config = fast_config(3);
  config.timeout = 30ms;
  Hanging hanging;
  std::atomic<int> attempts{0};
  auto completion = std::make_shared<Completion>();
  auto hang = hanging.attempt();
  keel::run_resilient<int>(
      executor, config, nullptr, nullptr, Deadline::never(), {},
      [&](const CancellationToken& token, keel::Callback<int> done) {
        if (++attempts == 1) return hang(token, std::move(done));
        complete_later(executor, std::move(done), 8);
      },
      recorder(completion, executor));
  auto result = outcome(*completion);
  REQUIRE(result.ok());
  CHECK(result.value() == 8);
  CHECK(attempts == 2);
  CHECK(hanging.cancelled == 1);  // the first attempt's token was cancelled at its timeout
}

TEST_CASE("the caller's cancellation completes the run with cancelled at once") {
  Executor executor(Executor::Options{2});
  auto config = fast_config(3);
  config.timeout = 0ms;  // no per-attempt timeout: only the cancellation can end it
  Hanging hanging;
  CancellationSource source;
  auto completion = std::make_shared<Completion>();
  keel::run_resilient<int>(executor, config, nullptr, nullptr, Deadline::never(), source.token(),
                           hanging.attempt(), recorder(completion, executor));
  std::this_thread::sleep_for(20ms);
  REQUIRE(hanging.attempts == 1);
  const auto cancelled_at = Clock::now();
  source.cancel();
  auto result = outcome(*completion);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code() == Errc::cancelled);
  CHECK(completion->at_ns - cancelled_at.time_since_epoch().count() < 500'000'000);  // 500 ms
  CHECK(hanging.cancelled == 1);  // the attempt was told
  CHECK(hanging.attempts == 1);
}

TEST_CASE("a run cancelled before it starts never calls the attempt") {
  Executor executor(Executor::Options{2});
  CancellationSource source;
  source.cancel();
  auto attempts = std::make_shared<std::atomic<int>>(0);
  auto completion = std::make_shared<Completion>();
  keel::run_resilient<int>(executor, fast_config(), nullptr, nullptr, Deadline::never(),
                           source.token(), scripted(executor, {1}, attempts),
                           recorder(completion, executor));
  auto result = outcome(*completion);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code() == Errc::cancelled);
  CHECK(*attempts == 0);
}

TEST_CASE("cancelling during the wait between attempts ends the run without another attempt") {
  Executor executor(Executor::Options{2});
  auto config = fast_config(3);
  config.retry.base_delay = 10s;
  config.retry.max_delay = 10s;
  CancellationSource source;
  auto attempts = std::make_shared<std::atomic<int>>(0);
  auto completion = std::make_shared<Completion>();
  keel::run_resilient<int>(executor, config, nullptr, nullptr, Deadline::never(), source.token(),
                           scripted(executor, {transient()}, attempts),
                           recorder(completion, executor));
  std::this_thread::sleep_for(30ms);
  source.cancel();
  auto result = outcome(*completion);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code() == Errc::cancelled);
  CHECK(*attempts == 1);
}

TEST_CASE("an attempt is cut short at the run's deadline") {
  Executor executor(Executor::Options{2});
  auto config = fast_config(3);
  config.timeout = 10s;
  Hanging hanging;
  auto completion = std::make_shared<Completion>();
  const auto start = Clock::now();
  keel::run_resilient<int>(executor, config, nullptr, nullptr, Deadline::after(50ms), {},
                           hanging.attempt(), recorder(completion, executor));
  auto result = outcome(*completion);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code() == Errc::timeout);
  CHECK(std::string(result.error().what()).find("deadline") != std::string::npos);
  CHECK(ms_since(start) < 2000);
  CHECK(hanging.attempts == 1);  // no retry after the deadline
  CHECK(hanging.cancelled == 1);
}

TEST_CASE("a retry whose wait would end after the deadline is not made") {
  Executor executor(Executor::Options{2});
  auto config = fast_config(5);
  config.retry.base_delay = 200ms;
  config.retry.max_delay = 200ms;
  auto attempts = std::make_shared<std::atomic<int>>(0);
  auto completion = std::make_shared<Completion>();
  const auto start = Clock::now();
  keel::run_resilient<int>(executor, config, nullptr, nullptr, Deadline::after(100ms), {},
                           scripted(executor, {transient("the only failure")}, attempts),
                           recorder(completion, executor));
  REQUIRE(completion->future.wait_for(5s) == std::future_status::ready);
  CHECK(ms_since(start) < 150);  // gave up at once rather than sleeping to the deadline
  auto result = outcome(*completion);
  REQUIRE_FALSE(result.ok());
  CHECK(std::string(result.error().what()) == "the only failure");
  CHECK(*attempts == 1);
}

TEST_CASE("a run past its deadline before the first attempt fails with timeout") {
  Executor executor(Executor::Options{2});
  auto attempts = std::make_shared<std::atomic<int>>(0);
  auto completion = std::make_shared<Completion>();
  keel::run_resilient<int>(executor, fast_config(), nullptr, nullptr, Deadline::after(-1ms), {},
                           scripted(executor, {1}, attempts), recorder(completion, executor));
  auto result = outcome(*completion);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code() == Errc::timeout);
  CHECK(*attempts == 0);
}

TEST_CASE("an open circuit rejects the run without calling the attempt") {
  Executor executor(Executor::Options{2});
  CircuitBreaker::Config breaker_config;
  breaker_config.window_size = 1;
  breaker_config.minimum_calls = 1;
  CircuitBreaker breaker(breaker_config, "llm");
  REQUIRE(breaker.try_acquire());
  breaker.on_failure(1ms);
  REQUIRE(breaker.state() == CircuitBreaker::State::open);

  auto attempts = std::make_shared<std::atomic<int>>(0);
  auto completion = std::make_shared<Completion>();
  keel::run_resilient<int>(executor, fast_config(), &breaker, nullptr, Deadline::never(), {},
                           scripted(executor, {1}, attempts), recorder(completion, executor));
  auto result = outcome(*completion);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code() == Errc::unavailable);
  CHECK_FALSE(keel::is_retryable(result.error()));
  CHECK(std::string(result.error().what()).starts_with("circuit \"llm\" is open"));
  CHECK(*attempts == 0);
}

TEST_CASE("retryable failures count against the circuit breaker") {
  Executor executor(Executor::Options{2});
  CircuitBreaker::Config breaker_config;
  breaker_config.window_size = 3;
  breaker_config.minimum_calls = 3;
  CircuitBreaker breaker(breaker_config, "llm");
  auto attempts = std::make_shared<std::atomic<int>>(0);
  auto completion = std::make_shared<Completion>();
  keel::run_resilient<int>(executor, fast_config(3), &breaker, nullptr, Deadline::never(), {},
                           scripted(executor, {transient()}, attempts),
                           recorder(completion, executor));
  auto result = outcome(*completion);
  CHECK_FALSE(result.ok());
  CHECK(*attempts == 3);
  CHECK(breaker.state() == CircuitBreaker::State::open);
}

TEST_CASE("client errors and successes do not count as breaker failures") {
  Executor executor(Executor::Options{2});
  CircuitBreaker::Config breaker_config;
  breaker_config.window_size = 2;
  breaker_config.minimum_calls = 1;
  CircuitBreaker breaker(breaker_config, "llm");
  for (auto outcome_of_attempt : {Result<int>(bad_request()), Result<int>(3)}) {
    auto attempts = std::make_shared<std::atomic<int>>(0);
    auto completion = std::make_shared<Completion>();
    keel::run_resilient<int>(executor, fast_config(3), &breaker, nullptr, Deadline::never(), {},
                             scripted(executor, {outcome_of_attempt}, attempts),
                             recorder(completion, executor));
    (void)outcome(*completion);
  }
  CHECK(breaker.state() == CircuitBreaker::State::closed);
  CHECK(breaker.failure_rate() == 0.0);  // one success recorded, the 400 ignored
}

TEST_CASE("a Retry-After is waited for before the next attempt") {
  Executor executor(Executor::Options{2});
  std::vector<Clock::time_point> attempt_times;
  std::mutex mutex;
  auto completion = std::make_shared<Completion>();
  keel::run_resilient<int>(
      executor, fast_config(3), nullptr, nullptr, Deadline::never(), {},
      [&](const CancellationToken&, keel::Callback<int> done) {
        std::size_t n;
        {
          std::lock_guard lock(mutex);
          attempt_times.push_back(Clock::now());
          n = attempt_times.size();
        }
        complete_later(executor, std::move(done), n == 1 ? Result<int>(rate_limited(50)) : 1);
      },
      recorder(completion, executor));
  auto result = outcome(*completion);
  REQUIRE(result.ok());
  std::lock_guard lock(mutex);
  REQUIRE(attempt_times.size() == 2);
  CHECK(attempt_times[1] - attempt_times[0] >= 50ms);  // not the 5 ms base delay
}

TEST_CASE("a Retry-After beyond max_retry_after returns the error instead of waiting") {
  Executor executor(Executor::Options{2});
  auto config = fast_config(3);
  config.retry.max_retry_after = 1000ms;
  auto attempts = std::make_shared<std::atomic<int>>(0);
  auto completion = std::make_shared<Completion>();
  const auto start = Clock::now();
  keel::run_resilient<int>(executor, config, nullptr, nullptr, Deadline::never(), {},
                           scripted(executor, {rate_limited(60000), 1}, attempts),
                           recorder(completion, executor));
  auto result = outcome(*completion);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().details().retry_after_ms == 60000);
  CHECK(*attempts == 1);
  CHECK(ms_since(start) < 1000);
}

TEST_CASE("an exhausted retry budget stops the retries") {
  Executor executor(Executor::Options{2});
  RetryBudget budget({0.0, 1, 10000ms});  // no deposits: one retry per second in reserve
  auto attempts = std::make_shared<std::atomic<int>>(0);
  auto completion = std::make_shared<Completion>();
  keel::run_resilient<int>(executor, fast_config(5), nullptr, &budget, Deadline::never(), {},
                           scripted(executor, {transient("no more")}, attempts),
                           recorder(completion, executor));
  auto result = outcome(*completion);
  REQUIRE_FALSE(result.ok());
  CHECK(std::string(result.error().what()) == "no more");
  CHECK(*attempts == 2);  // the first attempt and the one retry the budget allowed
}

TEST_CASE("each retry is reported as an event") {
  Executor executor(Executor::Options{2});
  std::mutex mutex;
  std::vector<Json> events;
  auto attempts = std::make_shared<std::atomic<int>>(0);
  auto completion = std::make_shared<Completion>();
  keel::run_resilient<int>(executor, fast_config(3), nullptr, nullptr, Deadline::never(), {},
                           scripted(executor, {transient("one"), transient("two"), 3}, attempts),
                           recorder(completion, executor), [&](const Json& event) {
                             std::lock_guard lock(mutex);
                             events.push_back(event);
                           });
  REQUIRE(outcome(*completion).ok());
  std::lock_guard lock(mutex);
  REQUIRE(events.size() == 2);
  CHECK(events[0]["type"] == "retry");
  CHECK(events[0]["attempt"] == 1);
  CHECK(events[0]["delay_ms"] == 5);
  CHECK(events[0]["error"] == "one");
  CHECK(events[1]["attempt"] == 2);
  CHECK(events[1]["delay_ms"] == 10);
  CHECK(events[1]["error"] == "two");
}

TEST_CASE("done is called exactly once when completion, timeout and cancellation race") {
  Executor executor(Executor::Options{2});
  auto config = fast_config(2);
  config.timeout = 1ms;
  config.retry.base_delay = 0ms;
  constexpr int runs = 300;
  std::vector<std::shared_ptr<Completion>> completions;
  std::vector<CancellationSource> sources(runs);
  for (int i = 0; i < runs; ++i) {
    completions.push_back(std::make_shared<Completion>());
    keel::run_resilient<int>(
        executor, config, nullptr, nullptr, Deadline::never(), sources[i].token(),
        [&executor, i](const CancellationToken&, keel::Callback<int> done) {
          // Completes around the 1 ms timeout and the caller's cancellation, from either the
          // executor or a thread of its own.
          const auto delay = std::chrono::microseconds(200 * (i % 10));
          if (i % 2) {
            executor.after(delay, [done, i](bool) { done(i); });
          } else {
            std::thread([done, delay] {
              std::this_thread::sleep_for(delay);
              done(transient());
            }).detach();
          }
        },
        recorder(completions.back(), executor));
  }
  for (int i = 0; i < runs; ++i) {
    if (i % 3 == 0) sources[i].cancel();
    if (i % 10 == 0) std::this_thread::sleep_for(150us);
  }
  for (auto& completion : completions) {
    REQUIRE(completion->future.wait_for(5s) == std::future_status::ready);
  }
  std::this_thread::sleep_for(50ms);  // room for any second call
  for (auto& completion : completions) {
    CHECK(completion->calls == 1);
    CHECK(completion->on_executor);
  }
}
