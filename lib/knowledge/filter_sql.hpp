// Internal: a MetadataFilter as an SQL condition over a JSON metadata column, so that SQLite
// selects candidates inside the search (keyword search joins on it; the vector search's
// exact path scans with it) rather than after the top k.
//
// The condition is a superset of the filter: json_extract cannot tell true from 1 or a
// string from a nested object's text, so every row it selects is checked again with
// MetadataFilter::matches. User values are bound as parameters, never pasted into the SQL.
#pragma once

#include <string>
#include <vector>

#include "core/metadata_filter.hpp"
#include "knowledge/sqlite.hpp"

namespace keel::knowledge {

struct FilterSql {
  std::string condition = "1";   ///< an SQL boolean expression; "1" when there is no filter
  std::vector<Json> parameters;  ///< bound in order to ?first_parameter, ?first_parameter+1...

  /// Binds the parameters starting at SQL parameter `first`.
  void bind(Statement& statement, int first) const;
};

/// `column` is the SQL expression of the metadata JSON text ("d.metadata"); parameters are
/// numbered from `first_parameter` (?N style).
FilterSql filter_to_sql(const MetadataFilter& filter, const std::string& column,
                        int first_parameter);

}  // namespace keel::knowledge
