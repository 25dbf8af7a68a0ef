#include "service/store/sqlite/sealing.h"

#include <sqlite3.h>

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "service/common/status_macros.h"
#include "service/store/common/codec.h"
#include "service/store/sqlite/erase.h"

namespace attune::store::sqlite {
namespace {

// SQL functions registered on the write connection only while a plaintext
// database is sealed, so that each table is re-written by one UPDATE:
//   attune_seal(tenant, column, row_id, bytes)  -> Protection::Seal
//   attune_lookup(tenant, kind, id)             -> Protection::IdKey
constexpr char kSealFunction[] = "attune_seal";
constexpr char kLookupFunction[] = "attune_lookup";

absl::string_view ValueBytes(sqlite3_value* value) {
  // sqlite3_value_blob before sqlite3_value_bytes, as SQLite asks.
  const void* data = sqlite3_value_blob(value);
  const int size = sqlite3_value_bytes(value);
  if (data == nullptr || size <= 0) return {};
  return absl::string_view(static_cast<const char*>(data),
                           static_cast<size_t>(size));
}

void SealFunction(sqlite3_context* ctx, int /*argc*/, sqlite3_value** argv) {
  const auto* protection =
      static_cast<const Protection*>(sqlite3_user_data(ctx));
  absl::StatusOr<std::string> sealed =
      protection->Seal(ValueBytes(argv[0]), ValueBytes(argv[1]),
                       ValueBytes(argv[2]), ValueBytes(argv[3]));
  if (!sealed.ok()) {
    const std::string message(sealed.status().message());
    sqlite3_result_error(ctx, message.data(), static_cast<int>(message.size()));
    return;
  }
  sqlite3_result_blob64(ctx, sealed->data(), sealed->size(), SQLITE_TRANSIENT);
}

void LookupFunction(sqlite3_context* ctx, int /*argc*/, sqlite3_value** argv) {
  const auto* protection =
      static_cast<const Protection*>(sqlite3_user_data(ctx));
  const std::string key = protection->IdKey(
      ValueBytes(argv[0]), ValueBytes(argv[1]), ValueBytes(argv[2]));
  sqlite3_result_text64(ctx, key.data(), key.size(), SQLITE_TRANSIENT,
                        SQLITE_UTF8);
}

// Registers the sealing functions on `conn` for its lifetime.
class SealingFunctions {
 public:
  static absl::StatusOr<SealingFunctions> Register(
      Connection& conn, const Protection& protection) {
    // DIRECTONLY: usable from top-level SQL only, never from a trigger or a
    // view someone put into the file.
    const int flags = SQLITE_UTF8 | SQLITE_DIRECTONLY;
    void* app = const_cast<Protection*>(&protection);
    int rc =
        sqlite3_create_function_v2(conn.db(), kSealFunction, 4, flags, app,
                                   &SealFunction, nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) {
      rc = sqlite3_create_function_v2(conn.db(), kLookupFunction, 3, flags, app,
                                      &LookupFunction, nullptr, nullptr,
                                      nullptr);
    }
    SealingFunctions functions(conn);
    if (rc != SQLITE_OK) {
      return SqliteStatus(rc, conn.db(), "seal in place: register functions");
    }
    return functions;
  }
  SealingFunctions(SealingFunctions&& other) noexcept
      : conn_(std::exchange(other.conn_, nullptr)) {}
  SealingFunctions& operator=(SealingFunctions&&) = delete;
  ~SealingFunctions() {
    if (conn_ == nullptr) return;
    sqlite3_create_function_v2(conn_->db(), kSealFunction, 4, SQLITE_UTF8,
                               nullptr, nullptr, nullptr, nullptr, nullptr);
    sqlite3_create_function_v2(conn_->db(), kLookupFunction, 3, SQLITE_UTF8,
                               nullptr, nullptr, nullptr, nullptr, nullptr);
  }

 private:
  explicit SealingFunctions(Connection& conn) : conn_(&conn) {}
  Connection* conn_;
};

// Runs one UPDATE (not cached: it names the temporary functions) and
// returns the rows it changed.
absl::StatusOr<int64_t> RunUpdate(Connection& conn, const std::string& sql,
                                  absl::string_view context) {
  ATTUNE_RETURN_IF_ERROR(conn.Exec(sql, context));
  return static_cast<int64_t>(sqlite3_changes(conn.db()));
}

absl::Status SealRows(Connection& conn, const Protection& protection,
                      ProtectionSetup* setup) {
  ATTUNE_ASSIGN_OR_RETURN(SealingFunctions functions,
                          SealingFunctions::Register(conn, protection));
  auto seal = [](absl::string_view column, absl::string_view row_id,
                 absl::string_view value) {
    return absl::StrCat(kSealFunction, "(tenant, '", column, "', ", row_id,
                        ", ", value, ")");
  };
  auto lookup = [](absl::string_view kind, absl::string_view value) {
    return absl::StrCat(kLookupFunction, "(tenant, '", kind, "', ", value, ")");
  };
  // client_key '' (an episode whose client is not known yet) stays '': the
  // backfill after open fills it from the sealed events.
  ATTUNE_ASSIGN_OR_RETURN(
      setup->episodes,
      RunUpdate(
          conn,
          absl::StrCat("UPDATE episodes SET assessment = ",
                       seal(kEpisodeAssessment, "episode_id", "assessment"),
                       ", client_key = CASE client_key WHEN '' THEN ''"
                       " ELSE ",
                       lookup(kClientKind, "client_key"), " END"),
          "episodes: seal in place"));
  ATTUNE_ASSIGN_OR_RETURN(
      setup->events,
      RunUpdate(
          conn,
          absl::StrCat(
              "UPDATE events SET fingerprint = ",
              seal(kEventFingerprint, "event_id", "fingerprint"),
              ", event = ", seal(kEventEvent, "event_id", "event"),
              ", response = ", seal(kEventResponse, "event_id", "response")),
          "events: seal in place"));
  ATTUNE_ASSIGN_OR_RETURN(
      setup->prompts,
      RunUpdate(conn,
                absl::StrCat(
                    "UPDATE prompts SET clinician_id = ",
                    lookup(kClinicianKind, "clinician_id"),
                    ", prompt = ", seal(kPromptPrompt, "prompt_id", "prompt")),
                "prompts: seal in place"));
  ATTUNE_ASSIGN_OR_RETURN(
      setup->held_sessions,
      RunUpdate(conn,
                absl::StrCat("UPDATE held_sessions SET clinician_id = ",
                             lookup(kClinicianKind, "clinician_id")),
                "held_sessions: seal in place"));
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadMode(Connection& conn) {
  ATTUNE_ASSIGN_OR_RETURN(
      Statement stmt,
      conn.Prepare("SELECT mode FROM store_protection WHERE id = 1",
                   "store_protection: read mode"));
  ATTUNE_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return std::string();
  return std::string(stmt.ColumnBytes(0));
}

absl::Status WriteMode(Connection& conn, const char* mode) {
  ATTUNE_ASSIGN_OR_RETURN(
      Statement stmt,
      conn.Prepare("INSERT INTO store_protection (id, mode) VALUES (1, ?1)"
                   " ON CONFLICT (id) DO UPDATE SET mode = excluded.mode",
                   "store_protection: write mode"));
  ATTUNE_RETURN_IF_ERROR(stmt.Bind(mode));
  return stmt.Run();
}

absl::StatusOr<bool> HasRows(Connection& conn) {
  ATTUNE_ASSIGN_OR_RETURN(
      int64_t any, conn.QueryInt64("SELECT EXISTS (SELECT 1 FROM episodes)"
                                   " OR EXISTS (SELECT 1 FROM events)"
                                   " OR EXISTS (SELECT 1 FROM prompts)"
                                   " OR EXISTS (SELECT 1 FROM held_sessions)",
                                   "seal in place: look for rows"));
  return any != 0;
}

// Refuses key material that differs from what wrote the database under the
// same id, then records the active key when it is new to the database.
absl::Status CheckAndRecordKeys(Connection& conn, const std::string& path,
                                const security::KeyRing& keys) {
  std::vector<std::pair<std::string, std::string>> known;
  {
    ATTUNE_ASSIGN_OR_RETURN(Statement stmt,
                            conn.Prepare("SELECT key_id, check_value"
                                         " FROM storage_keys ORDER BY key_id",
                                         "storage_keys: read"));
    for (;;) {
      ATTUNE_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      known.emplace_back(stmt.ColumnBytes(0), stmt.ColumnBytes(1));
    }
  }
  ATTUNE_RETURN_IF_ERROR(
      CheckKnownStorageKeys(keys, known, absl::StrCat("sqlite store ", path)));
  const std::string& active = keys.active_key_id();
  ATTUNE_ASSIGN_OR_RETURN(std::string check_value, keys.CheckValue(active));
  ATTUNE_ASSIGN_OR_RETURN(
      Statement insert,
      conn.Prepare("INSERT INTO storage_keys (key_id, check_value, first_used)"
                   " VALUES (?1, ?2, ?3) ON CONFLICT (key_id) DO NOTHING",
                   "storage_keys: record"));
  ATTUNE_RETURN_IF_ERROR(
      insert.Bind(active, check_value, TimeToNanos(absl::Now())));
  return insert.Run();
}

absl::Status SetUpInTransaction(Connection& conn, const std::string& path,
                                const Protection& protection,
                                const ProtectionOptions& options,
                                ProtectionSetup* setup) {
  ATTUNE_ASSIGN_OR_RETURN(setup->previous_mode, ReadMode(conn));
  if (!protection.sealed()) {
    if (setup->previous_mode == kModeSealed) {
      return absl::FailedPreconditionError(
          absl::StrCat("sqlite store ", path,
                       ": this database is encrypted; configure "
                       "store.key_file"));
    }
    if (setup->previous_mode.empty()) {
      ATTUNE_RETURN_IF_ERROR(WriteMode(conn, kModePlaintext));
    }
    setup->mode = kModePlaintext;
    return absl::OkStatus();
  }
  ATTUNE_RETURN_IF_ERROR(CheckAndRecordKeys(conn, path, *protection.keys()));
  if (setup->previous_mode != kModeSealed) {
    ATTUNE_ASSIGN_OR_RETURN(bool has_rows, HasRows(conn));
    if (has_rows) {
      if (!options.seal_plaintext) {
        return absl::FailedPreconditionError(absl::StrCat(
            "sqlite store ", path,
            ": this database is stored in plaintext; start attuned with "
            "store.key_file on it to encrypt it"));
      }
      ATTUNE_RETURN_IF_ERROR(SealRows(conn, protection, setup));
      setup->sealed_in_place = true;
    }
    ATTUNE_RETURN_IF_ERROR(WriteMode(conn, kModeSealed));
  }
  setup->mode = kModeSealed;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ProtectionSetup> SetUpProtection(
    Connection& conn, const std::string& path, const Protection& protection,
    const ProtectionOptions& options) {
  ProtectionSetup setup;
  // BEGIN IMMEDIATE: two processes opening the file at once cannot both
  // decide its mode, or both seal it.
  ATTUNE_RETURN_IF_ERROR(conn.Exec(
      "BEGIN IMMEDIATE", absl::StrCat("store_protection: begin on ", path)));
  absl::Status status =
      SetUpInTransaction(conn, path, protection, options, &setup);
  if (status.ok()) {
    status = conn.Exec("COMMIT", "store_protection: commit");
  }
  if (!status.ok()) {
    if (conn.InTransaction()) {
      conn.Exec("ROLLBACK", "store_protection: roll back").IgnoreError();
    }
    return status;
  }
  if (setup.sealed_in_place) {
    // secure_delete zeroed what the UPDATEs freed, but free space inside
    // pages may still hold plaintext from deletes made before it was on;
    // VACUUM rebuilds every page from the sealed rows. Then the WAL, which
    // now holds all those pages, is copied back and truncated.
    setup.vacuumed = conn.Exec("VACUUM", "seal in place: vacuum").ok();
    setup.wal_truncated = CheckpointAndTruncateWal(conn, options.busy_timeout,
                                                   options.busy_timeout)
                              .ok();
  }
  return setup;
}

}  // namespace attune::store::sqlite
