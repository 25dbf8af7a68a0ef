// What the PostgreSQL backend adds to the conformance suite: several
// replicas on one database, migrations when they start together, lost
// server connections, what the raw rows hold when sealed, and its options.
// Runs on the throwaway cluster of tests/postgres/ (ctest fixture
// `postgres`); fails when it is missing.
#include "service/store/postgres/postgres_store.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/store/postgres/prompt_notify.h"
#include "service/store/store.h"
#include "tests/unit/service/store/postgres_test_util.h"
#include "tests/unit/service/store/store_test_util.h"

namespace attune::store {
namespace {

using ::attune::store::testing::AdminConnection;
using ::attune::store::testing::BaseTime;
using ::attune::store::testing::GoalsEvent;
using ::attune::store::testing::HeldEvent;
using ::attune::store::testing::MakeCommit;
using ::attune::store::testing::MakePrompt;
using ::attune::store::testing::Ref;
using ::attune::store::testing::TestDatabase;
using ::attune::store::testing::TestKeyRing;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestDatabase>> database =
        TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
    absl::StatusOr<std::unique_ptr<AdminConnection>> admin =
        database_->Connect();
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = *std::move(admin);
  }

  PostgresStoreOptions Options(
      std::shared_ptr<const security::KeyRing> keys = nullptr) const {
    PostgresStoreOptions options;
    options.dsn = database_->dsn();
    options.keys = std::move(keys);
    return options;
  }

  std::unique_ptr<Store> Open(
      std::shared_ptr<const security::KeyRing> keys = nullptr) {
    absl::StatusOr<std::unique_ptr<Store>> store =
        OpenPostgresStore(Options(std::move(keys)));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  // Sessions open on the test database, the admin connection excluded.
  int StoreSessions() {
    std::vector<std::string> rows = admin_->Rows(
        absl::StrCat("SELECT count(*) FROM pg_stat_activity WHERE datname = '",
                     database_->name(), "' AND pid <> pg_backend_pid()"));
    return rows.size() == 1 ? std::stoi(rows[0]) : -1;
  }

  // Terminates every session of the stores on the test database, from the
  // cluster's own database, and waits until the server has ended them.
  void KillStoreSessions() {
    AdminConnection& cluster = database_->cluster_admin();
    const std::string sessions = absl::StrCat(
        "FROM pg_stat_activity WHERE datname = '", database_->name(), "'");
    // Our own admin session on the database is left alone.
    admin_.reset();
    cluster.Rows(absl::StrCat("SELECT pg_terminate_backend(pid) ", sessions));
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (cluster.Rows(absl::StrCat("SELECT pid ", sessions)).size() > 0) {
      ASSERT_LT(absl::Now(), deadline) << "sessions did not end";
      absl::SleepFor(absl::Milliseconds(10));
    }
    absl::StatusOr<std::unique_ptr<AdminConnection>> admin =
        database_->Connect();
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = *std::move(admin);
  }

  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<AdminConnection> admin_;
};

// What the engine does for one event: read the episode, commit on that
// version, and on a version conflict read again and retry. Returns the
// final status (OK, or ALREADY_EXISTS when the event_id was taken).
absl::Status CommitLikeTheEngine(Store& store, const std::string& tenant,
                                 const v1::EpisodeRef& ref,
                                 const std::string& event_id) {
  for (int attempt = 0; attempt < 1000; ++attempt) {
    absl::StatusOr<EpisodeSnapshot> snapshot =
        store.LoadEpisode(tenant, ref.episode_id());
    if (!snapshot.ok()) return snapshot.status();
    EventCommit commit =
        MakeCommit(tenant, GoalsEvent(event_id, ref), snapshot->version);
    // One prompt per episode, rewritten by every commit with the count of
    // events it has seen: a lost update would leave it behind.
    v1::Prompt prompt = MakePrompt(
        absl::StrCat("pr-", ref.episode_id()), ref, v1::PROMPT_STATUS_ACTIVE,
        static_cast<int>(snapshot->version) + 1, BaseTime());
    commit.prompt_upserts.push_back(prompt);
    absl::Status status = store.Commit(std::move(commit));
    if (!absl::IsAborted(status)) return status;
  }
  return absl::DeadlineExceededError("still conflicting after 1000 attempts");
}

TEST_F(PostgresStoreTest, TwoReplicasOnOneDatabaseLoseAndDuplicateNothing) {
  constexpr int kEpisodes = 4;
  constexpr int kThreadsPerReplica = 4;
  constexpr int kEventsPerThread = 60;
  std::unique_ptr<Store> replica_a = Open();
  std::unique_ptr<Store> replica_b = Open();
  ASSERT_NE(replica_a, nullptr);
  ASSERT_NE(replica_b, nullptr);
  Store* replicas[] = {replica_a.get(), replica_b.get()};

  // Thread t of each replica sends the same event ids in the same order, as
  // a host retrying through the load balancer would: every event reaches
  // both replicas, and must be stored once.
  std::latch start(2 * kThreadsPerReplica);
  std::vector<std::thread> threads;
  std::vector<std::vector<absl::Status>> results(
      2 * kThreadsPerReplica, std::vector<absl::Status>(kEventsPerThread));
  for (int r = 0; r < 2; ++r) {
    for (int t = 0; t < kThreadsPerReplica; ++t) {
      threads.emplace_back([&, r, t] {
        start.arrive_and_wait();
        for (int i = 0; i < kEventsPerThread; ++i) {
          const v1::EpisodeRef ref =
              Ref(absl::StrCat("ep-", (t + i) % kEpisodes));
          results[r * kThreadsPerReplica + t][i] = CommitLikeTheEngine(
              *replicas[r], "t1", ref, absl::StrCat("ev-", t, "-", i));
        }
      });
    }
  }
  for (std::thread& thread : threads) thread.join();

  // Each event id: stored by exactly one replica, the other told it exists.
  for (int t = 0; t < kThreadsPerReplica; ++t) {
    for (int i = 0; i < kEventsPerThread; ++i) {
      const absl::Status& a = results[t][i];
      const absl::Status& b = results[kThreadsPerReplica + t][i];
      EXPECT_TRUE((a.ok() && absl::IsAlreadyExists(b)) ||
                  (absl::IsAlreadyExists(a) && b.ok()))
          << "ev-" << t << "-" << i << ": " << a << " / " << b;
    }
  }
  // Each episode: one event per version, none lost or doubled, and the last
  // commit saw every earlier one.
  std::set<std::string> all_ids;
  for (int e = 0; e < kEpisodes; ++e) {
    const std::string episode_id = absl::StrCat("ep-", e);
    ASSERT_OK_AND_ASSIGN(EpisodeSnapshot snapshot,
                         replica_a->LoadEpisode("t1", episode_id));
    EXPECT_EQ(snapshot.version, static_cast<int64_t>(snapshot.events.size()));
    EXPECT_EQ(snapshot.assessment.event_count(), snapshot.version);
    ASSERT_EQ(snapshot.prompts.size(), 1u);
    EXPECT_EQ(snapshot.prompts[0].priority(), snapshot.version);
    for (const v1::SessionEvent& event : snapshot.events) {
      EXPECT_TRUE(all_ids.insert(event.event_id()).second)
          << event.event_id() << " stored twice";
    }
  }
  EXPECT_EQ(all_ids.size(),
            static_cast<size_t>(kThreadsPerReplica * kEventsPerThread));
  // The other replica reads the same.
  ASSERT_OK_AND_ASSIGN(EpisodeSnapshot from_b,
                       replica_b->LoadEpisode("t1", "ep-0"));
  ASSERT_OK_AND_ASSIGN(EpisodeSnapshot from_a,
                       replica_a->LoadEpisode("t1", "ep-0"));
  EXPECT_EQ(from_b.version, from_a.version);
}

TEST_F(PostgresStoreTest, ReplicasOpeningAFreshDatabaseTogetherMigrateOnce) {
  constexpr int kReplicas = 4;
  const std::shared_ptr<const security::KeyRing> keys = TestKeyRing({"k1"});
  std::latch start(kReplicas);
  std::vector<absl::StatusOr<std::unique_ptr<Store>>> stores(kReplicas);
  std::vector<std::thread> threads;
  for (int i = 0; i < kReplicas; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      stores[i] = OpenPostgresStore(Options(keys));
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const auto& store : stores) ASSERT_TRUE(store.ok()) << store.status();

  EXPECT_THAT(admin_->Rows("SELECT version, name FROM schema_migrations"
                           " ORDER BY version"),
              ElementsAre("1|initial schema"));
  EXPECT_THAT(admin_->Rows("SELECT mode FROM store_protection"),
              ElementsAre("sealed"));
  EXPECT_THAT(admin_->Rows("SELECT key_id FROM storage_keys"),
              ElementsAre("k1"));
  // All of them work on the one schema.
  for (int i = 0; i < kReplicas; ++i) {
    ASSERT_OK(
        (*stores[i])
            ->Commit(MakeCommit(
                "t1", GoalsEvent(absl::StrCat("ev-", i), Ref("ep-1")), i)));
  }
}

TEST_F(PostgresStoreTest, NewerSchemaIsRefused) {
  { ASSERT_NE(Open(), nullptr); }
  admin_->Exec(
      "INSERT INTO schema_migrations (version, name, applied_at)"
      " VALUES (999, 'from the future', 0)");
  absl::StatusOr<std::unique_ptr<Store>> store = OpenPostgresStore(Options());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("999"));
}

TEST_F(PostgresStoreTest, KilledConnectionsFailOnceWithUnavailableThenRecover) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  const v1::EpisodeRef ref = Ref("ep-1");
  ASSERT_OK(store->Commit(MakeCommit("t1", GoalsEvent("ev-1", ref), 0)));
  ASSERT_OK(store->LoadEpisode("t1", "ep-1"));
  ASSERT_GE(StoreSessions(), 2);  // The writer and a reader.

  // The writer's connection is gone: the commit fails retryably, and
  // nothing of it is stored.
  KillStoreSessions();
  absl::Status lost =
      store->Commit(MakeCommit("t1", GoalsEvent("ev-2", ref), 1));
  EXPECT_EQ(lost.code(), absl::StatusCode::kUnavailable) << lost;
  EXPECT_THAT(std::string(lost.message()), Not(HasSubstr(database_->dsn())));
  // The next calls reconnect: the retry is stored once.
  ASSERT_OK_AND_ASSIGN(EpisodeSnapshot snapshot,
                       store->LoadEpisode("t1", "ep-1"));
  EXPECT_EQ(snapshot.version, 1);
  ASSERT_OK(store->Commit(MakeCommit("t1", GoalsEvent("ev-2", ref), 1)));

  // A reader's connection is gone: that read fails retryably, the next
  // read and the next commit succeed.
  ASSERT_OK(store->GetPrompt("t1", "pr-none"));
  KillStoreSessions();
  absl::StatusOr<EpisodeSnapshot> failed = store->LoadEpisode("t1", "ep-1");
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable)
      << failed.status();
  ASSERT_OK_AND_ASSIGN(snapshot, store->LoadEpisode("t1", "ep-1"));
  EXPECT_EQ(snapshot.version, 2);
  EXPECT_EQ(snapshot.events.size(), 2u);
  ASSERT_OK(store->Commit(MakeCommit("t1", GoalsEvent("ev-3", ref), 2)));
  ASSERT_OK(store->AppendAudit(
      {{BaseTime(), "t1", "local", "SubmitEvent", "", "OK"}}));
}

TEST_F(PostgresStoreTest, PoolNeverOpensMoreThanPoolSizeConnections) {
  PostgresStoreOptions options = Options();
  options.pool_size = 3;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> store,
                       OpenPostgresStore(options));
  ASSERT_OK(store->Commit(MakeCommit("t1", GoalsEvent("ev-1", Ref("ep")), 0)));
  constexpr int kThreads = 12;
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < 20 && results[t].ok(); ++i) {
        results[t] = store->LoadEpisode("t1", "ep").status();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  // Callers waited for a free connection instead of failing.
  for (const absl::Status& status : results) EXPECT_OK(status);
  EXPECT_LE(StoreSessions(), options.pool_size);
}

// Every value of every row of every table, as text (BYTEA as \x hex).
std::string EveryRow(AdminConnection& admin) {
  std::string all;
  for (const std::string& table : admin.Rows(
           "SELECT table_name FROM information_schema.tables"
           " WHERE table_schema = current_schema() ORDER BY table_name")) {
    for (const std::string& row :
         admin.Rows(absl::StrCat("SELECT t::text FROM ", table, " t"))) {
      absl::StrAppend(&all, table, ": ", row, "\n");
    }
  }
  return all;
}

// Identifiers and free text a sealed store must not keep in the clear.
constexpr char kClientId[] = "client-7f3a-secret";
constexpr char kClinicianId[] = "clinician-9d2e-secret";
constexpr char kSummary[] = "Check in about the alliance";

void CommitIdentifyingRows(Store& store) {
  const v1::EpisodeRef ref = Ref("ep-1", kClinicianId, kClientId);
  EventCommit held = MakeCommit(
      "t1", HeldEvent("ev-1", ref, 1, BaseTime() + absl::Hours(1)), 0);
  held.prompt_upserts.push_back(
      MakePrompt("pr-1", ref, v1::PROMPT_STATUS_ACTIVE, 1, BaseTime()));
  ASSERT_OK(store.Commit(std::move(held)));
  ASSERT_OK(store.Commit(MakeCommit("t1", GoalsEvent("ev-2", ref), 1)));
}

TEST_F(PostgresStoreTest, SealedRowsHoldNoIdentifierOrText) {
  {
    std::unique_ptr<Store> store = Open(TestKeyRing({"k1"}));
    ASSERT_NE(store, nullptr);
    CommitIdentifyingRows(*store);
    // Still found through the store.
    ASSERT_OK_AND_ASSIGN(std::optional<StoredEvent> stored,
                         store->FindEvent("t1", "ev-1"));
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(stored->event.episode().client_id(), kClientId);
  }
  const std::string rows = EveryRow(*admin_);
  ASSERT_THAT(rows, HasSubstr("episodes: "));
  ASSERT_THAT(rows, HasSubstr("held_sessions: "));
  for (const char* secret : {kClientId, kClinicianId, kSummary}) {
    EXPECT_THAT(rows, Not(HasSubstr(secret))) << secret;
    EXPECT_THAT(rows, Not(HasSubstr(absl::BytesToHexString(secret)))) << secret;
  }
}

// The scan above finds what a plaintext store keeps in the clear.
TEST_F(PostgresStoreTest, PlaintextRowsHoldTheIdentifiers) {
  {
    std::unique_ptr<Store> store = Open();
    ASSERT_NE(store, nullptr);
    CommitIdentifyingRows(*store);
  }
  const std::string rows = EveryRow(*admin_);
  EXPECT_THAT(rows, HasSubstr(kClientId));
  EXPECT_THAT(rows, HasSubstr(kClinicianId));
  EXPECT_THAT(rows, HasSubstr(absl::BytesToHexString(kSummary)));
}

TEST_F(PostgresStoreTest, ProtectionModeIsKeptAndKeysChecked) {
  {
    std::unique_ptr<Store> store = Open(TestKeyRing({"k1"}));
    ASSERT_NE(store, nullptr);
    CommitIdentifyingRows(*store);
  }
  absl::StatusOr<std::unique_ptr<Store>> no_keys = OpenPostgresStore(Options());
  EXPECT_EQ(no_keys.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(no_keys.status().message()), HasSubstr("encrypted"));
  absl::StatusOr<std::unique_ptr<Store>> other_material =
      OpenPostgresStore(Options(TestKeyRing({"k1"}, /*variant=*/1)));
  EXPECT_EQ(other_material.status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(other_material.status().message()),
              HasSubstr("'k1'"));
  // A rotated ring (new active key, old one kept) reads the old rows.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> rotated,
                       OpenPostgresStore(Options(TestKeyRing({"k2", "k1"}))));
  ASSERT_OK_AND_ASSIGN(std::optional<StoredEvent> stored,
                       rotated->FindEvent("t1", "ev-1"));
  ASSERT_TRUE(stored.has_value());
  EXPECT_THAT(admin_->Rows("SELECT key_id FROM storage_keys ORDER BY key_id"),
              ElementsAre("k1", "k2"));
}

TEST_F(PostgresStoreTest, PlaintextDatabaseWithRowsIsNotSealedInPlace) {
  {
    std::unique_ptr<Store> store = Open();
    ASSERT_NE(store, nullptr);
    CommitIdentifyingRows(*store);
  }
  absl::StatusOr<std::unique_ptr<Store>> sealed =
      OpenPostgresStore(Options(TestKeyRing({"k1"})));
  EXPECT_EQ(sealed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(admin_->Rows("SELECT mode FROM store_protection"),
              ElementsAre("plaintext"));
}

TEST_F(PostgresStoreTest, AuditLogIsAppendOnlyForSql) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->AppendAudit(
      {{BaseTime(), "t1", "local", "SubmitEvent", "", "OK"}}));
  EXPECT_THAT(admin_->TryExec("UPDATE audit_log SET outcome = 'X'"),
              HasSubstr("append-only"));
  EXPECT_THAT(admin_->TryExec("DELETE FROM audit_log"),
              HasSubstr("append-only"));
  EXPECT_THAT(admin_->TryExec("TRUNCATE audit_log"), HasSubstr("append-only"));
  ASSERT_OK_AND_ASSIGN(AuditVerification verification, store->VerifyAudit());
  EXPECT_TRUE(verification.ok) << verification.problem;
  EXPECT_EQ(verification.rows, 1);
}

// What a WatchCommittedPrompts feed delivered, in order. Outlives the feed.
class PromptCollector {
 public:
  CommittedPromptCallback Callback() {
    return [this](const std::string& tenant, const v1::Prompt& prompt) {
      std::lock_guard<std::mutex> lock(mu_);
      got_.emplace_back(tenant, prompt);
      cv_.notify_all();
    };
  }
  // The next delivered (tenant, prompt); nullopt after 10 s without one.
  std::optional<std::pair<std::string, v1::Prompt>> Next() {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(10),
                      [this] { return !got_.empty(); })) {
      return std::nullopt;
    }
    auto next = std::move(got_.front());
    got_.pop_front();
    return next;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::string, v1::Prompt>> got_;
};

// A commit of a goals event raising `prompts` (ids) on `ref`.
EventCommit CommitRaising(const std::string& tenant,
                          const std::string& event_id,
                          const v1::EpisodeRef& ref, int64_t version,
                          const std::vector<std::string>& prompts) {
  EventCommit commit = MakeCommit(tenant, GoalsEvent(event_id, ref), version);
  for (const std::string& id : prompts) {
    commit.prompt_upserts.push_back(
        MakePrompt(id, ref, v1::PROMPT_STATUS_ACTIVE, 1, BaseTime()));
  }
  return commit;
}

TEST_F(PostgresStoreTest, CommittedPromptsReachTheOtherReplicasFeedOnly) {
  std::unique_ptr<Store> replica_a = Open();
  std::unique_ptr<Store> replica_b = Open();
  ASSERT_NE(replica_a, nullptr);
  ASSERT_NE(replica_b, nullptr);
  PromptCollector seen_by_a;
  PromptCollector seen_by_b;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<PromptFeed> feed_a,
                       replica_a->WatchCommittedPrompts(seen_by_a.Callback()));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<PromptFeed> feed_b,
                       replica_b->WatchCommittedPrompts(seen_by_b.Callback()));
  ASSERT_NE(feed_a, nullptr);
  ASSERT_NE(feed_b, nullptr);

  // On B: one live prompt and one shadow prompt committed; a duplicate
  // event_id (ALREADY_EXISTS) and a version conflict (ABORTED) that would
  // have raised prompts, rolled back to their savepoints.
  const v1::EpisodeRef ref = Ref("ep-1");
  EventCommit first = CommitRaising("t1", "ev-1", ref, 0, {"pr-live"});
  v1::Prompt shadow =
      MakePrompt("pr-shadow", ref, v1::PROMPT_STATUS_ACTIVE, 1, BaseTime());
  shadow.set_shadow(true);
  first.prompt_upserts.push_back(shadow);
  const v1::Prompt live = first.prompt_upserts[0];
  ASSERT_OK(replica_b->Commit(std::move(first)));
  std::future<absl::Status> duplicate = replica_b->CommitAsync(
      CommitRaising("t1", "ev-1", Ref("ep-2"), 0, {"pr-duplicate"}));
  std::future<absl::Status> conflict = replica_b->CommitAsync(
      CommitRaising("t1", "ev-2", ref, 0, {"pr-conflict"}));
  EXPECT_EQ(duplicate.get().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(conflict.get().code(), absl::StatusCode::kAborted);

  std::optional<std::pair<std::string, v1::Prompt>> got = seen_by_a.Next();
  ASSERT_TRUE(got.has_value()) << "A's feed never saw B's prompt";
  EXPECT_EQ(got->first, "t1");
  EXPECT_EQ(got->second.SerializeAsString(), live.SerializeAsString());

  // Notifications arrive in commit order. A commit from A is the first
  // thing B's feed sees, so B skipped its own commits above; then one from
  // B is the next thing A's feed sees, so A got nothing of the shadow,
  // duplicate or conflicting prompts (and skips its own commit).
  ASSERT_OK(replica_a->Commit(CommitRaising("t1", "ev-3", ref, 1, {"pr-a"})));
  ASSERT_OK(replica_b->Commit(CommitRaising("t1", "ev-4", ref, 2, {"pr-b"})));
  got = seen_by_b.Next();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->second.id(), "pr-a");
  got = seen_by_a.Next();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->second.id(), "pr-b");
}

TEST_F(PostgresStoreTest, ManyPromptsOfOneCommitAreSplitOverPayloads) {
  std::unique_ptr<Store> replica_a = Open();
  std::unique_ptr<Store> replica_b = Open();
  ASSERT_NE(replica_a, nullptr);
  ASSERT_NE(replica_b, nullptr);
  PromptCollector seen_by_a;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<PromptFeed> feed_a,
                       replica_a->WatchCommittedPrompts(seen_by_a.Callback()));
  // About 20 KB of ids: three payloads or more.
  std::vector<std::string> ids;
  for (int i = 0; i < 500; ++i) {
    ids.push_back(absl::StrCat("prompt-", i, "-0123456789abcdef0123456789"));
  }
  ASSERT_OK(
      replica_b->Commit(CommitRaising("t1", "ev-1", Ref("ep-1"), 0, ids)));
  std::set<std::string> got;
  for (size_t i = 0; i < ids.size(); ++i) {
    std::optional<std::pair<std::string, v1::Prompt>> next = seen_by_a.Next();
    ASSERT_TRUE(next.has_value()) << "after " << i;
    got.insert(next->second.id());
  }
  EXPECT_EQ(got, std::set<std::string>(ids.begin(), ids.end()));
}

TEST_F(PostgresStoreTest, PromptFeedListensAgainAfterItsConnectionIsKilled) {
  std::unique_ptr<Store> replica_a = Open();
  ASSERT_NE(replica_a, nullptr);
  PromptCollector seen_by_a;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<PromptFeed> feed_a,
                       replica_a->WatchCommittedPrompts(seen_by_a.Callback()));
  KillStoreSessions();
  // The listener's new session has run LISTEN once it shows here.
  const std::string listening =
      absl::StrCat("SELECT pid FROM pg_stat_activity WHERE datname = '",
                   database_->name(), "' AND query LIKE 'LISTEN%'");
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (admin_->Rows(listening).empty()) {
    ASSERT_LT(absl::Now(), deadline) << "the feed did not listen again";
    absl::SleepFor(absl::Milliseconds(10));
  }
  std::unique_ptr<Store> replica_b = Open();
  ASSERT_NE(replica_b, nullptr);
  ASSERT_OK(
      replica_b->Commit(CommitRaising("t1", "ev-1", Ref("ep-1"), 0, {"pr-1"})));
  std::optional<std::pair<std::string, v1::Prompt>> got = seen_by_a.Next();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->second.id(), "pr-1");
}

TEST(PromptNotificationTest, PayloadsRoundTripAndStayUnderTheLimit) {
  std::vector<std::string> ids = {"a", "b:7:c", "12:", ""};
  for (int i = 0; i < 1000; ++i) ids.push_back(absl::StrCat("p", i));
  const std::vector<std::string> payloads =
      postgres::EncodePromptNotifications("origin-1", "tenant|;1", ids, 200);
  ASSERT_GT(payloads.size(), 1u);
  std::vector<std::string> decoded;
  for (const std::string& payload : payloads) {
    EXPECT_LE(payload.size(), 200u);
    std::optional<postgres::PromptNotification> n =
        postgres::DecodePromptNotification(payload);
    ASSERT_TRUE(n.has_value()) << payload;
    EXPECT_EQ(n->origin, "origin-1");
    EXPECT_EQ(n->tenant, "tenant|;1");
    decoded.insert(decoded.end(), n->prompt_ids.begin(), n->prompt_ids.end());
  }
  EXPECT_EQ(decoded, ids);
  // The default limit is under PostgreSQL's 8000 bytes.
  for (const std::string& payload :
       postgres::EncodePromptNotifications("o", "t", ids)) {
    EXPECT_LT(payload.size(), 8000u);
  }
  // An id that cannot fit is left out; nothing to say, no payload.
  EXPECT_THAT(postgres::EncodePromptNotifications("o", "t",
                                                  {std::string(300, 'x')}, 200),
              IsEmpty());
  EXPECT_THAT(postgres::EncodePromptNotifications("o", "t", {}), IsEmpty());
  for (const char* bad : {"", "p1;", "p1;1:o1:t", "p1;1:o1:t9:x",
                          "x1;1:o1:t1:p", "p1;1:o1:tz:p"}) {
    EXPECT_FALSE(postgres::DecodePromptNotification(bad).has_value()) << bad;
  }
}

TEST(PostgresStoreOptionsTest, BadOptionsAreRefusedNamingTheField) {
  PostgresStoreOptions options;
  absl::StatusOr<std::unique_ptr<Store>> store = OpenPostgresStore(options);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(store.status().message()),
              ::testing::StartsWith("dsn: "));

  options.dsn = "host=/nonexistent";
  options.pool_size = 1;
  store = OpenPostgresStore(options);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(store.status().message()),
              ::testing::StartsWith("pool_size: "));

  options.dsn = "not a = connection 'string";
  options.pool_size = 2;
  store = OpenPostgresStore(options);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(store.status().message()),
              ::testing::StartsWith("dsn: "));
}

TEST(PostgresStoreOptionsTest, UnreachableServerIsUnavailableWithoutTheDsn) {
  PostgresStoreOptions options;
  options.dsn =
      "host=/nonexistent-attune-socket-dir user=attune-user "
      "password=hunter2-secret dbname=attune-db";
  absl::StatusOr<std::unique_ptr<Store>> store = OpenPostgresStore(options);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable);
  const std::string message(store.status().message());
  for (const char* part : {"hunter2-secret", "attune-user", "attune-db",
                           "nonexistent-attune-socket-dir"}) {
    EXPECT_THAT(message, Not(HasSubstr(part)));
  }
}

}  // namespace
}  // namespace attune::store
