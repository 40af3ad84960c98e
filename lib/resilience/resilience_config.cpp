// JSON for the resilience settings: every error names its path, unknown keys are rejected, and
// to_json() writes what from_json() reads back unchanged.
#include <array>
#include <string_view>
#include <utility>

#include "keel/resilience.hpp"

namespace keel {

namespace {

constexpr std::int64_t max_duration_ms = 24LL * 60 * 60 * 1000;  // a day: anything longer is a typo
constexpr std::int64_t max_count = 1'000'000;

using Jitter = RetryPolicy::Jitter;
constexpr std::array<std::pair<Jitter, std::string_view>, 4> jitter_names{{
    {Jitter::none, "none"},
    {Jitter::full, "full"},
    {Jitter::equal, "equal"},
    {Jitter::decorrelated, "decorrelated"},
}};

std::string_view jitter_name(Jitter jitter) {
  for (const auto& [value, name] : jitter_names) {
    if (value == jitter) return name;
  }
  return "full";
}

Jitter jitter_from_name(std::string_view name) {
  for (const auto& [value, text] : jitter_names) {
    if (text == name) return value;
  }
  return Jitter::full;  // unreachable: choice() accepted only the names above
}

std::chrono::milliseconds duration_ms(ConfigReader& reader, std::string_view key,
                                      std::chrono::milliseconds fallback, std::int64_t min = 0) {
  return std::chrono::milliseconds(reader.integer(key, fallback.count(), min, max_duration_ms));
}

}  // namespace

RetryPolicy RetryPolicy::from_json(const Json& json, const std::string& path) {
  ConfigReader reader(json, path);
  RetryPolicy policy;
  policy.max_attempts =
      static_cast<int>(reader.integer("max_attempts", policy.max_attempts, 1, 100));
  policy.base_delay = duration_ms(reader, "base_delay_ms", policy.base_delay);
  policy.max_delay = duration_ms(reader, "max_delay_ms", policy.max_delay);
  policy.jitter = jitter_from_name(reader.choice("jitter", jitter_name(policy.jitter),
                                                 {"none", "full", "equal", "decorrelated"}));
  policy.honour_retry_after =
      reader.optional<bool>("honour_retry_after", policy.honour_retry_after);
  policy.max_retry_after = duration_ms(reader, "max_retry_after_ms", policy.max_retry_after);
  reader.finish();
  return policy;
}

Json RetryPolicy::to_json() const {
  return {{"max_attempts", max_attempts},
          {"base_delay_ms", base_delay.count()},
          {"max_delay_ms", max_delay.count()},
          {"jitter", jitter_name(jitter)},
          {"honour_retry_after", honour_retry_after},
          {"max_retry_after_ms", max_retry_after.count()}};
}

RetryBudget::Config RetryBudget::Config::from_json(const Json& json, const std::string& path) {
  ConfigReader reader(json, path);
  Config config;
  // Up to ten retries per call, as Finagle allows (1000%).
  config.ratio = reader.number("ratio", config.ratio, 0.0, 10.0);
  config.min_retries_per_second = static_cast<int>(
      reader.integer("min_retries_per_second", config.min_retries_per_second, 0, max_count));
  config.ttl = duration_ms(reader, "ttl_ms", config.ttl, 1);
  reader.finish();
  return config;
}

CircuitBreaker::Config CircuitBreaker::Config::from_json(const Json& json,
                                                         const std::string& path) {
  ConfigReader reader(json, path);
  Config config;
  config.window_size = static_cast<std::size_t>(
      reader.integer("window_size", std::int64_t(config.window_size), 1, max_count));
  config.minimum_calls = static_cast<std::size_t>(
      reader.integer("minimum_calls", std::int64_t(config.minimum_calls), 1, max_count));
  config.failure_rate_threshold =
      reader.number("failure_rate_threshold", config.failure_rate_threshold, 0.0, 1.0);
  config.slow_call_rate_threshold =
      reader.number("slow_call_rate_threshold", config.slow_call_rate_threshold, 0.0, 1.0);
  config.slow_call = duration_ms(reader, "slow_call_ms", config.slow_call);
  config.wait_in_open = duration_ms(reader, "wait_in_open_ms", config.wait_in_open);
  config.permitted_calls_in_half_open = static_cast<std::size_t>(
      reader.integer("permitted_calls_in_half_open",
                     std::int64_t(config.permitted_calls_in_half_open), 1, max_count));
  reader.finish();
  return config;
}

Json CircuitBreaker::Config::to_json() const {
  return {{"window_size", window_size},
          {"minimum_calls", minimum_calls},
          {"failure_rate_threshold", failure_rate_threshold},
          {"slow_call_rate_threshold", slow_call_rate_threshold},
          {"slow_call_ms", slow_call.count()},
          {"wait_in_open_ms", wait_in_open.count()},
          {"permitted_calls_in_half_open", permitted_calls_in_half_open}};
}

ResilienceConfig ResilienceConfig::read(ConfigReader& reader) {
  ResilienceConfig config;
  config.timeout = duration_ms(reader, "timeout_ms", config.timeout);
  if (const Json* retry = reader.raw("retry")) {
    config.retry = RetryPolicy::from_json(*retry, reader.path_of("retry"));
  }
  if (const Json* breaker = reader.raw("circuit_breaker")) {
    config.circuit_breaker =
        CircuitBreaker::Config::from_json(*breaker, reader.path_of("circuit_breaker"));
  }
  return config;
}

}  // namespace keel
