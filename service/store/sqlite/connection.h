// Connection and Statement: a thin RAII layer over the SQLite C API that
// reports every failure as an absl::Status with context.
//
//   ATTUNE_ASSIGN_OR_RETURN(auto conn, Connection::Open(path, options));
//   ATTUNE_ASSIGN_OR_RETURN(Statement stmt,
//       conn->Prepare("SELECT version FROM episodes WHERE tenant = ?1",
//                     "episodes: read version"));
//   ATTUNE_RETURN_IF_ERROR(stmt.Bind(tenant));
//   ATTUNE_ASSIGN_OR_RETURN(bool row, stmt.Step());
//
// A Connection is used by one thread at a time (it is opened with
// SQLITE_OPEN_NOMUTEX). Prepared statements are cached per connection by
// their SQL text; a Statement borrows one and resets it when it goes out of
// scope, so a cached statement never keeps a read snapshot open.
//
// Error mapping (SqliteStatus): BUSY, LOCKED, IOERR, FULL, CANTOPEN,
// PROTOCOL, READONLY and NOMEM are UNAVAILABLE (the caller may retry);
// PRIMARY KEY and UNIQUE constraint failures are ALREADY_EXISTS; anything
// else (corruption, misuse, other constraints) is INTERNAL. Messages carry
// the caller's context and SQLite's own message, which names tables and
// columns but never values.
#ifndef ATTUNE_SERVICE_STORE_SQLITE_CONNECTION_H_
#define ATTUNE_SERVICE_STORE_SQLITE_CONNECTION_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace attune::store::sqlite {

// The absl::Status for SQLite result code `rc` (primary or extended) on
// `db` (may be null), prefixed with `context`.
absl::Status SqliteStatus(int rc, sqlite3* db, absl::string_view context);

// A byte string bound as a BLOB (a plain string binds as TEXT).
struct Blob {
  absl::string_view bytes;
};

// A prepared statement in use. Move-only; resets and clears its bindings
// (and finalizes it, when it is not a cached one) on destruction.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Binds the arguments to parameters 1..N in order. Accepts integers,
  // strings (TEXT) and Blob.
  template <typename... Args>
  absl::Status Bind(const Args&... args) {
    int index = 0;
    absl::Status status;
    ((status.ok() ? (status = BindOne(++index, args), 0) : 0), ...);
    return status;
  }

  absl::Status BindOne(int index, int64_t value);
  absl::Status BindOne(int index, int value) {
    return BindOne(index, static_cast<int64_t>(value));
  }
  absl::Status BindOne(int index, absl::string_view text);
  absl::Status BindOne(int index, const std::string& text) {
    return BindOne(index, absl::string_view(text));
  }
  absl::Status BindOne(int index, const char* text) {
    return BindOne(index, absl::string_view(text));
  }
  absl::Status BindOne(int index, Blob blob);

  // Advances: true when a row is available, false when done.
  absl::StatusOr<bool> Step();
  // Runs a statement that returns no rows (INSERT, UPDATE, ...).
  absl::Status Run();

  int64_t ColumnInt64(int column) const;
  // TEXT or BLOB column contents; valid until the next Step.
  absl::string_view ColumnBytes(int column) const;
  bool ColumnIsNull(int column) const;

  // Rows changed by the last Run (sqlite3_changes).
  int64_t Changes() const;

 private:
  friend class Connection;
  Statement(sqlite3* db, sqlite3_stmt* stmt, bool* in_use,
            absl::string_view context);

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  // Points at the cache entry's flag; null when this statement is not cached
  // (then it is finalized on destruction).
  bool* in_use_;
  std::string context_;
};

struct ConnectionOptions {
  absl::Duration busy_timeout = absl::Seconds(5);
  bool read_only = false;
};

class Connection {
 public:
  // Opens (creating when allowed) the database file and applies the
  // per-connection settings: busy_timeout, foreign_keys=ON,
  // synchronous=FULL and, for read connections, query_only.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(
      const std::string& path, const ConnectionOptions& options);

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // A cached prepared statement for `sql` (one statement). `context` names
  // the table and operation for error messages.
  absl::StatusOr<Statement> Prepare(absl::string_view sql,
                                    absl::string_view context);

  // Runs one or more statements that return no rows. Not cached: for
  // statements run once (migrations, VACUUM) or that must not outlive their
  // use (SQL naming temporary functions).
  absl::Status Exec(absl::string_view sql, absl::string_view context);

  // As Exec for one statement that runs again and again on this connection
  // (BEGIN, COMMIT, ROLLBACK, SAVEPOINT x, RELEASE x): prepared once and
  // kept in the statement cache, which saves re-parsing the SQL every time.
  // Same errors as Exec. Several statements in `sql` are run by Exec.
  absl::Status ExecCached(absl::string_view sql, absl::string_view context);

  // The single value of a one-row, one-column query (e.g. a PRAGMA).
  absl::StatusOr<std::string> QueryText(absl::string_view sql,
                                        absl::string_view context);
  absl::StatusOr<int64_t> QueryInt64(absl::string_view sql,
                                     absl::string_view context);

  // True while a transaction is open (false after SQLite rolled one back on
  // its own, e.g. after an I/O error).
  bool InTransaction() const;

  sqlite3* db() const { return db_; }

 private:
  struct CachedStatement {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };

  explicit Connection(sqlite3* db) : db_(db) {}

  sqlite3* db_;
  // Node-based so that the in_use flags keep their addresses.
  absl::flat_hash_map<std::string, std::unique_ptr<CachedStatement>> cache_;
};

}  // namespace attune::store::sqlite

#endif  // ATTUNE_SERVICE_STORE_SQLITE_CONNECTION_H_
