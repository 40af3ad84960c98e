// Result<T>: a value or a keel::Error. Asynchronous operations complete with one, since an
// exception cannot travel from an event-loop thread to the caller's callback.
#pragma once

#include <functional>
#include <utility>
#include <variant>

#include "keel/error.hpp"

namespace keel {

template <class T>
class Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}     // NOLINT: implicit
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit

  bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  /// The value; throws the error when there is none.
  T& value() & {
    if (!ok()) throw std::get<1>(state_);
    return std::get<0>(state_);
  }
  const T& value() const& {
    if (!ok()) throw std::get<1>(state_);
    return std::get<0>(state_);
  }
  T&& value() && {
    if (!ok()) throw std::get<1>(state_);
    return std::get<0>(std::move(state_));
  }
  /// The error; only valid when !ok().
  const Error& error() const { return std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

/// A completion callback: called exactly once, on an executor thread, with the outcome.
template <class T>
using Callback = std::function<void(Result<T>)>;

/// Runs `fn` and wraps its value or the keel::Error (translated) it throws.
template <class Fn>
auto capture(Fn&& fn) noexcept -> Result<decltype(fn())> {
  try {
    return Result<decltype(fn())>(fn());
  } catch (...) {
    return Result<decltype(fn())>(error_from_current_exception());
  }
}

}  // namespace keel
