#include "knowledge/snippet.hpp"

#include <sqlite3.h>

#include <algorithm>

#include "keel/error.hpp"

namespace keel::knowledge {

Snippets::Snippets(Connection& connection) {
  fts5_api* api = connection.fts5();
  void* user_data = nullptr;
  if (!api || api->xFindTokenizer(api, "porter", &user_data, &api_) != SQLITE_OK) {
    throw Error(Errc::internal, "knowledge base: SQLite has no FTS5 porter tokenizer");
  }
  // The same arguments as the index's tokenize= option.
  const char* arguments[] = {"unicode61", "remove_diacritics", "2"};
  if (api_.xCreate(user_data, arguments, 3, &tokenizer_) != SQLITE_OK) {
    throw Error(Errc::internal, "knowledge base: cannot create the FTS5 tokenizer");
  }
}

Snippets::~Snippets() {
  if (tokenizer_) api_.xDelete(tokenizer_);
}

void Snippets::tokenize(std::string_view text,
                        const std::function<bool(std::string_view, int, int)>& each) const {
  if (text.empty()) return;
  auto callback = [](void* context, int, const char* token, int size, int start, int end) -> int {
    bool more = (*static_cast<const std::function<bool(std::string_view, int, int)>*>(context))(
        std::string_view(token, static_cast<std::size_t>(size)), start, end);
    return more ? SQLITE_OK : SQLITE_DONE;  // any other code stops the tokenizer
  };
  // FTS5 takes an int length; longer texts are highlighted in their first 2 GiB.
  int size = static_cast<int>(std::min<std::size_t>(text.size(), 0x7fffffff));
  api_.xTokenize(tokenizer_, const_cast<void*>(static_cast<const void*>(&each)),
                 FTS5_TOKENIZE_DOCUMENT, text.data(), size, callback);
}

void Snippets::set_query(const std::vector<std::string>& terms, bool prefix) {
  words_.clear();
  prefix_ = prefix;
  for (const auto& term : terms) {
    tokenize(term, [&](std::string_view token, int, int) {
      words_.emplace(token);
      return true;
    });
  }
}

bool Snippets::matches(std::string_view token) const {
  if (words_.empty()) return false;
  if (words_.count(std::string(token))) return true;
  if (!prefix_) return false;
  for (const auto& word : words_) {
    if (token.substr(0, word.size()) == word) return true;
  }
  return false;
}

std::string Snippets::make(std::string_view text, const SnippetStyle& style) const {
  const std::size_t width = std::max<std::size_t>(style.tokens, 1);
  std::vector<Token> tokens;
  tokenize(text, [&](std::string_view token, int start, int end) {
    tokens.push_back(
        {static_cast<std::size_t>(start), static_cast<std::size_t>(end), matches(token)});
    // Without query words the snippet is the start: one token past it shows the text goes on.
    return !words_.empty() || tokens.size() <= width;
  });
  if (tokens.empty()) return {};
  // The window with the most matching tokens; the earliest among equals.
  std::size_t best = 0, best_count = 0, count = 0;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    count += tokens[i].match;
    if (i >= width) count -= tokens[i - width].match;
    if (i + 1 >= width || i + 1 == tokens.size()) {
      std::size_t first = i + 1 >= width ? i + 1 - width : 0;
      if (count > best_count) {
        best_count = count;
        best = first;
      }
    }
  }
  // Centre a lone match a little, so it is read with some words before it.
  if (best_count == 1 && width > 4) {
    std::size_t at = best;
    while (!tokens[at].match)
      ++at;
    std::size_t lead = std::min(at, width / 4);
    best = std::min(at - lead, tokens.size() > width ? tokens.size() - width : 0);
  }
  const std::size_t last = std::min(tokens.size(), best + width) - 1;
  std::string out;
  if (best > 0) out += style.ellipsis;
  std::size_t at = tokens[best].start;
  for (std::size_t i = best; i <= last; ++i) {
    out.append(text.substr(at, tokens[i].start - at));
    if (tokens[i].match) out += style.open;
    out.append(text.substr(tokens[i].start, tokens[i].end - tokens[i].start));
    if (tokens[i].match) out += style.close;
    at = tokens[i].end;
  }
  if (last + 1 < tokens.size()) {  // (an early stop keeps one token more than the window)
    out += style.ellipsis;
  } else if (text.size() - at <= 16) {
    out.append(text.substr(at));  // closing punctuation ("...the end.")
  }
  return out;
}

}  // namespace keel::knowledge
