// Internal: the condition tier — keyword sets, RE2 patterns and metadata predicates of every
// route, compiled once: keywords into a word-sequence table, patterns into one RE2::Set.
#pragma once

#include <re2/re2.h>
#include <re2/set.h>

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/metadata_filter.hpp"
#include "keel/router.hpp"

namespace keel::router {

struct ConditionHit {
  std::size_t route = 0;  // index into the routes the tier was built from
  double confidence = 0;
};

class ConditionTier {
 public:
  /// Throws Error(invalid_config) naming routes[i].conditions[j] for a bad pattern.
  explicit ConditionTier(const std::vector<Route>& routes);
  ~ConditionTier();

  bool empty() const noexcept { return conditions_.empty(); }

  /// The best confidence per route among the conditions that hold, best first (ties keep the
  /// routes' order). Thread-safe.
  void evaluate(std::string_view text, const Json& metadata, std::vector<ConditionHit>& hits) const;

 private:
  struct Condition {
    std::size_t route;
    double confidence;
    enum class Kind { keywords, regex, metadata } kind;
    bool match_all = false;
    std::vector<std::size_t> keywords;  // ids into keywords_
    MetadataFilter filter;
  };
  struct Keyword {
    std::vector<std::string> words;  // normalised
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

  std::vector<Condition> conditions_;
  std::vector<Keyword> keywords_;
  // First word of a keyword -> the keywords starting with it.
  std::unordered_map<std::string, std::vector<std::size_t>, Hash, std::equal_to<>> by_first_word_;
  std::unique_ptr<RE2::Set> patterns_;    // one pattern per regex condition
  std::vector<std::size_t> pattern_condition_;  // pattern index -> condition index
  bool has_metadata_ = false;
};

/// Splits text into lower-case words the way keyword conditions see them: the firewall's
/// text normalisation, then runs of letters and digits (any non-ASCII character counts as a
/// letter). Exposed for tests.
void keyword_words(std::string_view text, std::string& normalised,
                   std::vector<std::string_view>& words);

}  // namespace keel::router
