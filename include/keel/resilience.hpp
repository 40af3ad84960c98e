/// \file
/// Resilience around any model, embedder or tool call: retries with backoff and jitter (honouring
/// Retry-After, retrying only what can succeed, within a shared budget), circuit breakers
/// (resilience4j's model), per-attempt timeouts, and the async combinator that puts them together.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>

#include "keel/error.hpp"
#include "keel/events.hpp"
#include "keel/executor.hpp"
#include "keel/export.hpp"
#include "keel/json.hpp"
#include "keel/result.hpp"

namespace keel {

/// How to wait between attempts. JSON: {"max_attempts": 3, "base_delay_ms": 200,
/// "max_delay_ms": 10000, "jitter": "full" | "equal" | "decorrelated" | "none",
/// "honour_retry_after": true, "max_retry_after_ms": 60000}.
struct KEEL_API RetryPolicy {
  /// How a wait is randomised (see delay()).
  enum class Jitter { none, full, equal, decorrelated };

  int max_attempts = 3;  ///< attempts in all, the first included (1 = no retries)
  /// The wait before the first retry, before jitter; it doubles with each retry.
  std::chrono::milliseconds base_delay{200};
  /// The longest wait, before jitter.
  std::chrono::milliseconds max_delay{10000};
  /// How waits are randomised.
  Jitter jitter = Jitter::full;
  /// Wait as long as an error's Retry-After says, when it says.
  bool honour_retry_after = true;
  /// A Retry-After longer than this is not waited for: the error is returned instead.
  std::chrono::milliseconds max_retry_after{60000};

  /// Throws Error(invalid_config) naming the JSON path.
  static RetryPolicy from_json(const Json& json, const std::string& path = "retry");
  /// The JSON form that from_json() reads.
  Json to_json() const;

  /// The wait before retry number `retry` (1 = the first retry) after `error`:
  /// exponential base_delay * 2^(retry-1) capped at max_delay, with the jitter applied
  /// (full: uniform in [0, d]; equal: d/2 + uniform in [0, d/2]; decorrelated:
  /// min(max_delay, uniform in [base_delay, previous * 3])), replaced by the error's
  /// Retry-After when that is set and honour_retry_after is on. `previous` is the last wait
  /// (decorrelated jitter needs it; pass zero before the first retry).
  std::chrono::milliseconds delay(int retry, std::chrono::milliseconds previous, const Error& error,
                                  std::mt19937_64& random) const;
};

namespace detail {
/// This thread's random generator for retry jitter (seeded once per thread: seeding one per
/// call from std::random_device cost more than the calls it guarded).
KEEL_API std::mt19937_64& thread_random() noexcept;
}  // namespace detail

/// A budget of retries shared by many calls, so a failing dependency is not hammered by every
/// caller's retries at once (Finagle's and gRPC's retry budget): each call deposits `ratio`
/// tokens, each retry withdraws one; `min_retries_per_second` are always allowed.
/// JSON: {"ratio": 0.2, "min_retries_per_second": 10, "ttl_ms": 10000}. Thread-safe.
class KEEL_API RetryBudget {
 public:
  /// A budget's parameters (the JSON keys above).
  struct Config {
    /// Tokens each call deposits (0..10): 0.2 allows one retry for every five calls.
    double ratio = 0.2;
    /// Retries allowed each second whatever the deposits.
    int min_retries_per_second = 10;
    std::chrono::milliseconds ttl{10000};  ///< how long deposits stay valid
    /// Throws Error(invalid_config) naming the JSON path.
    static Config from_json(const Json& json, const std::string& path = "retry_budget");
  };
  /// The clock is injectable so tests can move time without sleeping.
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // Two constructors rather than `Config config = {}`: GCC cannot use a nested type's default
  // member initializers in a default argument inside the enclosing class (as for Executor).
  /// A budget with the default Config.
  RetryBudget();
  /// A budget with `config`; an empty `clock` is std::chrono::steady_clock::now.
  explicit RetryBudget(Config config, Clock clock = {});
  /// Records a first attempt (a deposit).
  void record_call();
  /// Takes a retry from the budget; false when it is exhausted.
  bool try_withdraw();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

/// Circuit breaker with resilience4j's semantics: a count-based sliding window of the last
/// `window_size` outcomes; once it holds `minimum_calls`, a failure rate or slow-call rate at or
/// above its threshold opens the circuit; open rejects calls for `wait_in_open`, then half-open
/// lets `permitted_calls_in_half_open` trial calls through; their failure (or slow) rate closes
/// or re-opens it. Thread-safe. JSON: {"window_size": 20, "minimum_calls": 10,
/// "failure_rate_threshold": 0.5, "slow_call_rate_threshold": 1.0, "slow_call_ms": 60000,
/// "wait_in_open_ms": 30000, "permitted_calls_in_half_open": 3}.
class KEEL_API CircuitBreaker {
 public:
  /// closed: calls go through and are counted; open: calls are rejected; half_open: trial
  /// calls go through and decide.
  enum class State { closed, open, half_open };
  /// A breaker's parameters (the JSON keys above).
  struct Config {
    /// How many of the latest outcomes the sliding window holds.
    std::size_t window_size = 20;
    /// Outcomes the window needs before its rates can open the circuit.
    std::size_t minimum_calls = 10;
    double failure_rate_threshold = 0.5;    ///< 0..1
    double slow_call_rate_threshold = 1.0;  ///< 0..1 (1.0: only when every call is slow)
    /// A call that lasts at least this long is slow.
    std::chrono::milliseconds slow_call{60000};
    /// How long an open circuit rejects calls before it lets trial calls through.
    std::chrono::milliseconds wait_in_open{30000};
    /// Trial calls in half-open; once all have reported, their rates close or re-open it.
    std::size_t permitted_calls_in_half_open = 3;
    /// Throws Error(invalid_config) naming the JSON path.
    static Config from_json(const Json& json, const std::string& path = "circuit_breaker");
    /// The JSON form that from_json() reads.
    Json to_json() const;
  };
  /// The clock is injectable so tests can walk the states without sleeping.
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  CircuitBreaker();  // the default Config (see RetryBudget() for why two constructors)
  /// A breaker named `name` in its events; an empty `clock` is std::chrono::steady_clock::now.
  explicit CircuitBreaker(Config config, std::string name = {}, Clock clock = {});
  ~CircuitBreaker();
  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  /// Asks to make a call. False when the circuit is open (or half-open with every trial permit
  /// taken); an open circuit whose wait has passed moves to half-open here.
  bool try_acquire();
  /// Reports the outcome of a permitted call.
  void on_success(std::chrono::nanoseconds duration);
  /// Reports a permitted call that failed after `duration`.
  void on_failure(std::chrono::nanoseconds duration);
  /// A permitted call that ended without an outcome worth counting (cancelled by the caller, or
  /// failed with a non-retryable client error): gives back its permit.
  void on_ignored();

  /// The current state (an open circuit whose wait has passed moves to half-open only in
  /// try_acquire()).
  State state() const;
  /// Failure and slow-call rates over the current window (-1 below minimum_calls).
  double failure_rate() const;
  /// The slow-call rate over the current window (-1 below minimum_calls, and while the circuit
  /// is not closed).
  double slow_call_rate() const;
  /// Time until an open circuit lets a trial call through (zero otherwise).
  std::chrono::milliseconds remaining_open() const;
  /// The name its events carry.
  const std::string& name() const noexcept { return name_; }

  /// Receives "circuit_breaker.transition" events ({"name", "from", "to", "failure_rate",
  /// "slow_call_rate"}). Set before sharing.
  void set_event_sink(EventSink sink);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string name_;
};

/// "closed", "open" or "half_open".
KEEL_API std::string_view to_string(CircuitBreaker::State state) noexcept;

/// Everything that guards one kind of call. JSON: {"timeout_ms": 30000, "retry": {...},
/// "circuit_breaker": {...}} — the same keys as a model configuration.
struct KEEL_API ResilienceConfig {
  std::chrono::milliseconds timeout{30000};  ///< per attempt; 0 = none
  /// When and how often a failed attempt is retried.
  RetryPolicy retry;
  std::optional<CircuitBreaker::Config> circuit_breaker;  ///< none: no breaker
  /// Reads the resilience keys of `reader` (leaves other keys alone; the caller finish()es).
  static ResilienceConfig read(ConfigReader& reader);
};

/// One attempt of a call: starts the work and completes `done` exactly once. The token is
/// cancelled when the attempt times out or the caller cancels; the attempt should then stop and
/// complete (its outcome is ignored).
template <class T>
using Attempt = std::function<void(const CancellationToken& cancel, Callback<T> done)>;

/// Runs `attempt` with the guards: each attempt gets `config.timeout` (and never beyond
/// `deadline`); a retryable failure is retried after RetryPolicy::delay (while the budget and
/// deadline allow); the breaker (when given) is asked before each attempt and told each outcome
/// — an open circuit fails at once with Error(unavailable). `done` is called exactly once on an
/// executor thread with the value or the last error; cancellation through `cancel` completes it
/// with Error(cancelled) at once. Waits hold no thread. Events: "retry" per retry ({"attempt",
/// "delay_ms", "error"}; "attempt" is the number of the attempt that failed).
///
/// `executor`, `breaker`, `budget` and `events` must stay alive until `done` has been called;
/// from then on the run neither touches them nor calls `attempt` again. Breaker bookkeeping: a
/// success is on_success; a cancellation or a client error (HTTP 4xx, invalid argument or
/// configuration, not found, limit exceeded) on_ignored; any other failure, timeouts included,
/// on_failure.
template <class T>
void run_resilient(Executor& executor, const ResilienceConfig& config, CircuitBreaker* breaker,
                   RetryBudget* budget, Deadline deadline, CancellationToken cancel,
                   Attempt<T> attempt, Callback<T> done, EventSink events = {});

}  // namespace keel

#include "keel/resilience_impl.hpp"  // the template's definition
