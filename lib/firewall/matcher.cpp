#include "firewall/matcher.hpp"

#include <re2/re2.h>
#include <re2/set.h>

#include <atomic>
#include <thread>

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
}  // namespace

struct Matcher::CompiledSet {
  CompiledSet(const RE2::Options& options) : set(options, RE2::UNANCHORED) {}
  RE2::Set set;
};

namespace {

constexpr std::size_t rules_per_set = 256;
constexpr std::int64_t max_set_memory = 64 << 20;

RE2::Options rule_options() {
  RE2::Options options;
  options.set_encoding(RE2::Options::EncodingUTF8);
  options.set_log_errors(false);
  options.set_case_sensitive(true);
  return options;
}

}  // namespace

Matcher::Matcher(std::vector<Rule> rules)
    : rules_(strip_examples(std::move(rules))),
      compile_once_(new std::once_flag[rules_.size()]),
      compiled_(rules_.size()),
      value_group_(rules_.size(), 0) {
  RE2::Options set_options = rule_options();
  set_options.set_max_mem(max_set_memory);
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    const Rule& rule = rules_[i];
    ViewSets& view = views_[static_cast<int>(rule.view)];
    if (view.sets.empty() || view.rules.back().size() >= rules_per_set) {
      view.sets.push_back(std::make_unique<CompiledSet>(set_options));
      view.rules.emplace_back();
    }
    std::string error;
    if (view.sets.back()->set.Add(rule.pattern, &error) < 0) {
      throw Error(Errc::invalid_config, "rule \"" + rule.id + "\": invalid pattern: " + error);
    }
    view.rules.back().push_back(static_cast<int>(i));
  }
  // Compiling sets takes tens of milliseconds in all (RE2's compiler): they compile in
  // parallel, a few threads each taking the next set.
  std::vector<RE2::Set*> all;
  for (auto& view : views_) {
    for (auto& set : view.sets) all.push_back(&set->set);
  }
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  auto worker = [&] {
    for (std::size_t k = next++; k < all.size(); k = next++) {
      if (!all[k]->Compile()) failed = true;
    }
  };
  unsigned helpers = std::min<unsigned>(3, std::max(1u, std::thread::hardware_concurrency()) - 1);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < helpers && all.size() > 4; ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  if (failed) throw Error(Errc::limit_exceeded, "the firewall's patterns exceed RE2's memory budget");
}

Matcher::~Matcher() = default;

std::shared_ptr<const Matcher> Matcher::builtin() {
  static const std::shared_ptr<const Matcher> shared = std::make_shared<const Matcher>(builtin_rules());
  return shared;
}

const RE2& Matcher::compiled(std::size_t index) const {
  std::call_once(compile_once_[index], [&] {
    // The set already accepted this pattern, so RE2 accepts it alone too.
    compiled_[index] = std::make_unique<RE2>(rules_[index].pattern, rule_options());
    value_group_[index] = compiled_[index]->NumberOfCapturingGroups() >= 1 ? 1 : 0;
  });
  return *compiled_[index];
}

void Matcher::candidates(View view, std::string_view text, std::uint8_t direction,
                         std::vector<int>& out) const {
  const ViewSets& sets = views_[static_cast<int>(view)];
  re2::StringPiece piece(text.data(), text.size());
  std::vector<int> matched;
  for (std::size_t s = 0; s < sets.sets.size(); ++s) {
    matched.clear();
    RE2::Set::ErrorInfo info{};
    const auto& rules = sets.rules[s];
    if (!sets.sets[s]->set.Match(piece, &matched, &info) && info.kind != RE2::Set::kNoError) {
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
}

void Matcher::spans(int index, std::string_view text, std::vector<Hit>& out,
                    std::size_t limit) const {
  const auto i = static_cast<std::size_t>(index);
  const RE2& re = compiled(i);
  const Rule& rule = rules_[i];
  const int group = value_group_[i];
  re2::StringPiece input(text.data(), text.size());
  re2::StringPiece captures[2];
  std::size_t pos = 0, found = 0;
  while (pos <= text.size() && found < limit) {
    if (!re.Match(input, pos, text.size(), RE2::UNANCHORED, captures, group + 1)) break;
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
