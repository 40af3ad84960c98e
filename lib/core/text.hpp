// Internal: small text helpers shared by components.
#pragma once

#include <cstddef>
#include <string>

namespace keel::detail {

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
