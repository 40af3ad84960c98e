#include "router/conditions.hpp"

#include <algorithm>

#include "firewall/normaliser.hpp"
#include "keel/error.hpp"

namespace keel::router {

namespace {

bool word_byte(unsigned char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

struct Scratch {
  firewall::Normalised normalised;
  std::vector<std::string_view> words;
  std::vector<char> keyword_matched;
  std::vector<int> pattern_ids;
  std::vector<double> best;  // per route
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

}  // namespace

void keyword_words(std::string_view text, std::string& normalised,
                   std::vector<std::string_view>& words) {
  thread_local firewall::Normalised views;
  firewall::normalise(text, views);
  normalised = views.text;
  words.clear();
  const std::string& t = normalised;
  std::size_t i = 0;
  while (i < t.size()) {
    while (i < t.size() && !word_byte(static_cast<unsigned char>(t[i]))) ++i;
    std::size_t start = i;
    while (i < t.size() && word_byte(static_cast<unsigned char>(t[i]))) ++i;
    if (i > start) words.emplace_back(t.data() + start, i - start);
  }
}

namespace {
// Splits an already normalised view into words (string_views into it).
void split_words(const std::string& t, std::vector<std::string_view>& words) {
  words.clear();
  std::size_t i = 0;
  while (i < t.size()) {
    while (i < t.size() && !word_byte(static_cast<unsigned char>(t[i]))) ++i;
    std::size_t start = i;
    while (i < t.size() && word_byte(static_cast<unsigned char>(t[i]))) ++i;
    if (i > start) words.emplace_back(t.data() + start, i - start);
  }
}
}  // namespace

ConditionTier::ConditionTier(const std::vector<Route>& routes) {
  RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(64 << 20);
  std::vector<std::string> patterns;
  for (std::size_t r = 0; r < routes.size(); ++r) {
    for (std::size_t c = 0; c < routes[r].conditions.size(); ++c) {
      const RouteCondition& spec = routes[r].conditions[c];
      Condition condition{r, spec.confidence, Condition::Kind::keywords, spec.match_all, {}, {}};
      std::string path = json_path_index(
          json_path_join(json_path_index("routes", r), "conditions"), c);
      if (!spec.keywords.empty()) {
        for (const auto& keyword : spec.keywords) {
          std::string normalised;
          std::vector<std::string_view> words;
          keyword_words(keyword, normalised, words);
          if (words.empty()) throw_config_error(path + ".keywords", "keyword \"" + keyword + "\" has no letters or digits");
          Keyword entry;
          for (auto w : words) entry.words.emplace_back(w);
          std::size_t id = keywords_.size();
          by_first_word_[entry.words.front()].push_back(id);
          keywords_.push_back(std::move(entry));
          condition.keywords.push_back(id);
        }
      } else if (!spec.regex.empty()) {
        condition.kind = Condition::Kind::regex;
        pattern_condition_.push_back(conditions_.size());
        patterns.push_back(spec.regex);
      } else {
        condition.kind = Condition::Kind::metadata;
        condition.filter = MetadataFilter::parse(spec.metadata, path + ".metadata");
        has_metadata_ = true;
      }
      conditions_.push_back(std::move(condition));
    }
  }
  if (!patterns.empty()) {
    patterns_ = std::make_unique<RE2::Set>(options, RE2::UNANCHORED);
    for (std::size_t i = 0; i < patterns.size(); ++i) {
      std::string error;
      if (patterns_->Add(patterns[i], &error) < 0) {
        const Condition& c = conditions_[pattern_condition_[i]];
        throw_config_error("routes[" + std::to_string(c.route) + "].conditions", "regex: " + error);
      }
    }
    if (!patterns_->Compile())
      throw Error(Errc::limit_exceeded, "routes: the regex conditions need more than 64 MiB of memory");
  }
}

ConditionTier::~ConditionTier() = default;

void ConditionTier::evaluate(std::string_view text, const Json& metadata,
                             std::vector<ConditionHit>& hits) const {
  hits.clear();
  if (conditions_.empty()) return;
  Scratch& s = scratch();
  if (!keywords_.empty()) {
    firewall::normalise(text, s.normalised);
    split_words(s.normalised.text, s.words);
    s.keyword_matched.assign(keywords_.size(), 0);
    for (std::size_t i = 0; i < s.words.size(); ++i) {
      auto it = by_first_word_.find(s.words[i]);
      if (it == by_first_word_.end()) continue;
      for (std::size_t id : it->second) {
        const auto& words = keywords_[id].words;
        if (i + words.size() > s.words.size()) continue;
        bool all = true;
        for (std::size_t k = 1; k < words.size() && all; ++k) all = s.words[i + k] == words[k];
        if (all) s.keyword_matched[id] = 1;
      }
    }
  }
  s.pattern_ids.clear();
  if (patterns_) patterns_->Match(re2::StringPiece(text.data(), text.size()), &s.pattern_ids);
  std::sort(s.pattern_ids.begin(), s.pattern_ids.end());

  std::size_t routes = 0;
  for (const auto& c : conditions_) routes = std::max(routes, c.route + 1);
  s.best.assign(routes, -1.0);
  std::size_t pattern_index = 0;
  for (std::size_t i = 0; i < conditions_.size(); ++i) {
    const Condition& c = conditions_[i];
    bool holds = false;
    switch (c.kind) {
      case Condition::Kind::keywords:
        if (c.match_all) {
          holds = std::all_of(c.keywords.begin(), c.keywords.end(),
                              [&](std::size_t id) { return s.keyword_matched[id] != 0; });
        } else {
          holds = std::any_of(c.keywords.begin(), c.keywords.end(),
                              [&](std::size_t id) { return s.keyword_matched[id] != 0; });
        }
        break;
      case Condition::Kind::regex:
        holds = std::binary_search(s.pattern_ids.begin(), s.pattern_ids.end(),
                                   static_cast<int>(pattern_index));
        ++pattern_index;
        break;
      case Condition::Kind::metadata:
        holds = c.filter.matches(metadata);
        break;
    }
    if (holds) s.best[c.route] = std::max(s.best[c.route], c.confidence);
  }
  for (std::size_t r = 0; r < routes; ++r) {
    if (s.best[r] >= 0) hits.push_back({r, s.best[r]});
  }
  std::stable_sort(hits.begin(), hits.end(), [](const ConditionHit& a, const ConditionHit& b) {
    return a.confidence > b.confidence;
  });
}

}  // namespace keel::router
