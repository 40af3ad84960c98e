// The circuit breaker: resilience4j's count-based state machine behind one mutex.
#include <algorithm>
#include <optional>
#include <vector>

#include "keel/resilience.hpp"

namespace keel {

namespace {

// A fixed-size ring of the last outcomes with running counts.
class OutcomeWindow {
 public:
  explicit OutcomeWindow(std::size_t size) : ring_(size) {}

  void record(bool failed, bool slow) {
    Outcome& slot = ring_[next_];
    if (count_ == ring_.size()) {  // evict the oldest, which sits where the newest goes
      failures_ -= slot.failed;
      slows_ -= slot.slow;
    } else {
      ++count_;
    }
    slot = {failed, slow};
    failures_ += failed;
    slows_ += slow;
    next_ = (next_ + 1) % ring_.size();
  }
  void clear() { count_ = next_ = failures_ = slows_ = 0; }

  std::size_t count() const { return count_; }
  double failure_rate() const { return count_ ? double(failures_) / double(count_) : 0.0; }
  double slow_rate() const { return count_ ? double(slows_) / double(count_) : 0.0; }

 private:
  struct Outcome {
    bool failed = false;
    bool slow = false;
  };
  std::vector<Outcome> ring_;
  std::size_t next_ = 0, count_ = 0, failures_ = 0, slows_ = 0;
};

}  // namespace

std::string_view to_string(CircuitBreaker::State state) noexcept {
  switch (state) {
    case CircuitBreaker::State::closed:
      return "closed";
    case CircuitBreaker::State::open:
      return "open";
    case CircuitBreaker::State::half_open:
      return "half_open";
  }
  return "unknown";
}

struct CircuitBreaker::Impl {
  using TimePoint = std::chrono::steady_clock::time_point;

  Impl(Config c, Clock k)
      : config(c),
        clock(std::move(k)),
        closed_window(std::max<std::size_t>(c.window_size, 1)),
        trial_window(std::max<std::size_t>(c.permitted_calls_in_half_open, 1)) {
    config.window_size = std::max<std::size_t>(config.window_size, 1);
    config.permitted_calls_in_half_open =
        std::max<std::size_t>(config.permitted_calls_in_half_open, 1);
    // As in resilience4j, a minimum above the window size could never be reached.
    config.minimum_calls = std::clamp<std::size_t>(config.minimum_calls, 1, config.window_size);
  }

  Config config;
  Clock clock;
  EventSink sink;

  mutable std::mutex mutex;  // guards everything below
  State state = State::closed;
  OutcomeWindow closed_window;  // closed: the last window_size outcomes
  OutcomeWindow trial_window;   // half-open: the trial calls' outcomes
  std::size_t trial_permits = 0;
  TimePoint open_until{};

  // Events are built under the lock and delivered after it is released, so a sink may call
  // back into the breaker.
  struct Transition {
    State from, to;
    double failure_rate, slow_call_rate;
  };

  void move_to(State to, double failure_rate, double slow_rate,
               std::optional<Transition>& transition) {
    transition = Transition{state, to, failure_rate, slow_rate};
    state = to;
    switch (to) {
      case State::open:
        open_until = clock() + config.wait_in_open;
        closed_window.clear();
        break;
      case State::half_open:
        trial_window.clear();
        trial_permits = 0;
        break;
      case State::closed:
        closed_window.clear();
        break;
    }
  }

  // The window whose rates count now, or null while it holds too few outcomes. Only a closed
  // circuit has one: open starts with a cleared window, and half-open decides (and leaves)
  // as soon as its trial window is full.
  const OutcomeWindow* measured_window() const {
    if (state == State::closed && closed_window.count() >= config.minimum_calls) {
      return &closed_window;
    }
    return nullptr;
  }

  bool tripped(const OutcomeWindow& window) const {
    return window.failure_rate() >= config.failure_rate_threshold ||
           window.slow_rate() >= config.slow_call_rate_threshold;
  }

  void record(bool failed, std::chrono::nanoseconds duration,
              std::optional<Transition>& transition) {
    const bool slow = duration >= config.slow_call;
    if (state == State::closed) {
      closed_window.record(failed, slow);
      if (closed_window.count() >= config.minimum_calls && tripped(closed_window)) {
        move_to(State::open, closed_window.failure_rate(), closed_window.slow_rate(), transition);
      }
    } else if (state == State::half_open) {
      // Decided once every trial is in: simple, and exact for any threshold.
      trial_window.record(failed, slow);
      if (trial_window.count() >= config.permitted_calls_in_half_open) {
        const double failure_rate = trial_window.failure_rate();
        const double slow_rate = trial_window.slow_rate();
        move_to(tripped(trial_window) ? State::open : State::closed, failure_rate, slow_rate,
                transition);
      }
    }
    // Open: a call permitted before the circuit opened reports late; it changes nothing.
  }

  void deliver(const std::optional<Transition>& transition, const std::string& name) const {
    if (!transition || !sink) return;
    Json event = make_event("circuit_breaker.transition");
    event["name"] = name;
    event["from"] = to_string(transition->from);
    event["to"] = to_string(transition->to);
    event["failure_rate"] = transition->failure_rate;
    event["slow_call_rate"] = transition->slow_call_rate;
    emit(sink, event);
  }
};

CircuitBreaker::CircuitBreaker() : CircuitBreaker(Config{}) {}

CircuitBreaker::CircuitBreaker(Config config, std::string name, Clock clock)
    : name_(std::move(name)) {
  if (!clock) clock = [] { return std::chrono::steady_clock::now(); };
  impl_ = std::make_unique<Impl>(config, std::move(clock));
}

CircuitBreaker::~CircuitBreaker() = default;

bool CircuitBreaker::try_acquire() {
  std::optional<Impl::Transition> transition;
  bool permitted = false;
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->state == State::open && impl_->clock() >= impl_->open_until) {
      impl_->move_to(State::half_open, -1, -1, transition);
    }
    switch (impl_->state) {
      case State::closed:
        permitted = true;
        break;
      case State::open:
        permitted = false;
        break;
      case State::half_open:
        permitted = impl_->trial_permits < impl_->config.permitted_calls_in_half_open;
        if (permitted) ++impl_->trial_permits;
        break;
    }
  }
  impl_->deliver(transition, name_);
  return permitted;
}

void CircuitBreaker::on_success(std::chrono::nanoseconds duration) {
  std::optional<Impl::Transition> transition;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->record(false, duration, transition);
  }
  impl_->deliver(transition, name_);
}

void CircuitBreaker::on_failure(std::chrono::nanoseconds duration) {
  std::optional<Impl::Transition> transition;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->record(true, duration, transition);
  }
  impl_->deliver(transition, name_);
}

void CircuitBreaker::on_ignored() {
  std::lock_guard lock(impl_->mutex);
  if (impl_->state == State::half_open && impl_->trial_permits > 0) --impl_->trial_permits;
}

CircuitBreaker::State CircuitBreaker::state() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->state;
}

double CircuitBreaker::failure_rate() const {
  std::lock_guard lock(impl_->mutex);
  const OutcomeWindow* window = impl_->measured_window();
  return window ? window->failure_rate() : -1;
}

double CircuitBreaker::slow_call_rate() const {
  std::lock_guard lock(impl_->mutex);
  const OutcomeWindow* window = impl_->measured_window();
  return window ? window->slow_rate() : -1;
}

std::chrono::milliseconds CircuitBreaker::remaining_open() const {
  std::lock_guard lock(impl_->mutex);
  if (impl_->state != State::open) return std::chrono::milliseconds::zero();
  const auto left = impl_->open_until - impl_->clock();
  if (left <= std::chrono::steady_clock::duration::zero()) return std::chrono::milliseconds::zero();
  // Rounded up, so a caller told "0 ms" really can go through.
  return std::chrono::ceil<std::chrono::milliseconds>(left);
}

void CircuitBreaker::set_event_sink(EventSink sink) {
  std::lock_guard lock(impl_->mutex);
  impl_->sink = std::move(sink);
}

}  // namespace keel
