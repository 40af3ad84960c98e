/// \file
/// Result<T>: a value or a keel::Error. Asynchronous operations complete with one, since an
/// exception cannot travel from an event-loop thread to the caller's callback.
#pragma once

#include <functional>
#include <utility>
#include <variant>

#include "keel/error.hpp"

namespace keel {

/// The outcome of an operation: a value of type T, or the keel::Error that prevented it.
template <class T>
class Result {
 public:
  /// A success holding `value`.
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}     // NOLINT: implicit
  /// A failure holding `error`.
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit

  /// True when it holds a value.
  bool ok() const noexcept { return state_.index() == 0; }
  /// ok().
  explicit operator bool() const noexcept { return ok(); }

  /// The value; throws the error when there is none.
  T& value() & {
    if (!ok()) throw std::get<1>(state_);
    return std::get<0>(state_);
  }
  /// The value; throws the error when there is none.
  const T& value() const& {
    if (!ok()) throw std::get<1>(state_);
    return std::get<0>(state_);
  }
  /// The value, moved out of a temporary; throws the error when there is none.
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
