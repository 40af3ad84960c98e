// Internal: small text helpers shared by components.
#pragma once

#include <cstddef>
#include <string>

namespace keel::detail {

/// Appends code point `cp` (at most U+10FFFF) encoded as UTF-8.
inline void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

/// `text` cut to at most `limit` bytes without splitting a UTF-8 sequence, followed by
/// "<separator>[cut: K of N bytes]" when it was cut; unchanged when it fits.
inline std::string cut_utf8(std::string text, std::size_t limit, const char* separator = " ") {
  if (text.size() <= limit) return text;
  std::size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  std::string note = std::string(separator) + "[cut: " + std::to_string(end) + " of " +
                     std::to_string(text.size()) + " bytes]";
  text.resize(end);
  return text + note;
}

}  // namespace keel::detail
