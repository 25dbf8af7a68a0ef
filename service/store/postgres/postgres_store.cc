#include "service/store/postgres/postgres_store.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <numeric>
#include <set>
#include <thread>
#include <utility>
#include <vector>

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
#include "service/store/postgres/connection.h"
#include "service/store/postgres/event_commit.h"
#include "service/store/postgres/prompt_notify.h"
#include "service/store/postgres/schema.h"

namespace attune::store {
namespace {

using postgres::Connection;
using postgres::Params;
using postgres::Result;

// How often, at most, the audit chain's head is logged while rows are
// appended (common/audit_chain.h).
constexpr absl::Duration kAuditHeadLogInterval = absl::Minutes(5);
// A write that is not a group commit (erase, audit append) and loses a
// deadlock or serialization race to another replica is retried this often.
constexpr int kWriteAttempts = 3;
// Audit rows read per round trip while verifying.
constexpr int kVerifyFetch = 1000;

absl::Status ValidateOptions(const PostgresStoreOptions& options) {
  if (options.dsn.empty()) {
    return absl::InvalidArgumentError("dsn: must not be empty");
  }
  PQconninfoOption* parsed = PQconninfoParse(options.dsn.c_str(), nullptr);
  if (parsed == nullptr) {
    // libpq's message may quote the string: not repeated.
    return absl::InvalidArgumentError(
        "dsn: is not a libpq connection string (key=value pairs or a "
        "postgresql:// URI)");
  }
  PQconninfoFree(parsed);
  if (options.pool_size < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pool_size: must be at least 2 (one writer, one reader), got ",
        options.pool_size));
  }
  if (options.max_batch < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_batch: must be at least 1, got ", options.max_batch));
  }
  if (options.acquire_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("acquire_timeout: must be positive");
  }
  if (options.connect_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("connect_timeout: must be positive");
  }
  return absl::OkStatus();
}

// The status of a write transaction's COMMIT: OK only when the server
// answered "COMMIT". A lost connection leaves the outcome unknown
// (UNAVAILABLE); an aborted transaction answers "ROLLBACK".
absl::Status CommitTransaction(Connection& conn, absl::string_view context) {
  absl::StatusOr<std::string> tag = conn.Exec("COMMIT", context);
  if (!tag.ok()) {
    if (absl::IsUnavailable(tag.status())) {
      return absl::UnavailableError(
          absl::StrCat(context,
                       ": postgres: connection lost while committing; the "
                       "outcome is unknown, retry with the same ids"));
    }
    return tag.status();
  }
  if (*tag != "COMMIT") {
    return absl::InternalError(
        absl::StrCat(context, ": postgres: transaction was rolled back"));
  }
  return absl::OkStatus();
}

void RollBack(Connection& conn, absl::string_view context) {
  if (!conn.broken() && !conn.idle()) {
    conn.Exec("ROLLBACK", context).IgnoreError();
  }
}

absl::Status BatchFailure(const absl::Status& cause, size_t batch_size) {
  std::string message =
      absl::StrCat("postgres commit batch of ", batch_size,
                   " rolled back, nothing of it stored: ", cause.message());
  if (absl::IsUnavailable(cause)) return absl::UnavailableError(message);
  // Lost a deadlock or serialization race to another replica: the engine
  // re-reads and retries, as after a version conflict.
  if (absl::IsAborted(cause)) return absl::AbortedError(message);
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
  result.status = conn.Exec("SAVEPOINT attune_commit", "savepoint").status();
  if (!result.status.ok()) {
    result.batch_broken = true;
    return result;
  }
  result.status =
      postgres::ApplyEventCommit(conn, commit, now_nanos, protection);
  if (result.status.ok()) {
    result.status =
        conn.Exec("RELEASE SAVEPOINT attune_commit", "release savepoint")
            .status();
    if (result.status.ok()) return result;
  }
  if (conn.broken()) {
    result.batch_broken = true;
    return result;
  }
  absl::Status rollback = conn.Exec(
                                  "ROLLBACK TO SAVEPOINT attune_commit;"
                                  " RELEASE SAVEPOINT attune_commit",
                                  "roll back savepoint")
                              .status();
  if (!rollback.ok()) {
    result.status = rollback;
    result.batch_broken = true;
  }
  return result;
}

// Announces, inside the batch's transaction (so only when it commits), the
// live prompts upserted by the batch's commits that succeeded, per tenant
// (postgres/prompt_notify.h). Commits rolled back to their savepoint are
// left out: they changed nothing.
absl::Status NotifyPromptChanges(Connection& conn, const std::string& origin,
                                 const std::vector<const EventCommit*>& done) {
  std::map<std::string, std::vector<std::string>> ids_by_tenant;
  std::map<std::string, std::set<std::string>> seen;
  for (const EventCommit* commit : done) {
    for (const v1::Prompt& prompt : commit->prompt_upserts) {
      if (prompt.shadow()) continue;
      if (seen[commit->tenant].insert(prompt.id()).second) {
        ids_by_tenant[commit->tenant].push_back(prompt.id());
      }
    }
  }
  for (const auto& [tenant, ids] : ids_by_tenant) {
    for (const std::string& payload :
         postgres::EncodePromptNotifications(origin, tenant, ids)) {
      ATTUNE_RETURN_IF_ERROR(
          conn.Query("SELECT pg_notify($1, $2)",
                     Params().Text(postgres::kPromptChannel).Text(payload),
                     "notify prompt changes")
              .status());
    }
  }
  return absl::OkStatus();
}

struct EpisodeKey {
  std::string tenant;
  std::string episode_id;
};

// Deletes one episode with everything stored about it, children before
// parents (the foreign keys hold at every step), and counts what went.
absl::Status EraseEpisode(Connection& conn, const EpisodeKey& episode,
                          EraseCounts* counts) {
  auto run = [&](const std::string& sql,
                 absl::string_view context) -> absl::StatusOr<int64_t> {
    ATTUNE_ASSIGN_OR_RETURN(
        Result result,
        conn.Query(sql, Params().Text(episode.tenant).Text(episode.episode_id),
                   context));
    return result.affected();
  };
  ATTUNE_RETURN_IF_ERROR(
      run("DELETE FROM prompt_feedback WHERE tenant = $1 AND event_id IN"
          " (SELECT event_id FROM events"
          "  WHERE tenant = $1 AND episode_id = $2)",
          "prompt_feedback: erase episode")
          .status());
  ATTUNE_RETURN_IF_ERROR(
      run("DELETE FROM held_sessions WHERE tenant = $1 AND episode_id = $2",
          "held_sessions: erase episode")
          .status());
  ATTUNE_ASSIGN_OR_RETURN(
      int64_t prompts,
      run("DELETE FROM prompts WHERE tenant = $1 AND episode_id = $2",
          "prompts: erase episode"));
  ATTUNE_ASSIGN_OR_RETURN(
      int64_t events,
      run("DELETE FROM events WHERE tenant = $1 AND episode_id = $2",
          "events: erase episode"));
  ATTUNE_ASSIGN_OR_RETURN(
      int64_t episodes,
      run("DELETE FROM episodes WHERE tenant = $1 AND episode_id = $2",
          "episodes: erase episode"));
  counts->episodes += episodes;
  counts->events += events;
  counts->prompts += prompts;
  return absl::OkStatus();
}

std::vector<EpisodeKey> EpisodeKeys(const Result& rows) {
  std::vector<EpisodeKey> keys;
  keys.reserve(rows.rows());
  for (int i = 0; i < rows.rows(); ++i) {
    keys.push_back(
        {std::string(rows.Bytes(i, 0)), std::string(rows.Bytes(i, 1))});
  }
  return keys;
}

class PostgresStore final : public Store {
 public:
  static absl::StatusOr<std::unique_ptr<PostgresStore>> Open(
      const PostgresStoreOptions& options);

  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;
  ~PostgresStore() override;

  absl::StatusOr<std::optional<StoredEvent>> FindEvent(
      const std::string& tenant, const std::string& event_id) override;
  absl::StatusOr<int64_t> EpisodeVersion(
      const std::string& tenant, const std::string& episode_id) override;
  absl::StatusOr<EpisodeSnapshot> LoadEpisode(
      const std::string& tenant, const std::string& episode_id) override;
  std::future<absl::Status> CommitAsync(EventCommit commit) override;
  std::optional<int64_t> CommitBatches() const override {
    return batches_.load(std::memory_order_relaxed);
  }
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
  // LISTEN/NOTIFY: a PromptListener (postgres/prompt_notify.h) on a
  // connection of its own, outside the pool; it reads prompts through
  // GetPrompt and skips this store's own commits (origin_).
  absl::StatusOr<std::unique_ptr<PromptFeed>> WatchCommittedPrompts(
      CommittedPromptCallback on_prompt) override;

 private:
  struct PendingCommit {
    EventCommit commit;
    std::promise<absl::Status> done;
  };
  class Lease;

  explicit PostgresStore(PostgresStoreOptions options);

  // A pooled connection: an idle one, a new one while fewer than
  // pool_size - 1 are open (the writer holds the last), else the first one
  // released within acquire_timeout (UNAVAILABLE after).
  absl::StatusOr<Lease> Acquire();
  void Release(std::unique_ptr<Connection> conn);
  // A broken connection usually means the server restarted or terminated
  // the store's sessions: idle connections are closed too and the writer
  // reconnects before its next batch (broken_generation_), so the next call
  // reconnects instead of failing once per stale connection.
  void ConnectionBroke();

  // Runs `apply` in a transaction of its own on a pooled connection
  // (READ COMMITTED), retrying when it loses a deadlock or serialization
  // race (ABORTED) to another replica; `apply` must be idempotent up to its
  // transaction.
  absl::Status RunWriteTransaction(
      absl::string_view context,
      const std::function<absl::Status(Connection&)>& apply);

  void WriterLoop();
  void RunBatch(std::vector<PendingCommit>& batch);

  const PostgresStoreOptions options_;
  const Protection protection_;
  // Names this store in its prompt notifications, so its own listeners
  // skip them.
  const std::string origin_ = postgres::NewOriginId();

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
  // Reader connections open (idle or leased) or being opened.
  int open_ = 0;

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<PendingCommit> queue_;
  bool stopping_ = false;
  // Used only by the writer thread once it has started.
  std::unique_ptr<Connection> writer_conn_;
  // broken_generation_ when writer_conn_ was opened.
  uint64_t writer_generation_ = 0;
  // Bumped whenever a connection is found broken.
  std::atomic<uint64_t> broken_generation_{0};
  // Batch transactions the writer attempted (CommitBatches).
  std::atomic<int64_t> batches_{0};

  std::mutex audit_mu_;
  std::unique_ptr<AuditHeadLog> audit_head_log_;

  std::thread writer_thread_;
};

class PostgresStore::Lease {
 public:
  Lease(PostgresStore* store, std::unique_ptr<Connection> conn)
      : store_(store), conn_(std::move(conn)) {}
  Lease(Lease&& other) noexcept = default;
  Lease& operator=(Lease&&) = delete;
  ~Lease() {
    if (conn_ != nullptr) store_->Release(std::move(conn_));
  }
  Connection& operator*() const { return *conn_; }
  Connection* operator->() const { return conn_.get(); }

 private:
  PostgresStore* store_;
  std::unique_ptr<Connection> conn_;
};

// Starts a read-only transaction on one snapshot; on an early return the
// Lease rolls it back when the connection goes back to the pool.
absl::Status BeginSnapshot(Connection& conn) {
  return conn
      .Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            "begin read transaction")
      .status();
}

absl::StatusOr<std::unique_ptr<PostgresStore>> PostgresStore::Open(
    const PostgresStoreOptions& options) {
  ATTUNE_RETURN_IF_ERROR(ValidateOptions(options));
  std::unique_ptr<PostgresStore> store(new PostgresStore(options));
  ATTUNE_ASSIGN_OR_RETURN(
      std::unique_ptr<Connection> conn,
      Connection::Open(options.dsn, options.connect_timeout));
  ATTUNE_ASSIGN_OR_RETURN(
      postgres::SchemaSetup setup,
      postgres::MigrateAndCheckProtection(*conn, store->protection_));
  ATTUNE_ASSIGN_OR_RETURN(
      Result head, conn->Query("SELECT seq, hash FROM audit_head WHERE id = 1",
                               Params(), "audit_head: read"));
  AuditHead audit_head;
  if (head.rows() == 1) {
    audit_head.seq = head.Int(0, 0);
    audit_head.hash = std::string(head.Bytes(0, 1));
  }
  store->audit_head_log_ =
      std::make_unique<AuditHeadLog>(kAuditHeadLogInterval);
  store->audit_head_log_->Opened(audit_head);
  // The connection that migrated becomes the writer's.
  store->writer_conn_ = std::move(conn);
  store->writer_thread_ = std::thread([s = store.get()] { s->WriterLoop(); });
  ATTUNE_LOG(INFO) << "postgres store opened"
                   << LogField("schema_version", setup.to_version)
                   << LogField("migrated_from", setup.from_version)
                   << LogField("protection", setup.mode)
                   << LogField("pool_size", options.pool_size)
                   << LogField("max_batch", options.max_batch);
  return store;
}

PostgresStore::PostgresStore(PostgresStoreOptions options)
    : options_(std::move(options)), protection_(options_.keys) {}

PostgresStore::~PostgresStore() {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (writer_thread_.joinable()) writer_thread_.join();
  if (audit_head_log_ != nullptr) audit_head_log_->Closed();
}

absl::StatusOr<PostgresStore::Lease> PostgresStore::Acquire() {
  const int max_readers = options_.pool_size - 1;
  const absl::Time deadline = absl::Now() + options_.acquire_timeout;
  std::unique_lock<std::mutex> lock(pool_mu_);
  for (;;) {
    if (!idle_.empty()) {
      std::unique_ptr<Connection> conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn));
    }
    if (open_ < max_readers) {
      ++open_;
      lock.unlock();
      absl::StatusOr<std::unique_ptr<Connection>> conn =
          Connection::Open(options_.dsn, options_.connect_timeout);
      if (!conn.ok()) {
        lock.lock();
        --open_;
        pool_cv_.notify_one();
        return conn.status();
      }
      return Lease(this, *std::move(conn));
    }
    if (pool_cv_.wait_until(lock, absl::ToChronoTime(deadline)) ==
            std::cv_status::timeout &&
        idle_.empty() && open_ >= max_readers) {
      return absl::UnavailableError(
          absl::StrCat("postgres: no free connection within ",
                       absl::FormatDuration(options_.acquire_timeout),
                       " (pool_size ", options_.pool_size, ")"));
    }
  }
}

void PostgresStore::Release(std::unique_ptr<Connection> conn) {
  RollBack(*conn, "release connection");
  if (conn->broken() || !conn->idle()) {
    conn.reset();
    {
      std::lock_guard<std::mutex> lock(pool_mu_);
      --open_;
    }
    ConnectionBroke();
    return;
  }
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    idle_.push_back(std::move(conn));
  }
  pool_cv_.notify_one();
}

void PostgresStore::ConnectionBroke() {
  broken_generation_.fetch_add(1);
  std::vector<std::unique_ptr<Connection>> stale;
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    stale.swap(idle_);
    open_ -= static_cast<int>(stale.size());
  }
  pool_cv_.notify_all();
  // Closed here, outside the lock.
}

std::future<absl::Status> PostgresStore::CommitAsync(EventCommit commit) {
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
      done.set_value(absl::UnavailableError("postgres store is shutting down"));
      return future;
    }
    queue_.push_back(PendingCommit{std::move(commit), std::move(done)});
  }
  queue_cv_.notify_all();
  return future;
}

void PostgresStore::WriterLoop() {
  const size_t max_batch = static_cast<size_t>(options_.max_batch);
  for (;;) {
    std::vector<PendingCommit> batch;
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      queue_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // Stopping, and everything is done.
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

void PostgresStore::RunBatch(std::vector<PendingCommit>& batch) {
  std::vector<absl::Status> results(batch.size());
  // Applied in (tenant, episode_id) order, arrival order within an episode:
  // every replica locks episode rows in the same order, so two batches
  // touching the same episodes wait for each other instead of deadlocking.
  std::vector<size_t> order(batch.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const EventCommit& x = batch[a].commit;
    const EventCommit& y = batch[b].commit;
    if (x.tenant != y.tenant) return x.tenant < y.tenant;
    return x.event.episode().episode_id() < y.event.episode().episode_id();
  });

  absl::Status batch_status;
  const uint64_t generation = broken_generation_.load();
  if (writer_conn_ == nullptr || writer_conn_->broken() ||
      writer_generation_ != generation) {
    writer_conn_.reset();
    absl::StatusOr<std::unique_ptr<Connection>> conn =
        Connection::Open(options_.dsn, options_.connect_timeout);
    if (conn.ok()) {
      writer_conn_ = *std::move(conn);
      writer_generation_ = generation;
    } else {
      batch_status = conn.status();
    }
  }
  if (batch_status.ok()) {
    Connection& conn = *writer_conn_;
    batch_status = conn.Exec("BEGIN", "begin batch").status();
    if (batch_status.ok()) {
      const int64_t now = TimeToNanos(absl::Now());
      for (size_t i : order) {
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
      std::vector<const EventCommit*> done;
      for (size_t i : order) {
        if (results[i].ok()) done.push_back(&batch[i].commit);
      }
      batch_status = NotifyPromptChanges(conn, origin_, done);
    }
    if (batch_status.ok())
      batch_status = CommitTransaction(conn, "commit batch");
    if (!batch_status.ok()) RollBack(conn, "roll back batch");
    if (conn.broken()) {
      writer_conn_.reset();
      ConnectionBroke();
    }
  }
  if (!batch_status.ok()) {
    // Even commits rejected on their own fail with the batch: their
    // ALREADY_EXISTS or ABORTED may have been caused by an earlier commit of
    // the batch that is now rolled back.
    absl::Status failure = BatchFailure(batch_status, batch.size());
    for (absl::Status& result : results) result = failure;
    ATTUNE_LOG(ERROR) << "postgres commit batch failed"
                      << LogField("code",
                                  absl::StatusCodeToString(failure.code()))
                      << LogField("batch", batch.size())
                      << LogField("cause", batch_status.message());
  }
  batches_.fetch_add(1, std::memory_order_relaxed);
  // Only now, after COMMIT has returned, do callers learn the outcome.
  for (size_t i = 0; i < batch.size(); ++i) {
    batch[i].done.set_value(std::move(results[i]));
  }
}

absl::Status PostgresStore::RunWriteTransaction(
    absl::string_view context,
    const std::function<absl::Status(Connection&)>& apply) {
  absl::Status status;
  for (int attempt = 0; attempt < kWriteAttempts; ++attempt) {
    ATTUNE_ASSIGN_OR_RETURN(Lease conn, Acquire());
    status = conn->Exec("BEGIN", context).status();
    if (status.ok()) status = apply(*conn);
    if (status.ok()) status = CommitTransaction(*conn, context);
    if (!status.ok()) RollBack(*conn, context);
    if (!absl::IsAborted(status)) return status;
  }
  return status;
}

absl::StatusOr<std::unique_ptr<PromptFeed>>
PostgresStore::WatchCommittedPrompts(CommittedPromptCallback on_prompt) {
  ATTUNE_ASSIGN_OR_RETURN(
      std::unique_ptr<postgres::PromptListener> listener,
      postgres::PromptListener::Start(
          options_.dsn, options_.connect_timeout, origin_,
          [this](const std::string& tenant, const std::string& prompt_id) {
            return GetPrompt(tenant, prompt_id);
          },
          std::move(on_prompt)));
  return std::unique_ptr<PromptFeed>(std::move(listener));
}

absl::StatusOr<std::optional<StoredEvent>> PostgresStore::FindEvent(
    const std::string& tenant, const std::string& event_id) {
  ATTUNE_ASSIGN_OR_RETURN(Lease conn, Acquire());
  ATTUNE_ASSIGN_OR_RETURN(
      Result rows, conn->Query("SELECT fingerprint, event, response FROM events"
                               " WHERE tenant = $1 AND event_id = $2",
                               Params().Text(tenant).Text(event_id),
                               "events: find by event_id"));
  if (rows.rows() == 0) return std::nullopt;
  StoredEvent stored;
  ATTUNE_ASSIGN_OR_RETURN(
      stored.fingerprint,
      protection_.Open(tenant, kEventFingerprint, event_id, rows.Bytes(0, 0)));
  ATTUNE_RETURN_IF_ERROR(protection_.OpenMessage(
      tenant, kEventEvent, event_id, rows.Bytes(0, 1), &stored.event));
  ATTUNE_RETURN_IF_ERROR(protection_.OpenMessage(
      tenant, kEventResponse, event_id, rows.Bytes(0, 2), &stored.response));
  return stored;
}

absl::StatusOr<int64_t> PostgresStore::EpisodeVersion(
    const std::string& tenant, const std::string& episode_id) {
  ATTUNE_ASSIGN_OR_RETURN(Lease conn, Acquire());
  ATTUNE_ASSIGN_OR_RETURN(
      Result rows,
      conn->Query("SELECT version FROM episodes"
                  " WHERE tenant = $1 AND episode_id = $2",
                  Params().Text(tenant).Text(episode_id), "episodes: version"));
  return rows.rows() == 0 ? 0 : rows.Int(0, 0);
}

absl::StatusOr<EpisodeSnapshot> PostgresStore::LoadEpisode(
    const std::string& tenant, const std::string& episode_id) {
  ATTUNE_ASSIGN_OR_RETURN(Lease conn, Acquire());
  // One snapshot: version, events and prompts of the same commit.
  ATTUNE_RETURN_IF_ERROR(BeginSnapshot(*conn));
  const Params key = Params().Text(tenant).Text(episode_id);
  EpisodeSnapshot snapshot;
  {
    ATTUNE_ASSIGN_OR_RETURN(
        Result rows, conn->Query("SELECT version, assessment FROM episodes"
                                 " WHERE tenant = $1 AND episode_id = $2",
                                 key, "episodes: load"));
    if (rows.rows() == 0) return snapshot;
    snapshot.exists = true;
    snapshot.version = rows.Int(0, 0);
    ATTUNE_RETURN_IF_ERROR(protection_.OpenMessage(tenant, kEpisodeAssessment,
                                                   episode_id, rows.Bytes(0, 1),
                                                   &snapshot.assessment));
  }
  {
    ATTUNE_ASSIGN_OR_RETURN(
        Result rows,
        conn->Query("SELECT event, event_id FROM events"
                    " WHERE tenant = $1 AND episode_id = $2 ORDER BY seq",
                    key, "events: load episode"));
    snapshot.events.resize(rows.rows());
    for (int i = 0; i < rows.rows(); ++i) {
      ATTUNE_RETURN_IF_ERROR(
          protection_.OpenMessage(tenant, kEventEvent, rows.Bytes(i, 1),
                                  rows.Bytes(i, 0), &snapshot.events[i]));
    }
  }
  {
    // Shadow prompts too (the engine reconciles them on their own), live
    // ones first: the order of prompts_by_episode.
    ATTUNE_ASSIGN_OR_RETURN(
        Result rows,
        conn->Query("SELECT prompt, prompt_id FROM prompts"
                    " WHERE tenant = $1 AND episode_id = $2"
                    " ORDER BY shadow, priority DESC, updated_at DESC,"
                    " prompt_id",
                    key, "prompts: load episode"));
    snapshot.prompts.resize(rows.rows());
    for (int i = 0; i < rows.rows(); ++i) {
      ATTUNE_RETURN_IF_ERROR(
          protection_.OpenMessage(tenant, kPromptPrompt, rows.Bytes(i, 1),
                                  rows.Bytes(i, 0), &snapshot.prompts[i]));
    }
  }
  ATTUNE_RETURN_IF_ERROR(CommitTransaction(*conn, "end read transaction"));
  return snapshot;
}

absl::StatusOr<std::optional<v1::Prompt>> PostgresStore::GetPrompt(
    const std::string& tenant, const std::string& prompt_id) {
  ATTUNE_ASSIGN_OR_RETURN(Lease conn, Acquire());
  ATTUNE_ASSIGN_OR_RETURN(
      Result rows,
      conn->Query("SELECT prompt FROM prompts"
                  " WHERE tenant = $1 AND prompt_id = $2",
                  Params().Text(tenant).Text(prompt_id), "prompts: get"));
  if (rows.rows() == 0) return std::nullopt;
  v1::Prompt prompt;
  ATTUNE_RETURN_IF_ERROR(protection_.OpenMessage(
      tenant, kPromptPrompt, prompt_id, rows.Bytes(0, 0), &prompt));
  return prompt;
}

absl::StatusOr<PromptPage> PostgresStore::ListPrompts(
    const PromptQuery& query) {
  ATTUNE_ASSIGN_OR_RETURN(PreparedPromptQuery prepared,
                          PreparePromptQuery(query, protection_));
  // The SQL text depends only on which id is queried (and, by clinician, on
  // the number of ring keys), on the number of statuses and on whether
  // there is a token: a few prepared variants per connection. Shadow
  // prompts are never listed.
  Params params;
  params.Text(query.tenant);
  std::string sql =
      "SELECT priority, updated_at, prompt_id, prompt FROM prompts"
      " WHERE tenant = $1 AND ";
  int index = 1;
  auto placeholder = [&index] { return absl::StrCat("$", ++index); };
  if (!query.episode_id.empty()) {
    absl::StrAppend(&sql, "episode_id = ", placeholder());
    params.Text(query.episode_id);
  } else {
    absl::StrAppend(&sql, "clinician_id IN (");
    for (size_t i = 0; i < prepared.clinician_keys.size(); ++i) {
      absl::StrAppend(&sql, i > 0 ? ", " : "", placeholder());
      params.Text(prepared.clinician_keys[i]);
    }
    absl::StrAppend(&sql, ")");
  }
  absl::StrAppend(&sql, " AND shadow = 0");
  if (!prepared.statuses.empty()) {
    absl::StrAppend(&sql, " AND status IN (");
    for (size_t i = 0; i < prepared.statuses.size(); ++i) {
      absl::StrAppend(&sql, i > 0 ? ", " : "", placeholder());
      params.Int(prepared.statuses[i]);
    }
    absl::StrAppend(&sql, ")");
  }
  if (prepared.after.has_value()) {
    // Rows after the token in (priority DESC, updated_at DESC, prompt_id)
    // order, as a row comparison the index can seek to.
    const std::string p = placeholder();
    const std::string u = placeholder();
    const std::string id = placeholder();
    absl::StrAppend(&sql, " AND (priority < ", p, " OR (priority = ", p,
                    " AND (updated_at < ", u, " OR (updated_at = ", u,
                    " AND prompt_id > ", id, "))))");
    params.Int(prepared.after->priority)
        .Int(prepared.after->updated_at_nanos)
        .Text(prepared.after->prompt_id);
  }
  absl::StrAppend(&sql,
                  " ORDER BY priority DESC, updated_at DESC, prompt_id"
                  " LIMIT ",
                  placeholder());
  // One row more than the page tells whether another page follows.
  params.Int(query.page_size + 1);

  ATTUNE_ASSIGN_OR_RETURN(Lease conn, Acquire());
  ATTUNE_ASSIGN_OR_RETURN(Result rows,
                          conn->Query(sql, params, "prompts: list"));
  PromptPage page;
  PromptPageToken last;
  for (int i = 0; i < rows.rows(); ++i) {
    if (static_cast<int>(page.prompts.size()) == query.page_size) {
      last.filter_hash = prepared.filter_hash;
      page.next_page_token = EncodePromptPageToken(last);
      break;
    }
    last.priority = rows.Int(i, 0);
    last.updated_at_nanos = rows.Int(i, 1);
    last.prompt_id = std::string(rows.Bytes(i, 2));
    ATTUNE_RETURN_IF_ERROR(protection_.OpenMessage(
        query.tenant, kPromptPrompt, last.prompt_id, rows.Bytes(i, 3),
        &page.prompts.emplace_back()));
  }
  return page;
}

absl::StatusOr<std::vector<HeldSession>> PostgresStore::ListClinicianSessions(
    const std::string& tenant, const std::string& clinician_id, absl::Time from,
    absl::Time to) {
  std::vector<HeldSession> sessions;
  if (from >= to) return sessions;
  // Every value held_sessions.clinician_id may hold for the clinician (one
  // per ring key in a sealed store).
  const std::vector<std::string> clinician_keys =
      protection_.IdKeys(tenant, kClinicianKind, clinician_id);
  Params params;
  params.Text(tenant).Int(TimeToNanos(from)).Int(TimeToNanos(to));
  std::string sql =
      "SELECT episode_id, session_number, start_at, end_at"
      " FROM held_sessions WHERE tenant = $1 AND start_at >= $2"
      " AND start_at < $3 AND clinician_id IN (";
  for (size_t i = 0; i < clinician_keys.size(); ++i) {
    absl::StrAppend(&sql, i > 0 ? ", " : "", "$", i + 4);
    params.Text(clinician_keys[i]);
  }
  absl::StrAppend(&sql, ") ORDER BY start_at, episode_id, session_number");
  ATTUNE_ASSIGN_OR_RETURN(Lease conn, Acquire());
  ATTUNE_ASSIGN_OR_RETURN(
      Result rows,
      conn->Query(sql, params, "held_sessions: list by clinician"));
  for (int i = 0; i < rows.rows(); ++i) {
    HeldSession& session = sessions.emplace_back();
    session.episode_id = std::string(rows.Bytes(i, 0));
    session.session_number = static_cast<int>(rows.Int(i, 1));
    session.start = absl::FromUnixNanos(rows.Int(i, 2));
    session.end = absl::FromUnixNanos(rows.Int(i, 3));
  }
  return sessions;
}

absl::StatusOr<std::vector<FeedbackCount>> PostgresStore::CountFeedback(
    const std::string& tenant) {
  ATTUNE_ASSIGN_OR_RETURN(Lease conn, Acquire());
  ATTUNE_ASSIGN_OR_RETURN(
      Result rows,
      conn->Query("SELECT module_id, outcome, COUNT(*) FROM prompt_feedback"
                  " WHERE tenant = $1 GROUP BY module_id, outcome"
                  " ORDER BY module_id, outcome",
                  Params().Text(tenant), "prompt_feedback: count"));
  std::vector<FeedbackCount> counts;
  for (int i = 0; i < rows.rows(); ++i) {
    FeedbackCount& count = counts.emplace_back();
    count.module_id = std::string(rows.Bytes(i, 0));
    count.outcome = static_cast<v1::PromptFeedback::Outcome>(rows.Int(i, 1));
    count.count = rows.Int(i, 2);
  }
  return counts;
}

absl::StatusOr<EventPage> PostgresStore::ScanEvents(
    const std::string& tenant, int page_size, const std::string& page_token) {
  ATTUNE_ASSIGN_OR_RETURN(PreparedEventScan prepared,
                          PrepareEventScan(tenant, page_size, page_token));
  // Keyset over events_by_episode (tenant, episode_id, seq).
  Params params;
  params.Text(tenant);
  std::string sql =
      "SELECT episode_id, seq, event, event_id FROM events WHERE tenant = $1";
  if (prepared.after.has_value()) {
    absl::StrAppend(&sql, " AND (episode_id, seq) > ($2, $3)");
    params.Text(prepared.after->episode_id).Int(prepared.after->seq);
    absl::StrAppend(&sql, " ORDER BY episode_id, seq LIMIT $4");
  } else {
    absl::StrAppend(&sql, " ORDER BY episode_id, seq LIMIT $2");
  }
  // One row more than the page tells whether another page follows.
  params.Int(page_size + 1);

  ATTUNE_ASSIGN_OR_RETURN(Lease conn, Acquire());
  ATTUNE_ASSIGN_OR_RETURN(Result rows,
                          conn->Query(sql, params, "events: scan"));
  EventPage page;
  EventPageToken last;
  last.filter_hash = prepared.filter_hash;
  for (int i = 0; i < rows.rows(); ++i) {
    if (static_cast<int>(page.events.size()) == page_size) {
      page.next_page_token = EncodeEventPageToken(last);
      break;
    }
    last.episode_id = std::string(rows.Bytes(i, 0));
    last.seq = rows.Int(i, 1);
    ATTUNE_RETURN_IF_ERROR(
        protection_.OpenMessage(tenant, kEventEvent, rows.Bytes(i, 3),
                                rows.Bytes(i, 2), &page.events.emplace_back()));
  }
  return page;
}

absl::StatusOr<std::vector<v1::Prompt>> PostgresStore::ListModulePrompts(
    const std::string& tenant, const std::string& module_id, bool shadow,
    int limit) {
  ATTUNE_RETURN_IF_ERROR(ValidateModulePromptsQuery(module_id, limit));
  // raised_at_session lives in the message, so whole episodes are read (the
  // first ones holding at least `limit` prompts) and sorted here: the
  // sub-select finds the episode at which `limit` prompts are reached.
  ATTUNE_ASSIGN_OR_RETURN(Lease conn, Acquire());
  ATTUNE_ASSIGN_OR_RETURN(
      Result rows,
      conn->Query("SELECT episode_id, prompt, prompt_id FROM prompts"
                  " WHERE tenant = $1 AND module_id = $2 AND shadow = $3"
                  " AND episode_id <= COALESCE((SELECT episode_id FROM prompts"
                  "   WHERE tenant = $1 AND module_id = $2 AND shadow = $3"
                  "   ORDER BY episode_id OFFSET $4 LIMIT 1), episode_id)"
                  " ORDER BY episode_id",
                  Params()
                      .Text(tenant)
                      .Text(module_id)
                      .Int(shadow ? 1 : 0)
                      .Int(limit - 1),
                  "prompts: list by module"));
  std::vector<v1::Prompt> prompts(rows.rows());
  for (int i = 0; i < rows.rows(); ++i) {
    ATTUNE_RETURN_IF_ERROR(
        protection_.OpenMessage(tenant, kPromptPrompt, rows.Bytes(i, 2),
                                rows.Bytes(i, 1), &prompts[i]));
  }
  SortAndCutModulePrompts(prompts, limit);
  return prompts;
}

// Appends serialise on the audit_head row (SELECT ... FOR UPDATE): replicas
// queue up behind each other, so the chain never forks, and the rows and
// the new head commit together.
absl::Status PostgresStore::AppendAudit(std::vector<AuditRecord> records) {
  ATTUNE_RETURN_IF_ERROR(ValidateAuditRecords(records));
  if (records.empty()) return absl::OkStatus();
  const security::KeyRing* keys = options_.keys.get();
  AuditHead head;
  ATTUNE_RETURN_IF_ERROR(RunWriteTransaction(
      "audit_log: append", [&](Connection& conn) -> absl::Status {
        ATTUNE_ASSIGN_OR_RETURN(
            Result current,
            conn.Query("SELECT seq, hash FROM audit_head WHERE id = 1"
                       " FOR UPDATE",
                       Params(), "audit_head: lock"));
        if (current.rows() != 1) {
          return absl::InternalError("audit_head: row missing");
        }
        head.seq = current.Int(0, 0);
        head.hash = std::string(current.Bytes(0, 1));
        ATTUNE_ASSIGN_OR_RETURN(std::vector<ChainedAuditRow> rows,
                                ChainAuditRecords(keys, records, &head));
        for (size_t i = 0; i < rows.size(); ++i) {
          const AuditRecord& record = records[i];
          ATTUNE_RETURN_IF_ERROR(
              conn.Query("INSERT INTO audit_log (seq, at, tenant, caller,"
                         " action, object, outcome, key_id, hash)"
                         " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                         Params()
                             .Int(rows[i].seq)
                             .Int(rows[i].at_nanos)
                             .Text(record.tenant)
                             .Text(record.caller)
                             .Text(record.action)
                             .Text(record.object)
                             .Text(record.outcome)
                             .Text(rows[i].key_id)
                             .Bytes(rows[i].hash),
                         "audit_log: append")
                  .status());
        }
        return conn
            .Query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
                   Params().Int(head.seq).Bytes(head.hash),
                   "audit_head: advance")
            .status();
      }));
  std::lock_guard<std::mutex> lock(audit_mu_);
  audit_head_log_->Appended(head, absl::Now());
  return absl::OkStatus();
}

absl::StatusOr<AuditVerification> PostgresStore::VerifyAudit() {
  ATTUNE_ASSIGN_OR_RETURN(Lease conn, Acquire());
  // One snapshot, read through a cursor: rows appended meanwhile are not
  // half-seen, and memory does not grow with the log.
  ATTUNE_RETURN_IF_ERROR(BeginSnapshot(*conn));
  ATTUNE_RETURN_IF_ERROR(
      conn->Exec("DECLARE attune_audit NO SCROLL CURSOR FOR"
                 " SELECT seq, at, tenant, caller, action, object, outcome,"
                 " key_id, hash FROM audit_log ORDER BY seq",
                 "audit_log: verify")
          .status());
  AuditChainVerifier verifier(options_.keys.get(), std::nullopt);
  bool intact = true;
  while (intact) {
    ATTUNE_ASSIGN_OR_RETURN(
        Result rows,
        conn->Query(absl::StrCat("FETCH ", kVerifyFetch, " FROM attune_audit"),
                    Params(), "audit_log: verify"));
    if (rows.rows() == 0) break;
    for (int i = 0; i < rows.rows() && intact; ++i) {
      AuditRow row;
      row.seq = rows.Int(i, 0);
      row.at_nanos = rows.Int(i, 1);
      row.record.at = absl::FromUnixNanos(row.at_nanos);
      row.record.tenant = std::string(rows.Bytes(i, 2));
      row.record.caller = std::string(rows.Bytes(i, 3));
      row.record.action = std::string(rows.Bytes(i, 4));
      row.record.object = std::string(rows.Bytes(i, 5));
      row.record.outcome = std::string(rows.Bytes(i, 6));
      row.key_id = std::string(rows.Bytes(i, 7));
      row.hash = std::string(rows.Bytes(i, 8));
      ATTUNE_ASSIGN_OR_RETURN(intact, verifier.Add(row));
    }
  }
  RollBack(*conn, "audit_log: end verify");
  return verifier.Result();
}

// Erasure runs in its own transaction on a pooled connection, beside the
// group commit: the episode rows are locked (FOR UPDATE) in key order, and
// a commit racing the erase of its episode finds the version gone
// (ABORTED). PostgreSQL keeps the deleted row versions until VACUUM (see
// the README).
absl::StatusOr<EraseCounts> PostgresStore::EraseClient(
    const std::string& tenant, const std::string& client_id) {
  ATTUNE_RETURN_IF_ERROR(ValidateEraseClient(tenant, client_id));
  const std::vector<std::string> client_keys =
      ClientKeys(protection_, tenant, client_id);
  Params params;
  params.Text(tenant);
  std::string sql =
      "SELECT tenant, episode_id FROM episodes WHERE tenant = $1"
      " AND client_key IN (";
  for (size_t i = 0; i < client_keys.size(); ++i) {
    absl::StrAppend(&sql, i > 0 ? ", " : "", "$", i + 2);
    params.Text(client_keys[i]);
  }
  absl::StrAppend(&sql, ") ORDER BY tenant, episode_id FOR UPDATE");
  EraseCounts counts;
  ATTUNE_RETURN_IF_ERROR(RunWriteTransaction(
      "erase client", [&](Connection& conn) -> absl::Status {
        counts = EraseCounts();
        ATTUNE_ASSIGN_OR_RETURN(
            Result rows, conn.Query(sql, params, "episodes: find by client"));
        for (const EpisodeKey& episode : EpisodeKeys(rows)) {
          ATTUNE_RETURN_IF_ERROR(EraseEpisode(conn, episode, &counts));
        }
        return absl::OkStatus();
      }));
  return counts;
}

absl::StatusOr<EraseCounts> PostgresStore::EraseInactiveEpisodes(
    absl::Time cutoff, int limit) {
  ATTUNE_RETURN_IF_ERROR(ValidateEraseLimit(limit));
  EraseCounts counts;
  ATTUNE_RETURN_IF_ERROR(RunWriteTransaction(
      "erase inactive episodes", [&](Connection& conn) -> absl::Status {
        counts = EraseCounts();
        // SKIP LOCKED: an episode being committed is not inactive, and two
        // replicas sweeping at once share the work instead of waiting.
        ATTUNE_ASSIGN_OR_RETURN(
            Result rows,
            conn.Query("SELECT tenant, episode_id FROM episodes"
                       " WHERE updated_at < $1"
                       " ORDER BY updated_at, tenant, episode_id LIMIT $2"
                       " FOR UPDATE SKIP LOCKED",
                       Params().Int(TimeToNanos(cutoff)).Int(limit),
                       "episodes: find inactive"));
        for (const EpisodeKey& episode : EpisodeKeys(rows)) {
          ATTUNE_RETURN_IF_ERROR(EraseEpisode(conn, episode, &counts));
        }
        return absl::OkStatus();
      }));
  return counts;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(
    const PostgresStoreOptions& options) {
  ATTUNE_ASSIGN_OR_RETURN(std::unique_ptr<PostgresStore> store,
                          PostgresStore::Open(options));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace attune::store
