// SQLite-specific behaviour of the Store: the file on disk (restart, WAL,
// synchronous, migrations, schema version), group commit and its failure
// modes, lock contention and corruption. Behaviour every backend shares is
// in store_conformance_test.cc.
#include "service/store/sqlite/sqlite_store.h"

#include <sqlite3.h>

#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/common/log.h"
#include "service/store/common/page_token.h"
#include "service/store/sqlite/migrations.h"
#include "tests/unit/service/store/raw_db.h"
#include "tests/unit/service/store/store_test_util.h"

namespace attune::store {
namespace {

using ::attune::store::testing::RawDb;

using ::attune::store::testing::BaseTime;
using ::attune::store::testing::GoalsEvent;
using ::attune::store::testing::HeldEvent;
using ::attune::store::testing::MakeCommit;
using ::attune::store::testing::MakePrompt;
using ::attune::store::testing::Ref;
using ::attune::store::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::StartsWith;

class SqliteStoreTest : public ::testing::Test {
 protected:
  SqliteStoreOptions Options() const {
    SqliteStoreOptions options;
    options.path = path_;
    return options;
  }

  std::unique_ptr<SqliteStore> OpenOrDie(const SqliteStoreOptions& options) {
    absl::StatusOr<std::unique_ptr<SqliteStore>> store =
        SqliteStore::Open(options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  TempDir dir_;
  const std::string path_ = dir_.File("attune.db");
};

// ---------------------------------------------------------------------------
// The file

TEST_F(SqliteStoreTest, EverythingSurvivesAReopen) {
  const v1::EpisodeRef ref = Ref("ep-1", "clin-1");
  EventCommit held = MakeCommit("t1", HeldEvent("ev-1", ref, 1, BaseTime()), 0);
  held.prompt_upserts.push_back(
      MakePrompt("pr-1", ref, v1::PROMPT_STATUS_ACTIVE, 4, BaseTime()));
  EventCommit feedback = MakeCommit("t1", GoalsEvent("ev-2", ref), 1);
  feedback.feedback =
      FeedbackRecord{"pr-1",
                     "attune.rupture",
                     "attune.rupture/check",
                     v1::PromptFeedback::OUTCOME_ACCEPTED,
                     v1::PromptFeedback::DISMISS_REASON_UNSPECIFIED,
                     BaseTime()};
  {
    std::unique_ptr<SqliteStore> store = OpenOrDie(Options());
    ASSERT_NE(store, nullptr);
    ASSERT_OK(store->Commit(held));
    ASSERT_OK(store->Commit(feedback));
  }

  std::unique_ptr<SqliteStore> store = OpenOrDie(Options());
  ASSERT_NE(store, nullptr);
  ASSERT_OK_AND_ASSIGN(std::optional<StoredEvent> found,
                       store->FindEvent("t1", "ev-1"));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->fingerprint, held.fingerprint);
  EXPECT_TRUE(testing::ProtoEq(found->response, held.response));
  ASSERT_OK_AND_ASSIGN(EpisodeSnapshot snapshot,
                       store->LoadEpisode("t1", "ep-1"));
  EXPECT_EQ(snapshot.version, 2);
  EXPECT_THAT(snapshot.events, SizeIs(2));
  EXPECT_THAT(snapshot.prompts, SizeIs(1));
  EXPECT_TRUE(testing::ProtoEq(snapshot.assessment, feedback.assessment));
  PromptQuery query;
  query.tenant = "t1";
  query.clinician_id = "clin-1";
  ASSERT_OK_AND_ASSIGN(PromptPage page, store->ListPrompts(query));
  EXPECT_THAT(page.prompts, SizeIs(1));
  ASSERT_OK_AND_ASSIGN(
      std::vector<HeldSession> sessions,
      store->ListClinicianSessions("t1", "clin-1", absl::InfinitePast(),
                                   absl::InfiniteFuture()));
  EXPECT_THAT(sessions, SizeIs(1));
  ASSERT_OK_AND_ASSIGN(std::vector<FeedbackCount> counts,
                       store->CountFeedback("t1"));
  ASSERT_THAT(counts, SizeIs(1));
  EXPECT_EQ(counts[0].count, 1);
  // And it keeps counting versions where it left off.
  EXPECT_OK(store->Commit(MakeCommit("t1", GoalsEvent("ev-3", ref), 2)));
}

TEST_F(SqliteStoreTest, FileUsesWalAndFullSync) {
  std::unique_ptr<SqliteStore> store = OpenOrDie(Options());
  ASSERT_NE(store, nullptr);
  // journal_mode is a property of the file: any connection sees it.
  RawDb raw(path_);
  EXPECT_EQ(raw.One("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.One("PRAGMA synchronous"), "2");
  // synchronous and foreign_keys are per connection: the store reads them
  // back from its own write connection at open.
  EXPECT_EQ(store->settings().journal_mode, "wal");
  EXPECT_EQ(store->settings().synchronous, 2);
  EXPECT_TRUE(store->settings().foreign_keys);
}

TEST_F(SqliteStoreTest, MigrationsAreRecordedOnce) {
  {
    std::unique_ptr<SqliteStore> store = OpenOrDie(Options());
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->settings().migrated_from_version, 0);
    EXPECT_EQ(store->settings().schema_version, sqlite::LatestSchemaVersion());
  }
  std::vector<std::string> expected;
  for (const sqlite::Migration& migration : sqlite::Migrations()) {
    expected.push_back(absl::StrCat(migration.version, "|", migration.name));
  }
  ASSERT_THAT(expected, Not(IsEmpty()));
  {
    RawDb raw(path_);
    EXPECT_EQ(raw.Rows("SELECT version, name FROM schema_migrations"
                       " ORDER BY version"),
              expected);
  }
  // Reopening applies nothing again.
  std::unique_ptr<SqliteStore> store = OpenOrDie(Options());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->settings().migrated_from_version,
            sqlite::LatestSchemaVersion());
  RawDb raw(path_);
  EXPECT_EQ(raw.Rows("SELECT version, name FROM schema_migrations"
                     " ORDER BY version"),
            expected);
}

TEST_F(SqliteStoreTest, MigrationsAreNumberedInOrder) {
  int64_t expected = 1;
  for (const sqlite::Migration& migration : sqlite::Migrations()) {
    EXPECT_EQ(migration.version, expected++);
    EXPECT_FALSE(migration.name.empty());
    EXPECT_FALSE(migration.sql.empty());
  }
}

TEST_F(SqliteStoreTest, NewerSchemaIsRefused) {
  {
    std::unique_ptr<SqliteStore> store = OpenOrDie(Options());
    ASSERT_NE(store, nullptr);
    ASSERT_OK(store->Commit(MakeCommit("t1", GoalsEvent("ev-1", Ref("e")), 0)));
  }
  const int64_t future = sqlite::LatestSchemaVersion() + 7;
  {
    RawDb raw(path_);
    raw.Exec(absl::StrCat(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (",
        future, ", 'from the future', 0)"));
  }
  absl::StatusOr<std::unique_ptr<SqliteStore>> store =
      SqliteStore::Open(Options());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr(path_));
  EXPECT_THAT(std::string(store.status().message()),
              HasSubstr(absl::StrCat("version ", future)));
  EXPECT_THAT(std::string(store.status().message()),
              HasSubstr(absl::StrCat("(", sqlite::LatestSchemaVersion(), ")")));
  // Nothing was touched.
  RawDb raw(path_);
  EXPECT_EQ(raw.One("SELECT COUNT(*) FROM events"), "1");
  EXPECT_EQ(raw.One("SELECT MAX(version) FROM schema_migrations"),
            absl::StrCat(future));
}

// A file written by a build that knew only migration 1 (before shadow mode)
// opens, is migrated, and its prompts stay what they were: live.
TEST_F(SqliteStoreTest, VersionOneDatabaseUpgradesAndKeepsPromptsLive) {
  const v1::EpisodeRef ref = Ref("ep-1", "clin-1");
  const v1::Prompt prompt =
      MakePrompt("pr-1", ref, v1::PROMPT_STATUS_ACTIVE, 4, BaseTime());
  {
    // Exactly what migration 1 created, and rows as that build wrote them.
    // (An empty file is an empty database.)
    std::ofstream(path_).close();
    RawDb raw(path_);
    raw.Exec(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
        " name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
    raw.Exec(std::string(sqlite::Migrations()[0].sql));
    raw.Exec("INSERT INTO schema_migrations VALUES (1, 'initial schema', 0)");
    v1::Assessment assessment;
    raw.Exec(absl::StrCat(
        "INSERT INTO episodes VALUES ('t1', 'ep-1', 1, X'",
        absl::BytesToHexString(assessment.SerializeAsString()), "', 0)"));
    v1::SessionEvent event = GoalsEvent("ev-1", ref);
    raw.Exec(absl::StrCat(
        "INSERT INTO events VALUES ('t1', 'ev-1', 'ep-1', 1, 0, X'00', X'",
        absl::BytesToHexString(event.SerializeAsString()), "', X'')"));
    raw.Exec(absl::StrCat(
        "INSERT INTO prompts VALUES ('t1', 'pr-1', 'ep-1', 'clin-1',"
        " 'attune.rupture/check', 'attune.rupture', ",
        static_cast<int>(v1::PROMPT_STATUS_ACTIVE), ", 4, 0, X'",
        absl::BytesToHexString(prompt.SerializeAsString()), "')"));
  }

  std::unique_ptr<SqliteStore> store = OpenOrDie(Options());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->settings().migrated_from_version, 1);
  EXPECT_EQ(store->settings().schema_version, sqlite::LatestSchemaVersion());
  {
    RawDb raw(path_);
    EXPECT_EQ(raw.One("SELECT shadow FROM prompts WHERE prompt_id = 'pr-1'"),
              "0");
  }
  PromptQuery by_episode;
  by_episode.tenant = "t1";
  by_episode.episode_id = "ep-1";
  ASSERT_OK_AND_ASSIGN(PromptPage page, store->ListPrompts(by_episode));
  ASSERT_THAT(page.prompts, SizeIs(1));
  EXPECT_TRUE(testing::ProtoEq(page.prompts[0], prompt));
  PromptQuery by_clinician;
  by_clinician.tenant = "t1";
  by_clinician.clinician_id = "clin-1";
  ASSERT_OK_AND_ASSIGN(page, store->ListPrompts(by_clinician));
  EXPECT_THAT(page.prompts, SizeIs(1));
  ASSERT_OK_AND_ASSIGN(
      std::vector<v1::Prompt> live,
      store->ListModulePrompts("t1", "attune.rupture", /*shadow=*/false, 10));
  EXPECT_THAT(live, SizeIs(1));
  ASSERT_OK_AND_ASSIGN(
      std::vector<v1::Prompt> shadow,
      store->ListModulePrompts("t1", "attune.rupture", /*shadow=*/true, 10));
  EXPECT_THAT(shadow, IsEmpty());
  ASSERT_OK_AND_ASSIGN(EventPage events, store->ScanEvents("t1", 10, ""));
  EXPECT_THAT(events.events, SizeIs(1));

  // The migrated file takes new commits, shadow prompts included, and
  // keeps them apart.
  EventCommit next = MakeCommit("t1", GoalsEvent("ev-2", ref), 1);
  v1::Prompt shadow_prompt =
      MakePrompt("pr-2", ref, v1::PROMPT_STATUS_ACTIVE, 9, BaseTime());
  shadow_prompt.set_shadow(true);
  next.prompt_upserts.push_back(shadow_prompt);
  ASSERT_OK(store->Commit(next));
  ASSERT_OK_AND_ASSIGN(page, store->ListPrompts(by_clinician));
  ASSERT_THAT(page.prompts, SizeIs(1));
  EXPECT_EQ(page.prompts[0].id(), "pr-1");
  ASSERT_OK_AND_ASSIGN(EpisodeSnapshot snapshot,
                       store->LoadEpisode("t1", "ep-1"));
  EXPECT_THAT(snapshot.prompts, SizeIs(2));
}

// The indexes serve the queries: no full scans, no sorting.
TEST_F(SqliteStoreTest, QueriesUseIndexes) {
  std::unique_ptr<SqliteStore> store = OpenOrDie(Options());
  ASSERT_NE(store, nullptr);
  RawDb raw(path_);
  struct Case {
    std::string sql;
    std::string index;
  };
  const std::vector<Case> cases = {
      // LoadEpisode.
      {"SELECT prompt FROM prompts WHERE tenant = 'a' AND episode_id = 'b'"
       " ORDER BY shadow, priority DESC, updated_at DESC, prompt_id",
       "prompts_by_episode"},
      // ListPrompts: live prompts only, first and later pages.
      {"SELECT prompt FROM prompts WHERE tenant = 'a' AND episode_id = 'b'"
       " AND shadow = 0 ORDER BY priority DESC, updated_at DESC, prompt_id"
       " LIMIT 10",
       "prompts_by_episode"},
      {"SELECT prompt FROM prompts WHERE tenant = 'a' AND clinician_id = 'b'"
       " AND shadow = 0 AND priority <= 3"
       " ORDER BY priority DESC, updated_at DESC, prompt_id LIMIT 10",
       "prompts_by_clinician"},
      // ListModulePrompts.
      {"SELECT episode_id, prompt FROM prompts WHERE tenant = 'a'"
       " AND module_id = 'b' AND shadow = 1 ORDER BY episode_id",
       "prompts_by_module"},
      // ScanEvents, first and later pages.
      {"SELECT episode_id, seq, event FROM events WHERE tenant = 'a'"
       " ORDER BY episode_id, seq LIMIT 10",
       "events_by_episode"},
      {"SELECT episode_id, seq, event FROM events WHERE tenant = 'a'"
       " AND episode_id >= 'b' AND (episode_id > 'b' OR seq > 3)"
       " ORDER BY episode_id, seq LIMIT 10",
       "events_by_episode"},
      {"SELECT event FROM events WHERE tenant = 'a' AND episode_id = 'b'"
       " ORDER BY seq",
       "events_by_episode"},
      {"SELECT episode_id FROM held_sessions WHERE tenant = 'a' AND"
       " clinician_id = 'b' AND start_at >= 1 AND start_at < 2"
       " ORDER BY start_at",
       "held_sessions_by_clinician"},
      {"SELECT module_id, outcome, COUNT(*) FROM prompt_feedback"
       " WHERE tenant = 'a' GROUP BY module_id, outcome",
       "prompt_feedback_by_module"},
  };
  for (const Case& c : cases) {
    std::string plan;
    for (const std::string& row : raw.Rows("EXPLAIN QUERY PLAN " + c.sql)) {
      absl::StrAppend(&plan, row, "\n");
    }
    EXPECT_THAT(plan, HasSubstr(c.index)) << c.sql;
    EXPECT_THAT(plan, Not(HasSubstr("TEMP B-TREE"))) << c.sql;
  }
}

TEST_F(SqliteStoreTest, BadOptionsAreRefused) {
  SqliteStoreOptions options = Options();
  options.path = "";
  EXPECT_EQ(SqliteStore::Open(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.path = ":memory:";
  EXPECT_EQ(SqliteStore::Open(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = Options();
  options.max_batch = 0;
  EXPECT_EQ(SqliteStore::Open(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = Options();
  options.path = dir_.File("no/such/dir/attune.db");
  absl::StatusOr<std::unique_ptr<SqliteStore>> missing =
      SqliteStore::Open(options);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr(options.path));
}

TEST_F(SqliteStoreTest, NotADatabaseIsRefused) {
  {
    std::ofstream file(path_);
    file << "this is not a database, just text long enough to have a header "
            "that SQLite will look at and reject";
  }
  absl::StatusOr<std::unique_ptr<SqliteStore>> store =
      SqliteStore::Open(Options());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(store.status().message()),
              HasSubstr("not a database"));
}

TEST_F(SqliteStoreTest, CorruptRowIsInternal) {
  std::unique_ptr<SqliteStore> store = OpenOrDie(Options());
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->Commit(MakeCommit("t1", GoalsEvent("ev-1", Ref("e")), 0)));
  RawDb raw(path_);
  raw.Exec("UPDATE events SET response = x'ffffffff'");
  absl::StatusOr<std::optional<StoredEvent>> found =
      store->FindEvent("t1", "ev-1");
  EXPECT_EQ(found.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(found.status().message()), StartsWith("events: "));
}

TEST_F(SqliteStoreTest, MalformedCommitsAreRejectedBeforeQueueing) {
  std::unique_ptr<SqliteStore> store = OpenOrDie(Options());
  ASSERT_NE(store, nullptr);
  const EventCommit good = MakeCommit("t1", GoalsEvent("ev-1", Ref("e")), 0);
  std::vector<EventCommit> bad(5, good);
  bad[0].tenant = "";
  bad[1].event.clear_event_id();
  bad[2].event.mutable_episode()->clear_episode_id();
  bad[3].expected_version = -1;
  bad[4].prompt_upserts.emplace_back();  // No id.
  for (EventCommit& commit : bad) {
    absl::Status status = store->Commit(std::move(commit));
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(std::string(status.message()), StartsWith("commit."));
  }
  EXPECT_EQ(store->stats().batches, 0);
}

// The status filter binds a fixed number of parameters, so the statement
// cache stays small whatever clients send.
TEST_F(SqliteStoreTest, StatusFilterIsBounded) {
  std::unique_ptr<SqliteStore> store = OpenOrDie(Options());
  ASSERT_NE(store, nullptr);
  const v1::EpisodeRef ref = Ref("ep-1");
  EventCommit commit = MakeCommit("t1", GoalsEvent("ev-1", ref), 0);
  commit.prompt_upserts.push_back(
      MakePrompt("pr-1", ref, v1::PROMPT_STATUS_QUEUED, 1, BaseTime()));
  ASSERT_OK(store->Commit(commit));
  PromptQuery query;
  query.tenant = "t1";
  query.episode_id = "ep-1";
  for (int i = 0; i < v1::PromptStatus_ARRAYSIZE; ++i) {
    query.statuses.push_back(static_cast<v1::PromptStatus>(i));
  }
  ASSERT_OK_AND_ASSIGN(PromptPage page, store->ListPrompts(query));
  EXPECT_THAT(page.prompts, SizeIs(1));
  query.statuses.push_back(
      static_cast<v1::PromptStatus>(v1::PromptStatus_ARRAYSIZE));
  absl::StatusOr<PromptPage> too_many = store->ListPrompts(query);
  EXPECT_EQ(too_many.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(too_many.status().message()),
              StartsWith("statuses: "));
}

// ---------------------------------------------------------------------------
// Group commit

TEST_F(SqliteStoreTest, ConcurrentCommitsAreGrouped) {
  constexpr int kThreads = 8;
  constexpr int kCommitsPerThread = 50;
  std::unique_ptr<SqliteStore> store = OpenOrDie(Options());
  ASSERT_NE(store, nullptr);
  // Every thread has at most one commit in flight, so once all 8 are queued
  // the first batch holds exactly 8.
  store->HoldWriterUntilQueued(kThreads);
  std::vector<std::thread> threads;
  std::vector<std::vector<absl::Status>> results(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCommitsPerThread; ++i) {
        results[t].push_back(
            store->Commit(MakeCommit("t1",
                                     GoalsEvent(absl::StrCat("ev-", t, "-", i),
                                                Ref(absl::StrCat("ep-", t))),
                                     i)));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const auto& thread_results : results) {
    for (const absl::Status& status : thread_results) EXPECT_OK(status);
  }
  const SqliteStore::Stats stats = store->stats();
  EXPECT_EQ(stats.commits, kThreads * kCommitsPerThread);
  EXPECT_EQ(stats.rejected, 0);
  EXPECT_EQ(stats.max_batch_seen, kThreads);
  EXPECT_LT(stats.batches, kThreads * kCommitsPerThread);
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_OK_AND_ASSIGN(EpisodeSnapshot snapshot,
                         store->LoadEpisode("t1", absl::StrCat("ep-", t)));
    EXPECT_EQ(snapshot.version, kCommitsPerThread);
  }
}

TEST_F(SqliteStoreTest, MaxBatchBoundsAGroup) {
  SqliteStoreOptions options = Options();
  options.max_batch = 4;
  std::unique_ptr<SqliteStore> store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  store->HoldWriterUntilQueued(10);
  std::vector<std::future<absl::Status>> futures;
  for (int i = 0; i < 10; ++i) {
    futures.push_back(store->CommitAsync(MakeCommit(
        "t1", GoalsEvent(absl::StrCat("ev-", i), Ref(absl::StrCat("ep-", i))),
        0)));
  }
  for (auto& future : futures) EXPECT_OK(future.get());
  const SqliteStore::Stats stats = store->stats();
  EXPECT_EQ(stats.batches, 3);  // 4 + 4 + 2
  EXPECT_EQ(stats.max_batch_seen, 4);
  EXPECT_EQ(stats.commits, 10);
}

// One batch of five: two rejected commits are rolled back alone; the others,
// including ones that depend on earlier commits of the same batch, commit.
TEST_F(SqliteStoreTest, FailingCommitsInABatchAreRolledBackAlone) {
  std::unique_ptr<SqliteStore> store = OpenOrDie(Options());
  ASSERT_NE(store, nullptr);
  ASSERT_OK(
      store->Commit(MakeCommit("t1", GoalsEvent("ev-0", Ref("ep-0")), 0)));

  store->HoldWriterUntilQueued(5);
  EventCommit a = MakeCommit("t1", GoalsEvent("ev-a", Ref("ep-a")), 0);
  a.prompt_upserts.push_back(
      MakePrompt("pr-a", Ref("ep-a"), v1::PROMPT_STATUS_ACTIVE, 1, BaseTime()));
  EventCommit duplicate = MakeCommit("t1", GoalsEvent("ev-0", Ref("ep-d")), 0);
  duplicate.prompt_upserts.push_back(
      MakePrompt("pr-d", Ref("ep-d"), v1::PROMPT_STATUS_ACTIVE, 1, BaseTime()));
  EventCommit b =
      MakeCommit("t1", HeldEvent("ev-b", Ref("ep-b"), 1, BaseTime()), 0);
  // ep-a is at version 1 once `a` is applied earlier in this batch.
  EventCommit conflict = MakeCommit("t1", GoalsEvent("ev-c", Ref("ep-a")), 0);
  conflict.prompt_upserts.push_back(MakePrompt(
      "pr-a", Ref("ep-a"), v1::PROMPT_STATUS_RESOLVED, 1, BaseTime()));
  EventCommit e = MakeCommit("t1", GoalsEvent("ev-e", Ref("ep-a")), 1);

  std::vector<std::future<absl::Status>> futures;
  for (EventCommit* commit : {&a, &duplicate, &b, &conflict, &e}) {
    futures.push_back(store->CommitAsync(*commit));
  }
  EXPECT_OK(futures[0].get());
  EXPECT_EQ(futures[1].get().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_OK(futures[2].get());
  EXPECT_EQ(futures[3].get().code(), absl::StatusCode::kAborted);
  EXPECT_OK(futures[4].get());

  const SqliteStore::Stats stats = store->stats();
  EXPECT_EQ(stats.batches, 2);
  EXPECT_EQ(stats.max_batch_seen, 5);
  EXPECT_EQ(stats.commits, 4);
  EXPECT_EQ(stats.rejected, 2);

  ASSERT_OK_AND_ASSIGN(EpisodeSnapshot ep_a, store->LoadEpisode("t1", "ep-a"));
  EXPECT_EQ(ep_a.version, 2);
  ASSERT_THAT(ep_a.events, SizeIs(2));
  EXPECT_EQ(ep_a.events[0].event_id(), "ev-a");
  EXPECT_EQ(ep_a.events[1].event_id(), "ev-e");
  ASSERT_THAT(ep_a.prompts, SizeIs(1));
  EXPECT_EQ(ep_a.prompts[0].status(), v1::PROMPT_STATUS_ACTIVE);
  ASSERT_OK_AND_ASSIGN(EpisodeSnapshot ep_d, store->LoadEpisode("t1", "ep-d"));
  EXPECT_FALSE(ep_d.exists);
  ASSERT_OK_AND_ASSIGN(std::optional<v1::Prompt> pr_d,
                       store->GetPrompt("t1", "pr-d"));
  EXPECT_FALSE(pr_d.has_value());
  ASSERT_OK_AND_ASSIGN(std::optional<StoredEvent> ev_c,
                       store->FindEvent("t1", "ev-c"));
  EXPECT_FALSE(ev_c.has_value());
  ASSERT_OK_AND_ASSIGN(
      std::vector<HeldSession> sessions,
      store->ListClinicianSessions("t1", "clin-1", absl::InfinitePast(),
                                   absl::InfiniteFuture()));
  EXPECT_THAT(sessions, SizeIs(1));
}

TEST_F(SqliteStoreTest, DestructorFinishesQueuedCommits) {
  std::vector<std::future<absl::Status>> futures;
  {
    std::unique_ptr<SqliteStore> store = OpenOrDie(Options());
    ASSERT_NE(store, nullptr);
    store->HoldWriterUntilQueued(1000);  // Never reached: only shutdown runs.
    for (int i = 0; i < 20; ++i) {
      futures.push_back(store->CommitAsync(MakeCommit(
          "t1", GoalsEvent(absl::StrCat("ev-", i), Ref(absl::StrCat("ep-", i))),
          0)));
    }
    for (auto& future : futures) {
      EXPECT_EQ(future.wait_for(std::chrono::seconds(0)),
                std::future_status::timeout);
    }
  }
  for (auto& future : futures) EXPECT_OK(future.get());
  std::unique_ptr<SqliteStore> store = OpenOrDie(Options());
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 20; ++i) {
    ASSERT_OK_AND_ASSIGN(EpisodeSnapshot snapshot,
                         store->LoadEpisode("t1", absl::StrCat("ep-", i)));
    EXPECT_EQ(snapshot.version, 1);
  }
}

// Another process holding the write lock: commits fail UNAVAILABLE (safe to
// retry) after busy_timeout, reads carry on, and a retry succeeds.
TEST_F(SqliteStoreTest, LockedDatabaseIsUnavailableAndReadsContinue) {
  SqliteStoreOptions options = Options();
  options.busy_timeout = absl::Milliseconds(50);
  std::unique_ptr<SqliteStore> store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->Commit(MakeCommit("t1", GoalsEvent("ev-1", Ref("e")), 0)));

  RawDb other(path_);
  other.Exec("BEGIN IMMEDIATE");
  const EventCommit next = MakeCommit("t1", GoalsEvent("ev-2", Ref("e")), 1);
  absl::Status status = store->Commit(next);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  ASSERT_OK_AND_ASSIGN(std::optional<StoredEvent> found,
                       store->FindEvent("t1", "ev-1"));
  EXPECT_TRUE(found.has_value());
  ASSERT_OK_AND_ASSIGN(EpisodeSnapshot snapshot, store->LoadEpisode("t1", "e"));
  EXPECT_EQ(snapshot.version, 1);
  other.Exec("ROLLBACK");

  EXPECT_OK(store->Commit(next));
  EXPECT_EQ(store->stats().rejected, 1);
}

// ---------------------------------------------------------------------------
// Logging

std::mutex g_log_mu;
std::vector<std::string>* g_log_lines = nullptr;

void CaptureLog(std::string_view line) {
  std::lock_guard<std::mutex> lock(g_log_mu);
  if (g_log_lines != nullptr) g_log_lines->emplace_back(line);
}

TEST_F(SqliteStoreTest, LogsNeverCarryIdentifiers) {
  std::vector<std::string> lines;
  {
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_log_lines = &lines;
  }
  SetLogSink(&CaptureLog);
  {
    SqliteStoreOptions options = Options();
    options.busy_timeout = absl::Milliseconds(20);
    std::unique_ptr<SqliteStore> store = OpenOrDie(options);
    ASSERT_NE(store, nullptr);
    const v1::EpisodeRef ref =
        Ref("secret-episode", "secret-clinician", "secret-client");
    ASSERT_OK(store->Commit(MakeCommit(
        "secret-tenant", HeldEvent("secret-event", ref, 1, BaseTime()), 0)));
    EXPECT_FALSE(store
                     ->Commit(MakeCommit("secret-tenant",
                                         GoalsEvent("secret-event", ref), 1))
                     .ok());
    RawDb other(path_);
    other.Exec("BEGIN IMMEDIATE");
    EXPECT_FALSE(store
                     ->Commit(MakeCommit("secret-tenant",
                                         GoalsEvent("secret-event-2", ref), 1))
                     .ok());
    other.Exec("ROLLBACK");
  }
  SetLogSink(nullptr);
  {
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_log_lines = nullptr;
  }
  ASSERT_THAT(lines, Not(IsEmpty()));
  bool saw_batch_failure = false;
  for (const std::string& line : lines) {
    EXPECT_THAT(line, Not(HasSubstr("secret"))) << line;
    saw_batch_failure |= absl::StrContains(line, "batch failed");
  }
  EXPECT_TRUE(saw_batch_failure);
}

// ---------------------------------------------------------------------------
// Page tokens

TEST(PromptPageTokenTest, RoundTrips) {
  PromptPageToken token;
  token.filter_hash = 0xfedcba9876543210ULL;
  token.priority = -3;
  token.updated_at_nanos = 1767603600123456789;
  token.prompt_id = "pr|with|pipes";
  ASSERT_OK_AND_ASSIGN(PromptPageToken decoded,
                       DecodePromptPageToken(EncodePromptPageToken(token)));
  EXPECT_EQ(decoded.filter_hash, token.filter_hash);
  EXPECT_EQ(decoded.priority, token.priority);
  EXPECT_EQ(decoded.updated_at_nanos, token.updated_at_nanos);
  EXPECT_EQ(decoded.prompt_id, token.prompt_id);
}

TEST(PromptPageTokenTest, RejectsMalformedTokens) {
  for (const std::string& raw :
       {std::string("p1|zz|1|2|x"), std::string("p2|1|1|2|x"),
        std::string("p1|1|one|2|x"), std::string("p1|1|1|2|"),
        std::string("p1|1|1|2"), std::string("")}) {
    absl::StatusOr<PromptPageToken> decoded =
        DecodePromptPageToken(absl::WebSafeBase64Escape(raw));
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument)
        << raw;
    EXPECT_THAT(std::string(decoded.status().message()),
                StartsWith("page_token: "));
  }
}

TEST(PromptPageTokenTest, FilterHashIgnoresStatusOrderAndPaging) {
  PromptQuery a;
  a.tenant = "t";
  a.episode_id = "e";
  a.statuses = {v1::PROMPT_STATUS_ACTIVE, v1::PROMPT_STATUS_ACKNOWLEDGED};
  a.page_size = 5;
  PromptQuery b = a;
  b.statuses = {v1::PROMPT_STATUS_ACKNOWLEDGED, v1::PROMPT_STATUS_ACTIVE,
                v1::PROMPT_STATUS_ACTIVE};
  b.page_size = 50;
  b.page_token = "x";
  EXPECT_EQ(PromptFilterHash(a), PromptFilterHash(b));
  PromptQuery c = a;
  c.episode_id = "";
  c.clinician_id = "e";
  EXPECT_NE(PromptFilterHash(a), PromptFilterHash(c));
  PromptQuery d = a;
  d.tenant = "u";
  EXPECT_NE(PromptFilterHash(a), PromptFilterHash(d));
}

}  // namespace
}  // namespace attune::store
