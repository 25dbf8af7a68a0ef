#include "service/store/sqlite/migrations.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "service/common/status_macros.h"

namespace attune::store::sqlite {
namespace {

// Times are Unix nanoseconds (INTEGER). Protobuf messages are stored as their
// binary serialisation (BLOB). Every key starts with the tenant.
constexpr absl::string_view kInitialSchema = R"sql(
CREATE TABLE episodes (
  tenant       TEXT    NOT NULL,
  episode_id   TEXT    NOT NULL,
  version      INTEGER NOT NULL CHECK (version > 0),
  assessment   BLOB    NOT NULL,
  updated_at   INTEGER NOT NULL,
  PRIMARY KEY (tenant, episode_id)
) WITHOUT ROWID;

-- seq is the episode version the event's commit produced: storage order.
CREATE TABLE events (
  tenant       TEXT    NOT NULL,
  event_id     TEXT    NOT NULL,
  episode_id   TEXT    NOT NULL,
  seq          INTEGER NOT NULL,
  occurred_at  INTEGER NOT NULL,
  fingerprint  BLOB    NOT NULL,
  event        BLOB    NOT NULL,
  response     BLOB    NOT NULL,
  PRIMARY KEY (tenant, event_id),
  FOREIGN KEY (tenant, episode_id) REFERENCES episodes (tenant, episode_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX events_by_episode ON events (tenant, episode_id, seq);

CREATE TABLE prompts (
  tenant       TEXT    NOT NULL,
  prompt_id    TEXT    NOT NULL,
  episode_id   TEXT    NOT NULL,
  clinician_id TEXT    NOT NULL,
  kind         TEXT    NOT NULL,
  module_id    TEXT    NOT NULL,
  status       INTEGER NOT NULL,
  priority     INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  prompt       BLOB    NOT NULL,
  PRIMARY KEY (tenant, prompt_id)
) WITHOUT ROWID;
-- Both serve ListPrompts in its sort order (priority desc, updated_at desc,
-- prompt_id) and LoadEpisode.
CREATE INDEX prompts_by_episode
  ON prompts (tenant, episode_id, priority DESC, updated_at DESC, prompt_id);
CREATE INDEX prompts_by_clinician
  ON prompts (tenant, clinician_id, priority DESC, updated_at DESC, prompt_id);

-- One row per feedback event (event_id is that event's id).
CREATE TABLE prompt_feedback (
  tenant       TEXT    NOT NULL,
  event_id     TEXT    NOT NULL,
  prompt_id    TEXT    NOT NULL,
  module_id    TEXT    NOT NULL,
  kind         TEXT    NOT NULL,
  outcome      INTEGER NOT NULL,
  reason       INTEGER NOT NULL,
  occurred_at  INTEGER NOT NULL,
  PRIMARY KEY (tenant, event_id),
  FOREIGN KEY (tenant, event_id) REFERENCES events (tenant, event_id)
) WITHOUT ROWID;
CREATE INDEX prompt_feedback_by_module
  ON prompt_feedback (tenant, module_id, outcome);

-- Derived by the store from committed session_held events; a later
-- session_held for the same session replaces the row.
CREATE TABLE held_sessions (
  tenant         TEXT    NOT NULL,
  episode_id     TEXT    NOT NULL,
  session_number INTEGER NOT NULL,
  clinician_id   TEXT    NOT NULL,
  start_at       INTEGER NOT NULL,
  end_at         INTEGER NOT NULL,
  PRIMARY KEY (tenant, episode_id, session_number),
  FOREIGN KEY (tenant, episode_id) REFERENCES episodes (tenant, episode_id)
) WITHOUT ROWID;
CREATE INDEX held_sessions_by_clinician
  ON held_sessions (tenant, clinician_id, start_at);
)sql";

// Shadow mode (RulesConfig.modules): prompts of a module in shadow are
// stored beside the live ones but never listed. Rows written before this
// migration are live. The list indexes gain `shadow` right after the
// equality columns, so "live only" stays a seek plus an in-order scan; the
// module index serves RuleAdmin.CompareShadow (ListModulePrompts).
constexpr absl::string_view kShadowPrompts = R"sql(
ALTER TABLE prompts
  ADD COLUMN shadow INTEGER NOT NULL DEFAULT 0 CHECK (shadow IN (0, 1));
DROP INDEX prompts_by_episode;
DROP INDEX prompts_by_clinician;
CREATE INDEX prompts_by_episode ON prompts
  (tenant, episode_id, shadow, priority DESC, updated_at DESC, prompt_id);
CREATE INDEX prompts_by_clinician ON prompts
  (tenant, clinician_id, shadow, priority DESC, updated_at DESC, prompt_id);
CREATE INDEX prompts_by_module
  ON prompts (tenant, module_id, shadow, episode_id);
)sql";

// Pseudonymised storage, erasure, retention and the audit log. With storage
// keys, client_key and every clinician_id column hold lookup hashes
// (KeyRing::LookupHash) and every BLOB holds KeyRing::Seal output; without
// them (store_protection.mode 'plaintext') they hold the values as sent.
constexpr absl::string_view kProtectionAndAudit = R"sql(
ALTER TABLE episodes ADD COLUMN client_key TEXT NOT NULL DEFAULT '';
CREATE INDEX episodes_by_client ON episodes (tenant, client_key);
CREATE INDEX episodes_by_update ON episodes (updated_at);

-- How the rows are protected; one row, written at the first open.
CREATE TABLE store_protection (
  id    INTEGER PRIMARY KEY CHECK (id = 1),
  mode  TEXT    NOT NULL CHECK (mode IN ('plaintext', 'sealed'))
);

-- Every storage key that has written to this database, with its check
-- value (KeyRing::CheckValue), so that other key material under a known id
-- is refused at open.
CREATE TABLE storage_keys (
  key_id       TEXT    PRIMARY KEY,
  check_value  TEXT    NOT NULL,
  first_used   INTEGER NOT NULL
) WITHOUT ROWID;

-- Who did what to which object, when, with what outcome: pseudonyms and
-- codes only, never identifiers. seq runs 1, 2, 3... without gaps; hash
-- links each row to the one before (KeyRing::AuditMac under key_id, or
-- SHA-256 when key_id is '' in a plaintext store). The triggers make the
-- table append-only for SQL; someone editing the file itself is caught by
-- `attunectl audit verify`.
CREATE TABLE audit_log (
  seq      INTEGER PRIMARY KEY,
  at       INTEGER NOT NULL,
  tenant   TEXT    NOT NULL,
  caller   TEXT    NOT NULL,
  action   TEXT    NOT NULL,
  object   TEXT    NOT NULL,
  outcome  TEXT    NOT NULL,
  key_id   TEXT    NOT NULL,
  hash     BLOB    NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
)sql";

}  // namespace

const std::vector<Migration>& Migrations() {
  static const std::vector<Migration>* const kMigrations =
      new std::vector<Migration>{
          {1, "initial schema", kInitialSchema},
          {2, "shadow prompts", kShadowPrompts},
          {3, "protection, erasure and audit", kProtectionAndAudit},
      };
  return *kMigrations;
}

int64_t LatestSchemaVersion() { return Migrations().back().version; }

absl::StatusOr<MigrationResult> Migrate(Connection& conn,
                                        const std::string& path) {
  ATTUNE_RETURN_IF_ERROR(
      conn.Exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY,"
                " name TEXT NOT NULL,"
                " applied_at INTEGER NOT NULL)",
                absl::StrCat("schema_migrations: create in ", path)));

  MigrationResult result;
  bool first = true;
  for (const Migration& migration : Migrations()) {
    // BEGIN IMMEDIATE takes the write lock before reading the version, so
    // two processes opening the same file cannot both apply a migration.
    ATTUNE_RETURN_IF_ERROR(
        conn.Exec("BEGIN IMMEDIATE", absl::StrCat("migrate ", path)));
    absl::Status status = [&]() -> absl::Status {
      ATTUNE_ASSIGN_OR_RETURN(
          int64_t current,
          conn.QueryInt64(
              "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
              absl::StrCat("schema_migrations: read version of ", path)));
      if (first) {
        result.from_version = current;
        first = false;
      }
      if (current > LatestSchemaVersion()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "sqlite store ", path, ": database schema version ", current,
            " is newer than this build supports (", LatestSchemaVersion(),
            "); run a newer attuned or restore a matching backup"));
      }
      if (current >= migration.version) return absl::OkStatus();
      if (current != migration.version - 1) {
        return absl::FailedPreconditionError(
            absl::StrCat("sqlite store ", path, ": schema version ", current,
                         " cannot be migrated to ", migration.version));
      }
      std::string context = absl::StrCat("migration ", migration.version, " (",
                                         migration.name, ") on ", path);
      ATTUNE_RETURN_IF_ERROR(conn.Exec(migration.sql, context));
      ATTUNE_ASSIGN_OR_RETURN(
          Statement record,
          conn.Prepare("INSERT INTO schema_migrations (version, name, "
                       "applied_at) VALUES (?1, ?2, ?3)",
                       "schema_migrations: record"));
      ATTUNE_RETURN_IF_ERROR(record.Bind(migration.version, migration.name,
                                         absl::ToUnixNanos(absl::Now())));
      return record.Run();
    }();
    if (!status.ok()) {
      if (conn.InTransaction()) {
        conn.Exec("ROLLBACK", "migrate: rollback").IgnoreError();
      }
      return status;
    }
    ATTUNE_RETURN_IF_ERROR(
        conn.Exec("COMMIT", absl::StrCat("migrate ", path, ": commit")));
  }
  result.to_version = LatestSchemaVersion();
  return result;
}

}  // namespace attune::store::sqlite
