// Internal: JSON Schema validation of tool arguments, with Debian's valijson (draft 4/6/7
// keywords: type, properties, required, enum, items, minimum/maximum, minLength/maxLength,
// additionalProperties and the rest of what models are given). A parsed schema is immutable
// and may validate from many threads at once.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "keel/json.hpp"

namespace valijson {
class Schema;
}

namespace keel::tools {

class JsonSchema {
 public:
  /// Parses `schema`; throws Error(invalid_argument) naming `where` and what is wrong (a schema
  /// that is not an object, an unknown type, a remote $ref...).
  static JsonSchema parse(const Json& schema, std::string_view where);

  /// One message per violation, each starting with where it is ("qty: ..."; "(root)" for the
  /// value itself); empty when `value` conforms.
  std::vector<std::string> violations(const Json& value) const;

  const Json& source() const noexcept { return *source_; }

 private:
  std::shared_ptr<const valijson::Schema> schema_;
  std::shared_ptr<const Json> source_;
};

}  // namespace keel::tools
