// Internal: matches the catalogue against the views of a text. One RE2::Set pass per view says
// which rules match; only those rules then run alone to find their spans and validate values.
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "firewall/catalogue.hpp"

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
  /// The built-in catalogue, compiled once per process on first use and shared by every
  /// firewall (custom rules get a Matcher of their own). Thread-safe.
  static std::shared_ptr<const Matcher> builtin();

  /// Compiles every rule; throws Error(invalid_config) naming the rule whose pattern RE2 rejects.
  explicit Matcher(std::vector<Rule> rules);
  ~Matcher();
  Matcher(const Matcher&) = delete;
  Matcher& operator=(const Matcher&) = delete;

  const std::vector<Rule>& rules() const noexcept { return rules_; }

  /// Indices of the rules of `view` that match `text` and apply to `direction` (one pass).
  void candidates(View view, std::string_view text, std::uint8_t direction,
                  std::vector<int>& out) const;
  /// Appends the validated spans of rule `index` in `text` (at most `limit`).
  void spans(int index, std::string_view text, std::vector<Hit>& out, std::size_t limit) const;

  /// Whether any rule of `view` is keyed on leetspeak-folded words (the rot13 pass uses them).
  bool has_view(View view) const noexcept { return !views_[static_cast<int>(view)].sets.empty(); }

 private:
  // A rule's own RE2 is compiled the first time its set entry fires: most rules never match a
  // given workload, and compiling all of them would dominate start-up.
  const re2::RE2& compiled(std::size_t index) const;

  std::vector<Rule> rules_;
  mutable std::unique_ptr<std::once_flag[]> compile_once_;
  mutable std::vector<std::unique_ptr<re2::RE2>> compiled_;
  mutable std::vector<int> value_group_;  // 1 when the pattern has a capturing group, else 0
  // A view's rules form one RE2::Set (split only past `rules_per_set` patterns). Its DFA needs
  // room: with RE2's usual budget the states for hundreds of phrase patterns do not fit, and on
  // varied text the cache is rebuilt constantly (hundreds of microseconds per prompt); with a
  // 64 MiB budget they stay cached (a few microseconds). The budget is a ceiling, not an
  // allocation: the sets hold about 14 MiB after a thousand varied prompts.
  struct CompiledSet;  // an RE2::Set (a nested class, so it cannot be forward-declared)
  struct ViewSets {
    std::vector<std::unique_ptr<CompiledSet>> sets;
    std::vector<std::vector<int>> rules;  // per set: set index -> rule index
  };
  std::array<ViewSets, view_count> views_;
};

}  // namespace keel::firewall
