// Pseudonymised, encrypted storage in the SQLite store (SqliteStoreOptions
// .keys): what is in the file itself, key rotation, refused keys, and
// sealing a plaintext database in place. That the store behaves the same
// sealed as plaintext is the conformance suite's job (its sqlite_sealed
// backends).
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/common/log.h"
#include "service/security/key_ring.h"
#include "service/store/common/page_token.h"
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
using ::attune::store::testing::TestKeyLine;
using ::attune::store::testing::TestKeyRing;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;

constexpr char kTenant[] = "t1";
constexpr char kClinician[] = "CLIN-SECRET-7731";
constexpr char kClient[] = "CLIENT-SECRET-4410";
// In prompt detail: free text as far as the store can tell.
constexpr char kFreeText[] = "FREE-TEXT-SECRET-9902";

std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

// The key id a sealed value names (layout: 0x01, id length, id, ...).
std::string SealedKeyId(const std::string& sealed) {
  if (sealed.size() < 2 || sealed[0] != '\x01') return "(not sealed)";
  return sealed.substr(2, static_cast<unsigned char>(sealed[1]));
}

// Everything the store returns about the data set, as text: equal texts,
// equal data.
std::string ReadAll(Store& store) {
  std::string out;
  for (const char* event_id : {"ev-1", "ev-2", "ev-3", "ev-4"}) {
    absl::StatusOr<std::optional<StoredEvent>> found =
        store.FindEvent(kTenant, event_id);
    EXPECT_TRUE(found.ok()) << found.status();
    if (!found.ok() || !found->has_value()) {
      absl::StrAppend(&out, event_id, ": missing\n");
      continue;
    }
    absl::StrAppend(&out, event_id, ": ", (*found)->fingerprint, " | ",
                    (*found)->event.ShortDebugString(), " | ",
                    (*found)->response.ShortDebugString(), "\n");
  }
  for (const char* episode_id : {"ep-1", "ep-2"}) {
    absl::StatusOr<EpisodeSnapshot> snapshot =
        store.LoadEpisode(kTenant, episode_id);
    EXPECT_TRUE(snapshot.ok()) << snapshot.status();
    if (!snapshot.ok()) continue;
    absl::StrAppend(&out, episode_id, " v", snapshot->version, ": ",
                    snapshot->assessment.ShortDebugString(), "\n");
    for (const auto& event : snapshot->events) {
      absl::StrAppend(&out, "  ", event.ShortDebugString(), "\n");
    }
    for (const auto& prompt : snapshot->prompts) {
      absl::StrAppend(&out, "  ", prompt.ShortDebugString(), "\n");
    }
  }
  for (const char* prompt_id : {"pr-1", "pr-2", "pr-3"}) {
    absl::StatusOr<std::optional<v1::Prompt>> prompt =
        store.GetPrompt(kTenant, prompt_id);
    EXPECT_TRUE(prompt.ok()) << prompt.status();
    if (prompt.ok() && prompt->has_value()) {
      absl::StrAppend(&out, prompt_id, ": ", (*prompt)->ShortDebugString(),
                      "\n");
    }
  }
  PromptQuery by_clinician;
  by_clinician.tenant = kTenant;
  by_clinician.clinician_id = kClinician;
  absl::StatusOr<PromptPage> page = store.ListPrompts(by_clinician);
  EXPECT_TRUE(page.ok()) << page.status();
  if (page.ok()) {
    for (const auto& prompt : page->prompts) {
      absl::StrAppend(&out, "by clinician: ", prompt.id(), "\n");
    }
  }
  absl::StatusOr<std::vector<HeldSession>> sessions =
      store.ListClinicianSessions(kTenant, kClinician, absl::InfinitePast(),
                                  absl::InfiniteFuture());
  EXPECT_TRUE(sessions.ok()) << sessions.status();
  if (sessions.ok()) {
    for (const HeldSession& s : *sessions) {
      absl::StrAppend(&out, "session: ", s.episode_id, " #", s.session_number,
                      " ", absl::FormatTime(s.start), "\n");
    }
  }
  absl::StatusOr<std::vector<FeedbackCount>> counts =
      store.CountFeedback(kTenant);
  EXPECT_TRUE(counts.ok()) << counts.status();
  if (counts.ok()) {
    for (const FeedbackCount& c : *counts) {
      absl::StrAppend(&out, "feedback: ", c.module_id, " ", c.outcome, " ",
                      c.count, "\n");
    }
  }
  absl::StatusOr<EventPage> scan = store.ScanEvents(kTenant, 100, "");
  EXPECT_TRUE(scan.ok()) << scan.status();
  if (scan.ok()) {
    for (const auto& event : scan->events) {
      absl::StrAppend(&out, "scan: ", event.event_id(), "\n");
    }
  }
  absl::StatusOr<std::vector<v1::Prompt>> module_prompts =
      store.ListModulePrompts(kTenant, "attune.rupture", false, 10);
  EXPECT_TRUE(module_prompts.ok()) << module_prompts.status();
  if (module_prompts.ok()) {
    for (const auto& prompt : *module_prompts) {
      absl::StrAppend(&out, "module: ", prompt.id(), "\n");
    }
  }
  return out;
}

class SealedStorageTest : public ::testing::Test {
 protected:
  absl::StatusOr<std::unique_ptr<SqliteStore>> Open(
      std::shared_ptr<const security::KeyRing> keys) {
    SqliteStoreOptions options;
    options.path = path_;
    options.keys = std::move(keys);
    return SqliteStore::Open(options);
  }

  std::unique_ptr<SqliteStore> OpenOrDie(
      std::shared_ptr<const security::KeyRing> keys) {
    absl::StatusOr<std::unique_ptr<SqliteStore>> store = Open(std::move(keys));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // Two episodes of one client with one clinician: held sessions, prompts
  // (one replaced by a later commit), feedback.
  static void CommitDataSet(Store& store) {
    const v1::EpisodeRef ref1 = Ref("ep-1", kClinician, kClient);
    const v1::EpisodeRef ref2 = Ref("ep-2", kClinician, kClient);
    v1::Prompt prompt1 =
        MakePrompt("pr-1", ref1, v1::PROMPT_STATUS_ACTIVE, 4, BaseTime());
    prompt1.set_detail(kFreeText);

    EventCommit first =
        MakeCommit(kTenant, HeldEvent("ev-1", ref1, 1, BaseTime()), 0);
    first.prompt_upserts.push_back(prompt1);
    ASSERT_OK(store.Commit(first));

    EventCommit feedback = MakeCommit(kTenant, GoalsEvent("ev-2", ref1), 1);
    feedback.event.mutable_prompt_feedback()->set_prompt_id("pr-1");
    feedback.event.mutable_prompt_feedback()->set_outcome(
        v1::PromptFeedback::OUTCOME_ACCEPTED);
    feedback.feedback =
        FeedbackRecord{"pr-1",
                       "attune.rupture",
                       "attune.rupture/check",
                       v1::PromptFeedback::OUTCOME_ACCEPTED,
                       v1::PromptFeedback::DISMISS_REASON_UNSPECIFIED,
                       BaseTime() + absl::Hours(1)};
    prompt1.set_status(v1::PROMPT_STATUS_ACKNOWLEDGED);
    feedback.prompt_upserts.push_back(prompt1);
    ASSERT_OK(store.Commit(feedback));

    EventCommit second = MakeCommit(
        kTenant, HeldEvent("ev-3", ref1, 2, BaseTime() + absl::Hours(24)), 2);
    second.prompt_upserts.push_back(MakePrompt("pr-2", ref1,
                                               v1::PROMPT_STATUS_ACTIVE, 2,
                                               BaseTime() + absl::Hours(24)));
    ASSERT_OK(store.Commit(second));

    EventCommit other = MakeCommit(kTenant, GoalsEvent("ev-4", ref2), 0);
    other.prompt_upserts.push_back(
        MakePrompt("pr-3", ref2, v1::PROMPT_STATUS_ACTIVE, 1, BaseTime()));
    ASSERT_OK(store.Commit(other));
  }

  // The `needles` found anywhere in the database file, its -wal or its
  // -shm, as bytes or as hex.
  std::vector<std::string> FoundInFiles(
      const std::vector<std::string>& needles) const {
    std::string haystack;
    for (const char* suffix : {"", "-wal", "-shm"}) {
      absl::StrAppend(&haystack, ReadFileBytes(path_ + suffix));
    }
    EXPECT_FALSE(haystack.empty());
    const std::string hex_haystack = absl::BytesToHexString(haystack);
    std::vector<std::string> found;
    for (const std::string& needle : needles) {
      if (absl::StrContains(haystack, needle) ||
          absl::StrContains(hex_haystack, absl::BytesToHexString(needle))) {
        found.push_back(needle);
      }
    }
    return found;
  }

  static std::vector<std::string> Secrets() {
    return {kClinician, kClient, kFreeText};
  }

  TempDir dir_;
  const std::string path_ = dir_.File("attune.db");
};

// ---------------------------------------------------------------------------
// What is in the file

TEST_F(SealedStorageTest, SealedFilesHoldNoIdentifierOrFreeText) {
  std::string written;
  {
    std::unique_ptr<SqliteStore> store = OpenOrDie(TestKeyRing({"k1"}));
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->settings().protection, "sealed");
    CommitDataSet(*store);
    written = ReadAll(*store);
    // Open: the commits are in the WAL (or already checkpointed).
    EXPECT_GT(std::filesystem::file_size(path_ + "-wal"), 0u);
    EXPECT_THAT(FoundInFiles(Secrets()), IsEmpty());
  }
  EXPECT_THAT(FoundInFiles(Secrets()), IsEmpty());
  // The scan is not vacuous: the data is there, readable with the key.
  EXPECT_THAT(written, HasSubstr(kClinician));
  EXPECT_THAT(written, HasSubstr(kClient));
  EXPECT_THAT(written, HasSubstr(kFreeText));
  std::unique_ptr<SqliteStore> store = OpenOrDie(TestKeyRing({"k1"}));
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(ReadAll(*store), written);
}

// The control for the scan above: the same data stored in the clear is
// found by it.
TEST_F(SealedStorageTest, PlaintextFilesHoldTheIdentifiers) {
  {
    std::unique_ptr<SqliteStore> store = OpenOrDie(nullptr);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->settings().protection, "plaintext");
    CommitDataSet(*store);
    EXPECT_THAT(FoundInFiles(Secrets()), UnorderedElementsAreArray(Secrets()));
  }
  EXPECT_THAT(FoundInFiles(Secrets()), UnorderedElementsAreArray(Secrets()));
}

TEST_F(SealedStorageTest, IdentifierColumnsHoldLookupHashesAndBlobsAreSealed) {
  std::shared_ptr<const security::KeyRing> keys = TestKeyRing({"k1"});
  {
    std::unique_ptr<SqliteStore> store = OpenOrDie(keys);
    ASSERT_NE(store, nullptr);
    CommitDataSet(*store);
  }
  RawDb raw(path_);
  const std::string clinician =
      keys->LookupHash(kTenant, "clinician", kClinician);
  EXPECT_THAT(raw.Column("SELECT DISTINCT clinician_id FROM prompts"),
              ElementsAre(clinician));
  EXPECT_THAT(raw.Column("SELECT DISTINCT clinician_id FROM held_sessions"),
              ElementsAre(clinician));
  EXPECT_THAT(raw.Column("SELECT DISTINCT client_key FROM episodes"),
              ElementsAre(keys->LookupHash(kTenant, "client", kClient)));
  for (const char* sql :
       {"SELECT assessment FROM episodes", "SELECT fingerprint FROM events",
        "SELECT event FROM events", "SELECT response FROM events",
        "SELECT prompt FROM prompts"}) {
    for (const std::string& value : raw.Column(sql)) {
      EXPECT_EQ(SealedKeyId(value), "k1") << sql;
    }
  }
  EXPECT_EQ(raw.One("SELECT mode FROM store_protection"), "sealed");
  EXPECT_EQ(raw.One("SELECT check_value FROM storage_keys WHERE key_id = 'k1'"),
            *keys->CheckValue("k1"));
}

// A sealed value is bound to its row, column and tenant: copied elsewhere
// it does not open.
TEST_F(SealedStorageTest, CiphertextMovedToAnotherRowIsDataLoss) {
  std::unique_ptr<SqliteStore> store = OpenOrDie(TestKeyRing({"k1"}));
  ASSERT_NE(store, nullptr);
  CommitDataSet(*store);
  RawDb raw(path_);
  raw.Exec(
      "UPDATE events SET event = (SELECT event FROM events"
      " WHERE event_id = 'ev-3') WHERE event_id = 'ev-1'");
  raw.Exec(
      "UPDATE prompts SET prompt = (SELECT response FROM events"
      " WHERE event_id = 'ev-4') WHERE prompt_id = 'pr-3'");
  absl::StatusOr<std::optional<StoredEvent>> event =
      store->FindEvent(kTenant, "ev-1");
  EXPECT_EQ(event.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(event.status().message()),
              StartsWith("events.event: "));
  EXPECT_THAT(std::string(event.status().message()), Not(HasSubstr("ev-")));
  absl::StatusOr<std::optional<v1::Prompt>> prompt =
      store->GetPrompt(kTenant, "pr-3");
  EXPECT_EQ(prompt.status().code(), absl::StatusCode::kDataLoss);
  // The untouched rows still open.
  EXPECT_TRUE(store->FindEvent(kTenant, "ev-2").ok());
}

// The ListPrompts page token carries a hash of the query; sealed, that hash
// is keyed, so a token cannot be matched against guessed clinician ids.
TEST_F(SealedStorageTest, PromptPageTokenHashIsKeyedWhenSealed) {
  for (bool sealed : {false, true}) {
    SCOPED_TRACE(sealed ? "sealed" : "plaintext");
    TempDir dir;
    SqliteStoreOptions options;
    options.path = dir.File("attune.db");
    if (sealed) options.keys = TestKeyRing({"k1"});
    absl::StatusOr<std::unique_ptr<SqliteStore>> store =
        SqliteStore::Open(options);
    ASSERT_OK(store);
    CommitDataSet(**store);
    PromptQuery query;
    query.tenant = kTenant;
    query.clinician_id = kClinician;
    query.page_size = 1;
    std::vector<std::string> ids;
    for (int page_number = 0; page_number < 10; ++page_number) {
      ASSERT_OK_AND_ASSIGN(PromptPage page, (*store)->ListPrompts(query));
      for (const auto& prompt : page.prompts) ids.push_back(prompt.id());
      if (page.next_page_token.empty()) break;
      std::string raw_token;
      ASSERT_TRUE(
          absl::WebSafeBase64Unescape(page.next_page_token, &raw_token));
      EXPECT_THAT(raw_token, Not(HasSubstr(kClinician)));
      ASSERT_OK_AND_ASSIGN(PromptPageToken token,
                           DecodePromptPageToken(page.next_page_token));
      EXPECT_EQ(token.filter_hash == PromptFilterHash(query), !sealed);
      query.page_token = page.next_page_token;
    }
    EXPECT_THAT(ids, UnorderedElementsAre("pr-1", "pr-2", "pr-3"));
  }
}

// ---------------------------------------------------------------------------
// Keys

TEST_F(SealedStorageTest, RotationReadsOldRowsFindsThemAndWritesUnderNewKey) {
  const v1::EpisodeRef old_ref = Ref("ep-old", kClinician, kClient);
  const v1::EpisodeRef ref = Ref("ep-1", kClinician, kClient);
  {
    std::unique_ptr<SqliteStore> store = OpenOrDie(TestKeyRing({"k1"}));
    ASSERT_NE(store, nullptr);
    EventCommit held =
        MakeCommit(kTenant, HeldEvent("ev-1", old_ref, 1, BaseTime()), 0);
    held.prompt_upserts.push_back(
        MakePrompt("pr-1", old_ref, v1::PROMPT_STATUS_ACTIVE, 3, BaseTime()));
    ASSERT_OK(store->Commit(held));
    EventCommit goals = MakeCommit(kTenant, GoalsEvent("ev-2", ref), 0);
    goals.prompt_upserts.push_back(
        MakePrompt("pr-2", ref, v1::PROMPT_STATUS_ACTIVE, 2, BaseTime()));
    ASSERT_OK(store->Commit(goals));
  }
  {
    // The new key first, the old one kept.
    std::unique_ptr<SqliteStore> store = OpenOrDie(TestKeyRing({"k2", "k1"}));
    ASSERT_NE(store, nullptr);
    ASSERT_OK_AND_ASSIGN(std::optional<StoredEvent> old_event,
                         store->FindEvent(kTenant, "ev-1"));
    ASSERT_TRUE(old_event.has_value());
    EXPECT_EQ(old_event->event.episode().clinician_id(), kClinician);
    EventCommit held = MakeCommit(
        kTenant, HeldEvent("ev-3", ref, 2, BaseTime() + absl::Hours(2)), 1);
    held.prompt_upserts.push_back(MakePrompt(
        "pr-3", ref, v1::PROMPT_STATUS_ACTIVE, 1, BaseTime() + absl::Hours(2)));
    ASSERT_OK(store->Commit(held));

    PromptQuery query;
    query.tenant = kTenant;
    query.clinician_id = kClinician;
    ASSERT_OK_AND_ASSIGN(PromptPage page, store->ListPrompts(query));
    std::vector<std::string> ids;
    for (const auto& prompt : page.prompts) ids.push_back(prompt.id());
    // Rows under both keys, still in priority order.
    EXPECT_THAT(ids, ElementsAre("pr-1", "pr-2", "pr-3"));
    ASSERT_OK_AND_ASSIGN(
        std::vector<HeldSession> sessions,
        store->ListClinicianSessions(kTenant, kClinician, absl::InfinitePast(),
                                     absl::InfiniteFuture()));
    ASSERT_THAT(sessions, SizeIs(2));
    EXPECT_EQ(sessions[0].episode_id, "ep-old");
    EXPECT_EQ(sessions[1].episode_id, "ep-1");
  }
  {
    RawDb raw(path_);
    EXPECT_EQ(SealedKeyId(
                  raw.One("SELECT event FROM events WHERE event_id = 'ev-1'")),
              "k1");
    EXPECT_EQ(SealedKeyId(
                  raw.One("SELECT event FROM events WHERE event_id = 'ev-3'")),
              "k2");
    EXPECT_EQ(SealedKeyId(raw.One(
                  "SELECT prompt FROM prompts WHERE prompt_id = 'pr-3'")),
              "k2");
    // Episode ep-1 was re-written under k2 by its second commit.
    EXPECT_EQ(SealedKeyId(raw.One("SELECT assessment FROM episodes"
                                  " WHERE episode_id = 'ep-1'")),
              "k2");
    EXPECT_THAT(raw.Column("SELECT key_id FROM storage_keys ORDER BY key_id"),
                ElementsAre("k1", "k2"));
  }
  {
    // Without the old key its rows cannot be opened, and the error names
    // the missing key.
    std::unique_ptr<SqliteStore> store = OpenOrDie(TestKeyRing({"k2"}));
    ASSERT_NE(store, nullptr);
    absl::StatusOr<std::optional<StoredEvent>> old_event =
        store->FindEvent(kTenant, "ev-1");
    EXPECT_EQ(old_event.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(old_event.status().message()), HasSubstr("'k1'"));
    EXPECT_OK(store->FindEvent(kTenant, "ev-3"));
  }
  {
    // Erasure finds episodes whose client key was written under either key.
    std::unique_ptr<SqliteStore> store = OpenOrDie(TestKeyRing({"k2", "k1"}));
    ASSERT_NE(store, nullptr);
    ASSERT_OK_AND_ASSIGN(EraseCounts erased,
                         store->EraseClient(kTenant, kClient));
    EXPECT_EQ(erased.episodes, 2);
    EXPECT_EQ(erased.events, 3);
  }
}

TEST_F(SealedStorageTest, OtherMaterialUnderAKnownKeyIdIsRefused) {
  {
    std::unique_ptr<SqliteStore> store = OpenOrDie(TestKeyRing({"k1"}));
    ASSERT_NE(store, nullptr);
    CommitDataSet(*store);
  }
  ASSERT_OK_AND_ASSIGN(
      std::shared_ptr<const security::KeyRing> new_and_wrong_old,
      security::KeyRing::FromText(
          absl::StrCat(TestKeyLine("k2"), "\n", TestKeyLine("k1", 1)),
          "test keys"));
  for (const auto& keys : {TestKeyRing({"k1"}, /*variant=*/1),
                           // A new active key, with an old one that is wrong.
                           new_and_wrong_old}) {
    absl::StatusOr<std::unique_ptr<SqliteStore>> store = Open(keys);
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
    const std::string message(store.status().message());
    EXPECT_THAT(message, HasSubstr("'k1'"));
    // Never key material, right or wrong.
    for (int variant : {0, 1}) {
      const std::string line = TestKeyLine("k1", variant);
      EXPECT_THAT(message, Not(HasSubstr(line.substr(line.find(' ') + 1))));
    }
  }
  // Refused before anything was written: the right key still works.
  std::unique_ptr<SqliteStore> store = OpenOrDie(TestKeyRing({"k1"}));
  ASSERT_NE(store, nullptr);
  RawDb raw(path_);
  EXPECT_THAT(raw.Column("SELECT key_id FROM storage_keys"), ElementsAre("k1"));
}

TEST_F(SealedStorageTest, SealedDatabaseWithoutKeysIsRefused) {
  {
    std::unique_ptr<SqliteStore> store = OpenOrDie(TestKeyRing({"k1"}));
    ASSERT_NE(store, nullptr);
    CommitDataSet(*store);
  }
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = Open(nullptr);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store.status().message(),
            absl::StrCat("sqlite store ", path_,
                         ": this database is encrypted; configure "
                         "store.key_file"));
  RawDb raw(path_);
  EXPECT_EQ(raw.One("SELECT mode FROM store_protection"), "sealed");
}

// ---------------------------------------------------------------------------
// Sealing a plaintext database in place

std::mutex g_log_mu;
std::vector<std::string>* g_log_lines = nullptr;

void CaptureLog(std::string_view line) {
  std::lock_guard<std::mutex> lock(g_log_mu);
  if (g_log_lines != nullptr) g_log_lines->emplace_back(line);
}

TEST_F(SealedStorageTest, PlaintextDatabaseIsSealedInPlaceAtOpenWithKeys) {
  // Text that only a deleted row held, deleted the way an older build did
  // (secure_delete off), from a table sealing does not re-write: its bytes
  // stay in the page's free space until VACUUM rebuilds the page.
  constexpr char kDeleted[] = "DELETED-SECRET-5521";
  std::string before;
  {
    std::unique_ptr<SqliteStore> store = OpenOrDie(nullptr);
    ASSERT_NE(store, nullptr);
    CommitDataSet(*store);
    before = ReadAll(*store);
  }
  {
    RawDb raw(path_);
    raw.Exec("PRAGMA secure_delete = OFF");
    raw.Exec(absl::StrCat(
        "INSERT INTO prompt_feedback VALUES ('t1', 'ev-1', 'pr-1', 'm', '",
        kDeleted, "', 1, 0, 0)"));
    raw.Exec("DELETE FROM prompt_feedback WHERE event_id = 'ev-1'");
  }
  ASSERT_THAT(FoundInFiles({kDeleted}), ElementsAre(kDeleted));
  ASSERT_THAT(FoundInFiles(Secrets()), UnorderedElementsAreArray(Secrets()));

  std::vector<std::string> lines;
  {
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_log_lines = &lines;
  }
  SetLogSink(&CaptureLog);
  {
    std::unique_ptr<SqliteStore> store = OpenOrDie(TestKeyRing({"k1"}));
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->settings().protection, "sealed");
    // Already while it is open: the WAL that held the sealed pages has been
    // copied back over the plaintext ones and truncated.
    EXPECT_THAT(FoundInFiles(Secrets()), IsEmpty());
    EXPECT_THAT(FoundInFiles({kDeleted}), IsEmpty());
    EXPECT_EQ(ReadAll(*store), before);
  }
  SetLogSink(nullptr);
  {
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_log_lines = nullptr;
  }
  EXPECT_THAT(FoundInFiles(Secrets()), IsEmpty());
  EXPECT_THAT(FoundInFiles({kDeleted}), IsEmpty());

  // Counts only in the log.
  bool saw_sealing = false;
  for (const std::string& line : lines) {
    for (const std::string& secret : Secrets()) {
      EXPECT_THAT(line, Not(HasSubstr(secret))) << line;
    }
    if (absl::StrContains(line, "sealed in place")) {
      saw_sealing = true;
      EXPECT_THAT(line, HasSubstr("episodes=2"));
      EXPECT_THAT(line, HasSubstr("events=4"));
      EXPECT_THAT(line, HasSubstr("prompts=3"));
      EXPECT_THAT(line, HasSubstr("held_sessions=2"));
    }
    EXPECT_THAT(line, Not(HasSubstr("WARNING"))) << line;
  }
  EXPECT_TRUE(saw_sealing);

  // Sealed for good: it reads back the same with the key, never without.
  EXPECT_EQ(Open(nullptr).status().code(),
            absl::StatusCode::kFailedPrecondition);
  std::unique_ptr<SqliteStore> store = OpenOrDie(TestKeyRing({"k1"}));
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(ReadAll(*store), before);
  ASSERT_OK_AND_ASSIGN(EraseCounts erased,
                       store->EraseClient(kTenant, kClient));
  EXPECT_EQ(erased.episodes, 2);
}

// A tool opening the file next to a running attuned must not re-write it.
TEST_F(SealedStorageTest, SealingInPlaceCanBeRefused) {
  {
    std::unique_ptr<SqliteStore> store = OpenOrDie(nullptr);
    ASSERT_NE(store, nullptr);
    CommitDataSet(*store);
  }
  SqliteStoreOptions options;
  options.path = path_;
  options.keys = TestKeyRing({"k1"});
  options.seal_plaintext = false;
  absl::StatusOr<std::unique_ptr<SqliteStore>> refused =
      SqliteStore::Open(options);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("this database is stored in plaintext"));
  // Untouched: still plaintext, still readable without keys.
  EXPECT_THAT(FoundInFiles(Secrets()), UnorderedElementsAreArray(Secrets()));
  std::unique_ptr<SqliteStore> store = OpenOrDie(nullptr);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->settings().protection, "plaintext");
}

TEST_F(SealedStorageTest, EmptyPlaintextDatabaseBecomesSealed) {
  { ASSERT_NE(OpenOrDie(nullptr), nullptr); }
  {
    std::unique_ptr<SqliteStore> store = OpenOrDie(TestKeyRing({"k1"}));
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->settings().protection, "sealed");
  }
  EXPECT_EQ(Open(nullptr).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace attune::store
