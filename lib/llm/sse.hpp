// Internal: an incremental parser for Server-Sent Events (text/event-stream), as both OpenAI
// and Anthropic stream. Bytes go in as they arrive; complete events come out.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace keel::llm {

struct SseEvent {
  std::string event;  // the "event:" field ("" when absent: the default "message")
  std::string data;   // the "data:" lines joined with "\n"
};

class SseParser {
 public:
  /// `on_event` returns false to stop parsing (the rest of the stream is ignored).
  explicit SseParser(std::function<bool(const SseEvent&)> on_event,
                     std::size_t max_event_bytes = 8 << 20)
      : on_event_(std::move(on_event)), max_event_bytes_(max_event_bytes) {}

  /// Feeds bytes; false when parsing stopped (handler said so, or an event exceeded the size
  /// limit — then overflowed() is true).
  bool feed(std::string_view bytes);
  /// Ends the stream: dispatches a last event not followed by a blank line.
  bool finish();
  bool overflowed() const noexcept { return overflowed_; }

 private:
  bool line(std::string_view text);
  bool dispatch();

  std::function<bool(const SseEvent&)> on_event_;
  std::size_t max_event_bytes_;
  std::string pending_;  // an incomplete line
  SseEvent current_;
  bool has_data_ = false;
  bool skip_lf_ = false;  // a '\r' ended the last chunk; a '\n' may follow
  bool stopped_ = false;
  bool overflowed_ = false;
};

}  // namespace keel::llm
