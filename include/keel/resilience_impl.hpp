// The definition of run_resilient<T> (a template, so it lives in a header); included at the end
// of keel/resilience.hpp. Not a public API of its own.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <utility>

#include "keel/resilience.hpp"

namespace keel::detail {

/// Whether a failed call says something about the health of what was called, so the circuit
/// breaker should count it. Retryable failures do; the caller's own mistakes (a bad request, a
/// refused credential, any HTTP 4xx) and cancellations do not, since they would fail against a
/// healthy service too.
inline bool counts_against_breaker(const Error& error) noexcept {
  if (is_retryable(error)) return true;
  switch (error.code()) {
    case Errc::cancelled:
    case Errc::invalid_argument:
    case Errc::invalid_config:
    case Errc::not_found:
    case Errc::limit_exceeded:
      return false;
    default:
      break;
  }
  const int status = error.details().http_status;
  return status < 400 || status >= 500;
}

/// One run of run_resilient: the state every callback shares (through a shared_ptr, since the
/// attempt's completion, the timers and the caller's cancellation can each outlive the others
/// and the caller's stack).
///
/// Threads: the attempt may complete on any thread, timers and posts run on the executor, and
/// cancellation runs on whichever thread cancels. `mutex_` guards the mutable state; `current_`
/// names the attempt in flight, and whoever resets it (the completion, the timeout or the
/// caller's cancellation) is the one that reports that attempt's outcome. `finished_` makes the
/// first call to finish() the only one.
///
/// Lifetimes: every stretch of work that touches what the caller owns (the attempt, breaker,
/// budget, event sink and executor) is a Stretch, begun under the mutex only while the run is not
/// finished. `done` is delivered when the last stretch ends, so once it has run the run touches
/// nothing of the caller's again and the caller may destroy all of it. (An attempt already under
/// way when the run ended may still be finishing: stopping it is the attempt's business, through
/// its cancelled token.)
template <class T>
class ResilientRun : public std::enable_shared_from_this<ResilientRun<T>> {
 public:
  using Clock = std::chrono::steady_clock;

  ResilientRun(Executor& executor, const ResilienceConfig& config, CircuitBreaker* breaker,
               RetryBudget* budget, Deadline deadline, CancellationToken cancel, Attempt<T> attempt,
               Callback<T> done, EventSink events)
      : executor_(executor),
        config_(config),
        breaker_(breaker),
        budget_(budget),
        deadline_(deadline),
        cancel_(std::move(cancel)),
        attempt_(std::move(attempt)),
        done_(std::move(done)),
        events_(std::move(events)) {}

  void start() {
    Stretch stretch;
    {
      std::lock_guard lock(mutex_);
      stretch.begin(this);  // nothing can have finished the run yet
    }
    if (budget_) budget_->record_call();
    // Runs at once (on this thread) if the token is already cancelled.
    auto registration = cancel_.on_cancel([self = this->shared_from_this()] {
      self->finish(Error(Errc::cancelled, "cancelled by the caller"));
    });
    {
      std::lock_guard lock(mutex_);
      if (!finished_) registration_ = std::move(registration);
    }
    // The first attempt runs on the executor too, so the caller's thread never runs the attempt
    // (deferred: called from an executor thread, it stays on that thread).
    executor_.defer([self = this->shared_from_this()] { self->start_attempt(); });
  }

 private:
  /// A stretch of work that may touch what the caller owns; see the class comment.
  class Stretch {
   public:
    Stretch() = default;
    Stretch(const Stretch&) = delete;
    Stretch& operator=(const Stretch&) = delete;
    ~Stretch() {
      if (run_) run_->leave();
    }
    /// Call with mutex_ held, after checking the run is not finished.
    void begin(ResilientRun* run) {
      ++run->busy_;
      run_ = run;
    }

   private:
    ResilientRun* run_ = nullptr;
  };

  void start_attempt() {
    Stretch stretch;
    {
      std::lock_guard lock(mutex_);
      if (finished_) return;
      stretch.begin(this);
    }
    if (deadline_.expired()) return give_up();
    if (breaker_ && !breaker_->try_acquire()) return finish(open_circuit_error());

    // Each attempt gets its own token, so cancelling a timed-out attempt spares the next one.
    CancellationSource source;
    auto limit = Clock::duration::max();
    if (config_.timeout > std::chrono::milliseconds::zero()) limit = config_.timeout;
    const bool deadline_bound = deadline_.is_set() && deadline_.remaining() < limit;
    if (deadline_bound) limit = deadline_.remaining();

    int number = 0;
    {
      std::lock_guard lock(mutex_);
      if (!finished_) {
        number = ++attempts_;
        current_ = number;
        attempt_source_ = source;
        started_ = Clock::now();
        if (limit != Clock::duration::max()) {
          attempt_timer_ = executor_.after(
              limit, [self = this->shared_from_this(), number, limit, deadline_bound](bool fired) {
                if (fired) self->on_timeout(number, limit, deadline_bound);
              });
        }
      }
    }
    if (number == 0) {  // cancelled since the first check: give the permit back
      if (breaker_) breaker_->on_ignored();
      return;
    }

    Callback<T> on_done = [self = this->shared_from_this(), number](Result<T> result) {
      self->on_attempt_done(number, std::move(result));
    };
    try {
      attempt_(source.token(), std::move(on_done));
    } catch (...) {
      // Callbacks must not throw; an attempt that does has failed (unless it completed first).
      on_attempt_done(number, error_from_current_exception());
    }
  }

  void on_attempt_done(int number, Result<T> result) {
    Stretch stretch;
    Clock::duration took{};
    Timer timer;
    {
      std::lock_guard lock(mutex_);
      if (finished_ || current_ != number) return;  // late: timed out, or the run is over
      stretch.begin(this);
      current_ = 0;
      took = Clock::now() - started_;
      timer = std::exchange(attempt_timer_, Timer{});
    }
    timer.cancel();

    if (result.ok()) {
      if (breaker_) breaker_->on_success(took);
      return finish(std::move(result));
    }
    Error error = result.error();
    if (breaker_) {
      if (counts_against_breaker(error)) {
        breaker_->on_failure(took);
      } else {
        breaker_->on_ignored();
      }
    }
    if (!is_retryable(error)) return finish(std::move(error));
    schedule_retry(std::move(error));
  }

  void on_timeout(int number, Clock::duration limit, bool deadline_bound) {
    Stretch stretch;
    Clock::duration took{};
    std::optional<CancellationSource> source;
    {
      std::lock_guard lock(mutex_);
      if (finished_ || current_ != number) return;  // it completed in the meantime
      stretch.begin(this);
      current_ = 0;
      took = Clock::now() - started_;
      source = std::exchange(attempt_source_, std::nullopt);
      attempt_timer_ = Timer{};
    }
    source->cancel();  // its completion, whenever it comes, is ignored
    if (breaker_) breaker_->on_failure(took);

    ErrorDetails details;
    details.retryable = 1;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(limit).count();
    schedule_retry(Error(Errc::timeout,
                         "attempt " + std::to_string(number) + " timed out after " +
                             std::to_string(ms) + " ms" +
                             (deadline_bound ? " (the run's deadline)" : ""),
                         std::move(details)));
  }

  /// Waits and tries again, or ends the run with `error` when no retry is allowed. Called in a
  /// stretch.
  void schedule_retry(Error error) {
    std::chrono::milliseconds wait{};
    int failed = 0;
    {
      std::unique_lock lock(mutex_);
      if (finished_) return;
      last_error_ = error;
      failed = attempts_;
      const RetryPolicy& policy = config_.retry;
      if (failed >= policy.max_attempts) {
        lock.unlock();
        return finish(std::move(error));
      }
      // A server asking for a longer pause than we are willing to wait: tell the caller now.
      const long long retry_after = error.details().retry_after_ms;
      const bool wait_too_long = policy.honour_retry_after && retry_after >= 0 &&
                                 retry_after > policy.max_retry_after.count();
      if (!wait_too_long) wait = policy.delay(failed, previous_wait_, error, detail::thread_random());
      const bool past_deadline = deadline_.is_set() && Clock::now() + wait >= deadline_.time();
      // The budget is asked last, so a retry that will not be made takes no token.
      if (wait_too_long || past_deadline || (budget_ && !budget_->try_withdraw())) {
        lock.unlock();
        return finish(std::move(error));
      }
      previous_wait_ = wait;
      wait_timer_ = executor_.after(wait, [self = this->shared_from_this()](bool fired) {
        if (fired) self->start_attempt();
      });
    }
    Json event = make_event("retry");
    event["attempt"] = failed;  // the attempt that failed; the next one is failed + 1
    event["delay_ms"] = wait.count();
    event["error"] = error.what();
    emit(events_, event);
  }

  /// Ends the run without another attempt: with the last error, or a timeout if there is none.
  void give_up() {
    std::optional<Error> last;
    {
      std::lock_guard lock(mutex_);
      last = last_error_;
    }
    if (last) return finish(std::move(*last));
    finish(Error(Errc::timeout, "the deadline passed before the first attempt"));
  }

  Error open_circuit_error() const {
    ErrorDetails details;
    details.retryable = 0;
    return Error(Errc::unavailable,
                 "circuit \"" + breaker_->name() + "\" is open (next trial call in " +
                     std::to_string(breaker_->remaining_open().count()) + " ms)",
                 std::move(details));
  }

  /// Ends the run once: stops whatever is pending and hands `result` to leave() for delivery.
  void finish(Result<T> result) {
    if (finished_.exchange(true)) return;
    Stretch stretch;
    bool in_flight = false;
    Timer attempt_timer, wait_timer;
    std::optional<CancellationSource> source;
    CancellationToken::Registration registration;
    {
      std::lock_guard lock(mutex_);
      stretch.begin(this);
      outcome_.emplace(std::move(result));
      in_flight = current_ != 0;
      current_ = 0;
      attempt_timer = std::exchange(attempt_timer_, Timer{});
      wait_timer = std::exchange(wait_timer_, Timer{});
      source = std::exchange(attempt_source_, std::nullopt);
      registration = std::move(registration_);
    }
    // Dropping the timers and the registration also breaks the reference cycles through them.
    attempt_timer.cancel();
    wait_timer.cancel();
    registration.reset();
    if (in_flight) {  // only the caller's cancellation ends a run mid-attempt
      if (source) source->cancel();
      if (breaker_) breaker_->on_ignored();
    }
  }

  /// Ends a stretch; the last one out after finish() delivers the outcome.
  void leave() {
    std::optional<Result<T>> outcome;
    {
      std::lock_guard lock(mutex_);
      if (--busy_ > 0 || !outcome_) return;
      outcome.swap(outcome_);
    }
    // Always deferred: `done` then never runs inside the attempt's, a timer's or cancel()'s
    // frame, and an attempt that completed on an executor thread is continued on that thread.
    auto shared = std::make_shared<Result<T>>(std::move(*outcome));
    executor_.defer([self = this->shared_from_this(), shared] {
      auto done = std::move(self->done_);
      if (done) done(std::move(*shared));
    });
  }

  Executor& executor_;
  const ResilienceConfig config_;
  CircuitBreaker* const breaker_;
  RetryBudget* const budget_;
  const Deadline deadline_;
  const CancellationToken cancel_;
  const Attempt<T> attempt_;
  Callback<T> done_;  // moved out by the one delivery
  const EventSink events_;

  std::atomic<bool> finished_{false};
  std::mutex mutex_;  // guards everything below
  int busy_ = 0;      // stretches running
  int attempts_ = 0;  // attempts started
  int current_ = 0;   // the attempt in flight (0: none)
  Clock::time_point started_{};
  std::optional<CancellationSource> attempt_source_;
  Timer attempt_timer_;
  Timer wait_timer_;
  CancellationToken::Registration registration_;
  std::optional<Error> last_error_;
  std::optional<Result<T>> outcome_;  // set by finish(), taken by the last leave()
  std::chrono::milliseconds previous_wait_{0};
};

}  // namespace keel::detail

namespace keel {

template <class T>
void run_resilient(Executor& executor, const ResilienceConfig& config, CircuitBreaker* breaker,
                   RetryBudget* budget, Deadline deadline, CancellationToken cancel,
                   Attempt<T> attempt, Callback<T> done, EventSink events) {
  auto run = std::make_shared<detail::ResilientRun<T>>(executor, config, breaker, budget, deadline,
                                                       std::move(cancel), std::move(attempt),
                                                       std::move(done), std::move(events));
  run->start();
}

}  // namespace keel
