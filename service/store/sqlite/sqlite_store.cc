#include "service/store/sqlite/sqlite_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "service/common/log.h"
#include "service/common/status_macros.h"
#include "service/security/key_ring.h"
#include "service/store/common/audit_chain.h"
#include "service/store/common/codec.h"
#include "service/store/common/commit_rules.h"
#include "service/store/common/page_token.h"
#include "service/store/common/protection.h"
#include "service/store/sqlite/audit.h"
#include "service/store/sqlite/connection.h"
#include "service/store/sqlite/erase.h"
#include "service/store/sqlite/event_commit.h"
#include "service/store/sqlite/migrations.h"
#include "service/store/sqlite/sealing.h"

namespace attune::store {

using sqlite::Connection;
using sqlite::ConnectionOptions;
using sqlite::Statement;

namespace {

// How often, at most, the audit chain's head is logged while rows are
// appended (audit.h): a truncation is caught against the last line.
constexpr absl::Duration kAuditHeadLogInterval = absl::Minutes(5);
// How long the checkpoint after an erase waits for readers to leave the WAL:
// long enough for the store's own short reads, short enough that commits
// queued behind it barely notice.
constexpr absl::Duration kEraseCheckpointWait = absl::Milliseconds(250);

absl::Status ValidateOptions(const SqliteStoreOptions& options) {
  if (options.path.empty()) {
    return absl::InvalidArgumentError("sqlite store: path must not be empty");
  }
  if (options.path == ":memory:" ||
      absl::StartsWith(options.path, "file::memory:")) {
    return absl::InvalidArgumentError(
        "sqlite store: path must be a file (WAL needs one), not :memory:");
  }
  if (options.max_batch < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sqlite store: max_batch must be at least 1, got ", options.max_batch));
  }
  if (options.busy_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "sqlite store: busy_timeout must not be negative");
  }
  if (options.max_idle_read_connections < 0) {
    return absl::InvalidArgumentError(
        "sqlite store: max_idle_read_connections must not be negative");
  }
  return absl::OkStatus();
}

// Reads the settings back from the write connection, so that a pragma SQLite
// silently ignored is caught at open rather than discovered after a crash.
absl::StatusOr<SqliteStore::Settings> ConfigureWriter(Connection& conn,
                                                      const std::string& path) {
  SqliteStore::Settings settings;
  ATTUNE_ASSIGN_OR_RETURN(
      settings.journal_mode,
      conn.QueryText("PRAGMA journal_mode = WAL", "set journal_mode"));
  if (settings.journal_mode != "wal") {
    return absl::FailedPreconditionError(
        absl::StrCat("sqlite store ", path, ": journal_mode is ",
                     settings.journal_mode, ", WAL is required"));
  }
  ATTUNE_ASSIGN_OR_RETURN(
      settings.synchronous,
      conn.QueryInt64("PRAGMA synchronous", "read synchronous"));
  ATTUNE_ASSIGN_OR_RETURN(
      int64_t foreign_keys,
      conn.QueryInt64("PRAGMA foreign_keys", "read foreign_keys"));
  settings.foreign_keys = foreign_keys == 1;
  if (settings.synchronous != 2 || !settings.foreign_keys) {
    return absl::FailedPreconditionError(
        absl::StrCat("sqlite store ", path,
                     ": synchronous=FULL and foreign_keys=ON did "
                     "not take effect"));
  }
  // Erased rows are overwritten with zeros rather than left in free space.
  ATTUNE_ASSIGN_OR_RETURN(
      int64_t secure_delete,
      conn.QueryInt64("PRAGMA secure_delete = ON", "set secure_delete"));
  settings.secure_delete = secure_delete == 1;
  if (!settings.secure_delete) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sqlite store ", path, ": secure_delete=ON did not take effect"));
  }
  return settings;
}

// Ends a read transaction (or leaves none behind) on every path.
class ReadTransaction {
 public:
  static absl::StatusOr<ReadTransaction> Begin(Connection& conn) {
    ATTUNE_RETURN_IF_ERROR(conn.ExecCached("BEGIN", "begin read transaction"));
    return ReadTransaction(conn);
  }
  ReadTransaction(ReadTransaction&& other) noexcept
      : conn_(std::exchange(other.conn_, nullptr)) {}
  ReadTransaction& operator=(ReadTransaction&&) = delete;
  ~ReadTransaction() {
    if (conn_ != nullptr && conn_->InTransaction()) {
      conn_->ExecCached("ROLLBACK", "end read transaction").IgnoreError();
    }
  }

 private:
  explicit ReadTransaction(Connection& conn) : conn_(&conn) {}
  Connection* conn_;
};

absl::Status BatchFailure(const absl::Status& cause, size_t batch_size) {
  std::string message =
      absl::StrCat("sqlite commit batch of ", batch_size,
                   " rolled back, nothing of it stored: ", cause.message());
  if (cause.code() == absl::StatusCode::kUnavailable) {
    return absl::UnavailableError(message);
  }
  return absl::InternalError(message);
}

struct SavepointResult {
  absl::Status status;
  // The batch's transaction is gone or unusable: the whole batch fails.
  bool batch_broken = false;
};

SavepointResult ApplyInSavepoint(Connection& conn, const EventCommit& commit,
                                 int64_t now_nanos,
                                 const Protection& protection) {
  SavepointResult result;
  result.status = conn.ExecCached("SAVEPOINT attune_commit", "savepoint");
  if (!result.status.ok()) {
    result.batch_broken = true;
    return result;
  }
  result.status = sqlite::ApplyEventCommit(conn, commit, now_nanos, protection);
  if (result.status.ok()) {
    result.status =
        conn.ExecCached("RELEASE attune_commit", "release savepoint");
    if (result.status.ok()) return result;
  }
  // SQLite rolls back the whole transaction on its own after some errors
  // (I/O, out of memory); then nothing of the batch survives.
  if (!conn.InTransaction()) {
    result.batch_broken = true;
    return result;
  }
  // Two cached statements; as one Exec of both, the second runs only when
  // the first succeeded.
  absl::Status rollback =
      conn.ExecCached("ROLLBACK TO attune_commit", "roll back savepoint");
  if (rollback.ok()) {
    rollback = conn.ExecCached("RELEASE attune_commit", "roll back savepoint");
  }
  if (!rollback.ok()) {
    result.status = rollback;
    result.batch_broken = true;
  }
  return result;
}

}  // namespace

class SqliteStore::ReadLease {
 public:
  ReadLease(SqliteStore* store, std::unique_ptr<Connection> conn)
      : store_(store), conn_(std::move(conn)) {}
  ReadLease(ReadLease&& other) noexcept = default;
  ReadLease& operator=(ReadLease&&) = delete;
  ~ReadLease() {
    if (conn_ != nullptr) store_->ReleaseReader(std::move(conn_));
  }
  Connection& operator*() const { return *conn_; }
  Connection* operator->() const { return conn_.get(); }

 private:
  SqliteStore* store_;
  std::unique_ptr<Connection> conn_;
};

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(
    const SqliteStoreOptions& options) {
  ATTUNE_ASSIGN_OR_RETURN(std::unique_ptr<SqliteStore> store,
                          SqliteStore::Open(options));
  return std::unique_ptr<Store>(std::move(store));
}

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(
    const SqliteStoreOptions& options) {
  ATTUNE_RETURN_IF_ERROR(ValidateOptions(options));
  ATTUNE_ASSIGN_OR_RETURN(
      std::unique_ptr<Connection> writer,
      Connection::Open(options.path,
                       ConnectionOptions{.busy_timeout = options.busy_timeout,
                                         .read_only = false}));
  ATTUNE_ASSIGN_OR_RETURN(Settings settings,
                          ConfigureWriter(*writer, options.path));
  ATTUNE_ASSIGN_OR_RETURN(sqlite::MigrationResult migration,
                          sqlite::Migrate(*writer, options.path));
  settings.schema_version = migration.to_version;
  settings.migrated_from_version = migration.from_version;
  // Before anything reads a row: refuse a sealed file without keys, or keys
  // that are not the ones that wrote it; seal a plaintext file given keys.
  const Protection protection(options.keys);
  const sqlite::ProtectionOptions protection_options{
      .seal_plaintext = options.seal_plaintext,
      .busy_timeout = options.busy_timeout};
  ATTUNE_ASSIGN_OR_RETURN(
      sqlite::ProtectionSetup setup,
      sqlite::SetUpProtection(*writer, options.path, protection,
                              protection_options));
  settings.protection = setup.mode;
  if (setup.sealed_in_place) {
    ATTUNE_LOG(INFO) << "sqlite store: plaintext database sealed in place"
                     << LogField("episodes", setup.episodes)
                     << LogField("events", setup.events)
                     << LogField("prompts", setup.prompts)
                     << LogField("held_sessions", setup.held_sessions);
    if (!setup.vacuumed || !setup.wal_truncated) {
      ATTUNE_LOG(WARNING)
          << "sqlite store: after sealing, free space may still hold "
             "plaintext until later writes reuse it"
          << LogField("vacuumed", setup.vacuumed ? "yes" : "no")
          << LogField("wal_truncated", setup.wal_truncated ? "yes" : "no");
    }
  }
  // Episodes written before migration 3 have no client_key yet.
  ATTUNE_ASSIGN_OR_RETURN(sqlite::BackfillResult backfill,
                          sqlite::BackfillClientKeys(*writer, protection));
  if (backfill.filled > 0 || backfill.unreadable > 0) {
    ATTUNE_LOG(INFO) << "sqlite store: client keys filled in"
                     << LogField("episodes", backfill.filled)
                     << LogField("unreadable", backfill.unreadable);
  }

  // Each commit of a batch runs in a SAVEPOINT, whose statement journal
  // (the pages' images from before it, for ROLLBACK TO) SQLite moves to a
  // temporary file once it passes 64 KiB, and then writes there for the
  // rest of the batch: most of the writer's write() calls under backfill
  // went to that file. Kept in memory instead. The journal only serves
  // ROLLBACK TO inside a live transaction and is never read after a crash
  // (the WAL is), so durability is unchanged. Set only now: VACUUM (sealing
  // in place, above) builds a copy of the whole database in temporary
  // storage, which must stay on disk.
  ATTUNE_RETURN_IF_ERROR(
      writer->Exec("PRAGMA temp_store = MEMORY", "set temp_store"));
  std::unique_ptr<SqliteStore> store(
      new SqliteStore(options, std::move(writer), settings));
  // Open one reader now so that an unreadable file fails here, not on the
  // first request.
  {
    ATTUNE_ASSIGN_OR_RETURN(ReadLease lease, store->AcquireReader());
    ATTUNE_ASSIGN_OR_RETURN(AuditHead head, sqlite::ReadAuditHead(*lease));
    store->audit_head_log_ =
        std::make_unique<AuditHeadLog>(kAuditHeadLogInterval);
    store->audit_head_log_->Opened(head);
  }
  ATTUNE_LOG(INFO) << "sqlite store opened"
                   << LogField("schema_version", settings.schema_version)
                   << LogField("migrated_from", migration.from_version)
                   << LogField("protection", settings.protection)
                   << LogField("max_batch", options.max_batch);
  return store;
}

SqliteStore::SqliteStore(SqliteStoreOptions options,
                         std::unique_ptr<Connection> writer, Settings settings)
    : options_(std::move(options)),
      settings_(std::move(settings)),
      protection_(options_.keys),
      writer_conn_(std::move(writer)) {
  writer_thread_ = std::thread([this] { WriterLoop(); });
}

SqliteStore::~SqliteStore() {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  writer_thread_.join();
  if (audit_head_log_ != nullptr) audit_head_log_->Closed();
}

absl::Status SqliteStore::RunWriteJob(
    std::function<absl::Status(Connection&)> apply,
    std::function<void(Connection&)> after_commit) {
  PendingJob job{std::move(apply), std::move(after_commit), {}};
  std::future<absl::Status> done = job.done.get_future();
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (stopping_) {
      return absl::UnavailableError("sqlite store is shutting down");
    }
    jobs_.push_back(std::move(job));
  }
  queue_cv_.notify_all();
  return done.get();
}

std::future<absl::Status> SqliteStore::CommitAsync(EventCommit commit) {
  std::promise<absl::Status> done;
  std::future<absl::Status> future = done.get_future();
  absl::Status valid = ValidateEventCommit(commit);
  if (!valid.ok()) {
    done.set_value(std::move(valid));
    return future;
  }
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (stopping_) {
      done.set_value(absl::UnavailableError("sqlite store is shutting down"));
      return future;
    }
    queue_.push_back(PendingCommit{std::move(commit), std::move(done)});
  }
  queue_cv_.notify_all();
  return future;
}

void SqliteStore::HoldWriterUntilQueued(int n) {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    hold_until_queued_ = n > 0 ? static_cast<size_t>(n) : 0;
  }
  queue_cv_.notify_all();
}

SqliteStore::Stats SqliteStore::stats() const {
  std::lock_guard<std::mutex> lock(queue_mu_);
  return stats_;
}

void SqliteStore::WriterLoop() {
  const size_t max_batch = static_cast<size_t>(options_.max_batch);
  for (;;) {
    std::vector<PendingCommit> batch;
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      queue_cv_.wait(lock, [this] {
        return stopping_ || !jobs_.empty() ||
               (!queue_.empty() && queue_.size() >= hold_until_queued_);
      });
      // Jobs (erasure) are rare: each runs before the next batch.
      if (!jobs_.empty()) {
        PendingJob job = std::move(jobs_.front());
        jobs_.pop_front();
        lock.unlock();
        RunJob(job);
        continue;
      }
      if (queue_.empty()) return;  // Stopping, and everything is done.
      hold_until_queued_ = 0;
      const size_t n = std::min(queue_.size(), max_batch);
      batch.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    RunBatch(batch);
  }
}

void SqliteStore::RunBatch(std::vector<PendingCommit>& batch) {
  Connection& conn = *writer_conn_;
  std::vector<absl::Status> results(batch.size());
  absl::Status batch_status = conn.ExecCached("BEGIN IMMEDIATE", "begin batch");
  if (batch_status.ok()) {
    const int64_t now = TimeToNanos(absl::Now());
    for (size_t i = 0; i < batch.size(); ++i) {
      SavepointResult applied =
          ApplyInSavepoint(conn, batch[i].commit, now, protection_);
      if (applied.batch_broken) {
        batch_status = applied.status;
        break;
      }
      results[i] = std::move(applied.status);
    }
  }
  if (batch_status.ok()) {
    batch_status = conn.ExecCached("COMMIT", "commit batch");
  }
  if (!batch_status.ok()) {
    if (conn.InTransaction()) {
      conn.ExecCached("ROLLBACK", "roll back batch").IgnoreError();
    }
    // Even commits rejected on their own fail with the batch: their
    // ALREADY_EXISTS or ABORTED may have been caused by an earlier commit of
    // the batch that is now rolled back.
    absl::Status failure = BatchFailure(batch_status, batch.size());
    for (absl::Status& result : results) result = failure;
    ATTUNE_LOG(ERROR) << "sqlite commit batch failed"
                      << LogField("code",
                                  absl::StatusCodeToString(failure.code()))
                      << LogField("batch", batch.size())
                      << LogField("cause", batch_status.message());
  }

  int64_t ok_count = 0;
  for (const absl::Status& result : results) ok_count += result.ok() ? 1 : 0;
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stats_.batches += 1;
    stats_.commits += ok_count;
    stats_.rejected += static_cast<int64_t>(batch.size()) - ok_count;
    stats_.max_batch_seen =
        std::max(stats_.max_batch_seen, static_cast<int64_t>(batch.size()));
  }
  // Only now, after COMMIT has returned, do callers learn the outcome.
  for (size_t i = 0; i < batch.size(); ++i) {
    batch[i].done.set_value(std::move(results[i]));
  }
}

void SqliteStore::RunJob(PendingJob& job) {
  Connection& conn = *writer_conn_;
  absl::Status status = conn.ExecCached("BEGIN IMMEDIATE", "begin write job");
  if (status.ok()) status = job.apply(conn);
  if (status.ok()) status = conn.ExecCached("COMMIT", "commit write job");
  if (!status.ok()) {
    if (conn.InTransaction()) {
      conn.ExecCached("ROLLBACK", "roll back write job").IgnoreError();
    }
  } else if (job.after_commit) {
    job.after_commit(conn);
  }
  job.done.set_value(std::move(status));
}

absl::StatusOr<SqliteStore::ReadLease> SqliteStore::AcquireReader() {
  {
    std::lock_guard<std::mutex> lock(readers_mu_);
    if (!idle_readers_.empty()) {
      std::unique_ptr<Connection> conn = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return ReadLease(this, std::move(conn));
    }
  }
  ATTUNE_ASSIGN_OR_RETURN(
      std::unique_ptr<Connection> conn,
      Connection::Open(options_.path,
                       ConnectionOptions{.busy_timeout = options_.busy_timeout,
                                         .read_only = true}));
  return ReadLease(this, std::move(conn));
}

void SqliteStore::ReleaseReader(std::unique_ptr<Connection> conn) {
  if (conn->InTransaction() &&
      !conn->ExecCached("ROLLBACK", "release reader").ok()) {
    return;  // Not reusable; closed here.
  }
  std::lock_guard<std::mutex> lock(readers_mu_);
  if (idle_readers_.size() <
      static_cast<size_t>(options_.max_idle_read_connections)) {
    idle_readers_.push_back(std::move(conn));
  }
}

absl::StatusOr<std::optional<StoredEvent>> SqliteStore::FindEvent(
    const std::string& tenant, const std::string& event_id) {
  ATTUNE_ASSIGN_OR_RETURN(ReadLease conn, AcquireReader());
  ATTUNE_ASSIGN_OR_RETURN(
      Statement stmt,
      conn->Prepare("SELECT fingerprint, event, response FROM events"
                    " WHERE tenant = ?1 AND event_id = ?2",
                    "events: find by event_id"));
  ATTUNE_RETURN_IF_ERROR(stmt.Bind(tenant, event_id));
  ATTUNE_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return std::nullopt;
  StoredEvent stored;
  ATTUNE_ASSIGN_OR_RETURN(stored.fingerprint,
                          protection_.Open(tenant, kEventFingerprint, event_id,
                                           stmt.ColumnBytes(0)));
  ATTUNE_RETURN_IF_ERROR(protection_.OpenMessage(
      tenant, kEventEvent, event_id, stmt.ColumnBytes(1), &stored.event));
  ATTUNE_RETURN_IF_ERROR(protection_.OpenMessage(
      tenant, kEventResponse, event_id, stmt.ColumnBytes(2), &stored.response));
  return stored;
}

absl::StatusOr<int64_t> SqliteStore::EpisodeVersion(
    const std::string& tenant, const std::string& episode_id) {
  ATTUNE_ASSIGN_OR_RETURN(ReadLease conn, AcquireReader());
  ATTUNE_ASSIGN_OR_RETURN(
      Statement stmt, conn->Prepare("SELECT version FROM episodes"
                                    " WHERE tenant = ?1 AND episode_id = ?2",
                                    "episodes: read version"));
  ATTUNE_RETURN_IF_ERROR(stmt.Bind(tenant, episode_id));
  ATTUNE_ASSIGN_OR_RETURN(bool found, stmt.Step());
  return found ? stmt.ColumnInt64(0) : 0;
}

absl::StatusOr<EpisodeSnapshot> SqliteStore::LoadEpisode(
    const std::string& tenant, const std::string& episode_id) {
  ATTUNE_ASSIGN_OR_RETURN(ReadLease conn, AcquireReader());
  // One read transaction: version, events and prompts from one snapshot.
  ATTUNE_ASSIGN_OR_RETURN(ReadTransaction txn, ReadTransaction::Begin(*conn));
  EpisodeSnapshot snapshot;
  {
    ATTUNE_ASSIGN_OR_RETURN(
        Statement stmt, conn->Prepare("SELECT version, assessment FROM episodes"
                                      " WHERE tenant = ?1 AND episode_id = ?2",
                                      "episodes: load"));
    ATTUNE_RETURN_IF_ERROR(stmt.Bind(tenant, episode_id));
    ATTUNE_ASSIGN_OR_RETURN(bool found, stmt.Step());
    if (!found) return snapshot;
    snapshot.exists = true;
    snapshot.version = stmt.ColumnInt64(0);
    ATTUNE_RETURN_IF_ERROR(
        protection_.OpenMessage(tenant, kEpisodeAssessment, episode_id,
                                stmt.ColumnBytes(1), &snapshot.assessment));
  }
  {
    ATTUNE_ASSIGN_OR_RETURN(
        Statement stmt,
        conn->Prepare("SELECT event, event_id FROM events"
                      " WHERE tenant = ?1 AND episode_id = ?2 ORDER BY seq",
                      "events: load episode"));
    ATTUNE_RETURN_IF_ERROR(stmt.Bind(tenant, episode_id));
    for (;;) {
      ATTUNE_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      ATTUNE_RETURN_IF_ERROR(protection_.OpenMessage(
          tenant, kEventEvent, stmt.ColumnBytes(1), stmt.ColumnBytes(0),
          &snapshot.events.emplace_back()));
    }
  }
  {
    ATTUNE_ASSIGN_OR_RETURN(
        Statement stmt,
        // Shadow prompts too (the engine reconciles them on their own),
        // live ones first: the order of prompts_by_episode.
        conn->Prepare("SELECT prompt, prompt_id FROM prompts"
                      " WHERE tenant = ?1 AND episode_id = ?2"
                      " ORDER BY shadow, priority DESC, updated_at DESC,"
                      " prompt_id",
                      "prompts: load episode"));
    ATTUNE_RETURN_IF_ERROR(stmt.Bind(tenant, episode_id));
    for (;;) {
      ATTUNE_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      ATTUNE_RETURN_IF_ERROR(protection_.OpenMessage(
          tenant, kPromptPrompt, stmt.ColumnBytes(1), stmt.ColumnBytes(0),
          &snapshot.prompts.emplace_back()));
    }
  }
  return snapshot;
}

absl::StatusOr<std::optional<v1::Prompt>> SqliteStore::GetPrompt(
    const std::string& tenant, const std::string& prompt_id) {
  ATTUNE_ASSIGN_OR_RETURN(ReadLease conn, AcquireReader());
  ATTUNE_ASSIGN_OR_RETURN(Statement stmt,
                          conn->Prepare("SELECT prompt FROM prompts"
                                        " WHERE tenant = ?1 AND prompt_id = ?2",
                                        "prompts: get"));
  ATTUNE_RETURN_IF_ERROR(stmt.Bind(tenant, prompt_id));
  ATTUNE_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return std::nullopt;
  v1::Prompt prompt;
  ATTUNE_RETURN_IF_ERROR(protection_.OpenMessage(
      tenant, kPromptPrompt, prompt_id, stmt.ColumnBytes(0), &prompt));
  return prompt;
}

absl::StatusOr<PromptPage> SqliteStore::ListPrompts(const PromptQuery& query) {
  ATTUNE_ASSIGN_OR_RETURN(PreparedPromptQuery prepared,
                          PreparePromptQuery(query, protection_));
  const std::vector<std::string>& clinician_keys = prepared.clinician_keys;
  const std::vector<int>& statuses = prepared.statuses;
  const std::optional<PromptPageToken>& after = prepared.after;
  const uint64_t filter_hash = prepared.filter_hash;

  // The SQL text depends only on which id is queried (and, by clinician, on
  // the number of ring keys), whether there is a status filter and whether
  // there is a token: a few cached variants. The status list is padded to a
  // fixed length by repeating a value. Shadow prompts are never listed;
  // `shadow = 0` is an equality on the index, so the rows still come in
  // sort order (with several ring keys, SQLite merges the clinician's
  // hashes with a sort).
  std::string sql =
      "SELECT priority, updated_at, prompt_id, prompt FROM prompts"
      " WHERE tenant = ? AND ";
  if (!query.episode_id.empty()) {
    absl::StrAppend(&sql, "episode_id = ?");
  } else if (clinician_keys.size() == 1) {
    absl::StrAppend(&sql, "clinician_id = ?");
  } else {
    absl::StrAppend(&sql, "clinician_id IN (?");
    for (size_t i = 1; i < clinician_keys.size(); ++i) {
      absl::StrAppend(&sql, ", ?");
    }
    absl::StrAppend(&sql, ")");
  }
  absl::StrAppend(&sql, " AND shadow = 0");
  if (!statuses.empty()) {
    absl::StrAppend(&sql, " AND status IN (?");
    for (int i = 1; i < kMaxStatusFilter; ++i) absl::StrAppend(&sql, ", ?");
    absl::StrAppend(&sql, ")");
  }
  if (after.has_value()) {
    // Rows after the token in (priority DESC, updated_at DESC, prompt_id)
    // order; the first term lets SQLite seek in the index.
    absl::StrAppend(
        &sql,
        " AND priority <= ? AND (priority < ? OR (priority = ? AND"
        " (updated_at < ? OR (updated_at = ? AND prompt_id > ?))))");
  }
  absl::StrAppend(
      &sql, " ORDER BY priority DESC, updated_at DESC, prompt_id LIMIT ?");

  ATTUNE_ASSIGN_OR_RETURN(ReadLease conn, AcquireReader());
  ATTUNE_ASSIGN_OR_RETURN(Statement stmt, conn->Prepare(sql, "prompts: list"));
  int index = 0;
  ATTUNE_RETURN_IF_ERROR(stmt.BindOne(++index, query.tenant));
  if (!query.episode_id.empty()) {
    ATTUNE_RETURN_IF_ERROR(stmt.BindOne(++index, query.episode_id));
  }
  for (const std::string& key : clinician_keys) {
    ATTUNE_RETURN_IF_ERROR(stmt.BindOne(++index, key));
  }
  if (!statuses.empty()) {
    for (size_t i = 0; i < static_cast<size_t>(kMaxStatusFilter); ++i) {
      ATTUNE_RETURN_IF_ERROR(
          stmt.BindOne(++index, statuses[std::min(i, statuses.size() - 1)]));
    }
  }
  if (after.has_value()) {
    ATTUNE_RETURN_IF_ERROR(stmt.BindOne(++index, after->priority));
    ATTUNE_RETURN_IF_ERROR(stmt.BindOne(++index, after->priority));
    ATTUNE_RETURN_IF_ERROR(stmt.BindOne(++index, after->priority));
    ATTUNE_RETURN_IF_ERROR(stmt.BindOne(++index, after->updated_at_nanos));
    ATTUNE_RETURN_IF_ERROR(stmt.BindOne(++index, after->updated_at_nanos));
    ATTUNE_RETURN_IF_ERROR(stmt.BindOne(++index, after->prompt_id));
  }
  // One row more than the page tells whether another page follows.
  ATTUNE_RETURN_IF_ERROR(stmt.BindOne(++index, query.page_size + 1));

  PromptPage page;
  PromptPageToken last;
  for (;;) {
    ATTUNE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    if (static_cast<int>(page.prompts.size()) == query.page_size) {
      last.filter_hash = filter_hash;
      page.next_page_token = EncodePromptPageToken(last);
      break;
    }
    last.priority = stmt.ColumnInt64(0);
    last.updated_at_nanos = stmt.ColumnInt64(1);
    last.prompt_id = std::string(stmt.ColumnBytes(2));
    ATTUNE_RETURN_IF_ERROR(protection_.OpenMessage(
        query.tenant, kPromptPrompt, last.prompt_id, stmt.ColumnBytes(3),
        &page.prompts.emplace_back()));
  }
  return page;
}

absl::StatusOr<std::vector<HeldSession>> SqliteStore::ListClinicianSessions(
    const std::string& tenant, const std::string& clinician_id, absl::Time from,
    absl::Time to) {
  std::vector<HeldSession> sessions;
  if (from >= to) return sessions;
  // Every value held_sessions.clinician_id may hold for the clinician (one
  // per ring key in a sealed store).
  const std::vector<std::string> clinician_keys =
      protection_.IdKeys(tenant, kClinicianKind, clinician_id);
  std::string sql =
      "SELECT episode_id, session_number, start_at, end_at"
      " FROM held_sessions WHERE tenant = ?1 AND start_at >= ?2"
      " AND start_at < ?3 AND clinician_id ";
  if (clinician_keys.size() == 1) {
    absl::StrAppend(&sql, "= ?4");
  } else {
    absl::StrAppend(&sql, "IN (?4");
    for (size_t i = 1; i < clinician_keys.size(); ++i) {
      absl::StrAppend(&sql, ", ?", i + 4);
    }
    absl::StrAppend(&sql, ")");
  }
  absl::StrAppend(&sql, " ORDER BY start_at, episode_id, session_number");
  ATTUNE_ASSIGN_OR_RETURN(ReadLease conn, AcquireReader());
  ATTUNE_ASSIGN_OR_RETURN(
      Statement stmt, conn->Prepare(sql, "held_sessions: list by clinician"));
  ATTUNE_RETURN_IF_ERROR(stmt.Bind(tenant, TimeToNanos(from), TimeToNanos(to)));
  for (size_t i = 0; i < clinician_keys.size(); ++i) {
    ATTUNE_RETURN_IF_ERROR(
        stmt.BindOne(static_cast<int>(i) + 4, clinician_keys[i]));
  }
  for (;;) {
    ATTUNE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    HeldSession& session = sessions.emplace_back();
    session.episode_id = std::string(stmt.ColumnBytes(0));
    session.session_number = static_cast<int>(stmt.ColumnInt64(1));
    session.start = absl::FromUnixNanos(stmt.ColumnInt64(2));
    session.end = absl::FromUnixNanos(stmt.ColumnInt64(3));
  }
  return sessions;
}

absl::StatusOr<std::vector<FeedbackCount>> SqliteStore::CountFeedback(
    const std::string& tenant) {
  ATTUNE_ASSIGN_OR_RETURN(ReadLease conn, AcquireReader());
  ATTUNE_ASSIGN_OR_RETURN(
      Statement stmt,
      conn->Prepare("SELECT module_id, outcome, COUNT(*) FROM prompt_feedback"
                    " WHERE tenant = ?1 GROUP BY module_id, outcome"
                    " ORDER BY module_id, outcome",
                    "prompt_feedback: count"));
  ATTUNE_RETURN_IF_ERROR(stmt.Bind(tenant));
  std::vector<FeedbackCount> counts;
  for (;;) {
    ATTUNE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    FeedbackCount& count = counts.emplace_back();
    count.module_id = std::string(stmt.ColumnBytes(0));
    count.outcome =
        static_cast<v1::PromptFeedback::Outcome>(stmt.ColumnInt64(1));
    count.count = stmt.ColumnInt64(2);
  }
  return counts;
}

absl::StatusOr<EventPage> SqliteStore::ScanEvents(
    const std::string& tenant, int page_size, const std::string& page_token) {
  ATTUNE_ASSIGN_OR_RETURN(PreparedEventScan prepared,
                          PrepareEventScan(tenant, page_size, page_token));
  const uint64_t filter_hash = prepared.filter_hash;
  const std::optional<EventPageToken>& after = prepared.after;
  // Keyset over events_by_episode (tenant, episode_id, seq); the first term
  // after the tenant lets SQLite seek.
  std::string sql =
      "SELECT episode_id, seq, event, event_id FROM events WHERE tenant = ?";
  if (after.has_value()) {
    absl::StrAppend(&sql,
                    " AND episode_id >= ? AND (episode_id > ? OR seq > ?)");
  }
  absl::StrAppend(&sql, " ORDER BY episode_id, seq LIMIT ?");

  ATTUNE_ASSIGN_OR_RETURN(ReadLease conn, AcquireReader());
  ATTUNE_ASSIGN_OR_RETURN(Statement stmt, conn->Prepare(sql, "events: scan"));
  int index = 0;
  ATTUNE_RETURN_IF_ERROR(stmt.BindOne(++index, tenant));
  if (after.has_value()) {
    ATTUNE_RETURN_IF_ERROR(stmt.BindOne(++index, after->episode_id));
    ATTUNE_RETURN_IF_ERROR(stmt.BindOne(++index, after->episode_id));
    ATTUNE_RETURN_IF_ERROR(stmt.BindOne(++index, after->seq));
  }
  // One row more than the page tells whether another page follows.
  ATTUNE_RETURN_IF_ERROR(stmt.BindOne(++index, page_size + 1));

  EventPage page;
  EventPageToken last;
  last.filter_hash = filter_hash;
  for (;;) {
    ATTUNE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    if (static_cast<int>(page.events.size()) == page_size) {
      page.next_page_token = EncodeEventPageToken(last);
      break;
    }
    last.episode_id = std::string(stmt.ColumnBytes(0));
    last.seq = stmt.ColumnInt64(1);
    ATTUNE_RETURN_IF_ERROR(protection_.OpenMessage(
        tenant, kEventEvent, stmt.ColumnBytes(3), stmt.ColumnBytes(2),
        &page.events.emplace_back()));
  }
  return page;
}

absl::StatusOr<std::vector<v1::Prompt>> SqliteStore::ListModulePrompts(
    const std::string& tenant, const std::string& module_id, bool shadow,
    int limit) {
  ATTUNE_RETURN_IF_ERROR(ValidateModulePromptsQuery(module_id, limit));
  ATTUNE_ASSIGN_OR_RETURN(ReadLease conn, AcquireReader());
  // prompts_by_module yields the rows by episode; raised_at_session lives in
  // the message, so each episode is sorted here. Reading stops at the first
  // episode boundary past `limit`, so the cut below is exact.
  ATTUNE_ASSIGN_OR_RETURN(
      Statement stmt,
      conn->Prepare("SELECT episode_id, prompt, prompt_id FROM prompts"
                    " WHERE tenant = ?1 AND module_id = ?2 AND shadow = ?3"
                    " ORDER BY episode_id",
                    "prompts: list by module"));
  ATTUNE_RETURN_IF_ERROR(stmt.Bind(tenant, module_id, shadow ? 1 : 0));
  std::vector<v1::Prompt> prompts;
  std::string episode_id;
  for (;;) {
    ATTUNE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    if (stmt.ColumnBytes(0) != episode_id) {
      if (static_cast<int>(prompts.size()) >= limit) break;
      episode_id = std::string(stmt.ColumnBytes(0));
    }
    ATTUNE_RETURN_IF_ERROR(
        protection_.OpenMessage(tenant, kPromptPrompt, stmt.ColumnBytes(2),
                                stmt.ColumnBytes(1), &prompts.emplace_back()));
  }
  SortAndCutModulePrompts(prompts, limit);
  return prompts;
}

// Audit rows are a write job too: the writer thread reads the chain's head
// and appends inside its own BEGIN IMMEDIATE, so the head cannot move
// between read and write, and no second write connection ever waits for the
// group commit's lock (or it for ours). A job runs between batches, never
// inside one, so it cannot deadlock with a batch either.
absl::Status SqliteStore::AppendAudit(std::vector<AuditRecord> records) {
  ATTUNE_RETURN_IF_ERROR(ValidateAuditRecords(records));
  if (records.empty()) return absl::OkStatus();
  const security::KeyRing* keys = options_.keys.get();
  AuditHead head;
  return RunWriteJob(
      [&](Connection& conn) -> absl::Status {
        ATTUNE_ASSIGN_OR_RETURN(head,
                                sqlite::AppendAuditRows(conn, keys, records));
        return absl::OkStatus();
      },
      [&](Connection&) { audit_head_log_->Appended(head, absl::Now()); });
}

absl::StatusOr<AuditVerification> SqliteStore::VerifyAudit() {
  ATTUNE_ASSIGN_OR_RETURN(ReadLease conn, AcquireReader());
  return sqlite::VerifyAuditChain(*conn, options_.keys.get());
}

// Erasure runs as a write job on the writer thread, which owns the only
// write connection: it is serialised with the group commit instead of
// contending with it for SQLite's write lock, and a commit racing the erase
// of its episode finds the version gone (ABORTED).
absl::StatusOr<EraseCounts> SqliteStore::EraseClient(
    const std::string& tenant, const std::string& client_id) {
  ATTUNE_RETURN_IF_ERROR(ValidateEraseClient(tenant, client_id));
  const std::vector<std::string> client_keys =
      ClientKeys(protection_, tenant, client_id);
  EraseCounts counts;
  ATTUNE_RETURN_IF_ERROR(RunWriteJob(
      [&](Connection& conn) {
        return sqlite::EraseClientEpisodes(conn, tenant, client_keys, &counts);
      },
      [this, &counts](Connection& conn) {
        if (counts.episodes > 0) CheckpointAfterErase(conn);
      }));
  return counts;
}

absl::StatusOr<EraseCounts> SqliteStore::EraseInactiveEpisodes(
    absl::Time cutoff, int limit) {
  ATTUNE_RETURN_IF_ERROR(ValidateEraseLimit(limit));
  const int64_t cutoff_nanos = TimeToNanos(cutoff);
  EraseCounts counts;
  ATTUNE_RETURN_IF_ERROR(RunWriteJob(
      [&](Connection& conn) {
        return sqlite::EraseEpisodesUpdatedBefore(conn, cutoff_nanos, limit,
                                                  &counts);
      },
      [this, &counts](Connection& conn) {
        if (counts.episodes > 0) CheckpointAfterErase(conn);
      }));
  return counts;
}

void SqliteStore::CheckpointAfterErase(Connection& conn) {
  // The erase is committed either way: a reader that keeps the WAL busy only
  // delays the removal of the old page images until later writes reuse it.
  absl::Status checkpoint = sqlite::CheckpointAndTruncateWal(
      conn, kEraseCheckpointWait, options_.busy_timeout);
  if (!checkpoint.ok()) {
    ATTUNE_LOG(WARNING) << "sqlite store: WAL not truncated after erase"
                        << LogField("code", absl::StatusCodeToString(
                                                checkpoint.code()));
  }
}

}  // namespace attune::store
