/// \file
/// Errors: everything keel's C++ API throws is a keel::Error carrying a keel::Errc code.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "keel/export.hpp"

namespace keel {

/// Error codes. Stable and append-only; the values are the C ABI's keel_status codes.
enum class Errc : int {
  invalid_argument = 1,  ///< a caller-supplied argument is wrong
  invalid_config = 2,    ///< a configuration is invalid; the message names the JSON path
  not_found = 3,         ///< the named item does not exist
  io = 4,                ///< a file, socket or process operation failed
  timeout = 5,           ///< a deadline or timeout expired
  cancelled = 6,         ///< the operation was cancelled
  unavailable = 7,       ///< a circuit breaker is open, or a service cannot be reached
  provider = 8,          ///< an LLM provider or HTTP error
  tool = 9,              ///< a tool failed
  parse = 10,            ///< input could not be parsed (JSON, a model reply, a plan)
  limit_exceeded = 11,   ///< a size, count, token or budget limit was exceeded
  internal = 12,         ///< a bug in keel
};

/// The stable lower-case name of a code ("invalid_config"); "unknown" for values outside the enum.
KEEL_API std::string_view to_string(Errc code) noexcept;

/// Structured facts about an error, for code that reacts to it (retries, fallbacks) rather
/// than for people: the HTTP status, the provider's error type, Retry-After, retryability.
struct ErrorDetails {
  int http_status = 0;             ///< 0 when no HTTP response was received
  std::string provider_type;       ///< the provider's error type ("rate_limit_error")
  long long retry_after_ms = -1;   ///< from a Retry-After header; -1 when absent
  /// Whether trying again may succeed: set by whoever raised the error; when unset, decided by
  /// is_retryable() from the code and HTTP status.
  int retryable = -1;  ///< -1 unknown, 0 no, 1 yes
};

/// The one exception type keel throws. what() is the message a user can act on; it never
/// contains secrets (API keys, raw PII).
class KEEL_API Error : public std::runtime_error {
 public:
  /// An error with a code and a message (what()).
  Error(Errc code, const std::string& message);
  /// An error that also carries structured details (HTTP status, Retry-After, ...).
  Error(Errc code, const std::string& message, ErrorDetails details);
  /// The error's code.
  Errc code() const noexcept { return code_; }
  /// The structured details; defaults (http_status 0, retry_after_ms -1, retryable -1) when
  /// none were given.
  const ErrorDetails& details() const noexcept { return details_; }

 private:
  Errc code_;
  ErrorDetails details_;
};

/// Whether an operation that failed with `error` is worth trying again: connection failures
/// and timeouts, and HTTP 408, 409, 429 and 5xx; not bad requests, bad configuration,
/// cancellation or an open circuit. ErrorDetails::retryable, when set, decides.
KEEL_API bool is_retryable(const Error& error) noexcept;

/// Converts the exception in flight (inside a catch block) into a keel::Error: keel::Error
/// passes through; std::bad_alloc becomes limit_exceeded; nlohmann parse errors become parse;
/// anything else becomes internal with its message.
KEEL_API Error error_from_current_exception() noexcept;

}  // namespace keel
