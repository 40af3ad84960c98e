#include <doctest/doctest.h>

#include "llm/sse.hpp"

using keel::llm::SseEvent;
using keel::llm::SseParser;

namespace {
std::vector<SseEvent> parse_in_pieces(const std::string& stream, std::size_t piece) {
  std::vector<SseEvent> events;
  SseParser parser([&](const SseEvent& e) {
    events.push_back(e);
    return true;
  });
  for (std::size_t i = 0; i < stream.size(); i += piece) parser.feed(std::string_view(stream).substr(i, piece));
  parser.finish();
  return events;
}
}  // namespace

TEST_CASE("events are parsed whatever the chunk boundaries") {
  std::string stream =
      ": keep-alive\r\nevent: message_start\r\ndata: {\"a\":1}\r\n\r\n"
      "data: line one\ndata: line two\n\n"
      "event: ping\rdata: {}\r\r"
      "data: [DONE]\n\n";
  for (std::size_t piece = 1; piece <= stream.size(); ++piece) {
    auto events = parse_in_pieces(stream, piece);
    INFO("piece size " << piece);
    REQUIRE(events.size() == 4);
    CHECK(events[0].event == "message_start");
    CHECK(events[0].data == "{\"a\":1}");
    CHECK(events[1].data == "line one\nline two");
    CHECK(events[2].event == "ping");
    CHECK(events[3].data == "[DONE]");
  }
}

TEST_CASE("a final event without a blank line is dispatched at the end") {
  auto events = parse_in_pieces("data: last", 3);
  REQUIRE(events.size() == 1);
  CHECK(events[0].data == "last");
}

TEST_CASE("an oversized event stops the parser") {
  SseParser parser([](const SseEvent&) { return true; }, 16);
  CHECK_FALSE(parser.feed("data: " + std::string(100, 'x')));
  CHECK(parser.overflowed());
}

TEST_CASE("the handler can stop the stream") {
  int seen = 0;
  SseParser parser([&](const SseEvent&) { return ++seen < 2; });
  CHECK_FALSE(parser.feed("data: 1\n\ndata: 2\n\ndata: 3\n\n"));
  CHECK(seen == 2);
}
