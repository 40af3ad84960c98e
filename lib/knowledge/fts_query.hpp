// Internal: FTS5 MATCH expressions built from a user's text. The text is never pasted into
// MATCH: it is cut into terms, each term becomes a quoted FTS5 string (a `"` inside doubled),
// and the terms are joined with OR (recall; BM25 ranks documents with more of them higher),
// AND, or kept as one phrase. So FTS5 syntax in the text — quotes, NEAR, AND, *, ^, column
// filters — is searched as plain words and can never be a syntax error.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "keel/knowledge.hpp"

namespace keel::knowledge {

/// The words of `text`: runs of ASCII letters and digits and of non-ASCII bytes (so UTF-8
/// letters stay whole; FTS5's unicode61 tokenizer splits them further if needed). At most
/// `max_terms` distinct terms (compared without ASCII case), in order of appearance.
std::vector<std::string> keyword_terms(std::string_view text, std::size_t max_terms = 64);

/// `term` as an FTS5 string: in double quotes, with each `"` doubled.
std::string quote_fts_term(std::string_view term);

/// Each term as an FTS5 phrase: quoted, and followed by ` *` when `prefix`.
std::vector<std::string> term_phrases(const std::vector<std::string>& terms, bool prefix);

/// The MATCH expression for `terms`; empty when there are none.
std::string build_match_expression(const std::vector<std::string>& terms,
                                   SearchQuery::KeywordMode mode, bool prefix);

}  // namespace keel::knowledge
