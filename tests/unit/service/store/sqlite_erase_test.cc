// Erasure in the SQLite file itself: erased rows leave the database file and
// its WAL (secure_delete, checkpoint), episodes from before migration 3 get
// their client_key at open so they can be erased, and the erase queries use
// their indexes. What every backend shares is in store_conformance_test.cc.
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/store/sqlite/migrations.h"
#include "service/store/sqlite/sqlite_store.h"
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
using ::testing::Not;
using ::testing::SizeIs;

// The raw bytes of a file; empty when it does not exist.
std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

class SqliteEraseTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteStore> Open() {
    SqliteStoreOptions options;
    options.path = path_;
    absl::StatusOr<std::unique_ptr<SqliteStore>> store =
        SqliteStore::Open(options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // The database file and its WAL, as they are on disk now.
  std::string DbBytes() const { return ReadBytes(path_); }
  std::string WalBytes() const { return ReadBytes(path_ + "-wal"); }

  TempDir dir_;
  const std::string path_ = dir_.File("attune.db");
};

// Commits a short course for `ref`: held sessions with a prompt each, and
// goals agreed.
void CommitCourse(Store& store, const std::string& tenant,
                  const v1::EpisodeRef& ref, const std::string& prefix) {
  for (int n = 1; n <= 3; ++n) {
    EventCommit commit =
        MakeCommit(tenant,
                   HeldEvent(absl::StrCat(prefix, "-held-", n), ref, n,
                             BaseTime() + absl::Hours(24 * 7 * (n - 1))),
                   2 * (n - 1));
    v1::Prompt prompt = MakePrompt(absl::StrCat(prefix, "-prompt-", n), ref,
                                   v1::PROMPT_STATUS_ACTIVE, n, BaseTime());
    commit.prompt_upserts.push_back(prompt);
    *commit.response.add_prompts() = prompt;
    ASSERT_TRUE(store.Commit(std::move(commit)).ok());
    ASSERT_TRUE(
        store
            .Commit(MakeCommit(
                tenant, GoalsEvent(absl::StrCat(prefix, "-goals-", n), ref),
                2 * (n - 1) + 1))
            .ok());
  }
}

TEST_F(SqliteEraseTest, WriteConnectionOverwritesDeletedContent) {
  std::unique_ptr<SqliteStore> store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->settings().secure_delete);
}

// Plaintext mode, so that identifiers would be visible in the file if the
// erase left them there. The store stays open while the files are read: a
// clean close would checkpoint the WAL away and hide what erase left.
TEST_F(SqliteEraseTest, ErasedRowsLeaveTheDatabaseFileAndTheWal) {
  const std::string erased_client = "ERASED-CLIENT-7431";
  const std::string erased_episode = "ERASED-EPISODE-7431";
  const std::string kept_client = "KEPT-CLIENT-2210";
  std::unique_ptr<SqliteStore> store = Open();
  ASSERT_NE(store, nullptr);
  CommitCourse(*store, "t1", Ref(erased_episode, "clin-1", erased_client),
               "gone");
  CommitCourse(*store, "t1", Ref("ep-kept", "clin-1", kept_client), "kept");
  // The same client in another tenant is another person: kept.
  CommitCourse(*store, "t2", Ref("ep-other", "clin-1", erased_client), "other");
  {
    const std::string before = DbBytes() + WalBytes();
    ASSERT_TRUE(absl::StrContains(before, erased_client)) << erased_client;
    ASSERT_TRUE(absl::StrContains(before, erased_episode)) << erased_episode;
  }

  ASSERT_OK_AND_ASSIGN(EraseCounts erased,
                       store->EraseClient("t1", erased_client));
  EXPECT_EQ(erased.episodes, 1);
  EXPECT_EQ(erased.events, 6);
  EXPECT_EQ(erased.prompts, 3);

  const std::string db = DbBytes();
  const std::string wal = WalBytes();
  EXPECT_FALSE(absl::StrContains(db, erased_episode)) << erased_episode;
  EXPECT_FALSE(absl::StrContains(wal, erased_episode)) << erased_episode;
  for (const char* id : {"gone-held-1", "gone-goals-3", "gone-prompt-2"}) {
    EXPECT_FALSE(absl::StrContains(db, id)) << id;
    EXPECT_FALSE(absl::StrContains(wal, id)) << id;
  }
  // The client id remains only in t2's rows; t1's kept rows are all there.
  EXPECT_TRUE(absl::StrContains(db + wal, kept_client)) << kept_client;
  EXPECT_TRUE(absl::StrContains(db + wal, "kept-prompt-3")) << "kept-prompt-3";
  ASSERT_OK_AND_ASSIGN(EpisodeSnapshot other,
                       store->LoadEpisode("t2", "ep-other"));
  EXPECT_THAT(other.events, SizeIs(6));

  // And once t2's client is erased too, the id is nowhere in the files.
  ASSERT_OK_AND_ASSIGN(erased, store->EraseClient("t2", erased_client));
  EXPECT_EQ(erased.episodes, 1);
  EXPECT_FALSE(absl::StrContains(DbBytes(), erased_client)) << erased_client;
  EXPECT_FALSE(absl::StrContains(WalBytes(), erased_client)) << erased_client;
  EXPECT_TRUE(absl::StrContains(DbBytes() + WalBytes(), kept_client))
      << kept_client;
}

TEST_F(SqliteEraseTest, RetentionErasureLeavesTheFilesToo) {
  std::unique_ptr<SqliteStore> store = Open();
  ASSERT_NE(store, nullptr);
  CommitCourse(*store, "t1", Ref("OLD-EPISODE-5520", "clin-1", "c-1"), "old");
  const absl::Time cutoff = absl::Now();
  CommitCourse(*store, "t1", Ref("NEW-EPISODE-5521", "clin-1", "c-2"), "new");
  ASSERT_OK_AND_ASSIGN(EraseCounts erased,
                       store->EraseInactiveEpisodes(cutoff, 500));
  EXPECT_EQ(erased.episodes, 1);
  EXPECT_FALSE(absl::StrContains(DbBytes() + WalBytes(), "OLD-EPISODE-5520"))
      << "OLD-EPISODE-5520";
  EXPECT_TRUE(absl::StrContains(DbBytes() + WalBytes(), "NEW-EPISODE-5521"))
      << "NEW-EPISODE-5521";
}

// A file as a build with schema 2 (before client_key) left it: at open every
// episode gets its client_key from its first event, so the erase finds
// episodes written before the upgrade.
TEST_F(SqliteEraseTest, EpisodesFromSchemaTwoAreFoundByEraseClient) {
  {
    std::ofstream(path_).close();
    RawDb raw(path_);
    raw.Exec(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
        " name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
    raw.Exec(std::string(sqlite::Migrations()[0].sql));
    raw.Exec(std::string(sqlite::Migrations()[1].sql));
    raw.Exec(
        "INSERT INTO schema_migrations VALUES (1, 'initial schema', 0),"
        " (2, 'shadow prompts', 0)");
    const std::string assessment =
        absl::BytesToHexString(v1::Assessment().SerializeAsString());
    struct Row {
      std::string tenant, episode, client;
    };
    const std::vector<Row> rows = {{"t1", "ep-1", "anna"},
                                   {"t1", "ep-2", "anna"},
                                   {"t1", "ep-3", "ben"},
                                   {"t2", "ep-1", "anna"}};
    int n = 0;
    for (const Row& row : rows) {
      raw.Exec(absl::StrCat("INSERT INTO episodes VALUES ('", row.tenant,
                            "', '", row.episode, "', 2, X'", assessment,
                            "', 0)"));
      // Two events; the first names the client.
      for (int seq = 1; seq <= 2; ++seq) {
        const std::string event_id = absl::StrCat("ev-", ++n);
        v1::SessionEvent event =
            GoalsEvent(event_id, Ref(row.episode, "clin-1", row.client));
        raw.Exec(absl::StrCat(
            "INSERT INTO events VALUES ('", row.tenant, "', '", event_id,
            "', '", row.episode, "', ", seq, ", 0, X'00', X'",
            absl::BytesToHexString(event.SerializeAsString()), "', X'')"));
      }
      const v1::Prompt prompt =
          MakePrompt(absl::StrCat("pr-", n), Ref(row.episode),
                     v1::PROMPT_STATUS_ACTIVE, 1, BaseTime());
      raw.Exec(absl::StrCat(
          "INSERT INTO prompts (tenant, prompt_id, episode_id, clinician_id,"
          " kind, module_id, status, priority, updated_at, prompt) VALUES ('",
          row.tenant, "', 'pr-", n, "', '", row.episode,
          "', 'clin-1', 'k', 'm', 1, 1, 0, X'",
          absl::BytesToHexString(prompt.SerializeAsString()), "')"));
    }
    // An episode whose only event is unreadable keeps client_key ''.
    raw.Exec(absl::StrCat("INSERT INTO episodes VALUES ('t1', 'ep-bad', 1, X'",
                          assessment, "', 0)"));
    raw.Exec(
        "INSERT INTO events VALUES ('t1', 'ev-bad', 'ep-bad', 1, 0, X'00',"
        " X'ffffffff', X'')");
  }

  std::unique_ptr<SqliteStore> store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->settings().migrated_from_version, 2);
  {
    RawDb raw(path_);
    EXPECT_THAT(raw.Rows("SELECT tenant, episode_id, client_key FROM episodes"
                         " ORDER BY tenant, episode_id"),
                ElementsAre("t1|ep-1|anna", "t1|ep-2|anna", "t1|ep-3|ben",
                            "t1|ep-bad|", "t2|ep-1|anna"));
  }

  ASSERT_OK_AND_ASSIGN(EraseCounts erased, store->EraseClient("t1", "anna"));
  EXPECT_EQ(erased.episodes, 2);
  EXPECT_EQ(erased.events, 4);
  EXPECT_EQ(erased.prompts, 2);
  RawDb raw(path_);
  EXPECT_THAT(raw.Rows("SELECT tenant, episode_id FROM episodes"
                       " ORDER BY tenant, episode_id"),
              ElementsAre("t1|ep-3", "t1|ep-bad", "t2|ep-1"));
  EXPECT_THAT(raw.Rows("SELECT tenant, episode_id, COUNT(*) FROM events"
                       " GROUP BY tenant, episode_id"),
              ElementsAre("t1|ep-3|2", "t1|ep-bad|1", "t2|ep-1|2"));
}

// The erase and retention queries seek their indexes: an erase costs the
// client's rows, a retention batch the batch's rows, not a table scan.
TEST_F(SqliteEraseTest, EraseQueriesUseIndexes) {
  std::unique_ptr<SqliteStore> store = Open();
  ASSERT_NE(store, nullptr);
  RawDb raw(path_);
  struct Case {
    std::string sql;
    std::string index;
  };
  const std::vector<Case> cases = {
      {"SELECT episode_id FROM episodes WHERE tenant = 'a'"
       " AND client_key = 'b'",
       "episodes_by_client"},
      {"SELECT tenant, episode_id FROM episodes WHERE updated_at < 5"
       " ORDER BY updated_at, tenant, episode_id LIMIT 500",
       "episodes_by_update"},
      {"SELECT event_id, event FROM events WHERE tenant = 'a'"
       " AND episode_id = 'b' ORDER BY seq LIMIT 1",
       "events_by_episode"},
      {"DELETE FROM events WHERE tenant = 'a' AND episode_id = 'b'",
       "events_by_episode"},
      {"DELETE FROM prompts WHERE tenant = 'a' AND episode_id = 'b'",
       "prompts_by_episode"},
      {"DELETE FROM prompt_feedback WHERE tenant = 'a' AND event_id IN"
       " (SELECT event_id FROM events WHERE tenant = 'a'"
       " AND episode_id = 'b')",
       "events_by_episode"},
  };
  for (const Case& c : cases) {
    std::string plan;
    for (const std::string& row : raw.Rows("EXPLAIN QUERY PLAN " + c.sql)) {
      absl::StrAppend(&plan, row, "\n");
    }
    EXPECT_THAT(plan, HasSubstr(c.index)) << c.sql;
    EXPECT_THAT(plan, Not(HasSubstr("TEMP B-TREE"))) << c.sql;
    EXPECT_THAT(plan, Not(HasSubstr("SCAN episodes"))) << c.sql;
    EXPECT_THAT(plan, Not(HasSubstr("SCAN events"))) << c.sql;
  }
}

}  // namespace
}  // namespace attune::store
