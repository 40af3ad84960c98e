/// \file
/// The asynchronous runtime: a thread pool over Asio with timers, deadlines and cancellation.
/// Everything in keel that waits on I/O completes on an Executor (the shared one by default).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "keel/export.hpp"

namespace keel {

namespace detail {
struct CancelState;
}

/// Observes a cancellation. A default-constructed token is never cancelled. Cheap to copy;
/// safe to use from many threads at once.
class KEEL_API CancellationToken {
 public:
  /// Unregisters its callback when destroyed (or on reset()). Move-only.
  class KEEL_API Registration {
   public:
    /// An empty registration that holds no callback.
    Registration() = default;
    /// Takes over `other`'s callback; `other` is left empty.
    Registration(Registration&& other) noexcept;
    /// Unregisters this one's callback, then takes over `other`'s.
    Registration& operator=(Registration&& other) noexcept;
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;
    /// Unregisters the callback (see reset()).
    ~Registration();
    /// Unregisters the callback now, so it will not run on a later cancel(); the registration
    /// is left empty. Does nothing when empty.
    void reset() noexcept;

   private:
    friend class CancellationToken;
    std::shared_ptr<detail::CancelState> state_;
    std::uint64_t id_ = 0;
  };

  /// A token that is never cancelled.
  CancellationToken() = default;
  /// True once its source has been cancelled.
  bool cancelled() const noexcept;
  /// False for a default token that no source can ever cancel.
  bool can_be_cancelled() const noexcept { return state_ != nullptr; }
  /// Runs `fn` once when cancelled: at once on this thread if already cancelled, else on the
  /// thread that calls cancel(). Keep `fn` short and non-blocking.
  [[nodiscard]] Registration on_cancel(std::function<void()> fn) const;

 private:
  friend class CancellationSource;
  explicit CancellationToken(std::shared_ptr<detail::CancelState> state)
      : state_(std::move(state)) {}
  std::shared_ptr<detail::CancelState> state_;
};

/// Cancels the operations holding its tokens. Thread-safe; cancel() is idempotent.
class KEEL_API CancellationSource {
 public:
  /// A source not yet cancelled.
  CancellationSource();
  /// A token that observes this source.
  CancellationToken token() const { return CancellationToken(state_); }
  /// Cancels: runs every callback registered on its tokens, on this thread; later calls do
  /// nothing.
  void cancel() noexcept;
  /// True once cancel() has been called.
  bool cancelled() const noexcept;

 private:
  std::shared_ptr<detail::CancelState> state_;
};

/// A point in time after which work should stop; default-constructed means no deadline.
class Deadline {
 public:
  /// Deadlines are on the monotonic clock, unaffected by changes to the wall clock.
  using Clock = std::chrono::steady_clock;

  /// No deadline.
  constexpr Deadline() = default;
  /// A deadline at time point `t`.
  static Deadline at(Clock::time_point t) { return Deadline(t); }
  /// A deadline `d` from now.
  static Deadline after(Clock::duration d) { return Deadline(Clock::now() + d); }
  /// A deadline `ms` milliseconds from now.
  static Deadline after_ms(std::int64_t ms) { return after(std::chrono::milliseconds(ms)); }
  /// No deadline (the same as a default-constructed one).
  static constexpr Deadline never() { return Deadline(); }

  /// False for no deadline.
  bool is_set() const noexcept { return time_ != Clock::time_point::max(); }
  /// True when set and passed.
  bool expired() const noexcept { return is_set() && Clock::now() >= time_; }
  /// The time point; Clock::time_point::max() when no deadline.
  Clock::time_point time() const noexcept { return time_; }
  /// Time left (zero when expired; Clock::duration::max() when no deadline).
  Clock::duration remaining() const noexcept {
    if (!is_set()) return Clock::duration::max();
    auto left = time_ - Clock::now();
    return left > Clock::duration::zero() ? left : Clock::duration::zero();
  }
  /// The earlier of two deadlines.
  Deadline earliest(Deadline other) const noexcept { return time_ <= other.time_ ? *this : other; }

 private:
  constexpr explicit Deadline(Clock::time_point t) : time_(t) {}
  Clock::time_point time_ = Clock::time_point::max();
};

/// A scheduled callback that can be cancelled. Copyable handle; cancel() is thread-safe and
/// idempotent, and after it returns the callback will not run with fired = true.
class KEEL_API Timer {
 public:
  /// A handle to no timer; cancel() does nothing.
  Timer() = default;
  /// Cancels the timer: unless it has already fired or been cancelled, its callback runs with
  /// fired = false (dropped when the executor is being destroyed).
  void cancel() noexcept;
  struct State;

 private:
  friend class Executor;
  explicit Timer(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

/// A pool of threads running an Asio event loop. Work posted to it runs on one of its
/// threads; timers wait without holding a thread. Thread-safe.
///
/// Callbacks must not throw: an exception escaping one is caught, reported on stderr once per
/// process, and dropped, so one bad callback never takes the host down.
class KEEL_API Executor {
 public:
  /// How an executor is built.
  struct Options {
    /// Number of threads; 0 = the KEEL_THREADS environment variable, else the number of cores
    /// (at least 1, at most 4: I/O-bound work needs few threads).
    unsigned threads = 0;
  };

  /// Starts `options.threads` threads running the event loop.
  explicit Executor(Options options);
  /// Starts an executor with the default Options.
  Executor();
  /// Stops the loop and joins the threads. Work not yet started is dropped.
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  /// The process-wide executor keel uses when none is given, created on first use.
  static Executor& shared();

  /// Number of threads running the event loop.
  unsigned threads() const noexcept;
  /// True when called from one of this executor's threads.
  bool running_in_this_thread() const noexcept;

  /// Runs `fn` soon on one of the executor's threads.
  void post(std::function<void()> fn);
  /// Like post(), for the continuation of the work under way: called from one of the
  /// executor's threads, `fn` runs on that same thread soon after the current callback returns
  /// (in order with the thread's other continuations), and no other thread is woken for it — a
  /// chain of steps stays on one thread instead of bouncing between two. So a callback must
  /// not block waiting for work it deferred. From any other thread it is post().
  void defer(std::function<void()> fn);
  /// Runs `work` on a thread of the executor's blocking pool — never on the event loop, so work
  /// that blocks (a host's tool, model or embedder function) cannot hold up timers,
  /// cancellations or other runs — then posts `then` (may be empty) to the event loop. Pool
  /// threads are created on demand, up to KEEL_BLOCKING_THREADS (default 64); beyond that work
  /// waits. Work still running when the executor is destroyed is not waited for and its `then`
  /// is dropped.
  void post_blocking(std::function<void()> work, std::function<void()> then);
  /// Threads the blocking pool has created so far.
  unsigned blocking_threads() const noexcept;
  /// Runs `fn(true)` once `delay` has passed, or `fn(false)` if the timer is cancelled first:
  /// exactly one of the two. Cancelled from one of the executor's threads, `fn(false)` runs on
  /// that thread once the current callback returns. A timer still waiting when the executor is
  /// destroyed is dropped (`fn` destroyed uncalled); its handle may outlive the executor.
  Timer after(std::chrono::nanoseconds delay, std::function<void(bool fired)> fn);
  /// Like after(), at a deadline; a deadline that is not set never fires (only cancellation
  /// completes it).
  Timer at(Deadline deadline, std::function<void(bool fired)> fn);

  /// Internal state (Asio's io_context); defined only inside the library.
  struct Impl;
  /// The internal state, for the library's own use.
  Impl& impl() noexcept { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel
