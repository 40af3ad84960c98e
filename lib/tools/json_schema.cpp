// valijson compiles "pattern" with std::regex, whose GCC 12 headers trip -Wmaybe-uninitialized
// in sanitizer builds (a false positive in libstdc++): quiet for these headers only, which are
// first included here so that the warning's locations fall inside the region.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <regex>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include "tools/json_schema.hpp"

#include <set>

#include "keel/error.hpp"

namespace keel::tools {

namespace {

// valijson's context: {"<root>", "[qty]", "[0]"} -> "qty[0]"; "(root)" for the value itself.
std::string path_of(const std::vector<std::string>& context) {
  std::string path;
  for (std::size_t i = 1; i < context.size(); ++i) {
    const auto& part = context[i];
    bool index = part.size() > 2 && part.front() == '[' && part.back() == ']' &&
                 part.find_first_not_of("0123456789", 1) == part.size() - 1;
    if (index) {
      path += part;
    } else {
      if (!path.empty()) path += '.';
      path += part.size() >= 2 && part.front() == '[' && part.back() == ']'
                  ? part.substr(1, part.size() - 2)
                  : part;
    }
  }
  return path.empty() ? "(root)" : path;
}

bool is_wrapper(std::string_view description) {
  for (std::string_view prefix :
       {"Failed to validate against schema associated with property name",
        "Failed to validate against schema associated with pattern", "Failed to validate item #",
        "Failed to validate against additional properties schema"}) {
    if (description.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

}  // namespace

JsonSchema JsonSchema::parse(const Json& schema, std::string_view where) {
  if (!schema.is_object()) {
    throw Error(Errc::invalid_argument, std::string(where) + ": a JSON Schema must be an object");
  }
  auto parsed = std::make_shared<valijson::Schema>();
  try {
    valijson::SchemaParser parser;
    valijson::adapters::NlohmannJsonAdapter adapter(schema);
    parser.populateSchema(adapter, *parsed);
  } catch (const std::exception& e) {
    throw Error(Errc::invalid_argument,
                std::string(where) + ": not a usable JSON Schema: " + e.what());
  }
  JsonSchema out;
  out.schema_ = std::move(parsed);
  out.source_ = std::make_shared<const Json>(schema);
  return out;
}

std::vector<std::string> JsonSchema::violations(const Json& value) const {
  valijson::Validator validator;  // strict types: "3" is not a number
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(value);
  std::vector<std::string> out;
  if (validator.validate(*schema_, target, &results)) return out;
  // valijson reports a nested failure twice: the reason where it is, and a wrapper above it
  // ("Failed to validate against schema associated with property name 'qty'"). A reader needs
  // the reason; a wrapper is kept only when nothing deeper explains it.
  std::vector<valijson::ValidationResults::Error> errors;
  valijson::ValidationResults::Error error;
  while (results.popError(error))
    errors.push_back(error);
  std::set<std::string> seen;
  for (const auto& e : errors) {
    bool has_deeper = false;
    for (const auto& other : errors) {
      if (!is_wrapper(e.description)) break;
      if (other.context.size() > e.context.size() &&
          std::equal(e.context.begin(), e.context.end(), other.context.begin())) {
        has_deeper = true;
        break;
      }
    }
    if (has_deeper) continue;
    std::string message = path_of(e.context) + ": " + e.description;
    if (seen.insert(message).second) out.push_back(std::move(message));
  }
  return out;
}

}  // namespace keel::tools
