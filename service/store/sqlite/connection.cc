#include "service/store/sqlite/connection.h"

#include <climits>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "service/common/status_macros.h"

namespace attune::store::sqlite {

absl::Status SqliteStatus(int rc, sqlite3* db, absl::string_view context) {
  // sqlite3_errmsg describes the latest failure on `db`; use it only when it
  // is about `rc`, otherwise fall back to the generic text for the code.
  const char* detail = (db != nullptr && sqlite3_extended_errcode(db) == rc)
                           ? sqlite3_errmsg(db)
                           : sqlite3_errstr(rc);
  std::string message =
      absl::StrCat(context, ": ", detail, " (sqlite code ", rc, ")");
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_READONLY:
    case SQLITE_NOMEM:
      return absl::UnavailableError(message);
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY ||
          rc == SQLITE_CONSTRAINT_UNIQUE) {
        return absl::AlreadyExistsError(message);
      }
      return absl::InternalError(message);
    default:
      return absl::InternalError(message);
  }
}

Statement::Statement(sqlite3* db, sqlite3_stmt* stmt, bool* in_use,
                     absl::string_view context)
    : db_(db), stmt_(stmt), in_use_(in_use), context_(context) {}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      in_use_(std::exchange(other.in_use_, nullptr)),
      context_(std::move(other.context_)) {}

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  if (in_use_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    *in_use_ = false;
  } else {
    sqlite3_finalize(stmt_);
  }
}

absl::Status Statement::BindOne(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) return SqliteStatus(rc, db_, context_);
  return absl::OkStatus();
}

absl::Status Statement::BindOne(int index, absl::string_view text) {
  if (text.size() > INT_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat(context_, ": text parameter too large"));
  }
  // data() of an empty view may be null, which would bind NULL.
  const char* data = text.empty() ? "" : text.data();
  int rc = sqlite3_bind_text(stmt_, index, data, static_cast<int>(text.size()),
                             SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) return SqliteStatus(rc, db_, context_);
  return absl::OkStatus();
}

absl::Status Statement::BindOne(int index, Blob blob) {
  if (blob.bytes.size() > INT_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat(context_, ": blob parameter too large"));
  }
  int rc = blob.bytes.empty()
               ? sqlite3_bind_zeroblob(stmt_, index, 0)
               : sqlite3_bind_blob(stmt_, index, blob.bytes.data(),
                                   static_cast<int>(blob.bytes.size()),
                                   SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) return SqliteStatus(rc, db_, context_);
  return absl::OkStatus();
}

absl::StatusOr<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteStatus(sqlite3_extended_errcode(db_), db_, context_);
}

absl::Status Statement::Run() {
  ATTUNE_ASSIGN_OR_RETURN(bool row, Step());
  if (row) {
    return absl::InternalError(
        absl::StrCat(context_, ": statement unexpectedly returned a row"));
  }
  return absl::OkStatus();
}

int64_t Statement::ColumnInt64(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

absl::string_view Statement::ColumnBytes(int column) const {
  const void* data = sqlite3_column_blob(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  if (data == nullptr || size <= 0) return absl::string_view();
  return absl::string_view(static_cast<const char*>(data),
                           static_cast<size_t>(size));
}

bool Statement::ColumnIsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

int64_t Statement::Changes() const { return sqlite3_changes64(db_); }

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(
    const std::string& path, const ConnectionOptions& options) {
  int flags =
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  if (!options.read_only) flags |= SQLITE_OPEN_CREATE;
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    absl::Status status =
        SqliteStatus(rc, db, absl::StrCat("open database ", path));
    sqlite3_close_v2(db);  // Harmless on null; frees a half-open handle.
    return status;
  }
  std::unique_ptr<Connection> conn(new Connection(db));

  int64_t timeout_ms = absl::ToInt64Milliseconds(options.busy_timeout);
  if (timeout_ms < 0) timeout_ms = 0;
  if (timeout_ms > INT_MAX) timeout_ms = INT_MAX;
  rc = sqlite3_busy_timeout(db, static_cast<int>(timeout_ms));
  if (rc != SQLITE_OK) return SqliteStatus(rc, db, "set busy_timeout");

  ATTUNE_RETURN_IF_ERROR(conn->Exec(
      "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;", "set pragmas"));
  if (options.read_only) {
    ATTUNE_RETURN_IF_ERROR(
        conn->Exec("PRAGMA query_only = ON;", "set query_only"));
  }
  return conn;
}

Connection::~Connection() {
  for (auto& [sql, cached] : cache_) sqlite3_finalize(cached->stmt);
  // Every Statement has been destroyed by now (they cannot outlive the
  // connection that owns their cache entries), so close cannot be deferred.
  sqlite3_close_v2(db_);
}

absl::StatusOr<Statement> Connection::Prepare(absl::string_view sql,
                                              absl::string_view context) {
  auto it = cache_.find(sql);
  if (it != cache_.end() && !it->second->in_use) {
    it->second->in_use = true;
    return Statement(db_, it->second->stmt, &it->second->in_use, context);
  }
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return SqliteStatus(rc, db_, absl::StrCat(context, " (prepare)"));
  }
  if (stmt == nullptr) {
    return absl::InternalError(absl::StrCat(context, ": empty SQL statement"));
  }
  if (it != cache_.end()) {
    // Already borrowed (a nested use of the same SQL): hand out a private,
    // uncached copy.
    return Statement(db_, stmt, nullptr, context);
  }
  auto cached = std::make_unique<CachedStatement>();
  cached->stmt = stmt;
  cached->in_use = true;
  bool* in_use = &cached->in_use;
  cache_.emplace(std::string(sql), std::move(cached));
  return Statement(db_, stmt, in_use, context);
}

absl::Status Connection::Exec(absl::string_view sql,
                              absl::string_view context) {
  std::string text(sql);  // sqlite3_exec needs NUL termination.
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    return SqliteStatus(sqlite3_extended_errcode(db_), db_, context);
  }
  return absl::OkStatus();
}

absl::Status Connection::ExecCached(absl::string_view sql,
                                    absl::string_view context) {
  auto it = cache_.find(sql);
  CachedStatement* cached = nullptr;
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    // Anything but exactly one statement (an error, empty SQL, more than
    // one) goes to Exec, which reports it as it always has.
    bool one_statement = rc == SQLITE_OK && stmt != nullptr;
    if (one_statement && tail != nullptr) {
      const char* end = sql.data() + sql.size();
      for (const char* p = tail; p < end; ++p) {
        if (*p != ';' && !absl::ascii_isspace(static_cast<unsigned char>(*p))) {
          one_statement = false;
          break;
        }
      }
    }
    if (!one_statement) {
      sqlite3_finalize(stmt);
      return Exec(sql, context);
    }
    auto entry = std::make_unique<CachedStatement>();
    entry->stmt = stmt;
    cached = entry.get();
    cache_.emplace(std::string(sql), std::move(entry));
  } else if (!it->second->in_use) {
    cached = it->second.get();
  } else {
    return Exec(sql, context);  // Borrowed by a Statement: run a fresh copy.
  }
  // As sqlite3_exec: step to the end, then report the first failure. Marked
  // in use meanwhile, so that nothing reached from inside the step (an SQL
  // function, say) can borrow it.
  cached->in_use = true;
  int rc;
  do {
    rc = sqlite3_step(cached->stmt);
  } while (rc == SQLITE_ROW);
  absl::Status status;
  if (rc != SQLITE_DONE) {
    status = SqliteStatus(sqlite3_extended_errcode(db_), db_, context);
  }
  sqlite3_reset(cached->stmt);
  cached->in_use = false;
  return status;
}

absl::StatusOr<std::string> Connection::QueryText(absl::string_view sql,
                                                  absl::string_view context) {
  ATTUNE_ASSIGN_OR_RETURN(Statement stmt, Prepare(sql, context));
  ATTUNE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::InternalError(absl::StrCat(context, ": no result"));
  return std::string(stmt.ColumnBytes(0));
}

absl::StatusOr<int64_t> Connection::QueryInt64(absl::string_view sql,
                                               absl::string_view context) {
  ATTUNE_ASSIGN_OR_RETURN(Statement stmt, Prepare(sql, context));
  ATTUNE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::InternalError(absl::StrCat(context, ": no result"));
  return stmt.ColumnInt64(0);
}

bool Connection::InTransaction() const {
  return sqlite3_get_autocommit(db_) == 0;
}

}  // namespace attune::store::sqlite
