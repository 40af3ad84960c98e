/// \file
/// Structured events: components report what they did (JSON with `type`, `ts`, `duration_us` and
/// component-specific fields) to an optional sink the host provides for logging or tracing.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "keel/export.hpp"
#include "keel/json.hpp"

namespace keel {

/// Receives events. May be called from any of keel's threads, concurrently; keep it fast.
/// Events never contain secrets (API keys, raw PII when redaction is on).
using EventSink = std::function<void(const Json& event)>;

/// Microseconds since the Unix epoch (the `ts` field of events).
KEEL_API std::int64_t unix_time_us() noexcept;

/// A new event: {"type": type, "ts": now, "duration_us": duration_us}. Add fields to it.
KEEL_API Json make_event(std::string_view type, std::int64_t duration_us = 0);

/// Delivers an event to a sink if there is one; an exception from the sink is swallowed so a
/// faulty logger cannot break the operation that reported.
KEEL_API void emit(const EventSink& sink, const Json& event) noexcept;

}  // namespace keel
