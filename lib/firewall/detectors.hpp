// Internal: detectors that are code rather than patterns — encoded payloads to decode and scan
// again, and leaks of canary tokens or the system prompt in model output.
#pragma once

#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "firewall/normaliser.hpp"

namespace keel::firewall {

/// A segment of the text that decodes to readable text.
struct EncodedSegment {
  Span span;             // original byte offsets of the encoded segment
  std::string decoded;
  std::string_view encoding;  // "base64", "hex", "url"
};

/// Finds base64, hex and URL-encoded segments that decode to readable text. Decodes at most
/// `budget` bytes in all (decremented), so a huge input costs linear time at most.
void find_encoded_segments(std::string_view text, std::vector<EncodedSegment>& out,
                           std::size_t& budget);

/// Whether decoded bytes look like text a model would read: valid UTF-8, mostly printable.
bool is_readable(std::string_view decoded, bool require_space);

/// ROT13 of ASCII letters; everything else unchanged (same length, so offsets carry over).
void rot13(std::string_view in, std::string& out);

/// Finds canary tokens and repeated runs of the system prompt in (normalised) output.
class LeakDetector {
 public:
  LeakDetector() = default;
  LeakDetector(std::vector<std::string> canaries, std::string_view system_prompt);

  bool empty() const noexcept { return canaries_.empty() && shingles_.empty(); }
  /// Spans (original offsets) of canary tokens.
  void canaries(std::string_view original, const Normalised& norm, std::vector<Span>& out) const;
  /// Spans (original offsets) where 8 or more consecutive words of the system prompt appear.
  void system_prompt(std::string_view original, const Normalised& norm,
                     std::vector<Span>& out) const;

  static constexpr std::size_t shingle_words = 8;

 private:
  std::vector<std::string> canaries_;          // as configured
  std::vector<std::string> folded_canaries_;   // as they read in the text view
  std::unordered_set<std::uint64_t> shingles_;  // hashes of 8-word windows of the prompt
};

}  // namespace keel::firewall
