#include "firewall/normaliser.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <array>

namespace keel::firewall {

namespace {

constexpr std::array<char, 128> make_lower() {
  std::array<char, 128> table{};
  for (int c = 0; c < 128; ++c) table[c] = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  return table;
}
constexpr auto lower_table = make_lower();

constexpr std::array<char, 256> make_leet() {
  std::array<char, 256> table{};
  for (int c = 0; c < 256; ++c) table[c] = static_cast<char>(c);
  table['0'] = 'o';
  table['1'] = 'i';
  table['3'] = 'e';
  table['4'] = 'a';
  table['5'] = 's';
  table['7'] = 't';
  table['@'] = 'a';
  table['$'] = 's';
  return table;
}
constexpr auto leet_table = make_leet();

inline bool is_ascii_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
inline bool is_ascii_alnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Look-alikes of Latin letters in other scripts (Unicode confusables, the common subset), mapped
// before case folding so capitals and small letters each fold to what they resemble.
struct Confusable {
  std::int32_t codepoint;
  char latin;
};
constexpr Confusable confusables[] = {
    {0x0251, 'a'}, {0x0261, 'g'}, {0x026A, 'i'}, {0x0391, 'a'}, {0x0392, 'b'}, {0x0395, 'e'},
    {0x0396, 'z'}, {0x0397, 'h'}, {0x0399, 'i'}, {0x039A, 'k'}, {0x039C, 'm'}, {0x039D, 'n'},
    {0x039F, 'o'}, {0x03A1, 'p'}, {0x03A4, 't'}, {0x03A5, 'y'}, {0x03A7, 'x'}, {0x03B1, 'a'},
    {0x03B2, 'b'}, {0x03B3, 'y'}, {0x03B5, 'e'}, {0x03B9, 'i'}, {0x03BA, 'k'}, {0x03BD, 'v'},
    {0x03BF, 'o'}, {0x03C1, 'p'}, {0x03C4, 't'}, {0x03C5, 'u'}, {0x03C7, 'x'}, {0x03C9, 'w'},
    {0x0405, 's'}, {0x0406, 'i'}, {0x0408, 'j'}, {0x0410, 'a'}, {0x0412, 'b'}, {0x0415, 'e'},
    {0x041A, 'k'}, {0x041C, 'm'}, {0x041D, 'h'}, {0x041E, 'o'}, {0x0420, 'p'}, {0x0421, 'c'},
    {0x0422, 't'}, {0x0423, 'y'}, {0x0425, 'x'}, {0x0430, 'a'}, {0x0433, 'r'}, {0x0435, 'e'},
    {0x043A, 'k'}, {0x043C, 'm'}, {0x043E, 'o'}, {0x0440, 'p'}, {0x0441, 'c'}, {0x0442, 't'},
    {0x0443, 'y'}, {0x0445, 'x'}, {0x0455, 's'}, {0x0456, 'i'}, {0x0458, 'j'}, {0x04AE, 'y'},
    {0x04AF, 'y'}, {0x04BB, 'h'}, {0x04C0, 'i'}, {0x04CF, 'l'}, {0x0501, 'd'}, {0x051B, 'q'},
    {0x051D, 'w'}, {0x0585, 'o'}, {0x1D00, 'a'}, {0x1D04, 'c'}, {0x1D0F, 'o'}, {0x1D1C, 'u'},
    {0x1D20, 'v'}, {0x1D21, 'w'}, {0x1D22, 'z'},
};

char confusable_latin(std::int32_t cp) {
  auto it = std::lower_bound(std::begin(confusables), std::end(confusables), cp,
                             [](const Confusable& c, std::int32_t v) { return c.codepoint < v; });
  return it != std::end(confusables) && it->codepoint == cp ? it->latin : '\0';
}

enum class Script { none, latin, other_lookalike_capable, other };

Script script_of(std::int32_t cp) {
  if (cp < 0x80) return is_ascii_alnum(static_cast<unsigned char>(cp)) ? Script::latin : Script::none;
  if ((cp >= 0x00C0 && cp <= 0x024F) || (cp >= 0x1E00 && cp <= 0x1EFF)) return Script::latin;
  if ((cp >= 0x0370 && cp <= 0x03FF) || (cp >= 0x0400 && cp <= 0x052F)) {
    return Script::other_lookalike_capable;
  }
  return Script::other;
}

enum class Invisible { none, zero_width, bidi_control, bidi_mark, tag, selector };

Invisible invisible_kind(std::int32_t cp) {
  if (cp >= 0x200B && cp <= 0x200D) return Invisible::zero_width;
  if (cp == 0x2060 || (cp >= 0x2061 && cp <= 0x2064) || cp == 0xFEFF || cp == 0x180E ||
      cp == 0x00AD || cp == 0x034F || cp == 0x115F || cp == 0x1160 || cp == 0x3164 ||
      cp == 0xFFA0) {
    return Invisible::zero_width;
  }
  if ((cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069)) return Invisible::bidi_control;
  if (cp == 0x200E || cp == 0x200F || cp == 0x061C) return Invisible::bidi_mark;
  if (cp >= 0xE0000 && cp <= 0xE007F) return Invisible::tag;
  if ((cp >= 0xFE00 && cp <= 0xFE0F) || (cp >= 0xE0100 && cp <= 0xE01EF)) return Invisible::selector;
  return Invisible::none;
}

// Decodes one character; invalid UTF-8 is U+FFFD over one byte.
inline std::int32_t decode(std::string_view text, std::size_t at, std::size_t& length) {
  utf8proc_int32_t cp = 0;
  auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + at),
                            static_cast<utf8proc_ssize_t>(text.size() - at), &cp);
  if (n <= 0) {
    length = 1;
    return 0xFFFD;
  }
  length = static_cast<std::size_t>(n);
  return cp;
}

// Mixed-script words: a word (letters and digits) with Latin letters and look-alikes from
// another script. A separate pass, run only when a look-alike was seen, keeps the common path lean.
void find_mixed_script_words(std::string_view in, std::vector<Span>& out) {
  std::size_t i = 0, word_start = 0, word_end = 0, length = 0;
  bool in_word = false, latin = false, lookalike = false;
  auto end_word = [&] {
    if (in_word && latin && lookalike && length >= 3) out.push_back({word_start, word_end});
    in_word = latin = lookalike = false;
    length = 0;
  };
  while (i < in.size()) {
    std::size_t char_length = 1;
    std::int32_t cp = static_cast<unsigned char>(in[i]) < 0x80 ? in[i] : decode(in, i, char_length);
    bool is_lookalike = cp >= 0x80 && confusable_latin(cp) != '\0';
    Script script = script_of(cp);
    bool letter = script != Script::none &&
                  (cp < 0x80 || is_lookalike || utf8proc_category(cp) <= UTF8PROC_CATEGORY_LO ||
                   utf8proc_category(cp) == UTF8PROC_CATEGORY_MN);
    if (invisible_kind(cp) != Invisible::none) {
      i += char_length;  // invisible characters do not split a word
      continue;
    }
    if (!letter) {
      end_word();
    } else {
      if (!in_word) {
        in_word = true;
        word_start = i;
      }
      word_end = i + char_length;
      length++;
      latin = latin || script == Script::latin;
      lookalike = lookalike || is_lookalike;
    }
    i += char_length;
  }
  end_word();
}

class Builder {
 public:
  Builder(std::string_view input, Normalised& out) : in_(input), out_(out) {}

  void run() {
    const std::size_t n = in_.size();
    // The views of ASCII text are never longer than the input; non-ASCII expansions grow the
    // buffers on demand (reserve()).
    out_.text.resize(n + 16);
    out_.origin.resize(n + 16);
    text_ = out_.text.data();
    origin_ = out_.origin.data();
    std::size_t i = 0;
    while (i < n) {
      // The common path: a tight loop over ASCII bytes.
      while (i < n) {
        unsigned char c = static_cast<unsigned char>(in_[i]);
        if (c >= 0x80) break;
        if (is_ascii_space(c)) {
          space(i, c == '\n' || c == '\r' || c == '\f' || c == '\v');
        } else {
          if (in_space_) flush_space();
          text_[j_] = lower_table[c];
          origin_[j_] = static_cast<std::uint32_t>(i);
          ++j_;
          last_emitted_alnum_ = is_ascii_alnum(c);
          if (open_run_) close_invisible_run();
        }
        ++i;
      }
      if (i >= n) break;
      out_.ascii = false;
      std::size_t length = 1;
      std::int32_t cp = decode(in_, i, length);
      Invisible kind = invisible_kind(cp);
      if (kind != Invisible::none) {
        invisible(kind, cp, i, length);
      } else if (char latin = confusable_latin(cp)) {
        saw_lookalike_ = true;
        emit_ascii(latin, i);
      } else {
        decompose(cp, i);
      }
      i += length;
    }
    flush_space();
    close_invisible_run();
    out_.text.resize(j_);
    out_.origin.resize(j_);
    if (saw_lookalike_) find_mixed_script_words(in_, out_.mixed_script_words);
  }

 private:
  void reserve(std::size_t extra) {
    if (j_ + extra <= out_.text.size()) return;
    std::size_t size = std::max(out_.text.size() * 2, j_ + extra + 16);
    out_.text.resize(size);
    out_.origin.resize(size);
    text_ = out_.text.data();
    origin_ = out_.origin.data();
  }

  void put(char c, std::size_t at) {
    reserve(1);
    text_[j_] = c;
    origin_[j_] = static_cast<std::uint32_t>(at);
    ++j_;
  }

  void emit_ascii(char c, std::size_t at) {
    flush_space();
    last_emitted_alnum_ = is_ascii_alnum(static_cast<unsigned char>(c));
    put(c, at);
    close_invisible_run();
  }

  void space(std::size_t at, bool line_break) {
    if (!in_space_) {
      in_space_ = true;
      space_start_ = at;
    }
    space_has_break_ = space_has_break_ || line_break;
    last_emitted_alnum_ = false;
    close_invisible_run();
  }

  void flush_space() {
    if (!in_space_) return;
    put(space_has_break_ ? '\n' : ' ', space_start_);
    in_space_ = false;
    space_has_break_ = false;
  }

  void decompose(std::int32_t cp, std::size_t at) {
    utf8proc_int32_t buffer[32];
    int boundclass = UTF8PROC_BOUNDCLASS_START;
    auto options = static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT |
                                                  UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK);
    auto n = utf8proc_decompose_char(cp, buffer, 32, options, &boundclass);
    if (n < 0 || n > 32) {  // cannot happen for valid code points; keep the character as it is
      buffer[0] = cp;
      n = 1;
    }
    for (utf8proc_ssize_t k = 0; k < n; ++k) {
      std::int32_t d = buffer[k];
      auto category = utf8proc_category(d);
      if (d == ' ' || d == 0x2028 || d == 0x2029 || d == 0x85 || category == UTF8PROC_CATEGORY_ZS) {
        space(at, d != ' ' && category != UTF8PROC_CATEGORY_ZS);
        continue;
      }
      if (d < 0x80) {
        emit_ascii(lower_table[d], at);
        continue;
      }
      flush_space();
      utf8proc_uint8_t bytes[4];
      auto count = utf8proc_encode_char(d, bytes);
      for (utf8proc_ssize_t b = 0; b < count; ++b) put(static_cast<char>(bytes[b]), at);
      last_emitted_alnum_ = false;
      close_invisible_run();
    }
  }

  // Invisible characters are removed from the views. They are findings when they hide
  // something: tag characters always (they can spell text), bidi controls always, zero-width
  // characters and bidi marks only inside a Latin word (where they split a keyword; elsewhere
  // they occur legitimately, as ZWJ in emoji or ZWNJ in Persian).
  void invisible(Invisible kind, std::int32_t cp, std::size_t at, std::size_t length) {
    if (kind == Invisible::selector) return;
    InvisibleRun::Kind run_kind = InvisibleRun::Kind::zero_width;
    bool report = false;
    switch (kind) {
      case Invisible::tag:
        run_kind = InvisibleRun::Kind::tag;
        report = true;
        break;
      case Invisible::bidi_control:
        run_kind = InvisibleRun::Kind::bidi;
        report = true;
        break;
      case Invisible::bidi_mark:
      case Invisible::zero_width:
        run_kind = kind == Invisible::bidi_mark ? InvisibleRun::Kind::bidi
                                                : InvisibleRun::Kind::zero_width;
        report = !in_space_ && last_emitted_alnum_ && next_visible_is_alnum(at + length);
        break;
      default: break;
    }
    if (!report) return;
    if (open_run_ && open_run_->kind == run_kind && open_run_->span.end == at) {
      open_run_->span.end = at + length;
      open_run_->count++;
    } else {
      close_invisible_run();
      pending_ = InvisibleRun{run_kind, {at, at + length}, 1, {}};
      open_run_ = &pending_;
    }
    if (run_kind == InvisibleRun::Kind::tag && cp >= 0xE0020 && cp <= 0xE007E) {
      open_run_->decoded.push_back(static_cast<char>(cp - 0xE0000));
    }
  }

  bool next_visible_is_alnum(std::size_t at) const {
    while (at < in_.size()) {
      unsigned char c = static_cast<unsigned char>(in_[at]);
      if (c < 0x80) return is_ascii_alnum(c);
      std::size_t length = 1;
      std::int32_t cp = decode(in_, at, length);
      if (invisible_kind(cp) == Invisible::none) {
        return confusable_latin(cp) != '\0' || script_of(cp) == Script::latin;
      }
      at += length;
    }
    return false;
  }

  void close_invisible_run() {
    if (!open_run_) return;
    out_.invisible.push_back(std::move(pending_));
    open_run_ = nullptr;
  }

  std::string_view in_;
  Normalised& out_;
  char* text_ = nullptr;
  std::uint32_t* origin_ = nullptr;
  std::size_t j_ = 0;
  bool in_space_ = false, space_has_break_ = false;
  std::size_t space_start_ = 0;
  bool last_emitted_alnum_ = false;
  bool saw_lookalike_ = false;
  InvisibleRun pending_{InvisibleRun::Kind::zero_width, {}, 0, {}};
  InvisibleRun* open_run_ = nullptr;
};

}  // namespace

char fold_leet(char c) noexcept { return leet_table[static_cast<unsigned char>(c)]; }

std::size_t utf8_char_length(std::string_view text, std::size_t at) noexcept {
  if (at >= text.size()) return 0;
  if (static_cast<unsigned char>(text[at]) < 0x80) return 1;
  std::size_t length = 1;
  (void)decode(text, at, length);
  return length;
}

Span Normalised::to_original(std::size_t start, std::size_t end, std::string_view original) const {
  if (start >= origin.size() || end <= start) return {original.size(), original.size()};
  end = std::min(end, origin.size());
  std::size_t last = origin[end - 1];
  return {origin[start], last + utf8_char_length(original, last)};
}

void normalise(std::string_view input, Normalised& out) {
  out.text.clear();
  out.keyword.clear();
  out.origin.clear();
  out.invisible.clear();
  out.mixed_script_words.clear();
  out.ascii = true;
  out.text.reserve(input.size() + 8);
  out.origin.reserve(input.size() + 8);
  Builder(input, out).run();
  out.keyword.resize(out.text.size());
  std::transform(out.text.begin(), out.text.end(), out.keyword.begin(), fold_leet);
}

}  // namespace keel::firewall
