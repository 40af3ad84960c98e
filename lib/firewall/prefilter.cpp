#include "firewall/prefilter.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "core/text.hpp"

namespace keel::firewall {

namespace {

// How large a finite set of strings grows (by alternation and concatenation) before it is
// turned into a clause, and how many bytes of an atom are kept (a prefix of a required string
// is required too, and shorter atoms keep the automaton small).
constexpr std::size_t max_exact_product = 32;
constexpr std::size_t max_exact_strings = 64;
constexpr std::size_t max_atom_bytes = 10;
// A clause of more atoms than this holds for too many texts to be worth its automaton states;
// nesting deeper than this is not analysed (RE2 itself allows 1,000 levels).
constexpr std::size_t max_clause_atoms = 256;
constexpr int max_depth = 64;

// What a piece of a pattern can match, as RE2's own prefilter models it: either exactly one of
// a few strings, or anything containing, for every clause, one of the clause's strings.
struct Info {
  bool exact = false;
  std::set<std::string> strings;
  std::vector<std::set<std::string>> clauses;

  static Info any() { return {}; }
  static Info literal(std::string s) {
    Info info;
    info.exact = true;
    info.strings.insert(std::move(s));
    return info;
  }
};

// Syntax the analysis does not model: the pattern then gets no requirement at all.
struct Unsupported {};

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

std::size_t characters(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += is_continuation(c) ? 0 : 1;
  return n;
}

// Symbols rare enough in prose that even one of them is a useful atom.
bool has_rare_symbol(std::string_view s) {
  return s.find_first_of("@#$%^&*_=+{}[]|\\<>`~;:") != std::string_view::npos;
}

// Words so common in prompts that a clause holding one of them holds for nearly any text (an
// atom is found inside longer words too: "the" in "other"). Lower case, sorted.
constexpr std::string_view common_words[] = {
    "about", "all", "also", "and", "any", "are", "can", "das", "del", "der", "des", "die", "ein",
    "est", "for", "from", "get", "had", "has", "have", "her", "his", "how", "ich", "ist", "its",
    "les", "los", "mit", "not", "now", "one", "our", "out", "par", "pas", "por", "que", "qui",
    "see", "she", "sie", "that", "the", "them", "then", "there", "they", "this", "und", "une",
    "use", "was", "way", "what", "who", "will", "with", "you"};

// Two-letter words of the catalogue's languages (English, French, Spanish, German, Italian,
// Portuguese) common enough to be in nearly any text of theirs. Sorted.
constexpr std::string_view common_short_words[] = {
    "ab", "ad", "ai", "al", "am", "an", "ao", "as", "at", "au", "be", "by", "ce", "da", "de",
    "di", "do", "du", "ed", "el", "em", "en", "er", "es", "et", "eu", "go", "ha", "he", "if",
    "il", "im", "in", "ir", "is", "it", "ja", "je", "la", "le", "lo", "ma", "me", "mi", "my",
    "na", "ne", "ni", "no", "ob", "of", "oh", "ok", "on", "or", "os", "ou", "sa", "se", "si",
    "so", "su", "ta", "te", "ti", "to", "tu", "um", "un", "up", "us", "we", "wo", "ya", "yo",
    "zu"};

bool is_space(char c) { return c == ' '; }  // (atoms spell a line break as a space)

// An atom found in nearly any text ("", " ", "a", "th", "the") would make its clause hold
// always.
bool weak(std::string_view s) {
  // A digit (any digit: the scanner folds them) is rare enough in prompts to be worth looking
  // for, and it is all the PII patterns (phone, card, account numbers) have in common.
  if (has_rare_symbol(s) || s.find('0') != std::string_view::npos) return false;
  const bool bounded = !s.empty() && (is_space(s.front()) || is_space(s.back()));
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  const std::size_t n = characters(s);
  if (n >= 3) return std::binary_search(std::begin(common_words), std::end(common_words), s);
  // Two characters inside words are everywhere ("th", "on"), but as a whole word next to a
  // space ("dm ", "rm ", "-e ") they are rare, unless the word is a common one.
  if (n == 2 && bounded) {
    return std::binary_search(std::begin(common_short_words), std::end(common_short_words), s);
  }
  return true;
}

// How selective an atom is likely to be: longer and rarer is better.
int strength(std::string_view s) {
  int n = static_cast<int>(std::min<std::size_t>(characters(s), 8));
  if (has_rare_symbol(s)) return std::max(n, 5);
  return s.find_first_not_of('0') == std::string_view::npos ? std::min(n, 2) : n;  // digits only
}

int score(const std::set<std::string>& clause) {
  int weakest = 1 << 20;
  for (const auto& s : clause) weakest = std::min(weakest, strength(s));
  return weakest * 64 - static_cast<int>(std::min<std::size_t>(clause.size(), 63));
}

void add_clause(std::vector<std::set<std::string>>& clauses, const std::set<std::string>& strings) {
  std::set<std::string> clause;
  for (const auto& s : strings) {
    if (weak(s)) return;
    clause.insert(s.substr(0, max_atom_bytes));
  }
  if (!clause.empty()) clauses.push_back(std::move(clause));
}

Info as_match(Info info) {
  if (!info.exact) return info;
  Info out;
  add_clause(out.clauses, info.strings);
  return out;
}

Info concat(Info a, Info b) {
  if (a.exact && b.exact) {
    std::size_t n = a.strings.size() * b.strings.size();
    // (A side of one or two strings, a word and a space or a line break after it, multiplies
    // little.)
    if (n <= max_exact_product ||
        (n <= max_exact_strings && std::min(a.strings.size(), b.strings.size()) <= 2)) {
      Info out;
      out.exact = true;
      for (const auto& x : a.strings) {
        for (const auto& y : b.strings) out.strings.insert(x + y);
      }
      return out;
    }
  }
  Info out = as_match(std::move(a));
  Info tail = as_match(std::move(b));
  for (auto& c : tail.clauses) out.clauses.push_back(std::move(c));
  return out;
}

bool shares_atom(const std::set<std::string>& a, const std::set<std::string>& b) {
  auto i = a.begin();
  auto j = b.begin();
  while (i != a.end() && j != b.end()) {
    if (*i == *j) return true;
    *i < *j ? ++i : ++j;
  }
  return false;
}

// At most `limit` clauses, the strongest first, none that one kept implies (a clause holds
// whenever one of its subsets does). Clauses sharing no atom with those kept go before the
// rest: clauses alike ("instructions or prompt", "instructions or rules") hold for the same
// texts, so a fourth of them would take the place of a clause that spares other texts.
std::vector<std::set<std::string>> strongest(std::vector<std::set<std::string>> clauses, std::size_t limit) {
  std::stable_sort(clauses.begin(), clauses.end(),
                   [](const auto& a, const auto& b) { return score(a) > score(b); });
  std::vector<std::set<std::string>> kept;
  std::vector<bool> taken(clauses.size(), false);
  for (bool apart : {true, false}) {
    for (std::size_t i = 0; i < clauses.size() && kept.size() < limit; ++i) {
      if (taken[i]) continue;
      const auto& c = clauses[i];
      const bool implied = std::any_of(kept.begin(), kept.end(), [&](const auto& k) {
        return std::includes(c.begin(), c.end(), k.begin(), k.end());
      });
      const bool alike = std::any_of(kept.begin(), kept.end(), [&](const auto& k) { return shares_atom(c, k); });
      if (implied) {
        taken[i] = true;
      } else if (!(apart && alike)) {
        kept.push_back(c);
        taken[i] = true;
      }
    }
  }
  return kept;
}

Info alternate(Info a, Info b) {
  if (a.exact && b.exact) {
    std::set<std::string> all = a.strings;
    all.insert(b.strings.begin(), b.strings.end());
    if (all.size() <= max_exact_strings) {
      Info out;
      out.exact = true;
      out.strings = std::move(all);
      return out;
    }
  }
  // (A1 and A2 ...) or (B1 and B2 ...) implies (Ai or Bj) for every i and j: the strongest of
  // those pairs are kept. ("tes|vos" then "consignes", or "consignes" then "precedentes",
  // requires "consignes" and "tes|vos|precedentes": a text with neither determiner nor
  // qualifier is spared the rule, where one clause of the best of each side could not.)
  const auto x = strongest(as_match(std::move(a)).clauses, max_clauses);
  const auto y = strongest(as_match(std::move(b)).clauses, max_clauses);
  std::vector<std::set<std::string>> pairs;
  for (const auto& ca : x) {
    for (const auto& cb : y) {
      std::set<std::string> either = ca;
      either.insert(cb.begin(), cb.end());
      if (either.size() <= max_clause_atoms) pairs.push_back(std::move(either));
    }
  }
  Info out;
  out.clauses = strongest(std::move(pairs), max_clauses);
  return out;  // (no clauses: any)
}

// Whether an exact set is a single space (or line break): in a view whose whitespace is
// collapsed no two are ever next to each other, so any number of them is at most one.
bool only_spacing(const Info& a) {
  if (!a.exact || a.strings.empty()) return false;
  for (const auto& s : a.strings) {
    if (s.size() != 1 || !is_space(s[0])) return false;
  }
  return true;
}

Info repeat(Info a, int min, int max, Whitespace whitespace) {  // max < 0: unbounded
  if (whitespace == Whitespace::collapsed && only_spacing(a) && min <= 1) {
    if (min == 0) a.strings.insert("");
    return a;
  }
  if (min == 0) {
    if (max == 1 && a.exact) {
      a.strings.insert("");
      return a;
    }
    return Info::any();
  }
  if (!a.exact) return a;  // at least one copy: its clauses hold
  // The first `min` copies are in every match: spell them out while the set stays small.
  Info head = a;
  int copies = 1;
  while (copies < min) {
    Info longer = concat(head, a);
    if (!longer.exact) break;
    head = std::move(longer);
    ++copies;
  }
  if (copies == min && max == min) return head;
  return as_match(std::move(head));  // these, then more
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// A recursive-descent reader of RE2's syntax, computing Info as it goes.
class Analysis {
 public:
  Analysis(std::string_view pattern, Whitespace whitespace) : p_(pattern), whitespace_(whitespace) {}

  Info run() {
    bool fold = false;
    Info info = alternation(fold);
    if (i_ != p_.size()) throw Unsupported{};  // a stray ')'
    return info;
  }

  // Where the top-level '|' are, after run(); and whether a flag group ("(?i)") at the top
  // level changes the branches after it (they could not stand alone then).
  const std::vector<std::size_t>& bars() const { return bars_; }
  bool top_level_flags() const { return top_level_flags_; }

 private:
  bool done() const { return i_ >= p_.size(); }
  char peek() const { return p_[i_]; }

  Info alternation(bool& fold) {
    Info info = sequence(fold);
    while (!done() && peek() == '|') {
      if (depth_ == 0) bars_.push_back(i_);
      ++i_;
      info = alternate(std::move(info), sequence(fold));
    }
    return info;
  }

  // A concatenation: exact pieces join into longer strings ("ign" "ore" -> "ignore") until a
  // piece that is not exact, or a set grown too large, closes the run as a clause.
  Info sequence(bool& fold) {
    Info run = Info::literal("");
    std::vector<std::set<std::string>> clauses;
    bool exact = true;
    auto close_run = [&] {
      for (auto& c : as_match(std::move(run)).clauses) clauses.push_back(std::move(c));
      run = Info::literal("");
    };
    while (!done() && peek() != '|' && peek() != ')') {
      Info item;
      if (!flag_group(fold, item)) item = quantified(fold);
      if (item.exact) {
        Info longer = concat(run, item);
        if (longer.exact) {
          run = std::move(longer);
          continue;
        }
        exact = false;
        close_run();
        run = std::move(item);
        continue;
      }
      exact = false;
      close_run();
      for (auto& c : item.clauses) clauses.push_back(std::move(c));
    }
    if (exact) return run;
    close_run();
    Info out;
    out.clauses = std::move(clauses);
    return out;
  }

  // "(?i)" and friends change the flags of the rest of the enclosing group; returns true (and
  // an empty item) when one was read.
  bool flag_group(bool& fold, Info& item) {
    if (p_.compare(i_, 2, "(?") != 0) return false;
    std::size_t j = i_ + 2;
    bool on = true, value = fold;
    while (j < p_.size() && p_[j] != ')' && p_[j] != ':') {
      char c = p_[j];
      if (c == '-') on = false;
      else if (c == 'i') value = on;
      else if (c != 'm' && c != 's' && c != 'U') return false;  // a group of another kind
      ++j;
    }
    if (j >= p_.size() || p_[j] != ')') return false;
    if (depth_ == 0) top_level_flags_ = true;
    fold = value;
    i_ = j + 1;
    item = Info::literal("");
    return true;
  }

  Info quantified(bool fold) {
    Info info = single(fold);
    while (!done()) {
      char c = peek();
      int min = 0, max = 0;
      if (c == '*') {
        min = 0, max = -1, ++i_;
      } else if (c == '+') {
        min = 1, max = -1, ++i_;
      } else if (c == '?') {
        min = 0, max = 1, ++i_;
      } else if (c == '{' && counted(min, max)) {
      } else {
        break;
      }
      if (!done() && peek() == '?') ++i_;  // non-greedy: the same strings
      info = repeat(std::move(info), min, max, whitespace_);
    }
    return info;
  }

  // {n}, {n,} or {n,m}; anything else is a literal '{' to RE2.
  bool counted(int& min, int& max) {
    std::size_t j = i_ + 1;
    auto number = [&](int& out) {
      std::size_t start = j;
      long value = 0;
      while (j < p_.size() && is_digit(p_[j]) && value < 100000) value = value * 10 + (p_[j++] - '0');
      out = static_cast<int>(value);
      return j > start;
    };
    if (!number(min)) return false;
    max = min;
    if (j < p_.size() && p_[j] == ',') {
      ++j;
      if (!number(max)) max = -1;
    }
    if (j >= p_.size() || p_[j] != '}') return false;
    i_ = j + 1;
    return true;
  }

  Info single(bool fold) {
    char c = peek();
    if (c == '(') return group(fold);
    if (c == '[') return character_class(fold);
    if (c == '.') {
      ++i_;
      return Info::any();
    }
    if (c == '^' || c == '$') {
      ++i_;
      return Info::literal("");
    }
    if (c == '\\') return escape(fold);
    if (c == '*' || c == '+' || c == '?' || c == ')') throw Unsupported{};
    return character(read_utf8(), fold);
  }

  Info group(bool fold) {
    if (++depth_ > max_depth) throw Unsupported{};
    ++i_;  // '('
    if (p_.compare(i_, 2, "?:") == 0) {
      i_ += 2;
    } else if (p_.compare(i_, 3, "?P<") == 0 || p_.compare(i_, 2, "?<") == 0) {
      std::size_t close = p_.find('>', i_);
      if (close == std::string_view::npos) throw Unsupported{};
      i_ = close + 1;
    } else if (!done() && peek() == '?') {
      // Flags for this group only: (?i:...), (?-i:...), (?s:...).
      std::size_t j = i_ + 1;
      bool on = true;
      while (j < p_.size() && p_[j] != ':') {
        char f = p_[j];
        if (f == '-') on = false;
        else if (f == 'i') fold = on;
        else if (f != 'm' && f != 's' && f != 'U') throw Unsupported{};
        ++j;
      }
      if (j >= p_.size()) throw Unsupported{};
      i_ = j + 1;
    }
    Info info = alternation(fold);
    if (done() || peek() != ')') throw Unsupported{};
    ++i_;
    --depth_;
    return info;
  }

  std::string read_utf8() {
    std::size_t start = i_++;
    while (!done() && is_continuation(static_cast<unsigned char>(peek()))) ++i_;
    return std::string(p_.substr(start, i_ - start));
  }

  // One character of the pattern. Digits become '0': the scanner puts every digit in one class,
  // so an atom's '0' stands for any digit (and "[0-9]" can be a '0' too); a line break becomes
  // a space, which shares its class. With folded case,
  // ASCII letters are lowered ('k' and 's' also match the Kelvin sign and the long s, as RE2
  // folds them); other letters could match characters of other bytes, so they match "anything".
  static Info character(std::string c, bool fold) {
    if (c.size() == 1 && c[0] >= 'A' && c[0] <= 'Z') c[0] = static_cast<char>(c[0] - 'A' + 'a');
    if (c.size() == 1 && is_digit(c[0])) c[0] = '0';
    if (c == "\n") c = " ";
    if (fold && c == "k") return exact({"k", "\u212A"});
    if (fold && c == "s") return exact({"s", "\u017F"});
    if (fold && c.size() != 1) return Info::any();
    return Info::literal(std::move(c));
  }

  static Info exact(std::set<std::string> strings) {
    Info info;
    info.exact = true;
    info.strings = std::move(strings);
    return info;
  }

  // The name after "\p" or "\P": "{Greek}" or one letter.
  void skip_class_name() {
    if (!done() && peek() == '{') {
      std::size_t close = p_.find('}', i_);
      if (close == std::string_view::npos) throw Unsupported{};
      i_ = close + 1;
    } else if (!done()) {
      ++i_;
    }
  }

  std::uint32_t hex_escape() {  // after "\x"
    std::uint32_t value = 0;
    auto digit = [](char h) -> int {
      if (is_digit(h)) return h - '0';
      if (h >= 'a' && h <= 'f') return h - 'a' + 10;
      if (h >= 'A' && h <= 'F') return h - 'A' + 10;
      return -1;
    };
    if (!done() && peek() == '{') {
      std::size_t close = p_.find('}', i_);
      if (close == std::string_view::npos || close == i_ + 1 || close - i_ > 7) throw Unsupported{};
      for (std::size_t j = i_ + 1; j < close; ++j) {
        int d = digit(p_[j]);
        if (d < 0) throw Unsupported{};
        value = value * 16 + static_cast<std::uint32_t>(d);
      }
      i_ = close + 1;
      return value;
    }
    if (i_ + 2 > p_.size()) throw Unsupported{};
    int hi = digit(p_[i_]), lo = digit(p_[i_ + 1]);
    if (hi < 0 || lo < 0) throw Unsupported{};
    i_ += 2;
    return static_cast<std::uint32_t>(hi * 16 + lo);
  }

  // An escape outside a class.
  Info escape(bool fold) {
    ++i_;
    if (done()) throw Unsupported{};
    char c = p_[i_++];
    switch (c) {
      case 'b': case 'B': case 'A': case 'z':
        return Info::literal("");
      case 'd':
        return Info::literal("0");
      case 's':
        // In a view with collapsed whitespace, a space or a line break (spelt as a space) and
        // nothing else.
        return whitespace_ == Whitespace::collapsed ? Info::literal(" ") : Info::any();
      case 'D': case 'S': case 'w': case 'W': case 'C':
        return Info::any();
      case 'p': case 'P':
        skip_class_name();
        return Info::any();
      case 'n': return character("\n", fold);
      case 't': return character("\t", fold);
      case 'r': return character("\r", fold);
      case 'f': return character("\f", fold);
      case 'v': return character("\v", fold);
      case 'x': {
        std::string s;
        detail::append_utf8(s, hex_escape());
        return character(std::move(s), fold);
      }
      default:
        if (static_cast<unsigned char>(c) < 0x80 && !is_alnum(c)) return character(std::string(1, c), fold);
        throw Unsupported{};  // octal, \Q...\E, \pN shorthand forms, ...: not modelled
    }
  }

  // A bracketed class: a few single characters become exact alternatives; anything larger,
  // negated or not understood matches "anything".
  Info character_class(bool fold) {
    ++i_;  // '['
    bool negated = false;
    if (!done() && peek() == '^') {
      negated = true;
      ++i_;
    }
    std::set<std::string> members;
    bool large = false;
    bool digits_only = true;
    bool first = true;
    auto add_range = [&](std::uint32_t lo, std::uint32_t hi) {
      if (hi < lo) throw Unsupported{};
      if (lo < '0' || hi > '9') digits_only = false;
      if (hi - lo >= 8) {
        large = true;
        return;
      }
      for (std::uint32_t cp = lo; cp <= hi; ++cp) {
        std::string s;
        detail::append_utf8(s, cp);
        Info one = character(std::move(s), fold);
        if (!one.exact) large = true;
        else members.insert(one.strings.begin(), one.strings.end());
      }
    };
    for (;;) {
      if (done()) throw Unsupported{};
      char c = peek();
      if (c == ']' && !first) {
        ++i_;
        break;
      }
      first = false;
      if (p_.compare(i_, 2, "[:") == 0) {  // [:alpha:]
        std::size_t close = p_.find(":]", i_ + 2);
        if (close == std::string_view::npos) throw Unsupported{};
        i_ = close + 2;
        large = true;
        digits_only = false;
        continue;
      }
      std::uint32_t lo = 0;
      bool digit_class = false;
      if (!class_char(lo, digit_class)) {
        large = true;  // \s, \w, \p{..} inside the class
        if (!digit_class) digits_only = false;
        continue;
      }
      if (p_.compare(i_, 1, "-") == 0 && i_ + 1 < p_.size() && p_[i_ + 1] != ']') {
        ++i_;
        std::uint32_t hi = 0;
        if (!class_char(hi, digit_class)) throw Unsupported{};
        add_range(lo, hi);
      } else {
        add_range(lo, lo);
      }
    }
    if (negated) return Info::any();
    if (digits_only) return Info::literal("0");
    if (large || members.size() > 4) return Info::any();
    return exact(std::move(members));
  }

  // One member of a class as a code point; false for a class escape (\d, \s, \w, \p{..}),
  // with `digit_class` set for \d.
  bool class_char(std::uint32_t& cp, bool& digit_class) {
    if (peek() != '\\') {
      std::string s = read_utf8();
      cp = decode(s);
      return true;
    }
    ++i_;
    if (done()) throw Unsupported{};
    char c = p_[i_++];
    switch (c) {
      case 'd':
        digit_class = true;
        return false;
      case 'D': case 's': case 'S': case 'w': case 'W':
        return false;
      case 'p': case 'P':
        skip_class_name();
        return false;
      case 'n': cp = '\n'; return true;
      case 't': cp = '\t'; return true;
      case 'r': cp = '\r'; return true;
      case 'f': cp = '\f'; return true;
      case 'v': cp = '\v'; return true;
      case 'x': cp = hex_escape(); return true;
      default:
        if (static_cast<unsigned char>(c) < 0x80 && !is_alnum(c)) {
          cp = static_cast<unsigned char>(c);
          return true;
        }
        throw Unsupported{};
    }
  }

  static std::uint32_t decode(const std::string& s) {
    auto b = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(s[k])); };
    switch (s.size()) {
      case 1: return b(0);
      case 2: return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
      case 3: return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
      case 4: return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
      default: throw Unsupported{};
    }
  }

  std::string_view p_;
  Whitespace whitespace_;
  std::size_t i_ = 0;
  int depth_ = 0;
  std::vector<std::size_t> bars_;
  bool top_level_flags_ = false;
};

}  // namespace

Requirement required_atoms(std::string_view pattern, Whitespace whitespace) {
  Info info;
  try {
    info = Analysis(pattern, whitespace).run();
  } catch (const Unsupported&) {
    return {};
  }
  info = as_match(std::move(info));
  Requirement out;
  for (auto& c : strongest(std::move(info.clauses), max_clauses)) out.clauses.emplace_back(c.begin(), c.end());
  return out;
}

std::vector<std::pair<std::size_t, std::size_t>> alternatives(std::string_view pattern) {
  Analysis analysis(pattern, Whitespace::any);
  try {
    (void)analysis.run();
  } catch (const Unsupported&) {
    return {{0, pattern.size()}};
  }
  if (analysis.top_level_flags()) return {{0, pattern.size()}};
  std::vector<std::pair<std::size_t, std::size_t>> out;
  std::size_t start = 0;
  for (std::size_t bar : analysis.bars()) {
    out.emplace_back(start, bar);
    start = bar + 1;
  }
  out.emplace_back(start, pattern.size());
  return out;
}

void add_units(std::uint32_t rule, std::string_view pattern, std::uint8_t group, std::vector<PrefilterUnit>& out) {
  const Whitespace whitespace = group < prefilter_groups ? group_whitespace[group] : Whitespace::any;
  for (auto [begin, end] : alternatives(pattern)) {
    PrefilterUnit unit;
    unit.rule = rule;
    unit.begin = static_cast<std::uint32_t>(begin);
    unit.end = static_cast<std::uint32_t>(end);
    unit.group = group;
    unit.requirement = required_atoms(pattern.substr(begin, end - begin), whitespace);
    out.push_back(std::move(unit));
  }
}

AtomScanner::AtomScanner(const std::vector<std::string>& atoms) : byte_class_(256, 0) {
  // Byte classes: each ASCII byte used by an atom gets its own (upper-case letters share the
  // lower-case letter's), digits share one, bytes of non-ASCII characters share eight, and every
  // other byte is class 0, which leads back to the root. Sharing a class can only make the
  // automaton report more atoms than are there, never fewer; the rules themselves decide.
  auto lower = [](unsigned char c) -> unsigned char {
    return c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c - 'A' + 'a') : c;
  };
  // (A line break shares the space's class: atoms spell it as a space.)
  std::uint32_t classes = 1;
  std::uint8_t digit_class = 0;
  std::uint8_t high_class[8] = {};
  for (const auto& atom : atoms) {
    for (unsigned char c : atom) {
      unsigned char l = lower(c);
      if (byte_class_[l]) continue;
      std::uint8_t* shared = l >= '0' && l <= '9' ? &digit_class : l >= 0x80 ? &high_class[l & 7] : nullptr;
      if (shared && !*shared) *shared = static_cast<std::uint8_t>(classes++);
      byte_class_[l] = shared ? *shared : static_cast<std::uint8_t>(classes++);
    }
  }
  for (int c = 0; c < 256; ++c) {
    if (c >= '0' && c <= '9') byte_class_[c] = digit_class;
    else if (c >= 0x80) byte_class_[c] = high_class[c & 7];
    else if (c >= 'A' && c <= 'Z') byte_class_[c] = byte_class_[c - 'A' + 'a'];
  }
  byte_class_['\n'] = byte_class_[' '];
  t_.byte_class = byte_class_.data();
  t_.classes = classes;

  // The trie.
  std::vector<std::uint16_t> trie(classes, 0);
  std::vector<std::vector<std::uint32_t>> out(1);
  std::vector<std::uint16_t> depth(1, 0);
  for (std::uint32_t a = 0; a < atoms.size(); ++a) {
    if (atoms[a].empty()) continue;
    std::uint32_t state = 0;
    for (unsigned char c : atoms[a]) {
      std::size_t at = state * classes + byte_class_[c];
      if (trie[at] == 0) {
        if (out.size() == max_states) {
          complete_ = false;
          return;
        }
        trie[at] = static_cast<std::uint16_t>(out.size());
        depth.push_back(static_cast<std::uint16_t>(depth[state] + 1));
        out.emplace_back();
        trie.resize(trie.size() + classes, 0);
      }
      state = trie[at];
    }
    out[state].push_back(a);
  }
  if (out.size() == 1) return;  // no atoms: nothing to find

  // Failure links breadth first, filling in every missing transition; a state also reports
  // what the state its failure link leads to reports.
  const std::size_t n = out.size();
  std::vector<std::uint16_t> fail(n, 0);
  std::vector<std::uint16_t> order{0};  // breadth-first
  order.reserve(n);
  for (std::uint32_t c = 1; c < classes; ++c) {
    if (trie[c]) order.push_back(trie[c]);
  }
  for (std::size_t head = 1; head < order.size(); ++head) {
    std::uint16_t s = order[head];
    const auto& inherited = out[fail[s]];
    out[s].insert(out[s].end(), inherited.begin(), inherited.end());
    for (std::uint32_t c = 1; c < classes; ++c) {
      std::uint16_t& t = trie[s * classes + c];
      if (t) {
        fail[t] = trie[fail[s] * classes + c];
        order.push_back(t);
      } else {
        t = trie[fail[s] * classes + c];
      }
    }
  }
  // Lay the states out so that a text's walk touches few pages of the tables (each page a fault
  // when the library's tables are first read): the shallow states, which most text visits,
  // breadth first, each with a full row; below them each word's states depth first, so that the
  // states of one word lie together, each with its children and its failure link only.
  // A state's children in the trie are its transitions one level deeper (every other transition
  // leads where its failure link's does, no deeper than the state itself).
  constexpr std::uint16_t shallow = 2;  // (fewest pages on injection and benign prompts)
  std::vector<std::uint16_t> layout;
  layout.reserve(n);
  for (std::uint16_t s : order) {
    if (depth[s] <= shallow) layout.push_back(s);
  }
  const std::size_t dense = layout.size();
  std::vector<std::uint16_t> pending;
  for (auto it = layout.rbegin(); it != layout.rend(); ++it) {
    if (depth[*it] == shallow) pending.push_back(*it);
  }
  while (!pending.empty()) {
    std::uint16_t s = pending.back();
    pending.pop_back();
    if (depth[s] > shallow) layout.push_back(s);
    for (std::uint32_t c = classes; c-- > 1;) {
      std::uint16_t t = trie[s * classes + c];
      if (depth[t] == depth[s] + 1) pending.push_back(t);
    }
  }
  order = std::move(layout);
  // Number the states in that order, and mark the transitions to states that report.
  std::vector<std::uint16_t> number(n);
  for (std::size_t k = 0; k < n; ++k) number[order[k]] = static_cast<std::uint16_t>(k);
  auto transition = [&](std::uint16_t t) {
    return static_cast<std::uint16_t>(number[t] | (out[t].empty() ? 0 : reports));
  };
  table_.resize(dense * classes);
  output_begin_.assign(n + 1, 0);
  for (std::size_t k = 0; k < n; ++k) {
    std::uint16_t s = order[k];
    if (k < dense) {
      for (std::uint32_t c = 0; c < classes; ++c) table_[k * classes + c] = transition(trie[s * classes + c]);
    } else {
      sparse_.push_back(static_cast<std::uint32_t>(edges_.size()) << 16 | number[fail[s]]);
      for (std::uint32_t c = 1; c < classes; ++c) {
        std::uint16_t t = trie[s * classes + c];
        if (depth[t] == depth[s] + 1) edges_.push_back(c << 16 | transition(t));
      }
    }
    auto& found = out[s];
    std::sort(found.begin(), found.end());
    found.erase(std::unique(found.begin(), found.end()), found.end());
    outputs_.insert(outputs_.end(), found.begin(), found.end());
    output_begin_[k + 1] = static_cast<std::uint32_t>(outputs_.size());
  }
  sparse_.push_back(static_cast<std::uint32_t>(edges_.size()) << 16);
  t_.states = static_cast<std::uint32_t>(n);
  t_.dense_states = static_cast<std::uint32_t>(dense);
  t_.table = table_.data();
  t_.sparse = sparse_.data();
  t_.edges = edges_.data();
  t_.output_begin = output_begin_.data();
  t_.outputs = outputs_.data();
}

Prefilter::Prefilter(const std::vector<PrefilterUnit>& units) : clause_count_(units.size(), 0) {
  for (const auto& unit : units) {
    unit_rule_.push_back(unit.rule);
    unit_begin_.push_back(unit.begin);
    unit_end_.push_back(unit.end);
    group_.push_back(unit.group);
  }
  scanners_.reserve(prefilter_groups);
  for (int g = 0; g < prefilter_groups; ++g) {
    std::vector<std::string> atoms;
    std::vector<std::vector<std::uint32_t>> entries;  // per atom
    std::map<std::string, std::uint32_t> atom_index;
    for (std::size_t u = 0; u < units.size(); ++u) {
      if (units[u].group != g) continue;
      const auto& clauses = units[u].requirement.clauses;
      clause_count_[u] = static_cast<std::uint8_t>(std::min(clauses.size(), max_clauses));
      for (std::size_t c = 0; c < clause_count_[u]; ++c) {
        for (const auto& atom : clauses[c]) {
          auto [it, fresh] = atom_index.emplace(atom, static_cast<std::uint32_t>(atoms.size()));
          if (fresh) {
            atoms.push_back(atom);
            entries.emplace_back();
          }
          entries[it->second].push_back(static_cast<std::uint32_t>(u * max_clauses + c));
        }
      }
    }
    scanners_.emplace_back(atoms);
    if (!scanners_.back().complete()) {
      // Too many atoms for one automaton: every unit of the group runs.
      for (std::size_t u = 0; u < units.size(); ++u) {
        if (units[u].group == g) clause_count_[u] = 0;
      }
      scanners_.back() = AtomScanner();
      entries.clear();
    }
    entry_begin_[g].push_back(0);
    for (const auto& list : entries) {
      entries_[g].insert(entries_[g].end(), list.begin(), list.end());
      entry_begin_[g].push_back(static_cast<std::uint32_t>(entries_[g].size()));
    }
    auto& tg = t_.groups[g];
    tg.atoms = scanners_.back().tables();
    tg.atom_count = static_cast<std::uint32_t>(entries.size());
    tg.entry_begin = entry_begin_[g].data();
    tg.entries = entries_[g].data();
  }
  t_.units = static_cast<std::uint32_t>(units.size());
  t_.unit_rule = unit_rule_.data();
  t_.unit_begin = unit_begin_.data();
  t_.unit_end = unit_end_.data();
  t_.group = group_.data();
  t_.clause_count = clause_count_.data();
  index_units();
}

Prefilter::Prefilter(const PrefilterTables& tables) : t_(tables) {
  scanners_.reserve(prefilter_groups);
  for (const auto& g : t_.groups) scanners_.emplace_back(g.atoms);
  index_units();
}

void Prefilter::index_units() {
  for (std::uint32_t u = 0; u < t_.units; ++u) {
    if (t_.clause_count[u] == 0) always_[t_.group[u]].push_back(u);
  }
}

void Prefilter::candidates(int group, std::string_view text, std::vector<std::uint32_t>& out) const {
  struct Scratch {
    std::vector<std::uint8_t> mask;  // per unit: the clauses that hold so far
    std::vector<std::uint32_t> touched;
  };
  thread_local Scratch scratch;
  if (scratch.mask.size() < t_.units) scratch.mask.resize(t_.units, 0);
  const auto& g = t_.groups[group];
  const std::size_t first = out.size();
  scanners_[static_cast<std::size_t>(group)].scan(text, [&](std::uint32_t atom) {
    for (std::uint32_t k = g.entry_begin[atom]; k < g.entry_begin[atom + 1]; ++k) {
      const std::uint32_t unit = g.entries[k] / max_clauses;
      std::uint8_t& mask = scratch.mask[unit];
      if (!mask) scratch.touched.push_back(unit);
      mask = static_cast<std::uint8_t>(mask | (1u << (g.entries[k] % max_clauses)));
    }
  });
  for (std::uint32_t unit : scratch.touched) {
    if (scratch.mask[unit] == (1u << t_.clause_count[unit]) - 1) out.push_back(unit);
    scratch.mask[unit] = 0;
  }
  scratch.touched.clear();
  const auto& always = always_[group];
  out.insert(out.end(), always.begin(), always.end());
  std::sort(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
}

}  // namespace keel::firewall
