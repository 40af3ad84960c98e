// Internal: the knowledge base's SQLite schema and its `kb_meta` facts (owner, dimension,
// metric, generation). The file is recognised as a knowledge base by its application_id, so
// another application's SQLite database is refused instead of being written into.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "knowledge/sqlite.hpp"

namespace keel::knowledge {

/// PRAGMA application_id of a knowledge base: "KEEL" in ASCII.
inline constexpr std::int64_t application_id = 0x4B45454C;
/// PRAGMA user_version: the schema's version.
inline constexpr std::int64_t schema_version = 1;

/// The document lengths TokenCounts saves (see ranking.hpp): one row, a cache of FTS5's docsize
/// table that may be missing (a base last written before keel saved them) or out of date.
inline constexpr const char* token_counts_table_sql =
    "CREATE TABLE IF NOT EXISTS token_counts(id INTEGER PRIMARY KEY CHECK (id = 1), "
    "generation INTEGER NOT NULL, counts BLOB NOT NULL)";

/// What kb_meta records about a base.
struct StoredMeta {
  std::uint64_t owner = 0;  ///< random per database; ties the index file to it
  std::size_t dimension = 0;
  std::string metric;            ///< "cosine" or "inner_product"
  std::uint64_t generation = 0;  ///< bumped by every committed write
  /// Tombstones (deleted labels) up to this generation have been pruned: an index file older
  /// than it cannot be caught up and is rebuilt.
  std::uint64_t pruned_through = 0;
};

/// Prepares a connection: WAL (file bases), `synchronous`, caches. `writer` selects the
/// writer's settings. Throws Error(io) with a clear message when the file is not SQLite.
void configure_connection(Connection& connection, bool writer, const std::string& synchronous);

/// True when the database has no tables yet (a new file).
bool database_is_empty(Connection& connection);

/// Throws Error(invalid_argument) when the database is not a keel knowledge base of a
/// version this code reads.
void check_knowledge_base(Connection& connection);

/// Creates every table in one transaction and records `meta`.
void create_schema(Connection& connection, const StoredMeta& meta);

StoredMeta read_meta(Connection& connection);

/// Writes one kb_meta value (inside the caller's transaction).
void write_meta(Connection& connection, const char* key, std::int64_t value);

}  // namespace keel::knowledge
