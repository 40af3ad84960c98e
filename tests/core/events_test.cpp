#include <doctest/doctest.h>

#include "keel/events.hpp"

TEST_CASE("an event has type, timestamp and duration") {
  auto before = keel::unix_time_us();
  keel::Json e = keel::make_event("router.route", 42);
  CHECK(e["type"] == "router.route");
  CHECK(e["duration_us"] == 42);
  CHECK(e["ts"].get<std::int64_t>() >= before);
  CHECK(e["ts"].get<std::int64_t>() <= keel::unix_time_us());
}

TEST_CASE("emit delivers to the sink and tolerates none") {
  int received = 0;
  keel::EventSink sink = [&](const keel::Json& e) { received += e["type"] == "x" ? 1 : 0; };
  keel::emit(sink, keel::make_event("x"));
  keel::emit(keel::EventSink{}, keel::make_event("x"));
  CHECK(received == 1);
}

TEST_CASE("a throwing sink does not break the caller") {
  keel::EventSink sink = [](const keel::Json&) { throw std::runtime_error("logger down"); };
  CHECK_NOTHROW(keel::emit(sink, keel::make_event("x")));
}
