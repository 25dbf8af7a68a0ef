// The SQLite schema, as an ordered list of migrations.
//
// Each migration runs in its own transaction at open and is recorded in
// schema_migrations(version, name, applied_at). A database whose recorded
// version is newer than the last migration compiled in is refused: an older
// build must not write to a schema it does not understand.
//
// To change the schema, append a migration with the next version number;
// never edit or reorder one that has shipped.
#ifndef ATTUNE_SERVICE_STORE_SQLITE_MIGRATIONS_H_
#define ATTUNE_SERVICE_STORE_SQLITE_MIGRATIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/store/sqlite/connection.h"

namespace attune::store::sqlite {

struct Migration {
  int64_t version;
  absl::string_view name;
  absl::string_view sql;
};

// Every migration, in version order (1, 2, ...).
const std::vector<Migration>& Migrations();

// The version of the last migration.
int64_t LatestSchemaVersion();

struct MigrationResult {
  int64_t from_version = 0;
  int64_t to_version = 0;
};

// Brings the database at `path` (opened as `conn`, a write connection) up to
// LatestSchemaVersion(). FAILED_PRECONDITION, naming the file and both
// versions, when the database is newer than this build.
absl::StatusOr<MigrationResult> Migrate(Connection& conn,
                                        const std::string& path);

}  // namespace attune::store::sqlite

#endif  // ATTUNE_SERVICE_STORE_SQLITE_MIGRATIONS_H_
