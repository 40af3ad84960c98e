#include "knowledge/sqlite.hpp"

#include <sqlite3.h>

#include <utility>

#include "keel/error.hpp"

namespace keel::knowledge {

Statement::~Statement() {
  if (!stmt_) return;
  if (owned_) {
    sqlite3_finalize(stmt_);
    return;
  }
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  if (in_use_) *in_use_ = false;
}

Statement& Statement::bind(int index, std::int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) connection_->fail(rc, "binding a value");
  return *this;
}

Statement& Statement::bind(int index, double value) {
  int rc = sqlite3_bind_double(stmt_, index, value);
  if (rc != SQLITE_OK) connection_->fail(rc, "binding a value");
  return *this;
}

Statement& Statement::bind_text(int index, std::string_view value) {
  int rc =
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK) connection_->fail(rc, "binding a value");
  return *this;
}

Statement& Statement::bind_blob(int index, const void* data, std::size_t size) {
  int rc = sqlite3_bind_blob64(stmt_, index, size ? data : "", size, SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) connection_->fail(rc, "binding a value");
  return *this;
}

Statement& Statement::bind_null(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) connection_->fail(rc, "binding a value");
  return *this;
}

Statement& Statement::bind_pointer(int index, void* pointer, const char* type) {
  int rc = sqlite3_bind_pointer(stmt_, index, pointer, type, nullptr);
  if (rc != SQLITE_OK) connection_->fail(rc, "binding a value");
  return *this;
}

bool Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  connection_->fail(rc, "running a statement");
}

void Statement::run() {
  while (step()) {
  }
}

std::int64_t Statement::int64(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

double Statement::real(int column) const {
  return sqlite3_column_double(stmt_, column);
}

std::string_view Statement::text(int column) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  int n = sqlite3_column_bytes(stmt_, column);
  return p ? std::string_view(p, static_cast<std::size_t>(n)) : std::string_view();
}

std::string_view Statement::blob(int column) const {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  int n = sqlite3_column_bytes(stmt_, column);
  return p ? std::string_view(p, static_cast<std::size_t>(n)) : std::string_view();
}

bool Statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

Connection::Connection(const std::string& path, bool read_only) : path_(path) {
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE |
              (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw Error(Errc::io, "knowledge base " + path + ": cannot open: " + message);
  }
  sqlite3_busy_timeout(db_, 10000);
  sqlite3_extended_result_codes(db_, 1);
}

Connection::~Connection() {
  for (auto& [sql, cached] : cache_)
    sqlite3_finalize(cached.stmt);
  sqlite3_close_v2(db_);
}

fts5_api* Connection::fts5() const {
  fts5_api* api = nullptr;
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT fts5(?1)", -1, &statement, nullptr) == SQLITE_OK) {
    sqlite3_bind_pointer(statement, 1, static_cast<void*>(&api), "fts5_api_ptr", nullptr);
    sqlite3_step(statement);
  }
  sqlite3_finalize(statement);
  return api;
}

Statement Connection::prepare(std::string_view sql) {
  auto it = cache_.find(std::string(sql));
  if (it != cache_.end() && it->second.in_use) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      fail(rc, "preparing a statement");
    }
    return Statement(stmt, this, nullptr, true);
  }
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      fail(rc, "preparing a statement");
    }
    it = cache_.emplace(std::string(sql), Cached{stmt, false}).first;
  }
  it->second.in_use = true;
  return Statement(it->second.stmt, this, &it->second.in_use);
}

void Connection::exec(std::string_view sql) {
  char* error = nullptr;
  int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    std::string message = error ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    throw Error(rc == SQLITE_NOMEM ? Errc::limit_exceeded : Errc::io,
                "knowledge base " + path_ + ": " + message);
  }
}

std::int64_t Connection::last_insert_rowid() const {
  return sqlite3_last_insert_rowid(db_);
}

int Connection::changes() const {
  return sqlite3_changes(db_);
}

void Connection::fail(int rc, std::string_view what) const {
  std::string message = "knowledge base " + path_ + ": " + std::string(what) + ": " +
                        (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_NOMEM:
      throw Error(Errc::limit_exceeded, message);
    case SQLITE_CONSTRAINT:
      throw Error(Errc::invalid_argument, message);
    case SQLITE_INTERRUPT:
      throw Error(Errc::cancelled, message);
    case SQLITE_ERROR:
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
      throw Error(Errc::internal, message);
    default:
      throw Error(Errc::io, message);
  }
}

Connection::OneShot::OneShot(Connection& connection, const std::string& sql) {
  int rc = sqlite3_prepare_v2(connection.handle(), sql.c_str(), static_cast<int>(sql.size()),
                              &stmt_, nullptr);
  if (rc != SQLITE_OK) connection.fail(rc, "preparing a statement");
  statement_ = std::make_unique<Statement>(stmt_, &connection);
}

Connection::OneShot::~OneShot() {
  statement_.reset();
  sqlite3_finalize(stmt_);
}

Transaction::Transaction(Connection& connection) : connection_(connection) {
  connection_.prepare("BEGIN IMMEDIATE").run();
}

Transaction::~Transaction() {
  if (!done_) {
    try {
      connection_.prepare("ROLLBACK").run();
    } catch (...) {
      // The connection rolls back by itself when it cannot; nothing more to do.
    }
  }
}

void Transaction::commit() {
  connection_.prepare("COMMIT").run();
  done_ = true;
}

ReadTransaction::ReadTransaction(Connection& connection) : connection_(connection) {
  connection_.prepare("BEGIN").run();
}

ReadTransaction::~ReadTransaction() {
  try {
    connection_.prepare("COMMIT").run();
  } catch (...) {
    // A read transaction has nothing to lose, but must not stay open on a pooled connection
    // (it would pin an old snapshot and the WAL).
    try {
      connection_.prepare("ROLLBACK").run();
    } catch (...) {
    }
  }
}

}  // namespace keel::knowledge
