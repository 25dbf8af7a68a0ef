// SqliteStore: the embedded Store backend (one database file, no server).
//
//   ATTUNE_ASSIGN_OR_RETURN(std::unique_ptr<Store> store,
//                           OpenSqliteStore({.path = "/var/lib/attune/a.db"}));
//
// Durability: WAL journal, synchronous=FULL, foreign keys on. A commit's
// future is ready only after the transaction holding it has committed. The
// write connection keeps temporary storage (the savepoints' statement
// journals) in memory once the store is open.
//
// Threads: one writer thread owns the write connection. CommitAsync queues
// the commit; the writer takes up to `max_batch` queued commits and applies
// them in one transaction (BEGIN IMMEDIATE ... COMMIT), each inside its own
// SAVEPOINT so that a failing commit (ALREADY_EXISTS, ABORTED) is rolled back
// alone and the rest of the batch still commits. If the COMMIT itself fails,
// every commit of the batch fails (UNAVAILABLE or INTERNAL) and nothing of
// the batch is stored. Other writes (erasure, retention) are jobs on the
// same queue: the writer runs each alone in its own transaction between
// batches (RunWriteJob), so nothing else ever writes through a second
// connection that could wait on the group commit's lock. Reads use a pool of
// separate read-only connections; under WAL they see the last committed
// state and never wait for the writer's transaction. All methods are
// thread-safe. The destructor finishes every queued commit and job, then
// joins the writer.
//
// Schema: see migrations.cc. Migrations run at open; a database with a newer
// schema version than this build knows is refused (FAILED_PRECONDITION).
// Episodes migrated without episodes.client_key get it at open from their
// first event (erase.h).
//
// Erasure: the write connection runs with secure_delete on, so erased rows
// are overwritten in the file, not merely unlinked; after an erase the WAL
// is checkpointed and truncated (waiting at most a moment for readers), so
// the old page images holding the rows leave the -wal file too.
#ifndef ATTUNE_SERVICE_STORE_SQLITE_SQLITE_STORE_H_
#define ATTUNE_SERVICE_STORE_SQLITE_SQLITE_STORE_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/store/common/protection.h"
#include "service/store/store.h"

namespace attune::security {
class KeyRing;
}  // namespace attune::security

namespace attune::store {

class AuditHeadLog;
namespace sqlite {
class Connection;
}  // namespace sqlite

struct SqliteStoreOptions {
  // The database file; created when missing. Its directory must exist.
  // Must be a real file (WAL needs one): ":memory:" is refused.
  std::string path;
  // Most commits grouped into one transaction (>= 1).
  int max_batch = 256;
  // How long a connection waits for a lock held by another connection or
  // process before the operation fails with UNAVAILABLE.
  absl::Duration busy_timeout = absl::Seconds(5);
  // Idle read connections kept open (more are opened under load).
  int max_idle_read_connections = 4;
  // Storage keys. Set: identifiers are stored as lookup hashes and messages
  // sealed (see migrations.cc, protection.h); a plaintext database with
  // rows is sealed in place at open (secure_delete on, VACUUM, WAL
  // truncated; sealing.h). Null: plaintext, and a sealed database is
  // refused (FAILED_PRECONDITION "...: this database is encrypted; configure
  // store.key_file"). A key id the database knows with different key
  // material is refused too.
  std::shared_ptr<const security::KeyRing> keys = nullptr;
  // With keys, false refuses a plaintext database that has rows
  // (FAILED_PRECONDITION "...: this database is stored in plaintext; start
  // attuned with store.key_file on it to encrypt it") instead of sealing it
  // in place: for tools (attunectl) that must never re-write a file an
  // attuned may be serving in plaintext.
  bool seal_plaintext = true;
};

// Opens (creating and migrating when needed) a SQLite-backed Store.
// INVALID_ARGUMENT for bad options, UNAVAILABLE when the file cannot be
// opened, FAILED_PRECONDITION when its schema is newer than this build.
absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(
    const SqliteStoreOptions& options);

class SqliteStore final : public Store {
 public:
  // Group commit counters since open.
  struct Stats {
    // Commits that became durable.
    int64_t commits = 0;
    // Commits that failed (rolled back alone, or with a failed batch).
    int64_t rejected = 0;
    // Write transactions attempted.
    int64_t batches = 0;
    // Most commits applied in one transaction.
    int64_t max_batch_seen = 0;
  };

  // What the write connection reported after open (read back, not assumed).
  struct Settings {
    std::string journal_mode;
    int64_t synchronous = -1;
    bool foreign_keys = false;
    // Deleted content is overwritten (erasure).
    bool secure_delete = false;
    int64_t schema_version = 0;
    // Schema version found in the file before migrations ran (0 when new).
    int64_t migrated_from_version = 0;
    // store_protection.mode after open: "sealed" or "plaintext".
    std::string protection;
  };

  // As OpenSqliteStore, returning the concrete type (stats, test hooks).
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(
      const SqliteStoreOptions& options);

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;
  ~SqliteStore() override;

  absl::StatusOr<std::optional<StoredEvent>> FindEvent(
      const std::string& tenant, const std::string& event_id) override;
  absl::StatusOr<int64_t> EpisodeVersion(
      const std::string& tenant, const std::string& episode_id) override;
  absl::StatusOr<EpisodeSnapshot> LoadEpisode(
      const std::string& tenant, const std::string& episode_id) override;
  std::future<absl::Status> CommitAsync(EventCommit commit) override;
  absl::StatusOr<std::optional<v1::Prompt>> GetPrompt(
      const std::string& tenant, const std::string& prompt_id) override;
  absl::StatusOr<PromptPage> ListPrompts(const PromptQuery& query) override;
  absl::StatusOr<std::vector<HeldSession>> ListClinicianSessions(
      const std::string& tenant, const std::string& clinician_id,
      absl::Time from, absl::Time to) override;
  absl::StatusOr<std::vector<FeedbackCount>> CountFeedback(
      const std::string& tenant) override;
  absl::StatusOr<EventPage> ScanEvents(const std::string& tenant, int page_size,
                                       const std::string& page_token) override;
  absl::StatusOr<std::vector<v1::Prompt>> ListModulePrompts(
      const std::string& tenant, const std::string& module_id, bool shadow,
      int limit) override;
  absl::Status AppendAudit(std::vector<AuditRecord> records) override;
  absl::StatusOr<AuditVerification> VerifyAudit() override;
  absl::StatusOr<EraseCounts> EraseClient(
      const std::string& tenant, const std::string& client_id) override;
  absl::StatusOr<EraseCounts> EraseInactiveEpisodes(absl::Time cutoff,
                                                    int limit) override;

  Stats stats() const;
  std::optional<int64_t> CommitBatches() const override {
    return stats().batches;
  }
  const Settings& settings() const { return settings_; }

  // Test hook: the writer starts its next batch only once at least `n`
  // commits are queued (or the store is shutting down), making grouping
  // deterministic. One-shot: cleared when that batch starts. 0 clears it.
  void HoldWriterUntilQueued(int n);

 private:
  struct PendingCommit {
    EventCommit commit;
    std::promise<absl::Status> done;
  };
  // A write that is not an event commit. `apply` runs on the writer thread
  // inside BEGIN IMMEDIATE ... COMMIT of its own (rolled back when it
  // fails); `after_commit`, when set, runs on the writer thread after a
  // successful COMMIT, outside any transaction (e.g. a WAL checkpoint).
  struct PendingJob {
    std::function<absl::Status(sqlite::Connection&)> apply;
    std::function<void(sqlite::Connection&)> after_commit;
    std::promise<absl::Status> done;
  };
  class ReadLease;

  SqliteStore(SqliteStoreOptions options,
              std::unique_ptr<sqlite::Connection> writer, Settings settings);

  void WriterLoop();
  void RunBatch(std::vector<PendingCommit>& batch);
  void RunJob(PendingJob& job);
  // After an erase commits: checkpoint the WAL and truncate it (logs, never
  // fails the erase). Writer thread only.
  void CheckpointAfterErase(sqlite::Connection& conn);
  // Queues `apply` (and `after_commit`) as a PendingJob and waits for it.
  // UNAVAILABLE once the store is shutting down; otherwise what `apply`
  // returned, or the storage error of BEGIN/COMMIT. Callers that keep
  // results in variables captured by reference may do so: this returns
  // only after the writer has finished with the job.
  absl::Status RunWriteJob(
      std::function<absl::Status(sqlite::Connection&)> apply,
      std::function<void(sqlite::Connection&)> after_commit = nullptr);

  absl::StatusOr<ReadLease> AcquireReader();
  void ReleaseReader(std::unique_ptr<sqlite::Connection> conn);

  const SqliteStoreOptions options_;
  const Settings settings_;
  // How rows are written and read (options_.keys); immutable.
  const Protection protection_;
  // Used only by the writer thread once it has started.
  std::unique_ptr<sqlite::Connection> writer_conn_;

  mutable std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<PendingCommit> queue_;
  // Run before the next batch, in order.
  std::deque<PendingJob> jobs_;
  bool stopping_ = false;
  size_t hold_until_queued_ = 0;
  Stats stats_;

  std::mutex readers_mu_;
  std::vector<std::unique_ptr<sqlite::Connection>> idle_readers_;

  // Logs the audit chain's head (common/audit_chain.h): set in Open before the
  // store is shared, then used by the writer thread only (after appends) and by
  // the destructor after the join.
  std::unique_ptr<AuditHeadLog> audit_head_log_;

  std::thread writer_thread_;
};

}  // namespace attune::store

#endif  // ATTUNE_SERVICE_STORE_SQLITE_SQLITE_STORE_H_
