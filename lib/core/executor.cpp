#include "keel/executor.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/executor_impl.hpp"
#include "core/threads.hpp"
#include "keel/error.hpp"

namespace keel {

// ---- cancellation ---------------------------------------------------------------------------

namespace detail {
struct CancelState {
  std::mutex mutex;
  std::atomic<bool> cancelled{false};
  std::uint64_t next_id = 1;
  // By registration id: a run with a thousand tasks registers a thousand callbacks on one
  // token, and each is removed when its task ends (a vector made that quadratic).
  std::unordered_map<std::uint64_t, std::function<void()>> callbacks;
};
}  // namespace detail

CancellationSource::CancellationSource() : state_(std::make_shared<detail::CancelState>()) {}

void CancellationSource::cancel() noexcept {
  std::unordered_map<std::uint64_t, std::function<void()>> callbacks;
  {
    std::lock_guard lock(state_->mutex);
    if (state_->cancelled.exchange(true)) return;
    callbacks.swap(state_->callbacks);
  }
  for (auto& [id, fn] : callbacks)
    detail::run_guarded(fn);
}

bool CancellationSource::cancelled() const noexcept {
  return state_->cancelled.load();
}

bool CancellationToken::cancelled() const noexcept {
  return state_ && state_->cancelled.load();
}

CancellationToken::Registration CancellationToken::on_cancel(std::function<void()> fn) const {
  Registration registration;
  if (!state_) return registration;
  {
    std::lock_guard lock(state_->mutex);
    if (!state_->cancelled.load()) {
      registration.state_ = state_;
      registration.id_ = state_->next_id++;
      state_->callbacks.emplace(registration.id_, std::move(fn));
      return registration;
    }
  }
  detail::run_guarded(fn);  // already cancelled: run at once, outside the lock
  return registration;
}

CancellationToken::Registration::Registration(Registration&& other) noexcept
    : state_(std::move(other.state_)), id_(other.id_) {
  other.id_ = 0;
}

CancellationToken::Registration& CancellationToken::Registration::operator=(
    Registration&& other) noexcept {
  if (this != &other) {
    reset();
    state_ = std::move(other.state_);
    id_ = other.id_;
    other.id_ = 0;
  }
  return *this;
}

CancellationToken::Registration::~Registration() {
  reset();
}

void CancellationToken::Registration::reset() noexcept {
  if (!state_) return;
  std::function<void()> doomed;  // destroyed outside the lock
  {
    std::lock_guard lock(state_->mutex);
    auto& callbacks = state_->callbacks;
    auto it = callbacks.find(id_);
    if (it != callbacks.end()) {
      doomed = std::move(it->second);
      callbacks.erase(it);
    }
  }
  state_.reset();
  id_ = 0;
}

// ---- executor -------------------------------------------------------------------------------

namespace detail {
void run_guarded(const std::function<void()>& fn) {
  try {
    fn();
  } catch (abi::__forced_unwind&) {
    // A thread being ended (pthread_exit, as Python does to threads at interpreter shutdown)
    // unwinds with this; swallowing it aborts the process. Let the thread end.
    throw;
  } catch (...) {
    static std::once_flag reported;
    Error error = error_from_current_exception();
    std::call_once(reported, [&] {
      std::fprintf(stderr, "keel: an exception escaped a callback and was dropped: %s\n",
                   error.what());
    });
  }
}
}  // namespace detail

namespace {
unsigned default_threads() {
  if (const char* env = std::getenv("KEEL_THREADS")) {
    char* end = nullptr;
    long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n >= 1 && n <= 256) return static_cast<unsigned>(n);
  }
  unsigned cores = std::thread::hardware_concurrency();
  return std::clamp(cores, 1u, 4u);
}
}  // namespace


// ---- timers ------------------------------------------------------------------------------------

// Timers wait in one ordered queue per executor, behind a single Asio timer armed at the
// earliest expiry. An Asio timer per keel Timer cost a reactor operation to start and, on
// cancellation, an aborted completion posted to the loop — which wakes another thread. Most of
// keel's timers are timeouts that get cancelled (every guarded call has one), so cancelling must
// be cheap: it takes the entry out of the queue and defers fn(false), which stays on the
// cancelling thread when that is one of the executor's.
namespace detail {

struct TimerQueue : std::enable_shared_from_this<TimerQueue> {
  using Clock = std::chrono::steady_clock;
  using Entries = std::multimap<Clock::time_point, std::shared_ptr<Timer::State>>;

  explicit TimerQueue(Executor& owner) : executor(&owner) { wakeup.emplace(detail::io_context(owner)); }

  std::mutex mutex;  // guards everything below, and each queued state's `position`/`queued`
  Executor* executor;  // null once the executor is being destroyed
  Entries entries;
  std::optional<asio::steady_timer> wakeup;  // bound to the executor's loop; gone with it
  Clock::time_point armed = Clock::time_point::max();  // wakeup's expiry (max: not armed)
  std::uint64_t generation = 0;                        // of wakeup's current wait

  void arm_locked(Clock::time_point when);
  void on_wakeup(std::uint64_t generation);
};

}  // namespace detail

struct Timer::State {
  std::shared_ptr<detail::TimerQueue> queue;
  std::atomic<bool> claimed{false};  // whoever claims (expiry or cancel) runs fn, once
  std::function<void(bool)> fn;
  detail::TimerQueue::Entries::iterator position;  // valid while queued (under queue->mutex)
  bool queued = false;
};

namespace detail {

void TimerQueue::arm_locked(Clock::time_point when) {
  armed = when;
  const std::uint64_t current = ++generation;
  wakeup->expires_at(when);  // a wait already pending completes as aborted, and is ignored
  wakeup->async_wait([self = shared_from_this(), current](const asio::error_code&) { self->on_wakeup(current); });
}

void TimerQueue::on_wakeup(std::uint64_t current) {
  std::vector<std::shared_ptr<Timer::State>> due;
  Executor* target = nullptr;
  {
    std::lock_guard lock(mutex);
    if (current != generation || executor == nullptr) return;  // re-armed since, or stopping
    const auto now = Clock::now();
    while (!entries.empty() && entries.begin()->first <= now) {
      auto state = std::move(entries.begin()->second);
      entries.erase(entries.begin());
      state->queued = false;
      due.push_back(std::move(state));
    }
    armed = Clock::time_point::max();
    if (!entries.empty()) arm_locked(entries.begin()->first);
    target = executor;
  }
  // Each on its own, so one slow callback does not hold up the others or this thread.
  for (auto& state : due) {
    if (state->claimed.exchange(true)) continue;  // cancelled: cancel() delivers fn(false)
    target->post([state = std::move(state)] {
      auto fn = std::move(state->fn);
      fn(true);
    });
  }
}

}  // namespace detail

void Timer::cancel() noexcept {
  if (!state_ || state_->claimed.exchange(true)) return;
  std::function<void(bool)> fn;
  Executor* executor = nullptr;
  {
    std::lock_guard lock(state_->queue->mutex);
    if (state_->queued) {
      state_->queue->entries.erase(state_->position);
      state_->queued = false;
    }
    fn = std::move(state_->fn);
    executor = state_->queue->executor;
  }
  if (executor == nullptr) return;  // the executor is going: the callback is dropped
  try {
    executor->defer([fn = std::move(fn)] { fn(false); });
  } catch (...) {
    // Deferring allocates; if it fails the callback is dropped rather than crashing the caller.
  }
}

Timer Executor::after(std::chrono::nanoseconds delay, std::function<void(bool fired)> fn) {
  auto state = std::make_shared<Timer::State>();
  state->queue = impl_->timers;
  state->fn = std::move(fn);
  const auto now = Deadline::Clock::now();
  const auto when = delay >= Deadline::Clock::time_point::max() - now ? Deadline::Clock::time_point::max()
                                                                      : now + std::max(delay, std::chrono::nanoseconds::zero());
  if (when == Deadline::Clock::time_point::max()) return Timer(state);  // never fires: only cancel() ends it
  auto& queue = *impl_->timers;
  std::lock_guard lock(queue.mutex);
  state->position = queue.entries.emplace(when, state);
  state->queued = true;
  if (when < queue.armed) queue.arm_locked(when);
  return Timer(state);
}

Timer Executor::at(Deadline deadline, std::function<void(bool fired)> fn) {
  if (!deadline.is_set()) return after(std::chrono::nanoseconds::max(), std::move(fn));  // never fires
  return after(deadline.time() - Deadline::Clock::now(), std::move(fn));
}

// ---- the event loop ------------------------------------------------------------------------------

namespace detail {

// The executor whose thread this is (null on other threads).
thread_local const Executor::Impl* current_executor = nullptr;

// Continuations deferred on an executor thread (Executor::defer) wait in that thread's own
// queue, and the thread runs them between the loop's operations. Had they gone to the loop,
// Asio would wake an idle thread whenever a thread takes an operation and more are waiting: a
// callback deferring several continuations (a finished task releasing its dependents) would
// hand them to the other thread, and on a small machine the hand-over costs more than the
// work — the threads then contend for the same locks and free each other's memory (perf: a
// planner run of 1,000 no-op tasks spent its time in futex waits on malloc's arena lock).
thread_local std::deque<std::function<void()>> continuations;

// A thread's loop: one operation of the loop, then this thread's continuations (a batch at a
// time, so timers, I/O and other work keep their turn), until the loop stops.
void run_loop(asio::io_context& io) {
  constexpr int batch = 64;
  for (;;) {
    // With continuations waiting, only what is ready; otherwise wait for work.
    const std::size_t ran = continuations.empty() ? io.run_one() : io.poll_one();
    if (io.stopped()) return;  // continuations still waiting are dropped, as the loop's are
    if (ran == 0 && continuations.empty()) continue;
    for (int i = 0; i < batch && !continuations.empty(); ++i) {
      auto fn = std::move(continuations.front());
      continuations.pop_front();
      run_guarded(fn);
    }
  }
}

}  // namespace detail

// ---- the blocking pool --------------------------------------------------------------------------

namespace detail {

// Threads for host functions that may block (tools, models and embedders written in C, Python or
// Go). They never run on the event loop, so a host function that hangs cannot stop timers,
// cancellations or other runs. Threads are created when work arrives and none is idle, up to
// `limit`; beyond it work queues. The state is shared with the threads: ~Executor joins the idle
// ones and detaches those still inside a host function, whose completion is then dropped.
struct BlockingPool {
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::pair<std::function<void()>, std::function<void()>>> queue;
  std::vector<std::thread> threads;
  std::size_t idle = 0;
  std::size_t limit = 64;
  bool stopping = false;
  asio::io_context* io = nullptr;  // where completions go; null once the executor is gone

  static void work(const std::shared_ptr<BlockingPool>& pool) {
    std::unique_lock lock(pool->mutex);
    for (;;) {
      ++pool->idle;
      pool->wake.wait(lock, [&] { return pool->stopping || !pool->queue.empty(); });
      --pool->idle;
      if (pool->stopping) return;
      auto [fn, then] = std::move(pool->queue.front());
      pool->queue.pop_front();
      lock.unlock();
      run_guarded(fn);
      lock.lock();
      if (pool->io != nullptr && then) {
        asio::post(*pool->io, [then = std::move(then)] { run_guarded(then); });
      }
    }
  }
};

}  // namespace detail

Executor::Executor() : Executor(Options{}) {}

Executor::Executor(Options options) : impl_(std::make_unique<Impl>()) {
  impl_->timers = std::make_shared<detail::TimerQueue>(*this);
  unsigned n = options.threads ? options.threads : default_threads();
  impl_->threads.reserve(n);
  for (unsigned i = 0; i < n; ++i) {
    impl_->threads.emplace_back([io = &impl_->io, owner = impl_.get()] {
      detail::name_this_thread("keel-executor");
      detail::current_executor = owner;
      for (;;) {
        try {
          detail::run_loop(*io);
          return;
        } catch (abi::__forced_unwind&) {
          throw;  // the thread is being ended: see run_guarded
        } catch (...) {
          // Handlers are wrapped, so this is Asio itself failing; keep the loop alive.
          detail::run_guarded([] { throw; });
        }
      }
    });
  }
}

Executor::~Executor() {
  if (auto pool = impl_->blocking) {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(pool->mutex);
      pool->stopping = true;
      pool->io = nullptr;
      pool->queue.clear();
      threads.swap(pool->threads);
    }
    pool->wake.notify_all();
    // A thread still inside a host function cannot be joined without waiting on the host: it is
    // left to finish on its own (it holds the pool's state, and its completion is dropped).
    for (auto& thread : threads) thread.detach();
  }
  impl_->guard.reset();
  impl_->io.stop();
  for (auto& thread : impl_->threads) {
    if (thread.get_id() == std::this_thread::get_id()) {
      thread.detach();  // destroyed from one of its own callbacks: cannot join ourselves
    } else if (thread.joinable()) {
      thread.join();
    }
  }
  // Timers still waiting are dropped (as Asio drops handlers that never ran), outside the lock:
  // destroying a callback may cancel another timer.
  detail::TimerQueue::Entries doomed;
  {
    std::lock_guard lock(impl_->timers->mutex);
    impl_->timers->executor = nullptr;
    doomed.swap(impl_->timers->entries);
    for (auto& [when, state] : doomed) state->queued = false;
    impl_->timers->wakeup.reset();
  }
}

Executor& Executor::shared() {
  static Executor executor;
  return executor;
}

unsigned Executor::threads() const noexcept {
  return static_cast<unsigned>(impl_->threads.size());
}

bool Executor::running_in_this_thread() const noexcept {
  return detail::current_executor == impl_.get();
}

void Executor::post(std::function<void()> fn) {
  asio::post(impl_->io, [fn = std::move(fn)] { detail::run_guarded(fn); });
}

void Executor::defer(std::function<void()> fn) {
  if (!running_in_this_thread()) return post(std::move(fn));
  detail::continuations.push_back(std::move(fn));
}

void Executor::post_blocking(std::function<void()> work, std::function<void()> then) {
  std::shared_ptr<detail::BlockingPool> pool;
  {
    std::lock_guard lock(impl_->services_mutex);
    if (!impl_->blocking) {
      impl_->blocking = std::make_shared<detail::BlockingPool>();
      impl_->blocking->io = &impl_->io;
      if (const char* env = std::getenv("KEEL_BLOCKING_THREADS")) {
        char* end = nullptr;
        long n = std::strtol(env, &end, 10);
        if (end != env && *end == '\0' && n >= 1 && n <= 4096) impl_->blocking->limit = static_cast<std::size_t>(n);
      }
    }
    pool = impl_->blocking;
  }
  std::lock_guard lock(pool->mutex);
  if (pool->stopping) return;
  pool->queue.emplace_back(std::move(work), std::move(then));
  // Threads woken for earlier work still count as idle until they take it: compare with the
  // queue, or two pieces of work posted back to back would share one thread.
  if (pool->queue.size() > pool->idle && pool->threads.size() < pool->limit) {
    pool->threads.emplace_back([pool] {
      detail::name_this_thread("keel-blocking");
      detail::BlockingPool::work(pool);
    });
  } else {
    pool->wake.notify_one();
  }
}

unsigned Executor::blocking_threads() const noexcept {
  std::lock_guard lock(impl_->services_mutex);
  if (!impl_->blocking) return 0;
  std::lock_guard pool_lock(impl_->blocking->mutex);
  return static_cast<unsigned>(impl_->blocking->threads.size());
}


}  // namespace keel
