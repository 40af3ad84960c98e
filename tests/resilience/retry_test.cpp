#include <doctest/doctest.h>

#include <chrono>
#include <set>
#include <string>

#include "keel/resilience.hpp"

using namespace std::chrono_literals;
using keel::ConfigReader;
using keel::Errc;
using keel::Error;
using keel::ErrorDetails;
using keel::Json;
using keel::ResilienceConfig;
using keel::RetryBudget;
using keel::RetryPolicy;
using std::chrono::milliseconds;

namespace {

const Error server_error(Errc::provider, "HTTP 503", ErrorDetails{503, "", -1, -1});

Error with_retry_after(long long ms) {
  return Error(Errc::provider, "HTTP 429", ErrorDetails{429, "rate_limit_error", ms, -1});
}

RetryPolicy policy(RetryPolicy::Jitter jitter, milliseconds base = 100ms,
                   milliseconds max = 1000ms) {
  RetryPolicy p;
  p.jitter = jitter;
  p.base_delay = base;
  p.max_delay = max;
  return p;
}

std::string config_error(const Json& json) {
  try {
    (void)RetryPolicy::from_json(json);
  } catch (const Error& e) {
    CHECK(e.code() == Errc::invalid_config);
    return e.what();
  }
  FAIL("expected invalid_config");
  return {};
}

// A clock the test moves by hand.
struct FakeClock {
  std::chrono::steady_clock::time_point now{std::chrono::hours(1)};
  RetryBudget::Clock clock() {
    return [this] { return now; };
  }
};

int withdraw_all(RetryBudget& budget) {
  int n = 0;
  while (budget.try_withdraw() && n < 100000)
    ++n;
  return n;
}

}  // namespace

// ---- RetryPolicy::delay ---------------------------------------------------------------------

TEST_CASE("without jitter the delay doubles from the base delay up to the maximum") {
  std::mt19937_64 random(1);
  auto p = policy(RetryPolicy::Jitter::none, 100ms, 1000ms);
  CHECK(p.delay(1, 0ms, server_error, random) == 100ms);
  CHECK(p.delay(2, 0ms, server_error, random) == 200ms);
  CHECK(p.delay(3, 0ms, server_error, random) == 400ms);
  CHECK(p.delay(4, 0ms, server_error, random) == 800ms);
  CHECK(p.delay(5, 0ms, server_error, random) == 1000ms);
  CHECK(p.delay(99, 0ms, server_error, random) == 1000ms);  // no overflow at high retries
}

TEST_CASE("full jitter stays within zero and the exponential delay and varies") {
  std::mt19937_64 random(2);
  auto p = policy(RetryPolicy::Jitter::full);
  std::set<long long> seen;
  for (int i = 0; i < 2000; ++i) {
    auto d = p.delay(3, 0ms, server_error, random);  // exponential: 400 ms
    REQUIRE(d >= 0ms);
    REQUIRE(d <= 400ms);
    seen.insert(d.count());
  }
  CHECK(seen.size() > 100);
  CHECK(*seen.begin() < 100);  // the whole range is used, not just the top
  CHECK(*seen.rbegin() > 300);
}

TEST_CASE("equal jitter stays within half and all of the exponential delay") {
  std::mt19937_64 random(3);
  auto p = policy(RetryPolicy::Jitter::equal);
  std::set<long long> seen;
  for (int i = 0; i < 2000; ++i) {
    auto d = p.delay(3, 0ms, server_error, random);  // exponential: 400 ms
    REQUIRE(d >= 200ms);
    REQUIRE(d <= 400ms);
    seen.insert(d.count());
  }
  CHECK(seen.size() > 50);
}

TEST_CASE("decorrelated jitter stays between the base delay and three times the previous wait") {
  std::mt19937_64 random(4);
  auto p = policy(RetryPolicy::Jitter::decorrelated, 100ms, 10000ms);
  CHECK(p.delay(1, 0ms, server_error, random) == 100ms);  // nothing before: the base delay
  std::set<long long> seen;
  for (int i = 0; i < 2000; ++i) {
    auto d = p.delay(2, 300ms, server_error, random);
    REQUIRE(d >= 100ms);
    REQUIRE(d <= 900ms);
    seen.insert(d.count());
  }
  CHECK(seen.size() > 100);
}

TEST_CASE("decorrelated jitter never exceeds the maximum delay") {
  std::mt19937_64 random(5);
  auto p = policy(RetryPolicy::Jitter::decorrelated, 100ms, 500ms);
  milliseconds previous = 0ms;
  for (int retry = 1; retry < 200; ++retry) {
    previous = p.delay(retry, previous, server_error, random);
    REQUIRE(previous >= 100ms);
    REQUIRE(previous <= 500ms);
  }
}

TEST_CASE("a Retry-After replaces the computed delay even beyond the maximum delay") {
  std::mt19937_64 random(6);
  auto p = policy(RetryPolicy::Jitter::full, 100ms, 1000ms);
  CHECK(p.delay(1, 0ms, with_retry_after(2500), random) == 2500ms);
  CHECK(p.delay(1, 0ms, with_retry_after(0), random) == 0ms);
}

TEST_CASE("a Retry-After is ignored when honour_retry_after is off") {
  std::mt19937_64 random(7);
  auto p = policy(RetryPolicy::Jitter::none, 100ms, 1000ms);
  p.honour_retry_after = false;
  CHECK(p.delay(1, 0ms, with_retry_after(2500), random) == 100ms);
}

// ---- RetryPolicy JSON -----------------------------------------------------------------------

TEST_CASE("a retry policy reads every key") {
  auto p = RetryPolicy::from_json(Json::parse(R"({"max_attempts": 5, "base_delay_ms": 50,
      "max_delay_ms": 800, "jitter": "decorrelated", "honour_retry_after": false,
      "max_retry_after_ms": 1234})"));
  CHECK(p.max_attempts == 5);
  CHECK(p.base_delay == 50ms);
  CHECK(p.max_delay == 800ms);
  CHECK(p.jitter == RetryPolicy::Jitter::decorrelated);
  CHECK_FALSE(p.honour_retry_after);
  CHECK(p.max_retry_after == 1234ms);
}

TEST_CASE("an empty retry object gives the defaults") {
  auto p = RetryPolicy::from_json(Json::object());
  RetryPolicy defaults;
  CHECK(p.to_json() == defaults.to_json());
}

TEST_CASE("a retry policy survives to_json and from_json unchanged") {
  for (auto jitter : {RetryPolicy::Jitter::none, RetryPolicy::Jitter::full,
                      RetryPolicy::Jitter::equal, RetryPolicy::Jitter::decorrelated}) {
    RetryPolicy p;
    p.max_attempts = 7;
    p.base_delay = 10ms;
    p.max_delay = 70ms;
    p.jitter = jitter;
    p.honour_retry_after = false;
    p.max_retry_after = 5000ms;
    auto back = RetryPolicy::from_json(p.to_json());
    CHECK(back.max_attempts == 7);
    CHECK(back.base_delay == 10ms);
    CHECK(back.max_delay == 70ms);
    CHECK(back.jitter == jitter);
    CHECK_FALSE(back.honour_retry_after);
    CHECK(back.max_retry_after == 5000ms);
    CHECK(back.to_json() == p.to_json());
  }
}

TEST_CASE("retry policy errors name the JSON path") {
  CHECK(config_error(Json::parse(R"({"max_attempts": 0})")).starts_with("retry.max_attempts:"));
  CHECK(config_error(Json::parse(R"({"max_attempts": 101})")).starts_with("retry.max_attempts:"));
  CHECK(config_error(Json::parse(R"({"base_delay_ms": -1})")).starts_with("retry.base_delay_ms:"));
  CHECK(config_error(Json::parse(R"({"max_delay_ms": "1s"})")).starts_with("retry.max_delay_ms:"));
  CHECK(config_error(Json::parse(R"({"jitter": "random"})")).starts_with("retry.jitter:"));
  CHECK(config_error(Json::parse(R"({"honour_retry_after": 1})"))
            .starts_with("retry.honour_retry_after:"));
  CHECK(config_error(Json::parse("[]")).starts_with("retry:"));
}

TEST_CASE("a misspelt retry key is rejected with a suggestion") {
  auto message = config_error(Json::parse(R"({"jiter": "full"})"));
  CHECK(message.starts_with("retry.jiter: unknown key (did you mean \"jitter\"?)"));
}

// ---- ResilienceConfig -----------------------------------------------------------------------

TEST_CASE("a resilience config reads timeout, retry and breaker and leaves other keys alone") {
  Json json = Json::parse(R"({"model": "m", "timeout_ms": 1500,
      "retry": {"max_attempts": 4, "jitter": "none"},
      "circuit_breaker": {"window_size": 8, "minimum_calls": 4}})");
  ConfigReader reader(json, "models[0]");
  auto config = ResilienceConfig::read(reader);
  CHECK(config.timeout == 1500ms);
  CHECK(config.retry.max_attempts == 4);
  CHECK(config.retry.jitter == RetryPolicy::Jitter::none);
  REQUIRE(config.circuit_breaker.has_value());
  CHECK(config.circuit_breaker->window_size == 8);
  CHECK(config.circuit_breaker->minimum_calls == 4);
  // "model" is the caller's to read: finish() still rejects it until the caller does.
  CHECK_THROWS_AS(reader.finish(), Error);
  (void)reader.optional<std::string>("model", "");
  CHECK_NOTHROW(reader.finish());
}

TEST_CASE("a resilience config without a circuit_breaker key has no breaker") {
  Json json = Json::object();
  ConfigReader reader(json);
  auto config = ResilienceConfig::read(reader);
  CHECK(config.timeout == 30000ms);
  CHECK_FALSE(config.circuit_breaker.has_value());
  CHECK(config.retry.max_attempts == 3);
}

TEST_CASE("resilience config errors carry the full path of nested keys") {
  auto error_of = [](const char* text) -> std::string {
    Json json = Json::parse(text);
    ConfigReader reader(json, "model");
    try {
      (void)ResilienceConfig::read(reader);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  CHECK(error_of(R"({"timeout_ms": -5})").starts_with("model.timeout_ms:"));
  CHECK(error_of(R"({"timeout_ms": 86400001})").starts_with("model.timeout_ms:"));
  CHECK(error_of(R"({"retry": {"jiter": "full"}})")
            .starts_with("model.retry.jiter: unknown key (did you mean \"jitter\"?)"));
  CHECK(error_of(R"({"circuit_breaker": {"window_size": 0}})")
            .starts_with("model.circuit_breaker.window_size:"));
}

// ---- RetryBudget ----------------------------------------------------------------------------

TEST_CASE("a retry budget allows ratio times the calls plus the per-second minimum") {
  FakeClock time;
  RetryBudget budget({0.2, 10, 10000ms}, time.clock());
  for (int i = 0; i < 100; ++i)
    budget.record_call();
  CHECK(withdraw_all(budget) == 20 + 10);
}

TEST_CASE("an unused retry budget still allows the per-second minimum") {
  FakeClock time;
  RetryBudget budget({0.2, 3, 10000ms}, time.clock());
  CHECK(withdraw_all(budget) == 3);
}

TEST_CASE("the per-second minimum refills as time passes") {
  FakeClock time;
  RetryBudget budget({0.0, 10, 10000ms}, time.clock());
  CHECK(withdraw_all(budget) == 10);
  time.now += 500ms;
  CHECK(withdraw_all(budget) == 5);
  time.now += 5s;  // refills to one second's worth, not more
  CHECK(withdraw_all(budget) == 10);
}

TEST_CASE("deposits expire after the ttl") {
  FakeClock time;
  RetryBudget budget({1.0, 0, 1000ms}, time.clock());
  for (int i = 0; i < 5; ++i)
    budget.record_call();
  time.now += 500ms;
  CHECK(budget.try_withdraw());  // still within the ttl
  time.now += 600ms;
  CHECK_FALSE(budget.try_withdraw());  // the deposits are gone
  budget.record_call();
  CHECK(budget.try_withdraw());  // new calls refill it
}

TEST_CASE("a retry budget config reads every key") {
  auto config = RetryBudget::Config::from_json(
      Json::parse(R"({"ratio": 0.5, "min_retries_per_second": 2, "ttl_ms": 3000})"));
  CHECK(config.ratio == 0.5);
  CHECK(config.min_retries_per_second == 2);
  CHECK(config.ttl == 3000ms);
}

TEST_CASE("retry budget config errors name the JSON path") {
  auto error_of = [](const char* text) -> std::string {
    try {
      (void)RetryBudget::Config::from_json(Json::parse(text));
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  CHECK(error_of(R"({"ratio": -0.1})").starts_with("retry_budget.ratio:"));
  CHECK(error_of(R"({"ttl_ms": 0})").starts_with("retry_budget.ttl_ms:"));
  CHECK(error_of(R"({"min_retries": 1})").starts_with("retry_budget.min_retries:"));
}
