#include "service/store/postgres/schema.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "service/common/status_macros.h"
#include "service/store/common/codec.h"

namespace attune::store::postgres {
namespace {

struct Migration {
  int64_t version;
  const char* name;
  const char* sql;
};

// The tables of SQLite's migrations 1-3 (sqlite/migrations.cc) in one step:
// the same names, columns and meaning, so that Protection's sealed-column
// names, the page tokens and the audit chain apply unchanged. Times are
// BIGINT Unix nanoseconds, messages BYTEA (binary protobuf, or KeyRing::Seal
// output when sealed). Identifier columns use the "C" collation: ordering
// (ScanEvents by episode_id, ListPrompts' prompt_id tie-break) is by bytes,
// as in SQLite, whatever the database's locale.
constexpr char kInitialSchema[] = R"sql(
CREATE TABLE episodes (
  tenant       TEXT COLLATE "C" NOT NULL,
  episode_id   TEXT COLLATE "C" NOT NULL,
  version      BIGINT NOT NULL CHECK (version > 0),
  assessment   BYTEA  NOT NULL,
  updated_at   BIGINT NOT NULL,
  -- Who the episode is about (commit_rules.h ClientKey): a lookup hash when
  -- sealed. Found by EraseClient.
  client_key   TEXT COLLATE "C" NOT NULL DEFAULT '',
  PRIMARY KEY (tenant, episode_id)
);
CREATE INDEX episodes_by_client ON episodes (tenant, client_key);
CREATE INDEX episodes_by_update ON episodes (updated_at, tenant, episode_id);

-- seq is the episode version the event's commit produced: storage order.
CREATE TABLE events (
  tenant       TEXT COLLATE "C" NOT NULL,
  event_id     TEXT COLLATE "C" NOT NULL,
  episode_id   TEXT COLLATE "C" NOT NULL,
  seq          BIGINT NOT NULL,
  occurred_at  BIGINT NOT NULL,
  fingerprint  BYTEA  NOT NULL,
  event        BYTEA  NOT NULL,
  response     BYTEA  NOT NULL,
  PRIMARY KEY (tenant, event_id),
  FOREIGN KEY (tenant, episode_id) REFERENCES episodes (tenant, episode_id)
);
CREATE UNIQUE INDEX events_by_episode ON events (tenant, episode_id, seq);

-- shadow is 1 for prompts of a module in shadow mode: never listed.
CREATE TABLE prompts (
  tenant       TEXT COLLATE "C" NOT NULL,
  prompt_id    TEXT COLLATE "C" NOT NULL,
  episode_id   TEXT COLLATE "C" NOT NULL,
  clinician_id TEXT COLLATE "C" NOT NULL,
  kind         TEXT COLLATE "C" NOT NULL,
  module_id    TEXT COLLATE "C" NOT NULL,
  status       BIGINT NOT NULL,
  priority     BIGINT NOT NULL,
  updated_at   BIGINT NOT NULL,
  prompt       BYTEA  NOT NULL,
  shadow       BIGINT NOT NULL DEFAULT 0 CHECK (shadow IN (0, 1)),
  PRIMARY KEY (tenant, prompt_id)
);
CREATE INDEX prompts_by_episode ON prompts
  (tenant, episode_id, shadow, priority DESC, updated_at DESC, prompt_id);
CREATE INDEX prompts_by_clinician ON prompts
  (tenant, clinician_id, shadow, priority DESC, updated_at DESC, prompt_id);
CREATE INDEX prompts_by_module
  ON prompts (tenant, module_id, shadow, episode_id);

-- One row per feedback event (event_id is that event's id).
CREATE TABLE prompt_feedback (
  tenant       TEXT COLLATE "C" NOT NULL,
  event_id     TEXT COLLATE "C" NOT NULL,
  prompt_id    TEXT COLLATE "C" NOT NULL,
  module_id    TEXT COLLATE "C" NOT NULL,
  kind         TEXT COLLATE "C" NOT NULL,
  outcome      BIGINT NOT NULL,
  reason       BIGINT NOT NULL,
  occurred_at  BIGINT NOT NULL,
  PRIMARY KEY (tenant, event_id),
  FOREIGN KEY (tenant, event_id) REFERENCES events (tenant, event_id)
);
CREATE INDEX prompt_feedback_by_module
  ON prompt_feedback (tenant, module_id, outcome);

-- Derived from committed session_held events; a later session_held for the
-- same session replaces the row.
CREATE TABLE held_sessions (
  tenant         TEXT COLLATE "C" NOT NULL,
  episode_id     TEXT COLLATE "C" NOT NULL,
  session_number BIGINT NOT NULL,
  clinician_id   TEXT COLLATE "C" NOT NULL,
  start_at       BIGINT NOT NULL,
  end_at         BIGINT NOT NULL,
  PRIMARY KEY (tenant, episode_id, session_number),
  FOREIGN KEY (tenant, episode_id) REFERENCES episodes (tenant, episode_id)
);
CREATE INDEX held_sessions_by_clinician
  ON held_sessions (tenant, clinician_id, start_at);

-- How the rows are protected; one row, written at the first open.
CREATE TABLE store_protection (
  id    INTEGER PRIMARY KEY CHECK (id = 1),
  mode  TEXT NOT NULL CHECK (mode IN ('plaintext', 'sealed'))
);

-- Every storage key that has written to this database, with its check
-- value (KeyRing::CheckValue).
CREATE TABLE storage_keys (
  key_id       TEXT COLLATE "C" PRIMARY KEY,
  check_value  TEXT NOT NULL,
  first_used   BIGINT NOT NULL
);

-- The audit log (common/audit_chain.h): pseudonyms and codes only. seq runs
-- 1, 2, 3... without gaps; hash links each row to the one before.
CREATE TABLE audit_log (
  seq      BIGINT PRIMARY KEY,
  at       BIGINT NOT NULL,
  tenant   TEXT COLLATE "C" NOT NULL,
  caller   TEXT COLLATE "C" NOT NULL,
  action   TEXT COLLATE "C" NOT NULL,
  object   TEXT COLLATE "C" NOT NULL,
  outcome  TEXT COLLATE "C" NOT NULL,
  key_id   TEXT COLLATE "C" NOT NULL,
  hash     BYTEA  NOT NULL
);
-- The chain's head, one row: appends lock it (SELECT ... FOR UPDATE), so
-- appends from several replicas queue up instead of forking the chain.
CREATE TABLE audit_head (
  id    INTEGER PRIMARY KEY CHECK (id = 1),
  seq   BIGINT NOT NULL,
  hash  BYTEA  NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, ''::bytea);
-- Append-only for SQL; someone with the server's files or superuser rights
-- is caught by the chain (VerifyAudit).
CREATE FUNCTION audit_log_append_only() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
)sql";

const std::vector<Migration>& Migrations() {
  static const std::vector<Migration>* const kMigrations =
      new std::vector<Migration>{
          {1, "initial schema", kInitialSchema},
      };
  return *kMigrations;
}

// Ends a transaction left open by an error (a no-op when there is none).
void RollBackIfOpen(Connection& conn) {
  if (!conn.broken() && !conn.idle()) {
    conn.Exec("ROLLBACK", "postgres store: roll back").IgnoreError();
  }
}

absl::StatusOr<int64_t> CurrentVersion(Connection& conn) {
  ATTUNE_ASSIGN_OR_RETURN(
      Result rows, conn.Query("SELECT COALESCE(MAX(version), 0)::bigint"
                              " FROM schema_migrations",
                              Params(), "schema_migrations: read version"));
  return rows.rows() == 1 ? rows.Int(0, 0) : 0;
}

absl::Status ApplyMigration(Connection& conn, const Migration& migration) {
  ATTUNE_RETURN_IF_ERROR(
      conn.Exec("BEGIN", "postgres store: begin migration").status());
  absl::Status status = [&]() -> absl::Status {
    ATTUNE_RETURN_IF_ERROR(
        conn.Exec(migration.sql, absl::StrCat("migration ", migration.version,
                                              " (", migration.name, ")"))
            .status());
    return conn
        .Query(
            "INSERT INTO schema_migrations (version, name, applied_at)"
            " VALUES ($1, $2, $3)",
            Params()
                .Int(migration.version)
                .Text(migration.name)
                .Int(TimeToNanos(absl::Now())),
            "schema_migrations: record")
        .status();
  }();
  if (status.ok()) {
    ATTUNE_ASSIGN_OR_RETURN(
        std::string tag,
        conn.Exec("COMMIT", "postgres store: commit migration"));
    if (tag != "COMMIT") {
      return absl::InternalError("postgres store: migration rolled back");
    }
    return absl::OkStatus();
  }
  RollBackIfOpen(conn);
  return status;
}

absl::StatusOr<std::string> ReadMode(Connection& conn) {
  ATTUNE_ASSIGN_OR_RETURN(
      Result rows, conn.Query("SELECT mode FROM store_protection WHERE id = 1",
                              Params(), "store_protection: read mode"));
  if (rows.rows() == 0) return std::string();
  return std::string(rows.Bytes(0, 0));
}

absl::Status WriteMode(Connection& conn, const char* mode) {
  return conn
      .Query(
          "INSERT INTO store_protection (id, mode) VALUES (1, $1)"
          " ON CONFLICT (id) DO UPDATE SET mode = excluded.mode",
          Params().Text(mode), "store_protection: write mode")
      .status();
}

absl::StatusOr<bool> HasRows(Connection& conn) {
  ATTUNE_ASSIGN_OR_RETURN(
      Result rows, conn.Query("SELECT (EXISTS (SELECT 1 FROM episodes)"
                              " OR EXISTS (SELECT 1 FROM events)"
                              " OR EXISTS (SELECT 1 FROM prompts)"
                              " OR EXISTS (SELECT 1 FROM held_sessions))::int",
                              Params(), "store_protection: look for rows"));
  return rows.rows() == 1 && rows.Int(0, 0) != 0;
}

absl::Status CheckAndRecordKeys(Connection& conn,
                                const security::KeyRing& keys) {
  ATTUNE_ASSIGN_OR_RETURN(
      Result rows, conn.Query("SELECT key_id, check_value FROM storage_keys"
                              " ORDER BY key_id",
                              Params(), "storage_keys: read"));
  std::vector<std::pair<std::string, std::string>> known;
  for (int i = 0; i < rows.rows(); ++i) {
    known.emplace_back(rows.Bytes(i, 0), rows.Bytes(i, 1));
  }
  ATTUNE_RETURN_IF_ERROR(CheckKnownStorageKeys(keys, known, "postgres store"));
  const std::string& active = keys.active_key_id();
  ATTUNE_ASSIGN_OR_RETURN(std::string check_value, keys.CheckValue(active));
  return conn
      .Query(
          "INSERT INTO storage_keys (key_id, check_value, first_used)"
          " VALUES ($1, $2, $3) ON CONFLICT (key_id) DO NOTHING",
          Params().Text(active).Text(check_value).Int(TimeToNanos(absl::Now())),
          "storage_keys: record")
      .status();
}

absl::StatusOr<std::string> SetUpProtection(Connection& conn,
                                            const Protection& protection) {
  ATTUNE_ASSIGN_OR_RETURN(std::string previous, ReadMode(conn));
  if (!protection.sealed()) {
    if (previous == kModeSealed) {
      return absl::FailedPreconditionError(
          "postgres store: this database is encrypted; configure "
          "store.key_file");
    }
    if (previous.empty()) {
      ATTUNE_RETURN_IF_ERROR(WriteMode(conn, kModePlaintext));
    }
    return std::string(kModePlaintext);
  }
  ATTUNE_RETURN_IF_ERROR(CheckAndRecordKeys(conn, *protection.keys()));
  if (previous != kModeSealed) {
    ATTUNE_ASSIGN_OR_RETURN(bool has_rows, HasRows(conn));
    if (has_rows) {
      return absl::FailedPreconditionError(
          "postgres store: this database is stored in plaintext; it cannot "
          "be sealed in place: export it and import it into a new database "
          "opened with store.key_file");
    }
    ATTUNE_RETURN_IF_ERROR(WriteMode(conn, kModeSealed));
  }
  return std::string(kModeSealed);
}

absl::StatusOr<SchemaSetup> MigrateLocked(Connection& conn,
                                          const Protection& protection) {
  ATTUNE_RETURN_IF_ERROR(conn.Exec("CREATE TABLE IF NOT EXISTS"
                                   " schema_migrations ("
                                   " version BIGINT PRIMARY KEY,"
                                   " name TEXT NOT NULL,"
                                   " applied_at BIGINT NOT NULL)",
                                   "schema_migrations: create")
                             .status());
  SchemaSetup setup;
  ATTUNE_ASSIGN_OR_RETURN(setup.from_version, CurrentVersion(conn));
  if (setup.from_version > LatestSchemaVersion()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "postgres store: database schema version ", setup.from_version,
        " is newer than this build supports (", LatestSchemaVersion(),
        "); run a newer attuned or restore a matching backup"));
  }
  for (const Migration& migration : Migrations()) {
    if (migration.version <= setup.from_version) continue;
    ATTUNE_RETURN_IF_ERROR(ApplyMigration(conn, migration));
  }
  setup.to_version = LatestSchemaVersion();
  // The mode is decided in a transaction of its own, still under the lock.
  ATTUNE_RETURN_IF_ERROR(
      conn.Exec("BEGIN", "store_protection: begin").status());
  absl::StatusOr<std::string> mode = SetUpProtection(conn, protection);
  if (!mode.ok()) {
    RollBackIfOpen(conn);
    return mode.status();
  }
  ATTUNE_ASSIGN_OR_RETURN(std::string tag,
                          conn.Exec("COMMIT", "store_protection: commit"));
  if (tag != "COMMIT") {
    return absl::InternalError("store_protection: rolled back");
  }
  setup.mode = *std::move(mode);
  return setup;
}

}  // namespace

int64_t LatestSchemaVersion() { return Migrations().back().version; }

absl::StatusOr<SchemaSetup> MigrateAndCheckProtection(
    Connection& conn, const Protection& protection) {
  ATTUNE_RETURN_IF_ERROR(conn.Query("SELECT pg_advisory_lock($1)",
                                    Params().Int(kSchemaLockKey),
                                    "postgres store: lock the schema")
                             .status());
  absl::StatusOr<SchemaSetup> setup = MigrateLocked(conn, protection);
  if (!conn.broken()) {
    RollBackIfOpen(conn);
    absl::Status unlock = conn.Query("SELECT pg_advisory_unlock($1)",
                                     Params().Int(kSchemaLockKey),
                                     "postgres store: unlock the schema")
                              .status();
    if (setup.ok() && !unlock.ok()) return unlock;
  }
  return setup;
}

}  // namespace attune::store::postgres
