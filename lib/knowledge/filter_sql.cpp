#include "knowledge/filter_sql.hpp"

#include <cstdint>

namespace keel::knowledge {

namespace {

// A JSON path for SQLite's json functions, or "" when a key cannot be written as one
// (SQLite's quoted labels have no escape for '"').
std::string json_path(const std::vector<std::string>& keys) {
  std::string path = "$";
  for (const auto& key : keys) {
    if (key.find('"') != std::string::npos) return {};
    path += ".\"" + key + "\"";
  }
  return path;
}

class Builder {
 public:
  Builder(std::string column, int first) : column_(std::move(column)), next_(first) {}

  std::string parameter(Json value) {
    out_.parameters.push_back(std::move(value));
    return "?" + std::to_string(next_++);
  }

  // The field's value as MetadataFilter::Predicate::lookup finds it: the key itself when
  // the metadata has it, else the dotted path into nested objects. "" when not expressible.
  std::string value_of(const MetadataFilter::Predicate& predicate) {
    std::string key_path = json_path({predicate.field});
    if (key_path.empty()) return {};
    std::string key = "json_extract(" + column_ + ", " + parameter(key_path) + ")";
    if (predicate.path.size() < 2) return key;
    std::string nested_path = json_path(predicate.path);
    if (nested_path.empty()) return {};
    return "(CASE WHEN json_type(" + column_ + ", " + parameter(key_path) + ") IS NOT NULL THEN " +
           key + " ELSE json_extract(" + column_ + ", " + parameter(nested_path) + ") END)";
  }

  // value = v, as a superset: scalars compare in SQL; arrays and objects only need presence.
  std::string equals(const std::string& value, const Json& v) {
    if (v.is_null()) return "0";  // a null value reads as absent, which never equals
    if (v.is_boolean()) return "(" + value + " = " + (v.get<bool>() ? "1" : "0") + ")";
    if (v.is_number() || v.is_string()) return "(" + value + " = " + parameter(v) + ")";
    return "(" + value + " IS NOT NULL)";
  }

  FilterSql finish(const MetadataFilter& filter) {
    std::vector<std::string> clauses;
    for (const auto& predicate : filter.predicates()) {
      std::string value = value_of(predicate);
      if (value.empty()) continue;  // not expressible: MetadataFilter decides alone
      if (predicate.exists)
        clauses.push_back("(" + value + (*predicate.exists ? " IS NOT NULL)" : " IS NULL)"));
      if (predicate.eq) clauses.push_back(equals(value, *predicate.eq));
      if (predicate.in) {
        std::string any;
        for (const auto& v : *predicate.in) {
          any += any.empty() ? "(" : " OR ";
          any += equals(value, v);
        }
        clauses.push_back(any.empty() ? "0" : any + ")");
      }
      auto bound = [&](const std::optional<double>& limit, const char* op) {
        if (!limit) return;
        // typeof() first: SQLite orders any text above any number.
        clauses.push_back("(typeof(" + value + ") IN ('integer', 'real') AND " + value + " " + op +
                          " " + parameter(*limit) + ")");
      };
      bound(predicate.gte, ">=");
      bound(predicate.lte, "<=");
      bound(predicate.gt, ">");
      bound(predicate.lt, "<");
    }
    if (!clauses.empty()) {
      out_.condition.clear();
      for (const auto& clause : clauses) {
        if (!out_.condition.empty()) out_.condition += " AND ";
        out_.condition += clause;
      }
    }
    return std::move(out_);
  }

 private:
  std::string column_;
  int next_;
  FilterSql out_;
};

}  // namespace

void FilterSql::bind(Statement& statement, int first) const {
  int index = first;
  for (const auto& value : parameters) {
    if (value.is_string()) {
      statement.bind_text(index, value.get_ref<const std::string&>());
    } else if (value.is_number_unsigned() &&
               value.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
      statement.bind(index, value.get<double>());
    } else if (value.is_number_integer()) {
      statement.bind(index, value.get<std::int64_t>());
    } else if (value.is_number()) {
      statement.bind(index, value.get<double>());
    } else {
      statement.bind_null(index);
    }
    ++index;
  }
}

FilterSql filter_to_sql(const MetadataFilter& filter, const std::string& column,
                        int first_parameter) {
  return Builder(column, first_parameter).finish(filter);
}

}  // namespace keel::knowledge
