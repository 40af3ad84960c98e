#include "keel/executor.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "core/executor_impl.hpp"
#include "keel/error.hpp"

namespace keel {

// ---- cancellation ---------------------------------------------------------------------------

namespace detail {
struct CancelState {
  std::mutex mutex;
  std::atomic<bool> cancelled{false};
  std::uint64_t next_id = 1;
  std::vector<std::pair<std::uint64_t, std::function<void()>>> callbacks;
};
}  // namespace detail

CancellationSource::CancellationSource() : state_(std::make_shared<detail::CancelState>()) {}

void CancellationSource::cancel() noexcept {
  std::vector<std::pair<std::uint64_t, std::function<void()>>> callbacks;
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
      state_->callbacks.emplace_back(registration.id_, std::move(fn));
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
    auto it = std::find_if(callbacks.begin(), callbacks.end(),
                           [this](const auto& entry) { return entry.first == id_; });
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

Executor::Executor() : Executor(Options{}) {}

Executor::Executor(Options options) : impl_(std::make_unique<Impl>()) {
  unsigned n = options.threads ? options.threads : default_threads();
  impl_->threads.reserve(n);
  for (unsigned i = 0; i < n; ++i) {
    impl_->threads.emplace_back([io = &impl_->io] {
      for (;;) {
        try {
          io->run();
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
  impl_->guard.reset();
  impl_->io.stop();
  for (auto& thread : impl_->threads) {
    if (thread.get_id() == std::this_thread::get_id()) {
      thread.detach();  // destroyed from one of its own callbacks: cannot join ourselves
    } else if (thread.joinable()) {
      thread.join();
    }
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
  return impl_->io.get_executor().running_in_this_thread();
}

void Executor::post(std::function<void()> fn) {
  asio::post(impl_->io, [fn = std::move(fn)] { detail::run_guarded(fn); });
}

struct Timer::State {
  explicit State(asio::io_context& io) : strand(asio::make_strand(io)), timer(strand) {}
  asio::strand<asio::io_context::executor_type> strand;
  asio::steady_timer timer;
  std::atomic<bool> claimed{false};  // whoever claims first (expiry or cancel) calls fn
  std::function<void(bool)> fn;
};

void Timer::cancel() noexcept {
  if (!state_ || state_->claimed.exchange(true)) return;
  try {
    asio::post(state_->strand, [state = state_] {
      state->timer.cancel();
      auto fn = std::move(state->fn);
      detail::run_guarded([&] { fn(false); });
    });
  } catch (...) {
    // Posting allocates; if it fails the callback is dropped rather than crashing the caller.
  }
}

Timer Executor::after(std::chrono::nanoseconds delay, std::function<void(bool fired)> fn) {
  auto state = std::make_shared<Timer::State>(impl_->io);
  state->fn = std::move(fn);
  state->timer.expires_after(std::max(delay, std::chrono::nanoseconds::zero()));
  state->timer.async_wait([state](const asio::error_code& ec) {
    if (state->claimed.exchange(true)) return;
    auto callback = std::move(state->fn);
    detail::run_guarded([&] { callback(!ec); });
  });
  return Timer(state);
}

Timer Executor::at(Deadline deadline, std::function<void(bool fired)> fn) {
  if (!deadline.is_set()) {
    // Never fires; only cancel() completes it. A timer far in the future does exactly that.
    return after(std::chrono::hours(24 * 365 * 100), std::move(fn));
  }
  return after(deadline.time() - Deadline::Clock::now(), std::move(fn));
}

}  // namespace keel
