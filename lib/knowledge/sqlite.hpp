// Internal: a thin RAII layer over SQLite for the knowledge base — connections with a cache
// of prepared statements, statements that reset themselves, and transactions that roll back
// unless committed. Every SQLite failure becomes a keel::Error naming the database path.
//
// A Connection is used by one thread at a time (the knowledge base leases them).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

struct sqlite3;
struct sqlite3_stmt;
struct fts5_api;

namespace keel::knowledge {

class Connection;

/// A prepared statement in use; reset and unbound when destroyed so the cache can reuse it.
/// `in_use` (a cached statement's flag) is cleared then; `owned` statements are finalised.
class Statement {
 public:
  Statement(sqlite3_stmt* stmt, Connection* connection, bool* in_use = nullptr, bool owned = false)
      : stmt_(stmt), connection_(connection), in_use_(in_use), owned_(owned) {}
  Statement(Statement&& other) noexcept
      : stmt_(std::exchange(other.stmt_, nullptr)),
        connection_(other.connection_),
        in_use_(std::exchange(other.in_use_, nullptr)),
        owned_(other.owned_) {}
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, double value);
  Statement& bind_text(int index, std::string_view value);
  Statement& bind_blob(int index, const void* data, std::size_t size);
  Statement& bind_null(int index);
  /// sqlite3_bind_pointer: `pointer` reaches the functions that ask for `type`, no one else.
  Statement& bind_pointer(int index, void* pointer, const char* type);

  /// True when a row is available, false when done. Throws keel::Error.
  bool step();
  /// Steps to the end.
  void run();

  std::int64_t int64(int column) const;
  double real(int column) const;
  std::string_view text(int column) const;
  std::string_view blob(int column) const;
  bool is_null(int column) const;

 private:
  sqlite3_stmt* stmt_;
  Connection* connection_;
  bool* in_use_;
  bool owned_;
};

class Connection {
 public:
  /// Opens `path` (":memory:" for a private in-memory database). Throws Error(io) naming the
  /// path.
  Connection(const std::string& path, bool read_only);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// A cached prepared statement for `sql` (compiled on first use). While one Statement for
  /// `sql` is alive, another prepare(sql) compiles a private copy, so nested use is safe.
  Statement prepare(std::string_view sql);
  /// A statement compiled for one use (SQL that varies).
  class OneShot;
  void exec(std::string_view sql);
  std::int64_t last_insert_rowid() const;
  int changes() const;
  sqlite3* handle() const noexcept { return db_; }
  /// The FTS5 extension's API on this connection; nullptr when SQLite was built without it.
  fts5_api* fts5() const;
  const std::string& path() const noexcept { return path_; }

  /// Throws the keel::Error for SQLite result `rc` while doing `what`.
  [[noreturn]] void fail(int rc, std::string_view what) const;

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
  struct Cached {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };
  std::unordered_map<std::string, Cached> cache_;
};

/// A statement compiled for one use and finalised afterwards (filters make SQL that varies).
class Connection::OneShot {
 public:
  OneShot(Connection& connection, const std::string& sql);
  ~OneShot();
  OneShot(const OneShot&) = delete;
  OneShot& operator=(const OneShot&) = delete;
  Statement& statement() { return *statement_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  std::unique_ptr<Statement> statement_;
};

/// BEGIN IMMEDIATE ... COMMIT; rolls back when destroyed uncommitted.
class Transaction {
 public:
  explicit Transaction(Connection& connection);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Connection& connection_;
  bool done_ = false;
};

/// BEGIN (deferred) ... COMMIT around a group of reads: one snapshot for all of them, and one
/// WAL read lock instead of one per statement (each costs fcntl and fstat system calls).
class ReadTransaction {
 public:
  explicit ReadTransaction(Connection& connection);
  ~ReadTransaction();
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;

 private:
  Connection& connection_;
};

}  // namespace keel::knowledge
