// Internal: the C ABI boundary. Every C entry point runs its body through keel_call(), which
// turns any exception into a keel_status and an optional keel_error, so nothing escapes to C.
#pragma once

#include <cstdlib>
#include <cstring>
#include <atomic>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "keel.h"
#include "keel/error.hpp"
#include "keel/events.hpp"
#include "keel/executor.hpp"
#include "keel/json.hpp"

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

/// `len` bytes of `text`, which may be NULL only when `len` is 0.
inline std::string_view bytes_arg(const char* text, size_t len) {
  if (text == nullptr && len != 0) throw keel::Error(keel::Errc::invalid_argument, "text must not be NULL");
  return text ? std::string_view(text, len) : std::string_view();
}

/// Runs `fn`, turning its invalid_config into invalid_argument (same message, with the JSON
/// path): requests, documents and examples are caller input, not configuration.
template <class Fn>
auto as_argument(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const keel::Error& e) {
    if (e.code() == keel::Errc::invalid_config) throw keel::Error(keel::Errc::invalid_argument, e.what());
    throw;
  }
}

/// The "timeout_ms" of a call's options (0 or absent: no deadline; at most `max_ms`), as a
/// deadline from now.
inline keel::Deadline deadline_option(keel::ConfigReader& options,
                                      std::int64_t max_ms = 7LL * 24 * 3600 * 1000) {
  auto timeout = options.integer("timeout_ms", 0, 0, max_ms);
  return timeout > 0 ? keel::Deadline::after_ms(timeout) : keel::Deadline::never();
}

/// The host's event callback for a component that takes its EventSink at construction: the
/// handle installs event_sink(hook) then, and set() swaps the function under the writer lock,
/// which also waits for calls of the previous one to finish.
struct EventHook {
  std::shared_mutex mutex;
  std::atomic<bool> listening{false};  // lets events skip the lock when nobody listens
  keel_event_fn fn = nullptr;
  void* user_data = nullptr;

  void set(keel_event_fn callback, void* data) {
    std::unique_lock lock(mutex);
    fn = callback;
    user_data = callback ? data : nullptr;
    listening.store(callback != nullptr, std::memory_order_release);
  }
};

inline keel::EventSink event_sink(const std::shared_ptr<EventHook>& hook) {
  return [hook](const keel::Json& event) {
    if (!hook->listening.load(std::memory_order_acquire)) return;
    std::shared_lock lock(hook->mutex);
    if (hook->fn == nullptr) return;
    std::string text = keel::dump_json(event);
    hook->fn(text.c_str(), hook->user_data);
  };
}

/// A copy of `text` that the C caller owns and frees with keel_free().
char* copy_out(std::string_view text);

}  // namespace keel::capi
