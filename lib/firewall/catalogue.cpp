#include "firewall/catalogue.hpp"

#include <set>

#include "firewall/builtin_catalogue.hpp"

namespace keel::firewall {

std::string_view view_name(View view) noexcept {
  switch (view) {
    case View::raw: return "raw";
    case View::text: return "text";
    case View::keyword: return "keyword";
  }
  return "text";
}

View view_from_name(std::string_view name, const std::string& path) {
  if (name == "raw") return View::raw;
  if (name == "text") return View::text;
  if (name == "keyword") return View::keyword;
  throw_config_error(path, "must be one of raw, text, keyword, got \"" + std::string(name) + "\"");
}

std::uint8_t directions_from_name(std::string_view name, const std::string& path) {
  if (name == "both") return direction_both;
  if (name == "input") return direction_input;
  if (name == "output") return direction_output;
  throw_config_error(path, "must be one of input, output, both, got \"" + std::string(name) + "\"");
}

std::string entity_name(std::string_view category) {
  auto dot = category.find('.');
  std::string_view stem = dot == std::string_view::npos ? category : category.substr(dot + 1);
  std::string out;
  out.reserve(stem.size());
  for (char c : stem) {
    if (c >= 'a' && c <= 'z') out += static_cast<char>(c - 'a' + 'A');
    else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) out += c;
    else out += '_';
  }
  return out.empty() ? std::string("ENTITY") : out;
}

Rule Rule::owning(RuleText text) {
  auto shared = std::make_shared<const RuleText>(std::move(text));
  Rule rule;
  rule.id = shared->id;
  rule.category = shared->category;
  rule.description = shared->description;
  rule.lang = shared->lang;
  rule.pattern = shared->pattern;
  rule.text = std::move(shared);
  return rule;
}

Rule parse_rule(ConfigReader& reader, bool require_examples) {
  RuleText text;
  text.id = reader.required<std::string>("id");
  if (text.id.empty()) throw_config_error(reader.path_of("id"), "must not be empty");
  text.category = reader.optional<std::string>("category", "threat.custom");
  if (text.category.empty()) throw_config_error(reader.path_of("category"), "must not be empty");
  const double severity = reader.number("severity", 0.7, 0.0, 1.0);
  const View view = view_from_name(reader.optional<std::string>("view", "text"), reader.path_of("view"));
  const std::uint8_t directions = directions_from_name(reader.optional<std::string>("direction", "both"),
                                                       reader.path_of("direction"));
  text.lang = reader.optional<std::string>("lang", "any");
  text.description = reader.optional<std::string>("description", "");
  text.pattern = reader.required<std::string>("pattern");
  if (text.pattern.empty()) throw_config_error(reader.path_of("pattern"), "must not be empty");
  Rule rule = Rule::owning(std::move(text));
  rule.severity = severity;
  rule.view = view;
  rule.directions = directions;
  auto validator = reader.optional<std::string>("validator", "");
  auto parsed = validator_from_name(validator);
  if (!parsed) throw_config_error(reader.path_of("validator"), "unknown validator \"" + validator + "\"");
  rule.validator = *parsed;
  rule.examples = reader.optional<std::vector<std::string>>("examples", {});
  rule.near_misses = reader.optional<std::vector<std::string>>("near_misses", {});
  if (require_examples && (rule.examples.empty() || rule.near_misses.empty())) {
    throw_config_error(reader.path(), "rule \"" + std::string(rule.id) + "\" needs examples and near_misses");
  }
  reader.finish();
  return rule;
}

std::vector<Rule> parse_catalogue(std::string_view json_text, std::string_view source) {
  Json json = parse_json(json_text, source);
  ConfigReader root(json, std::string(source));
  (void)root.optional<int>("version", 1);
  std::vector<Rule> rules;
  for (auto& entry : root.objects("rules")) rules.push_back(parse_rule(entry, true));
  root.finish();
  return rules;
}

const std::vector<Rule>& builtin_rules() {
  // Views of the generated tables: keel_compile_catalogue checked the names and the ids'
  // uniqueness when keel was built.
  static const std::vector<Rule> rules = [] {
    std::vector<Rule> all(builtin::rule_count);
    try {
      for (std::size_t i = 0; i < builtin::rule_count; ++i) {
        const builtin::CatalogueRule& entry = builtin::rules[i];
        Rule& rule = all[i];
        rule.id = builtin::text_of(entry.id);
        rule.category = builtin::text_of(entry.category);
        rule.lang = builtin::text_of(entry.lang);
        rule.description = builtin::text_of(entry.description);
        rule.pattern = builtin::text_of(entry.pattern);
        rule.severity = entry.severity;
        rule.view = view_from_name(builtin::text_of(entry.view), "view");
        rule.directions = directions_from_name(builtin::text_of(entry.direction), "direction");
        auto validator = validator_from_name(builtin::text_of(entry.validator));
        if (!validator) throw_config_error("validator", "unknown validator");
        rule.validator = *validator;
      }
    } catch (const Error& e) {
      throw Error(Errc::internal, std::string("built-in firewall catalogue: ") + e.what());
    }
    return all;
  }();
  return rules;
}

}  // namespace keel::firewall
