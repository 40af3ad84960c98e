#include "knowledge/fts_query.hpp"

#include <algorithm>
#include <unordered_set>

namespace keel::knowledge {

namespace {

bool is_word_byte(unsigned char c) {
  return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

std::vector<std::string> keyword_terms(std::string_view text, std::size_t max_terms) {
  std::vector<std::string> terms;
  std::unordered_set<std::string> seen;
  std::size_t i = 0;
  while (i < text.size() && terms.size() < max_terms) {
    while (i < text.size() && !is_word_byte(static_cast<unsigned char>(text[i])))
      ++i;
    std::size_t start = i;
    while (i < text.size() && is_word_byte(static_cast<unsigned char>(text[i])))
      ++i;
    if (i == start) break;
    std::string term(text.substr(start, i - start));
    if (seen.insert(ascii_lower(term)).second) terms.push_back(std::move(term));
  }
  return terms;
}

std::string quote_fts_term(std::string_view term) {
  std::string out;
  out.reserve(term.size() + 2);
  out.push_back('"');
  for (char c : term) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::vector<std::string> term_phrases(const std::vector<std::string>& terms, bool prefix) {
  std::vector<std::string> out;
  out.reserve(terms.size());
  for (const auto& term : terms)
    out.push_back(prefix ? quote_fts_term(term) + " *" : quote_fts_term(term));
  return out;
}

std::string build_match_expression(const std::vector<std::string>& terms,
                                   SearchQuery::KeywordMode mode, bool prefix) {
  if (terms.empty()) return {};
  std::string out;
  if (mode == SearchQuery::KeywordMode::phrase) {
    std::string phrase;
    for (const auto& term : terms) {
      if (!phrase.empty()) phrase.push_back(' ');
      phrase += term;
    }
    out = quote_fts_term(phrase);
    if (prefix) out += " *";
    return out;
  }
  const char* joiner = mode == SearchQuery::KeywordMode::all ? " AND " : " OR ";
  for (const auto& phrase : term_phrases(terms, prefix)) {
    if (!out.empty()) out += joiner;
    out += phrase;
  }
  return out;
}

}  // namespace keel::knowledge
