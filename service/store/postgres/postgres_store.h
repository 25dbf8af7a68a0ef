// PostgresStore: the Store backend for several attuned replicas on one
// shared PostgreSQL 15 database (libpq).
//
//   ATTUNE_ASSIGN_OR_RETURN(
//       std::unique_ptr<Store> store,
//       OpenPostgresStore({.dsn = "postgresql://attune@db.internal/attune"}));
//
// Same behaviour as the SQLite backend, held to the same conformance suite
// (tests/unit/service/store/store_conformance_test.cc); what differs is
// written here.
//
// Connection: `dsn` is a libpq connection string (URI or key=value). Keep
// the password out of it: libpq reads PGPASSFILE / ~/.pgpass (or
// PGPASSWORD) and the sslmode/sslrootcert parameters as usual. Errors and
// logs never repeat the DSN (it may hold a password) nor the server's
// message text (it may quote row values): only "postgres:", the SQLSTATE
// and the constraint or table name (postgres/connection.h). A pool of at
// most `pool_size` connections serves reads and writes (one of them is the
// writer's); a call waits for a free connection at most `acquire_timeout`
// (then UNAVAILABLE). A connection that breaks fails the call that was
// using it with UNAVAILABLE (retryable) and is replaced on next use; the
// idle ones are closed and the writer reconnects too, since a broken
// connection usually means the server restarted or ended the store's
// sessions. A commit whose COMMIT outcome is unknown (connection lost while
// committing) is reported UNAVAILABLE too: the engine's retry with the same
// event_id is then either applied or answered from the stored event
// (idempotency), never stored twice. Statements are prepared once per
// connection: a PgBouncer in transaction-pooling mode is not supported.
//
// Durability: a commit's future is ready only after PostgreSQL acknowledged
// COMMIT (synchronous_commit as configured on the server; `on` by default).
// Commits queued together are grouped into one transaction, each in its own
// SAVEPOINT, as in SQLite, so one commit's ALREADY_EXISTS or ABORTED never
// undoes another's. A batch applies its commits in (tenant, episode_id)
// order, so replicas lock episode rows in one order; a commit that still
// loses a deadlock to another replica gets ABORTED, like a version
// conflict.
//
// Replicas: every commit checks and bumps the episode's version in the same
// transaction (UPDATE ... WHERE version = expected, or INSERT for version
// 0); a replica that lost the race gets ABORTED and the engine re-reads and
// retries. Event ids are unique per tenant in the table, so a duplicate sent
// to two replicas is stored once: the other's commit is on a stale version
// (ABORTED, the version is checked before the event_id), and the engine's
// retry answers from the stored event. Migrations run at open under a session
// advisory lock, so replicas starting together apply each migration once; a
// database whose schema is newer than this build is refused
// (FAILED_PRECONDITION).
//
// Protection: with `keys`, identifiers are stored as lookup hashes and
// messages sealed exactly as in SQLite (common/protection.h); a database
// records its mode and key check values like SQLite's store_protection and
// storage_keys, and is refused with other key material. Unlike SQLite, a
// plaintext database that has rows is not sealed in place when opened with
// keys (FAILED_PRECONDITION): other replicas may be serving it, and
// PostgreSQL keeps old row versions until VACUUM; export it and import it
// into a new database instead. The audit log is the same hash chain
// (common/audit_chain.h; one chain per database; appends serialise on a row
// lock of the chain head, audit_head, so replicas interleave without
// forking it).
//
// Erasure: EraseClient and EraseInactiveEpisodes delete in a transaction of
// their own beside the group commit (a commit racing the erase of its
// episode gets ABORTED). PostgreSQL keeps the deleted row versions in the
// table files until (auto)vacuum reclaims them, and in the WAL and backups
// as configured; with keys they hold only lookup hashes and ciphertext.
//
// Cross-replica prompts (WatchCommittedPrompts): each group commit that
// upserted live prompts NOTIFYs their ids (with the tenant and this store's
// random origin id) in its own transaction, so only committed changes are
// announced; every feed LISTENs on a dedicated connection outside the pool
// (one more session per feed, reconnected after a loss), skips this store's
// own notifications and reads the prompts through GetPrompt. Changes
// announced while a feed's connection was down are not relayed
// (postgres/prompt_notify.h).
//
// Schema: postgres/schema.cc (the same tables as SQLite's).
//
// Threads: all methods are thread-safe. The destructor finishes queued
// commits, then closes every connection.
#ifndef ATTUNE_SERVICE_STORE_POSTGRES_POSTGRES_STORE_H_
#define ATTUNE_SERVICE_STORE_POSTGRES_POSTGRES_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/store/store.h"

namespace attune::security {
class KeyRing;
}  // namespace attune::security

namespace attune::store {

struct PostgresStoreOptions {
  // libpq connection string; required (INVALID_ARGUMENT "dsn: ...").
  std::string dsn;
  // Most open connections (>= 2: one writer, one or more readers;
  // INVALID_ARGUMENT "pool_size: ...").
  int pool_size = 8;
  // Most commits grouped into one transaction (>= 1; "max_batch: ...").
  int max_batch = 256;
  // Longest wait for a free connection before UNAVAILABLE (> 0).
  absl::Duration acquire_timeout = absl::Seconds(5);
  // libpq connect_timeout for new connections (> 0; whole seconds, at
  // least 2, as libpq counts them).
  absl::Duration connect_timeout = absl::Seconds(5);
  // Storage keys, as SqliteStoreOptions::keys. Null: plaintext, and a
  // sealed database is refused (FAILED_PRECONDITION).
  std::shared_ptr<const security::KeyRing> keys = nullptr;
};

// Connects, migrates and checks the protection mode. INVALID_ARGUMENT for
// bad options, UNAVAILABLE when the server cannot be reached,
// FAILED_PRECONDITION for a newer schema or mismatched keys.
absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(
    const PostgresStoreOptions& options);

}  // namespace attune::store

#endif  // ATTUNE_SERVICE_STORE_POSTGRES_POSTGRES_STORE_H_
