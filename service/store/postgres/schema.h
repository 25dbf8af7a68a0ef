// The PostgreSQL schema as ordered migrations, applied at open under a
// session advisory lock, and the database's protection mode.
//
// Migrate runs on one connection: it takes pg_advisory_lock(kSchemaLockKey),
// so replicas opening the database together wait for each other and each
// migration is applied once (each in its own transaction, recorded in
// schema_migrations); a database whose schema is newer than this build is
// refused (FAILED_PRECONDITION). Still under the lock it sets up the
// protection mode as SQLite does (store_protection, storage_keys):
//   - sealed database, no keys: FAILED_PRECONDITION "postgres store: this
//     database is encrypted; configure store.key_file";
//   - a ring key whose id storage_keys knows with another check value:
//     FAILED_PRECONDITION naming the key id;
//   - plaintext database with rows, keys given: FAILED_PRECONDITION (unlike
//     SQLite it is not sealed in place: other replicas may be serving it in
//     plaintext, and PostgreSQL keeps the old row versions until VACUUM);
//   - otherwise the mode is recorded at the first open, and with keys the
//     active key's check value the first time it is used.
// The lock is a session lock: it is released when Migrate returns, or by
// the server if the connection dies.
//
// Changing the schema: append a migration with the next version to
// schema.cc; never edit one that has shipped.
#ifndef ATTUNE_SERVICE_STORE_POSTGRES_SCHEMA_H_
#define ATTUNE_SERVICE_STORE_POSTGRES_SCHEMA_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "service/store/common/protection.h"
#include "service/store/postgres/connection.h"

namespace attune::store::postgres {

// pg_advisory_lock key of the schema ("attune.s" as a big-endian integer).
inline constexpr int64_t kSchemaLockKey = 0x61747475'6e652e73;

int64_t LatestSchemaVersion();

struct SchemaSetup {
  // Schema version before and after open (0 before: a new database).
  int64_t from_version = 0;
  int64_t to_version = 0;
  // kModePlaintext or kModeSealed.
  std::string mode;
};

// See above. `conn` must be outside any transaction.
absl::StatusOr<SchemaSetup> MigrateAndCheckProtection(
    Connection& conn, const Protection& protection);

}  // namespace attune::store::postgres

#endif  // ATTUNE_SERVICE_STORE_POSTGRES_SCHEMA_H_
