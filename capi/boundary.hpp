// Internal: the C ABI boundary. Every C entry point runs its body through keel_call(), which
// turns any exception into a keel_status and an optional keel_error, so nothing escapes to C.
#pragma once

#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "keel.h"
#include "keel/error.hpp"

struct keel_error {
  keel_status code;
  std::string message;
};

namespace keel::capi {

/// Stores an error for the caller (when err is not NULL) and returns its code.
keel_status set_error(keel_error** err, keel_status code, std::string message) noexcept;
keel_status set_error(keel_error** err, const keel::Error& error) noexcept;

/// Runs `body` (which returns void, or a keel_status), translating exceptions into statuses.
template <class Body>
keel_status call(keel_error** err, Body&& body) noexcept {
  try {
    if constexpr (std::is_void_v<decltype(body())>) {
      body();
      return KEEL_OK;
    } else {
      return body();
    }
  } catch (...) {
    return set_error(err, keel::error_from_current_exception());
  }
}

/// Throws invalid_argument naming the parameter when a required pointer is NULL.
inline void require(const void* pointer, const char* name) {
  if (pointer == nullptr) {
    throw keel::Error(keel::Errc::invalid_argument, std::string(name) + " must not be NULL");
  }
}

/// A NUL-terminated string argument as a view; NULL is an error naming the parameter.
inline std::string_view text_arg(const char* text, const char* name) {
  require(text, name);
  return std::string_view(text);
}

/// A copy of `text` that the C caller owns and frees with keel_free().
char* copy_out(std::string_view text);

}  // namespace keel::capi
