// Backoff delays and the shared retry budget.
#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>

#include "keel/resilience.hpp"

namespace keel {

std::mt19937_64& detail::thread_random() noexcept {
  thread_local std::mt19937_64 random{std::random_device{}()};
  return random;
}


using std::chrono::milliseconds;

// ---- backoff --------------------------------------------------------------------------------

namespace {

// base * 2^(retry-1), saturating at cap (retry may be up to 100: 2^99 would overflow).
milliseconds exponential(milliseconds base, milliseconds cap, int retry) {
  if (base >= cap) return cap;
  milliseconds d = base;
  for (int i = 1; i < retry; ++i) {
    if (d >= cap / 2) return cap;
    d *= 2;
  }
  return std::min(d, cap);
}

milliseconds uniform(milliseconds lo, milliseconds hi, std::mt19937_64& random) {
  if (hi <= lo) return lo;
  std::uniform_int_distribution<milliseconds::rep> pick(lo.count(), hi.count());
  return milliseconds(pick(random));
}

}  // namespace

milliseconds RetryPolicy::delay(int retry, milliseconds previous, const Error& error,
                                std::mt19937_64& random) const {
  const long long retry_after = error.details().retry_after_ms;
  // The server knows best when it can take the call again; run_resilient checks the result
  // against max_retry_after (a longer wait is not made at all).
  if (honour_retry_after && retry_after >= 0) return milliseconds(retry_after);

  const milliseconds base = std::max(base_delay, milliseconds::zero());
  const milliseconds cap = std::max(max_delay, milliseconds::zero());
  const milliseconds d = exponential(base, cap, std::max(retry, 1));
  switch (jitter) {
    case Jitter::none:
      return d;
    case Jitter::full:
      return uniform(milliseconds::zero(), d, random);
    case Jitter::equal:
      return d / 2 + uniform(milliseconds::zero(), d - d / 2, random);
    case Jitter::decorrelated: {
      // previous * 3, saturating: previous may be a long Retry-After.
      const milliseconds grown =
          previous > milliseconds::max() / 3 ? milliseconds::max() : previous * 3;
      return std::min(cap, uniform(base, std::max(base, grown), random));
    }
  }
  return d;
}

// ---- budget ---------------------------------------------------------------------------------

// Calls deposit `ratio` tokens that stay valid for `ttl`; a retry takes one token, from the
// oldest deposits first (they are the next to expire), and when there are none it may use the
// reserve of min_retries_per_second, which refills continuously. Deposits are summed per tenth
// of the ttl, so memory stays bounded however many calls are made, and a slice expires once it
// is a full ttl old. Amounts are fixed-point millionths of a token, so 100 deposits of 0.2 make
// exactly 20 retries.
struct RetryBudget::State {
  static constexpr std::int64_t unit = 1'000'000;  // one token
  static constexpr std::int64_t slices_per_ttl = 10;

  struct Slice {
    std::int64_t index;
    std::int64_t amount;
  };

  std::mutex mutex;
  Clock clock;
  std::chrono::steady_clock::time_point origin;
  std::chrono::nanoseconds slice_length;
  std::int64_t deposit;  // per call, in units
  double reserve_rate;   // free retries per second
  double reserve;        // free retries available now (capacity: one second's worth)
  std::chrono::steady_clock::time_point reserve_time;

  std::deque<Slice> slices;
  std::int64_t balance = 0;  // sum of the live slices, in units

  std::int64_t slice_of(std::chrono::steady_clock::time_point now) const {
    return now <= origin ? 0 : (now - origin) / slice_length;
  }

  void expire(std::int64_t current) {
    while (!slices.empty() && slices.front().index <= current - slices_per_ttl) {
      balance -= slices.front().amount;
      slices.pop_front();
    }
  }

  void deposit_into(std::int64_t current, std::int64_t amount) {
    if (slices.empty() || slices.back().index != current) slices.push_back({current, 0});
    slices.back().amount += amount;
    balance += amount;
  }

  // Only called with balance >= amount.
  void withdraw(std::int64_t amount) {
    balance -= amount;
    while (amount > 0 && !slices.empty()) {
      Slice& oldest = slices.front();
      const std::int64_t taken = std::min(oldest.amount, amount);
      oldest.amount -= taken;
      amount -= taken;
      if (oldest.amount == 0) slices.pop_front();
    }
  }

  void refill_reserve(std::chrono::steady_clock::time_point now) {
    if (now <= reserve_time) return;
    const double seconds = std::chrono::duration<double>(now - reserve_time).count();
    reserve = std::min(reserve_rate, reserve + seconds * reserve_rate);
    reserve_time = now;
  }
};

RetryBudget::RetryBudget() : RetryBudget(Config{}) {}

RetryBudget::RetryBudget(Config config, Clock clock) : state_(std::make_shared<State>()) {
  if (!clock) clock = [] { return std::chrono::steady_clock::now(); };
  State& s = *state_;
  s.clock = std::move(clock);
  s.origin = s.reserve_time = s.clock();
  const auto ttl = std::max<std::chrono::nanoseconds>(config.ttl, milliseconds(1));
  s.slice_length =
      std::max<std::chrono::nanoseconds>(ttl / State::slices_per_ttl, std::chrono::nanoseconds(1));
  s.deposit = std::llround(std::max(config.ratio, 0.0) * State::unit);
  s.reserve_rate = std::max(config.min_retries_per_second, 0);
  s.reserve = s.reserve_rate;
}

void RetryBudget::record_call() {
  std::lock_guard lock(state_->mutex);
  const std::int64_t current = state_->slice_of(state_->clock());
  state_->expire(current);
  state_->deposit_into(current, state_->deposit);
}

bool RetryBudget::try_withdraw() {
  std::lock_guard lock(state_->mutex);
  const auto now = state_->clock();
  const std::int64_t current = state_->slice_of(now);
  state_->expire(current);
  if (state_->balance >= State::unit) {
    state_->withdraw(State::unit);
    return true;
  }
  state_->refill_reserve(now);
  if (state_->reserve >= 1.0) {
    state_->reserve -= 1.0;
    return true;
  }
  return false;
}

}  // namespace keel
