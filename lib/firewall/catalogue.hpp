// Internal: the firewall's pattern catalogue. Rules are data (lib/firewall/rules/*.json, turned
// into C++ tables at build time by keel_compile_catalogue); this unit loads and checks them, and
// turns custom rules from the configuration into the same shape.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "firewall/validators.hpp"
#include "keel/json.hpp"

namespace keel::firewall {

/// Which normalised form of the text a rule's pattern runs on.
enum class View : std::uint8_t {
  raw = 0,      // the original bytes
  text = 1,     // NFKC, case-folded, marks stripped, invisibles removed, confusables folded,
                // whitespace collapsed
  keyword = 2,  // text plus leetspeak folded (0->o 1->i 3->e 4->a 5->s 7->t @->a $->s)
};
inline constexpr int view_count = 3;
std::string_view view_name(View view) noexcept;

/// Direction bits.
inline constexpr std::uint8_t direction_input = 1;
inline constexpr std::uint8_t direction_output = 2;
inline constexpr std::uint8_t direction_both = 3;

/// The text of a rule read at run time (custom rules, catalogue files in tests).
struct RuleText {
  std::string id;
  std::string category;
  std::string description;
  std::string lang = "any";
  std::string pattern;
};

/// A rule. Its text is a view: of the tables compiled into the library for the built-in
/// catalogue (nothing to copy when a process starts), or of the RuleText it shares.
struct Rule {
  std::string_view id;
  std::string_view category;
  std::string_view description;
  std::string_view lang = "any";
  std::string_view pattern;
  double severity = 0.5;
  View view = View::text;
  std::uint8_t directions = direction_both;
  Validator validator = Validator::none;
  std::vector<std::string> examples;     // each must produce this rule
  std::vector<std::string> near_misses;  // none may produce this rule
  std::shared_ptr<const RuleText> text;  // none for the built-in catalogue

  /// A rule whose views are of `text`, which it keeps.
  static Rule owning(RuleText text);
};

/// The built-in catalogue: threats, PII and secrets, without their examples (tests read those
/// from lib/firewall/rules/). Built once per process from the tables keel_compile_catalogue
/// compiled into the library, and shared. Throws Error(internal) if those are malformed (a
/// unit test compares them with the JSON).
const std::vector<Rule>& builtin_rules();

/// Parses one catalogue document ({"version": 1, "rules": [...]}); `source` names it in errors.
std::vector<Rule> parse_catalogue(std::string_view json_text, std::string_view source);

/// Reads one rule object; throws Error(invalid_config) naming `reader`'s path.
Rule parse_rule(ConfigReader& reader, bool require_examples);

View view_from_name(std::string_view name, const std::string& path);
std::uint8_t directions_from_name(std::string_view name, const std::string& path);

/// "pii.email" -> "EMAIL", "secret.aws_access_key" -> "AWS_ACCESS_KEY": the placeholder stem.
std::string entity_name(std::string_view category);

/// True for categories whose findings are entities (redactable values): pii.* and secret.*.
inline bool is_entity_category(std::string_view category) {
  return category.starts_with("pii.") || category.starts_with("secret.");
}

}  // namespace keel::firewall
