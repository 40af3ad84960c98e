// Internal: matches the catalogue against the views of a text, in two tiers. A new matcher
// compiles nothing: a literal prefilter says which rules (or which of a rule's top-level
// alternatives) could match a text, and only those run, each compiled the first time it is
// needed. Once the matcher is busy (warm_after calls), a background thread compiles the whole
// catalogue into one RE2::Set per view (~100 ms of CPU, ~13 MB), and from then on a view costs
// one DFA pass. A long text (a document) makes most rules candidates, so it waits for the sets.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "firewall/catalogue.hpp"
#include "firewall/prefilter.hpp"

namespace re2 {
class RE2;
}  // namespace re2

namespace keel::firewall {

/// A rule's match in view coordinates (bytes of the view the rule runs on).
struct Hit {
  int rule = 0;
  std::size_t start = 0;
  std::size_t end = 0;
};

class Matcher {
 public:
  /// The built-in catalogue over the tables compiled into the library, shared by every firewall
  /// in the process (custom rules get a Matcher of their own). Thread-safe.
  static std::shared_ptr<const Matcher> builtin();

  /// Custom rules: works out each rule's requirement here; patterns compile when first needed
  /// (the firewall has checked them when it was configured).
  explicit Matcher(std::vector<Rule> rules);
  /// `rules` in the order of `tables` (the built-in catalogue); both must outlive the matcher.
  Matcher(const std::vector<Rule>& rules, const PrefilterTables& tables);
  ~Matcher();
  Matcher(const Matcher&) = delete;
  Matcher& operator=(const Matcher&) = delete;

  const std::vector<Rule>& rules() const noexcept { return rules_; }

  /// Empty when a matcher can run `pattern`, else RE2's reason: compiled with the memory budget
  /// the matcher gives a rule, so a pattern too large for it is refused when configured rather
  /// than never matching.
  static std::string pattern_error(std::string_view pattern);

  /// How candidates() finds matching rules. Both give the same rules; tests compare them.
  enum class Strategy {
    automatic,  // the sets when compiled (or for a long text), else the prefilter
    prefilter,  // the prefilter's candidates, each rule alone
    sets,       // one RE2::Set pass per view (compiled now if need be)
  };
  static constexpr std::size_t long_text = 32 * 1024;
  static constexpr std::uint32_t warm_after = 64;

  /// Appends, in rule order, the indices of the rules of `view` that match `text` and apply to
  /// `direction`. For the text and keyword views `text` is as normalise() makes them (the
  /// prefilter counts on their whitespace being collapsed).
  void candidates(View view, std::string_view text, std::uint8_t direction, std::vector<int>& out,
                  Strategy strategy = Strategy::automatic) const;
  /// How spans() finds matches. All give the same spans; tests compare them.
  ///  - What runs: the whole rule, or its top-level alternatives (units) one by one, the first
  ///    to match at the leftmost position winning, as in the whole rule. The units are compiled
  ///    once and shared with the prefilter tier (which has compiled those it named); the whole
  ///    of a rule with several is a compilation of its own.
  ///  - Where a match starts: RE2 runs a reverse program back from the match's end, compiled at
  ///    the first such search and as costly to compile as the pattern; trying an anchored match
  ///    at each position in turn finds the same leftmost match for less on a short text.
  /// Automatic: alternatives and anchored tries on a text under anchored_spans_below bytes,
  /// else the whole rule and its reverse program.
  enum class SpanSearch { automatic, whole_reverse, whole_anchored, alternatives_reverse, alternatives_anchored };
  static constexpr std::size_t anchored_spans_below = 256;

  /// Appends the validated spans of rule `index` in `text` (at most `limit`).
  void spans(int index, std::string_view text, std::vector<Hit>& out, std::size_t limit,
             SpanSearch search = SpanSearch::automatic) const;

  /// Whether the sets are compiled (automatic candidates() then use them).
  bool compiled_all() const noexcept;

  /// Whether any rule runs on `view` (the rot13 pass uses the keyword view's).
  bool has_view(View view) const noexcept { return has_view_[static_cast<int>(view)]; }

 private:
  const re2::RE2& compiled(std::size_t index) const;
  const re2::RE2& compiled_unit(std::uint32_t unit) const;
  void index_units();
  void index_spans(std::size_t rule) const;
  struct ViewSets;
  using AllSets = std::array<ViewSets, view_count>;
  // Compiles the sets of every view once (callers wait for the one compiling); null if RE2
  // could not compile them within its memory budget (the prefilter then serves every text).
  const AllSets* sets() const;
  void compile_sets_in_background() const;

  std::vector<Rule> own_rules_;      // custom rules
  const std::vector<Rule>& rules_;  // own_rules_, or the built-in catalogue
  Prefilter prefilter_;
  std::array<bool, view_count> has_view_{};
  mutable std::unique_ptr<std::once_flag[]> compile_once_;
  mutable std::vector<std::unique_ptr<re2::RE2>> compiled_;
  mutable std::vector<int> value_group_;  // 1 when the pattern has a capturing group, else 0
  mutable std::vector<const re2::RE2*> rule_re_;  // compiled_[i], or its only unit's
  static constexpr std::uint32_t no_unit = 0xFFFFFFFF;
  std::vector<std::uint32_t> whole_unit_;  // per rule: its only unit, or no_unit
  // Per rule: its units are first_unit_[r] .. first_unit_[r] + unit_count_[r] - 1, or none
  // (unit_count_ 0) when its spans must come from the whole pattern. unit_count_[r] and its
  // units' unit_value_ are final once index_spans(r) has run (spans_once_[r]).
  std::vector<std::uint32_t> first_unit_;
  mutable std::vector<std::uint32_t> unit_count_;
  mutable std::vector<std::uint8_t> unit_value_;  // per unit: holds its rule's first capturing group
  mutable std::unique_ptr<std::once_flag[]> spans_once_;
  mutable std::unique_ptr<std::once_flag[]> unit_once_;  // the prefilter's units, alone
  mutable std::vector<std::unique_ptr<re2::RE2>> unit_compiled_;
  mutable std::once_flag sets_once_;
  mutable std::unique_ptr<AllSets> sets_;
  mutable std::atomic<const AllSets*> ready_{nullptr};
  mutable std::atomic<std::uint32_t> calls_{0};
  mutable std::mutex background_mutex_;
  mutable std::thread background_;
};

}  // namespace keel::firewall
