#include "firewall/detectors.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace keel::firewall {

namespace {

constexpr std::size_t min_base64 = 16;  // shorter runs are words, ids, hashes
constexpr std::size_t min_hex = 16;

constexpr std::array<std::int8_t, 256> make_base64_values() {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = static_cast<std::int8_t>(c - 'A');
  for (int c = 'a'; c <= 'z'; ++c) t[c] = static_cast<std::int8_t>(c - 'a' + 26);
  for (int c = '0'; c <= '9'; ++c) t[c] = static_cast<std::int8_t>(c - '0' + 52);
  t['+'] = 62;
  t['/'] = 63;
  t['-'] = 62;  // URL-safe alphabet
  t['_'] = 63;
  return t;
}
constexpr auto base64_values = make_base64_values();

inline int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool decode_base64(std::string_view run, std::string& out) {
  out.clear();
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char ch : run) {
    if (ch == '=') break;
    int v = base64_values[static_cast<unsigned char>(ch)];
    if (v < 0) return false;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return !out.empty();
}

bool decode_hex_digits(std::string_view digits, std::string& out) {
  out.clear();
  if (digits.size() % 2) digits.remove_suffix(1);
  for (std::size_t i = 0; i + 1 < digits.size(); i += 2) {
    int hi = hex_value(static_cast<unsigned char>(digits[i]));
    int lo = hex_value(static_cast<unsigned char>(digits[i + 1]));
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return !out.empty();
}

// Percent-decoding; returns the number of %XX escapes seen.
std::size_t decode_url(std::string_view run, std::string& out) {
  out.clear();
  std::size_t escapes = 0;
  for (std::size_t i = 0; i < run.size(); ++i) {
    if (run[i] == '%' && i + 2 < run.size()) {
      int hi = hex_value(static_cast<unsigned char>(run[i + 1]));
      int lo = hex_value(static_cast<unsigned char>(run[i + 2]));
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        escapes++;
        continue;
      }
    }
    out.push_back(run[i] == '+' ? ' ' : run[i]);
  }
  return escapes;
}

inline bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::uint64_t fnv1a(std::string_view text, std::uint64_t hash = 1469598103934665603ULL) {
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

// Words of the text view: [start, end) byte ranges of runs of letters and digits.
void words_of(std::string_view text, std::vector<Span>& out) {
  out.clear();
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !(std::isalnum(static_cast<unsigned char>(text[i])) ||
                                static_cast<unsigned char>(text[i]) >= 0x80)) {
      ++i;
    }
    std::size_t start = i;
    while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) ||
                               static_cast<unsigned char>(text[i]) >= 0x80)) {
      ++i;
    }
    if (i > start) out.push_back({start, i});
  }
}

std::uint64_t shingle_hash(std::string_view text, const std::vector<Span>& words, std::size_t first,
                           std::size_t count) {
  std::uint64_t hash = 1469598103934665603ULL;
  for (std::size_t k = first; k < first + count; ++k) {
    hash = fnv1a(text.substr(words[k].start, words[k].end - words[k].start), hash);
    hash = fnv1a(" ", hash);
  }
  return hash;
}

}  // namespace

bool is_readable(std::string_view decoded, bool require_space) {
  if (decoded.size() < 8) return false;
  std::size_t printable = 0, total = 0, spaces = 0, letters = 0;
  std::size_t i = 0;
  while (i < decoded.size()) {
    unsigned char c = static_cast<unsigned char>(decoded[i]);
    total++;
    if (c < 0x80) {
      if (c >= 0x20 && c < 0x7F) printable++;
      else if (c == '\n' || c == '\r' || c == '\t') printable++, spaces++;
      if (c == ' ') spaces++;
      if (std::isalpha(c)) letters++;
      ++i;
      continue;
    }
    utf8proc_int32_t cp = 0;
    auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(decoded.data() + i),
                              static_cast<utf8proc_ssize_t>(decoded.size() - i), &cp);
    if (n <= 0) return false;  // not UTF-8: binary data, not hidden text
    auto category = utf8proc_category(cp);
    if (category != UTF8PROC_CATEGORY_CC && category != UTF8PROC_CATEGORY_CN &&
        category != UTF8PROC_CATEGORY_CO && category != UTF8PROC_CATEGORY_CS) {
      printable++;
      if (category <= UTF8PROC_CATEGORY_LO) letters++;
    }
    i += static_cast<std::size_t>(n);
  }
  if (printable * 100 < total * 95) return false;
  if (letters * 2 < total) return false;
  return !require_space || spaces > 0;
}

void find_encoded_segments(std::string_view text, std::vector<EncodedSegment>& out,
                           std::size_t& budget) {
  std::string decoded;
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n && budget > 0) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    // \xHH\xHH... escapes
    if (c == '\\' && i + 3 < n && text[i + 1] == 'x') {
      std::size_t j = i;
      std::string bytes;
      while (j + 3 < n && text[j] == '\\' && text[j + 1] == 'x' &&
             hex_value(static_cast<unsigned char>(text[j + 2])) >= 0 &&
             hex_value(static_cast<unsigned char>(text[j + 3])) >= 0) {
        bytes.push_back(static_cast<char>(hex_value(static_cast<unsigned char>(text[j + 2])) * 16 +
                                          hex_value(static_cast<unsigned char>(text[j + 3]))));
        j += 4;
      }
      if (bytes.size() >= 8 && is_readable(bytes, false)) {
        budget -= std::min(budget, bytes.size());
        out.push_back({{i, j}, std::move(bytes), "hex"});
      }
      i = j > i ? j : i + 1;
      continue;
    }
    if (is_space(c)) {
      ++i;
      continue;
    }
    // A run of non-space characters: a token that may be base64, hex or percent-encoded.
    std::size_t start = i;
    while (i < n && !is_space(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view token = text.substr(start, i - start);
    // Space-separated hex pairs ("69 67 6e 6f 72 65 ..."): at least 8 pairs in a row.
    if (token.size() == 2 && hex_value(static_cast<unsigned char>(token[0])) >= 0 &&
        hex_value(static_cast<unsigned char>(token[1])) >= 0) {
      std::size_t j = start;
      std::string digits;
      while (j + 1 < n && hex_value(static_cast<unsigned char>(text[j])) >= 0 &&
             hex_value(static_cast<unsigned char>(text[j + 1])) >= 0 &&
             (j + 2 == n || text[j + 2] == ' ')) {
        digits.append(text.substr(j, 2));
        j += 3;
      }
      std::size_t run_end = std::min(j - 1, n);
      if (digits.size() >= 16 && decode_hex_digits(digits, decoded) && is_readable(decoded, true)) {
        budget -= std::min(budget, decoded.size());
        out.push_back({{start, run_end}, decoded, "hex"});
        i = run_end;
      }
      continue;
    }
    // Ordinary words are short: only long tokens can be base64/hex, and percent-encoding needs
    // a '%'. Most tokens stop here.
    if (token.size() < 8) continue;
    if (token.size() < min_base64 && token.find('%') == std::string_view::npos) continue;

    if (token.find('%') != std::string_view::npos) {
      std::size_t escapes = decode_url(token, decoded);
      if (escapes >= 3 && is_readable(decoded, false)) {
        budget -= std::min(budget, decoded.size());
        out.push_back({{start, i}, decoded, "url"});
        continue;
      }
    }
    // Trim punctuation around a base64/hex body ("(aGVsbG8=)", quotes, trailing dots).
    std::size_t body_start = 0, body_end = token.size();
    while (body_start < body_end && base64_values[static_cast<unsigned char>(token[body_start])] < 0) {
      ++body_start;
    }
    while (body_end > body_start &&
           base64_values[static_cast<unsigned char>(token[body_end - 1])] < 0 &&
           token[body_end - 1] != '=') {
      --body_end;
    }
    std::string_view body = token.substr(body_start, body_end - body_start);
    bool all_hex = !body.empty() && std::all_of(body.begin(), body.end(), [](char ch) {
      return hex_value(static_cast<unsigned char>(ch)) >= 0;
    });
    Span span{start + body_start, start + body_end};
    if (all_hex && body.size() >= min_hex) {
      if (decode_hex_digits(body, decoded) && is_readable(decoded, false)) {
        budget -= std::min(budget, decoded.size());
        out.push_back({span, decoded, "hex"});
      }
      continue;
    }
    if (body.size() >= min_base64 &&
        std::all_of(body.begin(), body.end(), [](char ch) {
          return ch == '=' || base64_values[static_cast<unsigned char>(ch)] >= 0;
        })) {
      std::string_view chunk = body.substr(0, std::min(body.size(), budget * 4 / 3 + 4));
      if (decode_base64(chunk, decoded) && is_readable(decoded, false)) {
        budget -= std::min(budget, decoded.size());
        out.push_back({span, decoded, "base64"});
      }
    }
  }
}

void rot13(std::string_view in, std::string& out) {
  out.resize(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>('a' + (c - 'a' + 13) % 26);
    else if (c >= 'A' && c <= 'Z') c = static_cast<char>('A' + (c - 'A' + 13) % 26);
    out[i] = c;
  }
}

LeakDetector::LeakDetector(std::vector<std::string> canaries, std::string_view system_prompt)
    : canaries_(std::move(canaries)) {
  Normalised norm;
  for (const auto& canary : canaries_) {
    normalise(canary, norm);
    folded_canaries_.push_back(norm.text);
  }
  if (!system_prompt.empty()) {
    normalise(system_prompt, norm);
    std::vector<Span> words;
    words_of(norm.text, words);
    for (std::size_t k = 0; k + shingle_words <= words.size(); ++k) {
      shingles_.insert(shingle_hash(norm.text, words, k, shingle_words));
    }
  }
}

void LeakDetector::canaries(std::string_view original, const Normalised& norm,
                            std::vector<Span>& out) const {
  for (std::size_t c = 0; c < canaries_.size(); ++c) {
    const std::string& canary = canaries_[c];
    if (canary.empty()) continue;
    bool found_raw = false;
    for (auto at = original.find(canary); at != std::string_view::npos;
         at = original.find(canary, at + 1)) {
      out.push_back({at, at + canary.size()});
      found_raw = true;
    }
    if (found_raw) continue;
    // The same token with changed case, spacing or look-alike letters.
    const std::string& folded = folded_canaries_[c];
    if (folded.empty()) continue;
    for (auto at = norm.text.find(folded); at != std::string::npos;
         at = norm.text.find(folded, at + 1)) {
      out.push_back(norm.to_original(at, at + folded.size(), original));
    }
  }
}

void LeakDetector::system_prompt(std::string_view original, const Normalised& norm,
                                 std::vector<Span>& out) const {
  if (shingles_.empty()) return;
  std::vector<Span> words;
  words_of(norm.text, words);
  if (words.size() < shingle_words) return;
  std::size_t run_start = 0, run_end = 0;  // word indices of the current leaked run
  bool in_run = false;
  for (std::size_t k = 0; k + shingle_words <= words.size(); ++k) {
    if (shingles_.count(shingle_hash(norm.text, words, k, shingle_words))) {
      if (in_run && k <= run_end) {
        run_end = k + shingle_words;
      } else {
        if (in_run) {
          out.push_back(norm.to_original(words[run_start].start, words[run_end - 1].end, original));
        }
        in_run = true;
        run_start = k;
        run_end = k + shingle_words;
      }
    }
  }
  if (in_run) out.push_back(norm.to_original(words[run_start].start, words[run_end - 1].end, original));
}

}  // namespace keel::firewall
