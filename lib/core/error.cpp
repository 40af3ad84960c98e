#include "keel/error.hpp"

#include <new>

#include <nlohmann/json.hpp>

namespace keel {

std::string_view to_string(Errc code) noexcept {
  switch (code) {
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::invalid_config:
      return "invalid_config";
    case Errc::not_found:
      return "not_found";
    case Errc::io:
      return "io";
    case Errc::timeout:
      return "timeout";
    case Errc::cancelled:
      return "cancelled";
    case Errc::unavailable:
      return "unavailable";
    case Errc::provider:
      return "provider";
    case Errc::tool:
      return "tool";
    case Errc::parse:
      return "parse";
    case Errc::limit_exceeded:
      return "limit_exceeded";
    case Errc::internal:
      return "internal";
  }
  return "unknown";
}

Error::Error(Errc code, const std::string& message) : std::runtime_error(message), code_(code) {}

Error::Error(Errc code, const std::string& message, ErrorDetails details)
    : std::runtime_error(message), code_(code), details_(std::move(details)) {}

bool is_retryable(const Error& error) noexcept {
  const ErrorDetails& d = error.details();
  if (d.retryable >= 0) return d.retryable == 1;
  switch (error.code()) {
    case Errc::timeout:
    case Errc::io: return true;
    case Errc::unavailable: return d.http_status != 0 || d.provider_type == "connect";
    case Errc::provider: {
      int s = d.http_status;
      return s == 408 || s == 409 || s == 429 || s >= 500;
    }
    default: return false;
  }
}

namespace {
// nlohmann prefixes messages with "[json.exception.type_error.302] "; users need only the rest.
std::string strip_nlohmann_prefix(const char* what) {
  std::string_view text(what);
  if (text.starts_with("[json.exception.")) {
    auto close = text.find("] ");
    if (close != std::string_view::npos) text.remove_prefix(close + 2);
  }
  return std::string(text);
}
}  // namespace

Error error_from_current_exception() noexcept {
  try {
    try {
      throw;
    } catch (const Error& e) {
      return e;
    } catch (const std::bad_alloc&) {
      return Error(Errc::limit_exceeded, "out of memory");
    } catch (const nlohmann::json::parse_error& e) {
      return Error(Errc::parse, strip_nlohmann_prefix(e.what()));
    } catch (const nlohmann::json::exception& e) {
      return Error(Errc::invalid_argument, strip_nlohmann_prefix(e.what()));
    } catch (const std::exception& e) {
      return Error(Errc::internal, std::string("unexpected error: ") + e.what());
    } catch (...) {
      return Error(Errc::internal, "unexpected non-standard exception");
    }
  } catch (...) {
    // Building the message itself failed (out of memory): a static message is all we can do.
    return Error(Errc::limit_exceeded, "out of memory");
  }
}

}  // namespace keel
