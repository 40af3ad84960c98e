#include "firewall/matcher.hpp"

#include <re2/re2.h>
#include <re2/set.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <atomic>
#include <optional>
#include <thread>

#include "core/threads.hpp"
#include "firewall/builtin_catalogue.hpp"
#include "keel/error.hpp"

namespace keel::firewall {

namespace {

// Examples are for tests; a running matcher does not need to keep them.
std::vector<Rule> strip_examples(std::vector<Rule> rules) {
  for (auto& r : rules) {
    r.examples = {};
    r.near_misses = {};
  }
  return rules;
}

// A view's rules form one RE2::Set (split only past `rules_per_set` patterns). Its DFA needs
// room: with RE2's usual budget the states for hundreds of phrase patterns do not fit, and on
// varied text the cache is rebuilt constantly; with a 64 MiB budget they stay cached. The
// budget is a ceiling, not an allocation.
constexpr std::size_t rules_per_set = 256;
constexpr std::int64_t max_set_memory = 64 << 20;
constexpr std::int64_t rule_memory = 1 << 20;

// A rule alone needs far less than RE2's default 8 MiB budget (the largest program in the
// catalogue is ~55 KB); the budget bounds its DFA cache, which otherwise grows with every new
// text it sees. The sets get max_set_memory.
RE2::Options rule_options(std::int64_t max_mem = rule_memory) {
  RE2::Options options;
  options.set_max_mem(max_mem);
  options.set_encoding(RE2::Options::EncodingUTF8);
  options.set_log_errors(false);
  options.set_case_sensitive(true);
  return options;
}

// The prefilter's units of custom rules: each rule's top-level alternatives.
std::vector<PrefilterUnit> units_of(const std::vector<Rule>& rules) {
  std::vector<PrefilterUnit> units;
  for (std::size_t r = 0; r < rules.size(); ++r) {
    add_units(static_cast<std::uint32_t>(r), rules[r].pattern, static_cast<std::uint8_t>(rules[r].view), units);
  }
  return units;
}

}  // namespace

static_assert(view_count == prefilter_groups, "the prefilter's groups are the firewall's views");

std::string Matcher::pattern_error(std::string_view pattern) {
  RE2 probe(re2::StringPiece(pattern.data(), pattern.size()), rule_options());
  if (probe.ok()) return {};
  return probe.error().empty() ? std::string("invalid pattern") : probe.error();
}

struct Matcher::ViewSets {
  std::vector<std::unique_ptr<RE2::Set>> sets;
  std::vector<std::vector<int>> rules;  // per set: set index -> rule index
};

Matcher::Matcher(std::vector<Rule> rules)
    : own_rules_(strip_examples(std::move(rules))),
      rules_(own_rules_),
      prefilter_(units_of(rules_)),
      compile_once_(new std::once_flag[rules_.size()]),
      compiled_(rules_.size()),
      value_group_(rules_.size(), 0),
      spans_once_(new std::once_flag[rules_.size()]),
      unit_once_(new std::once_flag[prefilter_.tables().units]),
      unit_compiled_(prefilter_.tables().units) {
  for (const auto& r : rules_) has_view_[static_cast<int>(r.view)] = true;
  index_units();
}

Matcher::Matcher(const std::vector<Rule>& rules, const PrefilterTables& tables)
    : rules_(rules),
      prefilter_(tables),
      compile_once_(new std::once_flag[rules_.size()]),
      compiled_(rules_.size()),
      value_group_(rules_.size(), 0),
      spans_once_(new std::once_flag[rules_.size()]),
      unit_once_(new std::once_flag[tables.units]),
      unit_compiled_(tables.units) {
  for (std::uint32_t u = 0; u < tables.units; ++u) {
    const std::uint32_t r = tables.unit_rule[u];
    if (r >= rules_.size() || tables.group[u] != static_cast<std::uint8_t>(rules_[r].view) ||
        tables.unit_begin[u] > tables.unit_end[u] || tables.unit_end[u] > rules_[r].pattern.size()) {
      throw Error(Errc::internal, "the firewall's prefilter tables do not fit its catalogue");
    }
  }
  for (const auto& r : rules_) has_view_[static_cast<int>(r.view)] = true;
  index_units();
}

namespace {

// Where a pattern's first capturing group opens: a '(' not followed by '?', or a named group
// ("(?P<name>", "(?<name>"), outside escapes and classes. npos when there is none; nullopt for
// syntax this reading does not follow (\Q...\E quotes).
std::optional<std::size_t> first_capturing_group(std::string_view p) {
  if (p.find("\\Q") != std::string_view::npos) return std::nullopt;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\') {
      ++i;
    } else if (c == '[') {
      // A class ends at the first ']' that is not its first member ("[]a]", "[^]a]").
      std::size_t j = i + 1;
      if (j < p.size() && p[j] == '^') ++j;
      if (j < p.size() && p[j] == ']') ++j;
      for (; j < p.size() && p[j] != ']'; ++j) {
        if (p[j] == '\\') ++j;
      }
      i = j;
    } else if (c == '(') {
      if (i + 1 >= p.size() || p[i + 1] != '?') return i;
      if (p.compare(i + 1, 3, "?P<") == 0 || (p.compare(i + 1, 2, "?<") == 0 && p.compare(i + 1, 3, "?<=") != 0 &&
                                              p.compare(i + 1, 3, "?<!") != 0)) {
        return i;
      }
    }
  }
  return std::string_view::npos;
}

}  // namespace

// Which rules are a single unit (one alternative: the whole pattern), so a rule's RE2 and its
// unit's can be one; and each rule's units, for spans (see index_spans).
void Matcher::index_units() {
  rule_re_.assign(rules_.size(), nullptr);
  whole_unit_.assign(rules_.size(), no_unit);
  const auto& t = prefilter_.tables();
  first_unit_.assign(rules_.size(), 0);
  unit_count_.assign(rules_.size(), 0);
  unit_value_.assign(t.units, 0);
  for (std::uint32_t u = 0; u < t.units; ++u) {
    const std::uint32_t r = t.unit_rule[u];
    if (unit_count_[r] == 0) first_unit_[r] = u;
    unit_count_[r]++;
  }
  for (std::uint32_t r = 0; r < rules_.size(); ++r) {
    const std::uint32_t first = first_unit_[r], n = unit_count_[r];
    if (n == 0) continue;
    if (n == 1 && t.unit_begin[first] == 0 && t.unit_end[first] == rules_[r].pattern.size()) whole_unit_[r] = first;
    // Units in pattern order, one after another, and the first capturing group placed: else
    // spans come from the whole pattern.
    bool in_order = true;
    for (std::uint32_t k = 0; k < n; ++k) {
      const std::uint32_t u = first + k;
      if (t.unit_rule[u] != r || (k > 0 && t.unit_begin[u] < t.unit_end[u - 1])) in_order = false;
    }
    if (!in_order) unit_count_[r] = 0;
  }
}

// Where the rule's first capturing group is, read from its pattern when spans are first asked
// of it rather than for every rule when the matcher is made: the built-in catalogue's patterns
// are hundreds of kilobytes, most of them never matched in a process.
void Matcher::index_spans(std::size_t r) const {
  std::call_once(spans_once_[r], [&] {
    const std::uint32_t first = first_unit_[r], n = unit_count_[r];
    if (n == 0) return;
    const auto group = first_capturing_group(rules_[r].pattern);
    if (!group) {
      unit_count_[r] = 0;
      return;
    }
    const auto& t = prefilter_.tables();
    for (std::uint32_t k = 0; k < n; ++k) {
      const std::uint32_t u = first + k;
      unit_value_[u] = *group >= t.unit_begin[u] && *group < t.unit_end[u];
    }
  });
}

Matcher::~Matcher() {
  std::lock_guard lock(background_mutex_);
  if (background_.joinable()) background_.join();
}

std::shared_ptr<const Matcher> Matcher::builtin() {
  static const std::shared_ptr<const Matcher> shared =
      std::make_shared<const Matcher>(builtin_rules(), builtin::prefilter);
  return shared;
}

const RE2& Matcher::compiled(std::size_t index) const {
  std::call_once(compile_once_[index], [&] {
    const RE2* re = nullptr;
    const std::uint32_t unit = whole_unit_[index];
    if (unit != no_unit) {
      re = &compiled_unit(unit);  // the rule has one alternative: the same pattern
    } else {
      compiled_[index] = std::make_unique<RE2>(rules_[index].pattern, rule_options());
      re = compiled_[index].get();
    }
    value_group_[index] = re->NumberOfCapturingGroups() >= 1 ? 1 : 0;
    rule_re_[index] = re;
  });
  return *rule_re_[index];
}

const RE2& Matcher::compiled_unit(std::uint32_t unit) const {
  std::call_once(unit_once_[unit], [&] {
    const auto& t = prefilter_.tables();
    std::string_view pattern = rules_[t.unit_rule[unit]].pattern;
    pattern = pattern.substr(t.unit_begin[unit], t.unit_end[unit] - t.unit_begin[unit]);
    unit_compiled_[unit] = std::make_unique<RE2>(re2::StringPiece(pattern.data(), pattern.size()), rule_options());
  });
  return *unit_compiled_[unit];
}

const Matcher::AllSets* Matcher::sets() const {
  std::call_once(sets_once_, [&] {
    auto views = std::make_unique<AllSets>();
    const RE2::Options options = rule_options(max_set_memory);
    std::vector<RE2::Set*> all;
    for (std::size_t i = 0; i < rules_.size(); ++i) {
      ViewSets& view = (*views)[static_cast<int>(rules_[i].view)];
      if (view.sets.empty() || view.rules.back().size() >= rules_per_set) {
        view.sets.push_back(std::make_unique<RE2::Set>(options, RE2::UNANCHORED));
        view.rules.emplace_back();
        all.push_back(view.sets.back().get());
      }
      if (view.sets.back()->Add(rules_[i].pattern, nullptr) < 0) return;  // not a valid pattern
      view.rules.back().push_back(static_cast<int>(i));
    }
    // RE2's compiler takes tens of milliseconds for the catalogue: the sets compile in
    // parallel, a few threads each taking the next set.
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    auto worker = [&] {
      for (std::size_t k = next++; k < all.size(); k = next++) {
        if (!all[k]->Compile()) failed = true;
      }
    };
    unsigned helpers = std::min<unsigned>(3, std::max(1u, std::thread::hardware_concurrency()) - 1);
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < helpers && all.size() > 2; ++t) threads.emplace_back(worker);
    worker();
    for (auto& t : threads) t.join();
    if (!failed) {
      sets_ = std::move(views);
      ready_.store(sets_.get(), std::memory_order_release);
    }
#ifdef __GLIBC__
    // Compiling takes several times the memory the sets keep (parse trees, the compiler's
    // work), freed by now but still resident in the compiling threads' malloc arenas: about
    // 13 MB a host would otherwise carry for nothing.
    malloc_trim(0);
#endif
  });
  return sets_.get();
}

bool Matcher::compiled_all() const noexcept { return ready_.load(std::memory_order_acquire) != nullptr; }

void Matcher::compile_sets_in_background() const {
  std::lock_guard lock(background_mutex_);
  if (!background_.joinable())
    background_ = ::keel::detail::start_thread_apart("keel-fw-compile", [this] { (void)sets(); });
}

void Matcher::candidates(View view, std::string_view text, std::uint8_t direction,
                         std::vector<int>& out, Strategy strategy) const {
  re2::StringPiece piece(text.data(), text.size());
  const AllSets* all = nullptr;
  if (strategy == Strategy::sets || (strategy == Strategy::automatic && text.size() >= long_text)) {
    all = sets();
  } else if (strategy == Strategy::automatic) {
    all = ready_.load(std::memory_order_acquire);
    if (!all && calls_.fetch_add(1, std::memory_order_relaxed) + 1 == warm_after) compile_sets_in_background();
  }
  if (all) {
    const ViewSets& sets = (*all)[static_cast<int>(view)];
    const std::size_t first = out.size();
    std::vector<int> matched;
    for (std::size_t s = 0; s < sets.sets.size(); ++s) {
      matched.clear();
      RE2::Set::ErrorInfo info{};
      const auto& rules = sets.rules[s];
      if (!sets.sets[s]->Match(piece, &matched, &info) && info.kind != RE2::Set::kNoError) {
        // The DFA ran out of memory on this input: test each rule alone (slower, still linear).
        matched.clear();
        for (std::size_t k = 0; k < rules.size(); ++k) {
          if (RE2::PartialMatch(piece, compiled(static_cast<std::size_t>(rules[k])))) {
            matched.push_back(static_cast<int>(k));
          }
        }
      }
      for (int k : matched) {
        int rule = rules[static_cast<std::size_t>(k)];
        if (rules_[static_cast<std::size_t>(rule)].directions & direction) out.push_back(rule);
      }
    }
    std::sort(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
    return;
  }
  // Each candidate unit (a rule, or one of its top-level alternatives) alone; a rule is in as
  // soon as one of its units matches.
  thread_local std::vector<std::uint32_t> units;
  units.clear();
  prefilter_.candidates(static_cast<int>(view), text, units);
  const auto& t = prefilter_.tables();
  std::uint32_t last = static_cast<std::uint32_t>(-1);
  for (std::uint32_t unit : units) {
    const std::uint32_t rule = t.unit_rule[unit];
    if (rule == last || !(rules_[rule].directions & direction)) continue;
    if (RE2::PartialMatch(piece, compiled_unit(unit))) {
      out.push_back(static_cast<int>(rule));
      last = rule;
    }
  }
}

void Matcher::spans(int index, std::string_view text, std::vector<Hit>& out, std::size_t limit,
                    SpanSearch search) const {
  const auto i = static_cast<std::size_t>(index);
  const Rule& rule = rules_[i];
  index_spans(i);
  if (search == SpanSearch::automatic) {
    search = text.size() < anchored_spans_below ? SpanSearch::alternatives_anchored : SpanSearch::whole_reverse;
  }
  const bool anchored = search == SpanSearch::whole_anchored || search == SpanSearch::alternatives_anchored;
  const bool alternatives = (search == SpanSearch::alternatives_anchored || search == SpanSearch::alternatives_reverse) &&
                            unit_count_[i] > 1;
  // What runs: the whole pattern, or each of its units (a pattern of one unit is its unit).
  const std::uint32_t first = alternatives ? first_unit_[i] : 0, count = alternatives ? unit_count_[i] : 1;
  auto pattern_of = [&](std::uint32_t k) -> const RE2& { return alternatives ? compiled_unit(first + k) : compiled(i); };
  auto group_of = [&](std::uint32_t k) {
    if (!alternatives) return value_group_[i];
    return unit_value_[first + k] && pattern_of(k).NumberOfCapturingGroups() >= 1 ? 1 : 0;
  };
  if (!alternatives) (void)compiled(i);  // (sets value_group_)
  re2::StringPiece input(text.data(), text.size());
  re2::StringPiece captures[2], candidate[2];
  int group = 0;
  // The leftmost match at or after `from`, as the whole pattern finds it: the leftmost start
  // of any unit, the first unit in pattern order at that start, and its preferred match there.
  // An anchored match tried at each position in turn succeeds first where an unanchored search
  // would have started (the whole text stays the context of \b and ^ either way).
  auto next = [&](std::size_t from) {
    if (anchored) {
      for (std::size_t at = from; at <= text.size(); ++at) {
        for (std::uint32_t k = 0; k < count; ++k) {
          const int g = group_of(k);
          if (pattern_of(k).Match(input, at, text.size(), RE2::ANCHOR_START, captures, g + 1)) {
            group = g;
            return true;
          }
        }
      }
      return false;
    }
    bool matched = false;
    for (std::uint32_t k = 0; k < count; ++k) {
      const int g = group_of(k);
      if (!pattern_of(k).Match(input, from, text.size(), RE2::UNANCHORED, candidate, g + 1)) continue;
      if (!matched || candidate[0].data() < captures[0].data()) {
        captures[0] = candidate[0];
        captures[1] = g ? candidate[1] : re2::StringPiece();
        group = g;
        matched = true;
      }
    }
    return matched;
  };
  std::size_t pos = 0, found = 0;
  while (pos <= text.size() && found < limit) {
    if (!next(pos)) break;
    std::size_t match_start = static_cast<std::size_t>(captures[0].data() - text.data());
    std::size_t match_end = match_start + captures[0].size();
    const re2::StringPiece& value = captures[group].data() ? captures[group] : captures[0];
    std::size_t start = static_cast<std::size_t>(value.data() - text.data());
    std::size_t end = start + value.size();
    if (end > start &&
        validate(rule.validator, std::string_view(value.data(), value.size()))) {
      out.push_back({index, start, end});
      found++;
    }
    pos = match_end > match_start ? match_end : match_start + 1;
  }
}

}  // namespace keel::firewall
