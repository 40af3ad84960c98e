#include "keel/events.hpp"

#include <chrono>

namespace keel {

std::int64_t unix_time_us() noexcept {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

Json make_event(std::string_view type, std::int64_t duration_us) {
  Json event = Json::object();
  event["type"] = type;
  event["ts"] = unix_time_us();
  event["duration_us"] = duration_us;
  return event;
}

void emit(const EventSink& sink, const Json& event) noexcept {
  if (!sink) return;
  try {
    sink(event);
  } catch (...) {
    // A host's sink failing must not fail the operation that reported the event.
  }
}

}  // namespace keel
