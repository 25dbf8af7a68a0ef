// The database's protection mode at open (store_protection, storage_keys of
// migration 3), and sealing a plaintext database in place.
//
// Each database has one mode, written at its first open: 'sealed' when it
// was opened with storage keys, else 'plaintext' (protection.h says what the
// columns hold in each). SetUpProtection, run by SqliteStore::Open after the
// migrations:
//   - sealed database, no keys: FAILED_PRECONDITION "sqlite store <path>:
//     this database is encrypted; configure store.key_file";
//   - a ring key whose id storage_keys knows with another check value:
//     FAILED_PRECONDITION naming the key id (never key material);
//   - plaintext database (or one just migrated) with keys: every row is
//     re-written sealed in one transaction (identifiers become lookup
//     hashes, BLOBs ciphertext), the mode becomes 'sealed', then the file is
//     vacuumed and the WAL checkpointed and truncated so that no plaintext
//     page image stays in the -wal file, in free pages or in free space
//     inside pages. The write connection runs with secure_delete on
//     (ConfigureWriter), so the replaced values are zeroed as they are
//     freed. Nothing is changed when any step before the COMMIT fails.
//   - with keys, the active key's check value is recorded in storage_keys
//     the first time it is used on the database.
//
// The audit log (append-only by trigger) is never rewritten: its rows hold
// pseudonyms and codes only.
#ifndef ATTUNE_SERVICE_STORE_SQLITE_SEALING_H_
#define ATTUNE_SERVICE_STORE_SQLITE_SEALING_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/store/common/protection.h"
#include "service/store/sqlite/connection.h"

namespace attune::store::sqlite {

struct ProtectionSetup {
  // The mode after open: kModePlaintext or kModeSealed.
  std::string mode;
  // The mode found in the file before open ("" for a database without one:
  // new, or just migrated to schema 3).
  std::string previous_mode;
  // Set when a plaintext database with rows was sealed in place: the rows
  // re-written per table.
  bool sealed_in_place = false;
  int64_t episodes = 0;
  int64_t events = 0;
  int64_t prompts = 0;
  int64_t held_sessions = 0;
  // False when VACUUM failed after sealing in place (e.g. the disk is too
  // full for the copy it makes): the rows are sealed, but free space inside
  // pages may keep plaintext left by deletes from before secure_delete.
  bool vacuumed = true;
  // False when the WAL could not be truncated after sealing in place
  // (another process kept reading it); the old page images are then
  // overwritten by later checkpoints instead.
  bool wal_truncated = true;
};

struct ProtectionOptions {
  // False: a plaintext database with rows opened with keys is refused
  // (FAILED_PRECONDITION "sqlite store <path>: this database is stored in
  // plaintext; ...") rather than sealed in place.
  bool seal_plaintext = true;
  // Restored on the connection after the checkpoint that follows sealing.
  absl::Duration busy_timeout = absl::Seconds(5);
};

// See above. `conn` is the write connection, outside any transaction.
// UNAVAILABLE / INTERNAL for storage errors, FAILED_PRECONDITION as above.
absl::StatusOr<ProtectionSetup> SetUpProtection(
    Connection& conn, const std::string& path, const Protection& protection,
    const ProtectionOptions& options);

}  // namespace attune::store::sqlite

#endif  // ATTUNE_SERVICE_STORE_SQLITE_SEALING_H_
