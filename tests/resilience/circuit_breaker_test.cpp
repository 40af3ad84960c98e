#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "keel/resilience.hpp"

using namespace std::chrono_literals;
using keel::CircuitBreaker;
using keel::Error;
using keel::Json;
using State = CircuitBreaker::State;

namespace {

// A clock the test moves by hand, so the states can be walked without sleeping.
struct FakeClock {
  std::chrono::steady_clock::time_point now{std::chrono::hours(1)};
  CircuitBreaker::Clock clock() {
    return [this] { return now; };
  }
};

CircuitBreaker::Config small_config() {
  CircuitBreaker::Config c;
  c.window_size = 10;
  c.minimum_calls = 4;
  c.failure_rate_threshold = 0.5;
  c.slow_call_rate_threshold = 1.0;
  c.slow_call = 100ms;
  c.wait_in_open = 1000ms;
  c.permitted_calls_in_half_open = 3;
  return c;
}

constexpr auto fast = 10ms;
constexpr auto slow = 100ms;  // exactly slow_call: counts as slow

// Makes a permitted call with the given outcome.
void call(CircuitBreaker& breaker, bool fails, std::chrono::nanoseconds took = fast) {
  REQUIRE(breaker.try_acquire());
  if (fails)
    breaker.on_failure(took);
  else
    breaker.on_success(took);
}

void open(CircuitBreaker& breaker) {
  for (int i = 0; i < 4; ++i)
    call(breaker, true);
  REQUIRE(breaker.state() == State::open);
}

void half_open(CircuitBreaker& breaker, FakeClock& time) {
  open(breaker);
  time.now += 1000ms;
  REQUIRE(breaker.try_acquire());  // the first trial permit
  REQUIRE(breaker.state() == State::half_open);
}

}  // namespace

// ---- closed ---------------------------------------------------------------------------------

TEST_CASE("a new circuit is closed and permits calls") {
  FakeClock time;
  CircuitBreaker breaker(small_config(), "llm", time.clock());
  CHECK(breaker.state() == State::closed);
  CHECK(breaker.try_acquire());
  CHECK(breaker.name() == "llm");
  CHECK(breaker.remaining_open() == 0ms);
}

TEST_CASE("a closed circuit opens when the failure rate reaches the threshold") {
  FakeClock time;
  CircuitBreaker breaker(small_config(), "llm", time.clock());
  call(breaker, false);
  call(breaker, false);
  call(breaker, true);
  CHECK(breaker.state() == State::closed);
  call(breaker, true);  // 2 of 4 failed: 0.5 >= 0.5
  CHECK(breaker.state() == State::open);
}

TEST_CASE("a closed circuit stays closed below minimum_calls however many fail") {
  FakeClock time;
  auto config = small_config();
  config.minimum_calls = 5;
  CircuitBreaker breaker(config, "llm", time.clock());
  for (int i = 0; i < 4; ++i)
    call(breaker, true);
  CHECK(breaker.state() == State::closed);
  CHECK(breaker.failure_rate() == -1);
  call(breaker, true);
  CHECK(breaker.state() == State::open);
}

TEST_CASE("a closed circuit stays closed while the failure rate is below the threshold") {
  FakeClock time;
  CircuitBreaker breaker(small_config(), "llm", time.clock());
  for (int i = 0; i < 10; ++i)
    call(breaker, i >= 6);  // the failures come last, so the rate peaks at the end
  CHECK(breaker.state() == State::closed);
  CHECK(breaker.failure_rate() == doctest::Approx(0.4));
}

TEST_CASE("the window holds only the last window_size outcomes") {
  FakeClock time;
  auto config = small_config();
  config.window_size = 4;
  CircuitBreaker breaker(config, "llm", time.clock());
  for (bool fails : {true, false, false, false, false})
    call(breaker, fails);
  CHECK(breaker.failure_rate() == 0.0);  // the first failure has left the window
  call(breaker, true);
  CHECK(breaker.state() == State::closed);
  call(breaker, true);  // window: ok ok fail fail
  CHECK(breaker.state() == State::open);
}

TEST_CASE("a closed circuit opens when the slow-call rate reaches its threshold") {
  FakeClock time;
  auto config = small_config();
  config.slow_call_rate_threshold = 0.5;
  CircuitBreaker breaker(config, "llm", time.clock());
  call(breaker, false, fast);
  call(breaker, false, fast);
  call(breaker, false, slow);
  CHECK(breaker.state() == State::closed);
  call(breaker, false, slow);
  CHECK(breaker.state() == State::open);
}

TEST_CASE("a slow success counts as slow but not as a failure") {
  FakeClock time;
  CircuitBreaker breaker(small_config(), "llm", time.clock());
  for (int i = 0; i < 3; ++i)
    call(breaker, false, slow);
  call(breaker, false, fast);
  CHECK(breaker.state() == State::closed);
  CHECK(breaker.failure_rate() == 0.0);
  CHECK(breaker.slow_call_rate() == doctest::Approx(0.75));
}

TEST_CASE("an ignored call in a closed circuit records nothing") {
  FakeClock time;
  CircuitBreaker breaker(small_config(), "llm", time.clock());
  for (int i = 0; i < 10; ++i) {
    REQUIRE(breaker.try_acquire());
    breaker.on_ignored();
  }
  CHECK(breaker.failure_rate() == -1);
  CHECK(breaker.state() == State::closed);
}

// ---- open -----------------------------------------------------------------------------------

TEST_CASE("an open circuit rejects calls until the wait has passed") {
  FakeClock time;
  CircuitBreaker breaker(small_config(), "llm", time.clock());
  open(breaker);
  CHECK_FALSE(breaker.try_acquire());
  CHECK(breaker.remaining_open() == 1000ms);
  time.now += 999ms;
  CHECK_FALSE(breaker.try_acquire());
  CHECK(breaker.remaining_open() == 1ms);
  time.now += 1ms;
  CHECK(breaker.remaining_open() == 0ms);
  CHECK(breaker.try_acquire());
}

TEST_CASE("an open circuit moves to half-open on the first call after the wait") {
  FakeClock time;
  CircuitBreaker breaker(small_config(), "llm", time.clock());
  open(breaker);
  time.now += 5000ms;
  CHECK(breaker.state() == State::open);  // nothing has asked yet
  CHECK(breaker.try_acquire());
  CHECK(breaker.state() == State::half_open);
}

TEST_CASE("outcomes reported late to an open circuit change nothing") {
  FakeClock time;
  CircuitBreaker breaker(small_config(), "llm", time.clock());
  open(breaker);
  for (int i = 0; i < 10; ++i)
    breaker.on_success(fast);
  CHECK(breaker.state() == State::open);
  CHECK(breaker.remaining_open() == 1000ms);
}

// ---- half-open ------------------------------------------------------------------------------

TEST_CASE("half-open permits exactly permitted_calls_in_half_open trial calls") {
  FakeClock time;
  CircuitBreaker breaker(small_config(), "llm", time.clock());
  half_open(breaker, time);  // takes the first permit
  CHECK(breaker.try_acquire());
  CHECK(breaker.try_acquire());
  CHECK_FALSE(breaker.try_acquire());
  CHECK_FALSE(breaker.try_acquire());
  CHECK(breaker.state() == State::half_open);
}

TEST_CASE("half-open closes with a fresh window when the trial calls succeed") {
  FakeClock time;
  CircuitBreaker breaker(small_config(), "llm", time.clock());
  half_open(breaker, time);
  breaker.on_success(fast);
  call(breaker, false);
  call(breaker, true);  // 1 of 3 failed: below 0.5
  CHECK(breaker.state() == State::closed);
  CHECK(breaker.failure_rate() == -1);  // the window starts empty
  CHECK(breaker.try_acquire());
}

TEST_CASE("half-open re-opens with a new wait when the trial failure rate reaches the threshold") {
  FakeClock time;
  CircuitBreaker breaker(small_config(), "llm", time.clock());
  half_open(breaker, time);
  breaker.on_failure(fast);
  call(breaker, true);
  CHECK(breaker.state() == State::half_open);  // decided once every trial is in
  call(breaker, false);                        // 2 of 3 failed
  CHECK(breaker.state() == State::open);
  CHECK(breaker.remaining_open() == 1000ms);
  CHECK_FALSE(breaker.try_acquire());
}

TEST_CASE("half-open re-opens when the trial calls are slow") {
  FakeClock time;
  CircuitBreaker breaker(small_config(), "llm", time.clock());
  half_open(breaker, time);
  breaker.on_success(slow);
  call(breaker, false, slow);
  call(breaker, false, slow);
  CHECK(breaker.state() == State::open);
}

TEST_CASE("an ignored trial call gives its half-open permit back and records nothing") {
  FakeClock time;
  CircuitBreaker breaker(small_config(), "llm", time.clock());
  half_open(breaker, time);
  CHECK(breaker.try_acquire());
  CHECK(breaker.try_acquire());
  CHECK_FALSE(breaker.try_acquire());
  breaker.on_ignored();
  CHECK(breaker.state() == State::half_open);
  CHECK(breaker.try_acquire());  // the permit came back
  breaker.on_success(fast);
  breaker.on_success(fast);
  CHECK(breaker.state() == State::half_open);  // the ignored call was not an outcome
  breaker.on_success(fast);
  CHECK(breaker.state() == State::closed);
}

// ---- events ---------------------------------------------------------------------------------

TEST_CASE("every transition is reported as an event with from and to") {
  FakeClock time;
  CircuitBreaker breaker(small_config(), "llm", time.clock());
  std::vector<Json> events;
  breaker.set_event_sink([&](const Json& event) { events.push_back(event); });

  open(breaker);
  time.now += 1000ms;
  REQUIRE(breaker.try_acquire());  // open -> half-open
  breaker.on_failure(fast);
  call(breaker, true);
  call(breaker, false);  // 2 of 3 trials failed: half-open -> open
  time.now += 1000ms;
  for (int i = 0; i < 3; ++i)
    call(breaker, false);  // open -> half-open -> closed

  REQUIRE(events.size() == 5);
  const char* expected[][2] = {{"closed", "open"},
                               {"open", "half_open"},
                               {"half_open", "open"},
                               {"open", "half_open"},
                               {"half_open", "closed"}};
  for (std::size_t i = 0; i < events.size(); ++i) {
    INFO(events[i].dump());
    CHECK(events[i]["type"] == "circuit_breaker.transition");
    CHECK(events[i]["name"] == "llm");
    CHECK(events[i]["from"] == expected[i][0]);
    CHECK(events[i]["to"] == expected[i][1]);
    CHECK(events[i].contains("failure_rate"));
    CHECK(events[i].contains("slow_call_rate"));
  }
  CHECK(events[0]["failure_rate"] == 1.0);
  CHECK(events[4]["failure_rate"] == 0.0);
}

TEST_CASE("a sink may call back into the breaker") {
  FakeClock time;
  CircuitBreaker breaker(small_config(), "llm", time.clock());
  std::vector<State> seen;
  breaker.set_event_sink([&](const Json&) { seen.push_back(breaker.state()); });
  open(breaker);
  CHECK(seen == std::vector<State>{State::open});
}

TEST_CASE("states have stable names") {
  CHECK(keel::to_string(State::closed) == "closed");
  CHECK(keel::to_string(State::open) == "open");
  CHECK(keel::to_string(State::half_open) == "half_open");
}

// ---- concurrency ----------------------------------------------------------------------------

TEST_CASE("a breaker used from many threads at once keeps its counts consistent") {
  auto config = small_config();
  config.wait_in_open = 0ms;  // cycle through every state as fast as possible
  CircuitBreaker breaker(config, "shared");
  std::mutex events_mutex;
  int to_open = 0, to_half_open = 0, to_closed = 0;
  breaker.set_event_sink([&](const Json& event) {
    std::lock_guard lock(events_mutex);
    if (event["to"] == "open") ++to_open;
    if (event["to"] == "half_open") ++to_half_open;
    if (event["to"] == "closed") ++to_closed;
  });

  std::atomic<int> permitted{0}, rejected{0}, reported{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        if (!breaker.try_acquire()) {
          ++rejected;
          continue;
        }
        ++permitted;
        switch ((i + t) % 3) {
          case 0:
            breaker.on_success(1ms);
            break;
          case 1:
            breaker.on_failure(1ms);
            break;
          default:
            breaker.on_ignored();
            break;
        }
        ++reported;
        (void)breaker.failure_rate();
        (void)breaker.remaining_open();
      }
    });
  }
  for (auto& thread : threads)
    thread.join();

  CHECK(permitted + rejected == 8 * 2000);
  CHECK(reported == permitted);
  CHECK(to_open > 0);  // half the calls fail: it must have opened
  CHECK(to_half_open <= to_open);
  CHECK(to_closed <= to_half_open);
  const double rate = breaker.failure_rate();
  CHECK((rate == -1 || (rate >= 0 && rate <= 1)));
}

TEST_CASE("a healthy breaker used from many threads never rejects a call") {
  CircuitBreaker breaker(small_config(), "shared");
  std::atomic<int> rejected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        if (!breaker.try_acquire()) {
          ++rejected;
          continue;
        }
        breaker.on_success(1ms);
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  CHECK(rejected == 0);
  CHECK(breaker.state() == State::closed);
  CHECK(breaker.failure_rate() == 0.0);
}

// ---- configuration --------------------------------------------------------------------------

TEST_CASE("a breaker config reads every key") {
  auto config = CircuitBreaker::Config::from_json(Json::parse(R"({"window_size": 50,
      "minimum_calls": 20, "failure_rate_threshold": 0.25, "slow_call_rate_threshold": 0.75,
      "slow_call_ms": 2000, "wait_in_open_ms": 5000, "permitted_calls_in_half_open": 5})"));
  CHECK(config.window_size == 50);
  CHECK(config.minimum_calls == 20);
  CHECK(config.failure_rate_threshold == 0.25);
  CHECK(config.slow_call_rate_threshold == 0.75);
  CHECK(config.slow_call == 2000ms);
  CHECK(config.wait_in_open == 5000ms);
  CHECK(config.permitted_calls_in_half_open == 5);
}

TEST_CASE("a breaker config survives to_json and from_json unchanged") {
  CircuitBreaker::Config config;
  config.window_size = 7;
  config.minimum_calls = 3;
  config.failure_rate_threshold = 0.3;
  config.slow_call_rate_threshold = 0.6;
  config.slow_call = 123ms;
  config.wait_in_open = 456ms;
  config.permitted_calls_in_half_open = 2;
  auto back = CircuitBreaker::Config::from_json(config.to_json());
  CHECK(back.to_json() == config.to_json());
  CHECK(back.window_size == 7);
  CHECK(back.minimum_calls == 3);
  CHECK(back.failure_rate_threshold == 0.3);
  CHECK(back.slow_call_rate_threshold == 0.6);
  CHECK(back.slow_call == 123ms);
  CHECK(back.wait_in_open == 456ms);
  CHECK(back.permitted_calls_in_half_open == 2);
}

TEST_CASE("breaker config errors name the JSON path") {
  auto error_of = [](const char* text) -> std::string {
    try {
      (void)CircuitBreaker::Config::from_json(Json::parse(text));
    } catch (const Error& e) {
      CHECK(e.code() == keel::Errc::invalid_config);
      return e.what();
    }
    return "no error";
  };
  CHECK(error_of(R"({"window_size": 0})").starts_with("circuit_breaker.window_size:"));
  CHECK(error_of(R"({"minimum_calls": 0})").starts_with("circuit_breaker.minimum_calls:"));
  CHECK(error_of(R"({"failure_rate_threshold": 1.5})")
            .starts_with("circuit_breaker.failure_rate_threshold:"));
  CHECK(error_of(R"({"slow_call_rate_threshold": -0.1})")
            .starts_with("circuit_breaker.slow_call_rate_threshold:"));
  CHECK(error_of(R"({"wait_in_open_ms": -1})").starts_with("circuit_breaker.wait_in_open_ms:"));
  CHECK(error_of(R"({"permitted_calls_in_half_open": 0})")
            .starts_with("circuit_breaker.permitted_calls_in_half_open:"));
  CHECK(error_of(R"({"window": 10})").starts_with("circuit_breaker.window: unknown key"));
}
