#include "llm/sse.hpp"

namespace keel::llm {

bool SseParser::feed(std::string_view bytes) {
  if (stopped_) return false;
  std::size_t i = 0;
  if (skip_lf_ && !bytes.empty()) {
    if (bytes[0] == '\n') i = 1;
    skip_lf_ = false;
  }
  while (i < bytes.size()) {
    auto end = bytes.find_first_of("\r\n", i);
    if (end == std::string_view::npos) {
      pending_.append(bytes.substr(i));
      if (pending_.size() > max_event_bytes_) {
        overflowed_ = stopped_ = true;
        return false;
      }
      return true;
    }
    std::string_view piece = bytes.substr(i, end - i);
    bool ok;
    if (pending_.empty()) {
      ok = line(piece);
    } else {
      pending_.append(piece);
      ok = line(pending_);
      pending_.clear();
    }
    if (!ok) {
      stopped_ = true;
      return false;
    }
    if (bytes[end] == '\r') {
      if (end + 1 < bytes.size()) {
        i = bytes[end + 1] == '\n' ? end + 2 : end + 1;
      } else {
        skip_lf_ = true;
        i = end + 1;
      }
    } else {
      i = end + 1;
    }
  }
  return true;
}

bool SseParser::finish() {
  if (stopped_) return false;
  if (!pending_.empty()) {
    std::string last = std::move(pending_);
    pending_.clear();
    if (!line(last)) return false;
  }
  return dispatch();
}

bool SseParser::line(std::string_view text) {
  if (text.empty()) return dispatch();
  if (text.front() == ':') return true;  // a comment (keep-alive)
  auto colon = text.find(':');
  std::string_view field = text.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = text.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) current_.data += '\n';
    current_.data.append(value);
    has_data_ = true;
    if (current_.data.size() > max_event_bytes_) {
      overflowed_ = true;
      return false;
    }
  } else if (field == "event") {
    current_.event = std::string(value);
  }
  // "id" and "retry" do not matter to a single request's stream.
  return true;
}

bool SseParser::dispatch() {
  if (!has_data_) {
    current_.event.clear();
    return true;
  }
  bool keep_going = on_event_(current_);
  current_ = SseEvent{};
  has_data_ = false;
  return keep_going;
}

}  // namespace keel::llm
