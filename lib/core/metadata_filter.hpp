// Internal: predicates on a JSON metadata object, shared by the router's metadata conditions
// and the knowledge base's search filters, so both read `{"lang": {"eq": "fr"}, "year":
// {"gte": 2023}}` the same way.
//
// A filter is an object of fields, all of which must hold. A field names a key of the metadata
// object, or — when no such key exists — a dotted path into nested objects ("user.tier").
// Each field holds one object of operators, all of which must hold:
//   {"eq": v}           the value equals v (numbers compare by value: 1 == 1.0)
//   {"in": [v, ...]}    the value equals one of them
//   {"exists": bool}    the field is present (non-null) or absent
//   {"gte": n}, {"lte": m}, {"gt": n}, {"lt": m}   a number within the bounds
// A field that is absent fails every operator except {"exists": false}.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "keel/json.hpp"

namespace keel {

class MetadataFilter {
 public:
  struct Predicate {
    std::string field;               // as written
    std::vector<std::string> path;   // field split on '.', used when `field` is not a key
    std::optional<Json> eq;
    std::optional<std::vector<Json>> in;
    std::optional<bool> exists;
    std::optional<double> gte, lte, gt, lt;

    /// The value this predicate looks at, or nullptr when absent or null.
    const Json* lookup(const Json& metadata) const noexcept;
    bool matches(const Json& metadata) const;
  };

  /// Reads a filter. Throws Error(invalid_config, "<path>.<field>: ...") on an unknown
  /// operator, a wrong type or an empty operator object.
  static MetadataFilter parse(const Json& filter, const std::string& path);

  /// True when every predicate holds; an empty filter matches everything. A metadata value
  /// that is not an object matches only filters whose predicates all accept absence.
  bool matches(const Json& metadata) const;
  bool empty() const noexcept { return predicates_.empty(); }
  const std::vector<Predicate>& predicates() const noexcept { return predicates_; }

 private:
  std::vector<Predicate> predicates_;
};

}  // namespace keel
