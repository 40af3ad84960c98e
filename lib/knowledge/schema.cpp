#include "knowledge/schema.hpp"

#include <string_view>

#include "keel/error.hpp"

namespace keel::knowledge {

namespace {

// Vectors live in their own table so that scanning documents (metadata filters, catch-up by
// generation) does not drag 1.5 KB of floats per row through the page cache. The FTS index
// uses documents as external content: the text is stored once. AUTOINCREMENT keeps labels
// (the HNSW ids) from ever being reused, so a deleted label cannot come back as another
// document when an older index file is caught up.
constexpr std::string_view schema_sql = R"sql(
CREATE TABLE kb_meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE documents(
  label INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  metadata TEXT NOT NULL,
  generation INTEGER NOT NULL,
  text TEXT NOT NULL);
CREATE INDEX documents_by_generation ON documents(generation);
CREATE TABLE vectors(label INTEGER PRIMARY KEY, vector BLOB NOT NULL);
CREATE TABLE tombstones(label INTEGER PRIMARY KEY, generation INTEGER NOT NULL);
CREATE VIRTUAL TABLE documents_fts USING fts5(
  text, content='documents', content_rowid='label',
  tokenize='porter unicode61 remove_diacritics 2');
CREATE TRIGGER documents_fts_insert AFTER INSERT ON documents BEGIN
  INSERT INTO documents_fts(rowid, text) VALUES (new.label, new.text);
END;
CREATE TRIGGER documents_delete AFTER DELETE ON documents BEGIN
  INSERT INTO documents_fts(documents_fts, rowid, text) VALUES ('delete', old.label, old.text);
  DELETE FROM vectors WHERE label = old.label;
END;
CREATE TRIGGER documents_fts_update AFTER UPDATE OF text ON documents BEGIN
  INSERT INTO documents_fts(documents_fts, rowid, text) VALUES ('delete', old.label, old.text);
  INSERT INTO documents_fts(rowid, text) VALUES (new.label, new.text);
END;
CREATE TABLE entities(id TEXT PRIMARY KEY, type TEXT NOT NULL, properties TEXT NOT NULL)
  WITHOUT ROWID;
CREATE TABLE edges(
  source TEXT NOT NULL, target TEXT NOT NULL, type TEXT NOT NULL,
  weight REAL NOT NULL, properties TEXT NOT NULL,
  PRIMARY KEY(source, target, type)) WITHOUT ROWID;
CREATE INDEX edges_by_target ON edges(target, type);
)sql";

std::int64_t pragma_int(Connection& connection, const char* sql) {
  auto statement = connection.prepare(sql);
  return statement.step() ? statement.int64(0) : 0;
}

}  // namespace

void configure_connection(Connection& connection, bool writer, const std::string& synchronous) {
  const bool memory = connection.path() == ":memory:";
  try {
    // The first statement reads the header: a file that is not SQLite fails here.
    if (!memory && writer) {
      auto mode = connection.prepare("PRAGMA journal_mode=WAL");
      if (!mode.step() || mode.text(0) != "wal")
        throw Error(Errc::io, "knowledge base " + connection.path() + ": cannot use WAL mode");
    } else {
      (void)pragma_int(connection, "PRAGMA schema_version");
    }
  } catch (const Error& e) {
    if (std::string_view(e.what()).find("not a database") != std::string_view::npos) {
      throw Error(Errc::io, "knowledge base " + connection.path() +
                                ": not a SQLite database (file is not a database)");
    }
    throw;
  }
  connection.exec(synchronous == "full" ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  connection.exec("PRAGMA temp_store=MEMORY");
  // Large enough that a batch of writes and the FTS merge work stay in memory; a reader's
  // pages are a search's working set (4 MiB a reader at most). Pages are read, not mapped
  // (SQLite's default, no mmap_size): a first touch of a mapped page costs a page fault, 10x a
  // read of it on a VM that shadows page tables, and a file cut short under a map would kill
  // the process with SIGBUS rather than fail the query.
  connection.exec(writer ? "PRAGMA cache_size=-65536" : "PRAGMA cache_size=-4096");
  if (!writer) connection.exec("PRAGMA query_only=1");
}

bool database_is_empty(Connection& connection) {
  return pragma_int(connection, "SELECT count(*) FROM sqlite_schema") == 0;
}

void check_knowledge_base(Connection& connection) {
  if (pragma_int(connection, "PRAGMA application_id") != application_id) {
    throw Error(Errc::invalid_argument, "knowledge base " + connection.path() +
                                            ": a SQLite database of another application, not "
                                            "a keel knowledge base");
  }
  auto version = pragma_int(connection, "PRAGMA user_version");
  if (version != schema_version) {
    throw Error(Errc::invalid_argument, "knowledge base " + connection.path() +
                                            ": schema version " + std::to_string(version) +
                                            ", this keel reads version " +
                                            std::to_string(schema_version));
  }
}

void create_schema(Connection& connection, const StoredMeta& meta) {
  Transaction transaction(connection);
  connection.exec(schema_sql);
  connection.exec(token_counts_table_sql);
  connection.exec("PRAGMA application_id=" + std::to_string(application_id));
  connection.exec("PRAGMA user_version=" + std::to_string(schema_version));
  auto put = [&](const char* key, auto bind_value) {
    auto statement = connection.prepare("INSERT INTO kb_meta(key, value) VALUES (?1, ?2)");
    statement.bind_text(1, key);
    bind_value(statement);
    statement.run();
  };
  put("owner", [&](Statement& s) { s.bind(2, static_cast<std::int64_t>(meta.owner)); });
  put("dimension", [&](Statement& s) { s.bind(2, static_cast<std::int64_t>(meta.dimension)); });
  put("metric", [&](Statement& s) { s.bind_text(2, meta.metric); });
  put("generation", [&](Statement& s) { s.bind(2, static_cast<std::int64_t>(0)); });
  put("pruned_through", [&](Statement& s) { s.bind(2, static_cast<std::int64_t>(0)); });
  transaction.commit();
}

StoredMeta read_meta(Connection& connection) {
  StoredMeta meta;
  bool seen_owner = false, seen_dimension = false, seen_metric = false;
  auto rows = connection.prepare("SELECT key, value FROM kb_meta");
  while (rows.step()) {
    auto key = rows.text(0);
    if (key == "owner") {
      meta.owner = static_cast<std::uint64_t>(rows.int64(1));
      seen_owner = true;
    } else if (key == "dimension") {
      meta.dimension = static_cast<std::size_t>(rows.int64(1));
      seen_dimension = true;
    } else if (key == "metric") {
      meta.metric = std::string(rows.text(1));
      seen_metric = true;
    } else if (key == "generation") {
      meta.generation = static_cast<std::uint64_t>(rows.int64(1));
    } else if (key == "pruned_through") {
      meta.pruned_through = static_cast<std::uint64_t>(rows.int64(1));
    }
  }
  if (!seen_owner || !seen_dimension || !seen_metric || meta.dimension == 0 ||
      (meta.metric != "cosine" && meta.metric != "inner_product")) {
    throw Error(Errc::invalid_argument,
                "knowledge base " + connection.path() + ": damaged kb_meta table");
  }
  return meta;
}

void write_meta(Connection& connection, const char* key, std::int64_t value) {
  auto statement = connection.prepare("UPDATE kb_meta SET value = ?2 WHERE key = ?1");
  statement.bind_text(1, key).bind(2, value).run();
}

}  // namespace keel::knowledge
