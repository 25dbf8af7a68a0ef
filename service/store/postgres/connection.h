// Connection, Params and Result: a thin RAII layer over libpq that runs
// parameterised statements only and reports every failure as an
// absl::Status.
//
//   ATTUNE_ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn,
//                           Connection::Open(dsn, absl::Seconds(5)));
//   ATTUNE_ASSIGN_OR_RETURN(
//       Result rows,
//       conn->Query("SELECT version FROM episodes"
//                   " WHERE tenant = $1 AND episode_id = $2",
//                   Params().Text(tenant).Text(episode_id),
//                   "episodes: read version"));
//
// Values never enter the SQL text: Query prepares each distinct SQL text
// once per connection (a named server-side prepared statement) and sends the
// values separately, in binary (text as its bytes, BYTEA as raw bytes,
// BIGINT as 8 bytes); results come back in binary too. A PgBouncer in
// transaction-pooling mode, which does not keep prepared statements, is not
// supported.
//
// A Connection is used by one thread at a time.
//
// Error mapping (PgStatus): a lost connection, SQLSTATE classes 08
// (connection exception) and 53 (insufficient resources), 57P01-57P03
// (server shutting down, backend terminated) and 57014 (statement
// cancelled) are UNAVAILABLE (retryable); 23505 (unique violation) is
// ALREADY_EXISTS; 40001 and 40P01 (serialization failure, deadlock) are
// ABORTED; anything else is INTERNAL. Messages carry the caller's context,
// "postgres: SQLSTATE <code>" and the constraint or table name when the
// server names one, never the server's message text (it may quote values)
// nor the connection string.
#ifndef ATTUNE_SERVICE_STORE_POSTGRES_CONNECTION_H_
#define ATTUNE_SERVICE_STORE_POSTGRES_CONNECTION_H_

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace attune::store::postgres {

// The values of one statement's parameters $1, $2, ... in order.
class Params {
 public:
  // A TEXT parameter (must be valid in the database encoding, no NUL).
  Params& Text(absl::string_view value);
  // A BYTEA parameter (any bytes).
  Params& Bytes(absl::string_view value);
  // A BIGINT parameter.
  Params& Int(int64_t value);

  size_t size() const { return values_.size(); }

 private:
  friend class Connection;
  std::vector<Oid> types_;
  std::vector<std::string> values_;
};

// The rows of a statement, in binary format.
class Result {
 public:
  Result() = default;
  explicit Result(PGresult* result) : result_(result, &PQclear) {}

  int rows() const;
  bool IsNull(int row, int column) const;
  // TEXT or BYTEA column: its bytes (valid while the Result lives).
  absl::string_view Bytes(int row, int column) const;
  // SMALLINT, INTEGER or BIGINT column (0 for NULL).
  int64_t Int(int row, int column) const;
  // Rows an INSERT, UPDATE or DELETE touched.
  int64_t affected() const;

 private:
  std::unique_ptr<PGresult, void (*)(PGresult*)> result_{nullptr, &PQclear};
};

// The absl::Status for a failed statement (`result` may be null), prefixed
// with `context`; see the mapping above.
absl::Status PgStatus(PGconn* conn, const PGresult* result,
                      absl::string_view context);

class Connection {
 public:
  // Connects with `dsn` (a libpq connection string; connect_timeout is
  // overridden). UNAVAILABLE "postgres: cannot connect ..." without
  // libpq's message (it may name hosts and users from the DSN).
  static absl::StatusOr<std::unique_ptr<Connection>> Open(
      const std::string& dsn, absl::Duration connect_timeout);

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Runs one statement with `params`; prepared on first use on this
  // connection (by its text) and reused after.
  absl::StatusOr<Result> Query(const std::string& sql, const Params& params,
                               absl::string_view context);
  // Runs `sql` without parameters through the simple query protocol (it may
  // hold several statements: migrations, BEGIN/COMMIT/SAVEPOINT). Returns
  // the last statement's command tag ("COMMIT", "ROLLBACK", ...).
  absl::StatusOr<std::string> Exec(const std::string& sql,
                                   absl::string_view context);

  // LISTEN support (postgres/prompt_notify.h). The connection's socket, to
  // poll for input; -1 when there is none.
  int socket() const;
  // Reads whatever the server has sent, without blocking, and returns the
  // payloads of the notifications received on `channel` since the last
  // call, in order. UNAVAILABLE when the connection is lost.
  absl::StatusOr<std::vector<std::string>> ConsumeNotifications(
      absl::string_view channel);

  // The server closed the connection or it failed; it cannot be reused.
  bool broken() const;
  // Outside any transaction block.
  bool idle() const;

 private:
  explicit Connection(PGconn* conn) : conn_(conn) {}

  PGconn* conn_;
  // SQL text -> prepared statement name.
  absl::flat_hash_map<std::string, std::string> prepared_;
};

}  // namespace attune::store::postgres

#endif  // ATTUNE_SERVICE_STORE_POSTGRES_CONNECTION_H_
