// Internal: snippets with the query's words highlighted, made with FTS5's own tokenizer
// (porter over unicode61, diacritics removed) so that "sleeping" highlights "sleeps" exactly
// as the keyword index matched it. Much cheaper than FTS5's snippet(), which must run the
// MATCH again for every hit (loading every term's whole doclist).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <sqlite3.h>

#include "knowledge/sqlite.hpp"

namespace keel::knowledge {

struct SnippetStyle {
  std::size_t tokens = 16;
  std::string open = "[", close = "]", ellipsis = "\xE2\x80\xA6";
};

class Snippets {
 public:
  /// Uses the tokenizer of the FTS5 module loaded in `connection`. Throws Error(internal)
  /// when FTS5 is missing.
  explicit Snippets(Connection& connection);
  ~Snippets();
  Snippets(const Snippets&) = delete;
  Snippets& operator=(const Snippets&) = delete;

  /// Remembers the query's words (their tokenized forms); `prefix`: a word also matches the
  /// tokens it begins.
  void set_query(const std::vector<std::string>& terms, bool prefix);

  /// The window of `style.tokens` tokens of `text` with the most query words, those words
  /// wrapped in open/close, ellipses where text was cut. The start of the text when no word
  /// matches.
  std::string make(std::string_view text, const SnippetStyle& style) const;

 private:
  struct Token {
    std::size_t start, end;
    bool match;
  };
  /// Calls `each` with every token's normalised form and byte range, until it returns false.
  void tokenize(std::string_view text,
                const std::function<bool(std::string_view, int, int)>& each) const;
  bool matches(std::string_view token) const;

  fts5_tokenizer api_{};  // the porter tokenizer's functions
  Fts5Tokenizer* tokenizer_ = nullptr;
  std::unordered_set<std::string> words_;
  bool prefix_ = false;
};

}  // namespace keel::knowledge
