// The Store conformance suite: behaviour every backend must show, written
// against the Store interface only.
//
// Adding a backend is one more StoreBackend in the INSTANTIATE_TEST_SUITE_P
// at the bottom, whose `open` returns a fresh, empty store. `open` receives a
// fresh directory unique to the test; PostgreSQL ignores it and creates a
// database of its own on the test cluster (ctest fixture `postgres`),
// dropped with the store. Without the cluster the PostgreSQL instantiations
// fail: they never skip.
#include <algorithm>
#include <atomic>
#include <functional>
#include <latch>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/store/postgres/postgres_store.h"
#include "service/store/sqlite/sqlite_store.h"
#include "service/store/store.h"
#include "tests/unit/service/store/postgres_test_util.h"
#include "tests/unit/service/store/store_test_util.h"

namespace attune::store {
namespace {

using ::attune::store::testing::BaseTime;
using ::attune::store::testing::GoalsEvent;
using ::attune::store::testing::HeldEvent;
using ::attune::store::testing::MakeCommit;
using ::attune::store::testing::MakePrompt;
using ::attune::store::testing::ProtoEq;
using ::attune::store::testing::Ref;
using ::attune::store::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

struct StoreBackend {
  std::string name;
  std::function<absl::StatusOr<std::unique_ptr<Store>>(const std::string& dir)>
      open;
};

// Keeps test names short and readable ("…/sqlite").
void PrintTo(const StoreBackend& backend, std::ostream* os) {
  *os << backend.name;
}

class StoreConformanceTest : public ::testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Store>> opened =
        GetParam().open(dir_.path());
    ASSERT_TRUE(opened.ok()) << opened.status();
    store_ = std::move(opened).value();
  }

  Store& store() { return *store_; }

  std::vector<std::string> PromptIds(const PromptQuery& query) {
    absl::StatusOr<PromptPage> page = store().ListPrompts(query);
    EXPECT_TRUE(page.ok()) << page.status();
    std::vector<std::string> ids;
    if (!page.ok()) return ids;
    EXPECT_THAT(page->next_page_token, IsEmpty());
    for (const v1::Prompt& prompt : page->prompts) ids.push_back(prompt.id());
    return ids;
  }

  static PromptQuery ByEpisode(const std::string& tenant,
                               const std::string& episode_id,
                               std::vector<v1::PromptStatus> statuses = {},
                               int page_size = 500) {
    PromptQuery query;
    query.tenant = tenant;
    query.episode_id = episode_id;
    query.statuses = std::move(statuses);
    query.page_size = page_size;
    return query;
  }

  static PromptQuery ByClinician(const std::string& tenant,
                                 const std::string& clinician_id,
                                 std::vector<v1::PromptStatus> statuses = {},
                                 int page_size = 500) {
    PromptQuery query;
    query.tenant = tenant;
    query.clinician_id = clinician_id;
    query.statuses = std::move(statuses);
    query.page_size = page_size;
    return query;
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
};

// A prompt_feedback event carrying `record` for the store to count.
EventCommit FeedbackCommit(const std::string& tenant,
                           const std::string& event_id,
                           const v1::EpisodeRef& ref, int64_t expected_version,
                           const std::string& module_id,
                           v1::PromptFeedback::Outcome outcome) {
  v1::SessionEvent event = GoalsEvent(event_id, ref);
  v1::PromptFeedback* payload = event.mutable_prompt_feedback();
  payload->set_prompt_id("pr-1");
  payload->set_outcome(outcome);
  EventCommit commit = MakeCommit(tenant, std::move(event), expected_version);
  FeedbackRecord record;
  record.prompt_id = "pr-1";
  record.module_id = module_id;
  record.kind = module_id + "/check";
  record.outcome = outcome;
  if (outcome == v1::PromptFeedback::OUTCOME_DISMISSED) {
    record.reason = v1::PromptFeedback::DISMISS_REASON_NOT_RELEVANT;
  }
  record.occurred_at = BaseTime();
  commit.feedback = record;
  return commit;
}

std::tuple<std::string, int, int64_t> AsTuple(const FeedbackCount& count) {
  return {count.module_id, static_cast<int>(count.outcome), count.count};
}

std::vector<std::tuple<std::string, int, int64_t>> AsTuples(
    const std::vector<FeedbackCount>& counts) {
  std::vector<std::tuple<std::string, int, int64_t>> out;
  for (const FeedbackCount& count : counts) out.push_back(AsTuple(count));
  return out;
}

// ---------------------------------------------------------------------------
// Commit, find, load

TEST_P(StoreConformanceTest, CommitThenFindAndLoad) {
  const v1::EpisodeRef ref = Ref("ep-1");
  EventCommit first = MakeCommit("t1", GoalsEvent("ev-1", ref), 0);
  const v1::Prompt prompt =
      MakePrompt("pr-1", ref, v1::PROMPT_STATUS_ACTIVE, 5, BaseTime());
  first.prompt_upserts.push_back(prompt);
  *first.response.add_prompts() = prompt;
  ASSERT_OK(store().Commit(first));

  ASSERT_OK_AND_ASSIGN(std::optional<StoredEvent> found,
                       store().FindEvent("t1", "ev-1"));
  ASSERT_TRUE(found.has_value());
  EXPECT_TRUE(ProtoEq(found->event, first.event));
  EXPECT_EQ(found->fingerprint, first.fingerprint);
  EXPECT_TRUE(ProtoEq(found->response, first.response));

  ASSERT_OK_AND_ASSIGN(EpisodeSnapshot snapshot,
                       store().LoadEpisode("t1", "ep-1"));
  EXPECT_TRUE(snapshot.exists);
  EXPECT_EQ(snapshot.version, 1);
  ASSERT_THAT(snapshot.events, SizeIs(1));
  EXPECT_TRUE(ProtoEq(snapshot.events[0], first.event));
  ASSERT_THAT(snapshot.prompts, SizeIs(1));
  EXPECT_TRUE(ProtoEq(snapshot.prompts[0], prompt));
  EXPECT_TRUE(ProtoEq(snapshot.assessment, first.assessment));

  ASSERT_OK_AND_ASSIGN(std::optional<v1::Prompt> got,
                       store().GetPrompt("t1", "pr-1"));
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(ProtoEq(*got, prompt));

  EventCommit second =
      MakeCommit("t1", HeldEvent("ev-2", ref, 1, BaseTime()), 1);
  second.assessment.set_sessions_held(1);
  ASSERT_OK(store().Commit(second));
  ASSERT_OK_AND_ASSIGN(snapshot, store().LoadEpisode("t1", "ep-1"));
  EXPECT_EQ(snapshot.version, 2);
  ASSERT_THAT(snapshot.events, SizeIs(2));
  EXPECT_EQ(snapshot.events[0].event_id(), "ev-1");
  EXPECT_EQ(snapshot.events[1].event_id(), "ev-2");
  EXPECT_TRUE(ProtoEq(snapshot.assessment, second.assessment));
}

TEST_P(StoreConformanceTest, EpisodeVersionIsTheLoadedVersion) {
  // What the engine checks an episode it kept in memory against.
  ASSERT_OK_AND_ASSIGN(int64_t unknown, store().EpisodeVersion("t1", "ep-1"));
  EXPECT_EQ(unknown, 0);
  const v1::EpisodeRef ref = Ref("ep-1");
  ASSERT_OK(store().Commit(MakeCommit("t1", GoalsEvent("ev-1", ref), 0)));
  ASSERT_OK(store().Commit(
      MakeCommit("t1", HeldEvent("ev-2", ref, 1, BaseTime()), 1)));
  ASSERT_OK_AND_ASSIGN(int64_t version, store().EpisodeVersion("t1", "ep-1"));
  ASSERT_OK_AND_ASSIGN(EpisodeSnapshot snapshot,
                       store().LoadEpisode("t1", "ep-1"));
  EXPECT_EQ(version, 2);
  EXPECT_EQ(version, snapshot.version);
  // Tenant first: another tenant's episode of the same id is unknown.
  ASSERT_OK_AND_ASSIGN(int64_t other, store().EpisodeVersion("t2", "ep-1"));
  EXPECT_EQ(other, 0);
  // Erased: unknown again, so a copy kept in memory is seen to be stale.
  ASSERT_OK(store().EraseClient("t1", "client-1"));
  ASSERT_OK_AND_ASSIGN(int64_t erased, store().EpisodeVersion("t1", "ep-1"));
  EXPECT_EQ(erased, 0);
}

TEST_P(StoreConformanceTest, EventsComeBackInStorageOrder) {
  const v1::EpisodeRef ref = Ref("ep-1");
  // Ids and occurrence times deliberately disagree with commit order.
  const std::vector<std::string> ids = {"ev-z", "ev-a", "ev-m", "ev-b"};
  for (size_t i = 0; i < ids.size(); ++i) {
    v1::SessionEvent event = GoalsEvent(ids[i], ref);
    *event.mutable_occurred_at() =
        testing::ToProto(BaseTime() - absl::Hours(static_cast<int64_t>(i)));
    ASSERT_OK(store().Commit(
        MakeCommit("t1", std::move(event), static_cast<int64_t>(i))));
  }
  ASSERT_OK_AND_ASSIGN(EpisodeSnapshot snapshot,
                       store().LoadEpisode("t1", "ep-1"));
  std::vector<std::string> got;
  for (const v1::SessionEvent& event : snapshot.events) {
    got.push_back(event.event_id());
  }
  EXPECT_THAT(got, ElementsAreArray(ids));
  EXPECT_EQ(snapshot.version, 4);
}

// The metrics' mean batch size is commits over CommitBatches: commits
// waited for one by one take one write transaction each; commits queued
// together share fewer.
TEST_P(StoreConformanceTest, CommitBatchesCountWriteTransactions) {
  ASSERT_TRUE(store().CommitBatches().has_value());
  const int64_t before = *store().CommitBatches();
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK(store().Commit(
        MakeCommit("t1", GoalsEvent(absl::StrCat("ev-", i), Ref("ep-1")), i)));
  }
  EXPECT_EQ(*store().CommitBatches() - before, 3);
  std::vector<std::future<absl::Status>> queued;
  for (int e = 0; e < 20; ++e) {
    queued.push_back(store().CommitAsync(MakeCommit(
        "t1", GoalsEvent(absl::StrCat("q-", e), Ref(absl::StrCat("q-", e))),
        0)));
  }
  for (auto& f : queued) ASSERT_OK(f.get());
  const int64_t grouped = *store().CommitBatches() - before - 3;
  EXPECT_GE(grouped, 1);
  EXPECT_LE(grouped, 20);
}

TEST_P(StoreConformanceTest, UnknownIdsFindNothing) {
  ASSERT_OK_AND_ASSIGN(std::optional<StoredEvent> found,
                       store().FindEvent("t1", "ev-1"));
  EXPECT_FALSE(found.has_value());
  ASSERT_OK_AND_ASSIGN(EpisodeSnapshot snapshot,
                       store().LoadEpisode("t1", "ep-1"));
  EXPECT_FALSE(snapshot.exists);
  EXPECT_EQ(snapshot.version, 0);
  EXPECT_THAT(snapshot.events, IsEmpty());
  EXPECT_THAT(snapshot.prompts, IsEmpty());
  ASSERT_OK_AND_ASSIGN(std::optional<v1::Prompt> prompt,
                       store().GetPrompt("t1", "pr-1"));
  EXPECT_FALSE(prompt.has_value());
  EXPECT_THAT(PromptIds(ByEpisode("t1", "ep-1")), IsEmpty());
  ASSERT_OK_AND_ASSIGN(std::vector<FeedbackCount> counts,
                       store().CountFeedback("t1"));
  EXPECT_THAT(counts, IsEmpty());
  ASSERT_OK_AND_ASSIGN(
      std::vector<HeldSession> sessions,
      store().ListClinicianSessions("t1", "clin-1", absl::InfinitePast(),
                                    absl::InfiniteFuture()));
  EXPECT_THAT(sessions, IsEmpty());
}

// The idempotency data must come back exactly as stored: the engine compares
// fingerprints byte for byte and replays the response verbatim.
TEST_P(StoreConformanceTest, FindEventReturnsFingerprintAndResponseVerbatim) {
  const v1::EpisodeRef ref = Ref("ep-1");
  EventCommit commit = MakeCommit("t1", GoalsEvent("ev-1", ref), 0);
  commit.fingerprint = std::string("\x00\xff\x01\x7f binary\n", 12);
  const v1::Prompt prompt =
      MakePrompt("pr-1", ref, v1::PROMPT_STATUS_ACTIVE, 3, BaseTime());
  *commit.response.add_prompts() = prompt;
  *commit.response.add_changed() = prompt;
  commit.response.mutable_assessment()->mutable_alliance()->set_score(61.25);
  ASSERT_OK(store().Commit(commit));

  ASSERT_OK_AND_ASSIGN(std::optional<StoredEvent> found,
                       store().FindEvent("t1", "ev-1"));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->fingerprint.size(), 12u);
  EXPECT_EQ(found->fingerprint, commit.fingerprint);
  EXPECT_EQ(found->response.SerializeAsString(),
            commit.response.SerializeAsString());
  EXPECT_EQ(found->event.SerializeAsString(), commit.event.SerializeAsString());
}

TEST_P(StoreConformanceTest, EmptyMessagesAndFingerprintRoundTrip) {
  EventCommit commit = MakeCommit("t1", GoalsEvent("ev-1", Ref("ep-1")), 0);
  commit.fingerprint.clear();
  commit.response.Clear();
  commit.assessment.Clear();
  ASSERT_OK(store().Commit(commit));
  ASSERT_OK_AND_ASSIGN(std::optional<StoredEvent> found,
                       store().FindEvent("t1", "ev-1"));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->fingerprint, "");
  EXPECT_TRUE(ProtoEq(found->response, v1::SubmitEventResponse()));
  ASSERT_OK_AND_ASSIGN(EpisodeSnapshot snapshot,
                       store().LoadEpisode("t1", "ep-1"));
  EXPECT_TRUE(snapshot.exists);
  EXPECT_TRUE(ProtoEq(snapshot.assessment, v1::Assessment()));
}

// ---------------------------------------------------------------------------
// Failing commits store nothing

TEST_P(StoreConformanceTest, DuplicateEventIdIsAlreadyExistsAndStoresNothing) {
  const v1::EpisodeRef ref = Ref("ep-1");
  const EventCommit original = MakeCommit("t1", GoalsEvent("ev-1", ref), 0);
  ASSERT_OK(store().Commit(original));

  // Same id, different content, correct version, and a lot of side effects.
  EventCommit duplicate = FeedbackCommit("t1", "ev-1", ref, 1, "attune.rupture",
                                         v1::PromptFeedback::OUTCOME_ACCEPTED);
  *duplicate.event.mutable_session_held() =
      HeldEvent("x", ref, 1, BaseTime()).session_held();
  duplicate.prompt_upserts.push_back(
      MakePrompt("pr-dup", ref, v1::PROMPT_STATUS_ACTIVE, 1, BaseTime()));
  duplicate.fingerprint = "different";
  EXPECT_EQ(store().Commit(duplicate).code(), absl::StatusCode::kAlreadyExists);

  // The id is taken across episodes too.
  EXPECT_EQ(store()
                .Commit(MakeCommit("t1", GoalsEvent("ev-1", Ref("ep-2")), 0))
                .code(),
            absl::StatusCode::kAlreadyExists);

  ASSERT_OK_AND_ASSIGN(EpisodeSnapshot snapshot,
                       store().LoadEpisode("t1", "ep-1"));
  EXPECT_EQ(snapshot.version, 1);
  ASSERT_THAT(snapshot.events, SizeIs(1));
  EXPECT_TRUE(ProtoEq(snapshot.events[0], original.event));
  EXPECT_THAT(snapshot.prompts, IsEmpty());
  ASSERT_OK_AND_ASSIGN(snapshot, store().LoadEpisode("t1", "ep-2"));
  EXPECT_FALSE(snapshot.exists);

  ASSERT_OK_AND_ASSIGN(std::optional<StoredEvent> found,
                       store().FindEvent("t1", "ev-1"));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->fingerprint, original.fingerprint);
  ASSERT_OK_AND_ASSIGN(std::optional<v1::Prompt> prompt,
                       store().GetPrompt("t1", "pr-dup"));
  EXPECT_FALSE(prompt.has_value());
  ASSERT_OK_AND_ASSIGN(std::vector<FeedbackCount> counts,
                       store().CountFeedback("t1"));
  EXPECT_THAT(counts, IsEmpty());
  ASSERT_OK_AND_ASSIGN(
      std::vector<HeldSession> sessions,
      store().ListClinicianSessions("t1", "clin-1", absl::InfinitePast(),
                                    absl::InfiniteFuture()));
  EXPECT_THAT(sessions, IsEmpty());
}

TEST_P(StoreConformanceTest, VersionConflictIsAbortedAndStoresNothing) {
  const v1::EpisodeRef ref = Ref("ep-1");
  ASSERT_OK(store().Commit(MakeCommit("t1", GoalsEvent("ev-1", ref), 0)));

  // Stale: read before ev-1 was committed.
  EventCommit stale = FeedbackCommit("t1", "ev-2", ref, 0, "attune.rupture",
                                     v1::PromptFeedback::OUTCOME_ACCEPTED);
  *stale.event.mutable_session_held() =
      HeldEvent("x", ref, 1, BaseTime()).session_held();
  stale.prompt_upserts.push_back(
      MakePrompt("pr-1", ref, v1::PROMPT_STATUS_ACTIVE, 1, BaseTime()));
  EXPECT_EQ(store().Commit(stale).code(), absl::StatusCode::kAborted);
  // Ahead of the stored version.
  EXPECT_EQ(store().Commit(MakeCommit("t1", GoalsEvent("ev-3", ref), 5)).code(),
            absl::StatusCode::kAborted);
  // A version for an episode that does not exist.
  EXPECT_EQ(store()
                .Commit(MakeCommit("t1", GoalsEvent("ev-4", Ref("ep-2")), 3))
                .code(),
            absl::StatusCode::kAborted);

  ASSERT_OK_AND_ASSIGN(EpisodeSnapshot snapshot,
                       store().LoadEpisode("t1", "ep-1"));
  EXPECT_EQ(snapshot.version, 1);
  EXPECT_THAT(snapshot.events, SizeIs(1));
  EXPECT_THAT(snapshot.prompts, IsEmpty());
  ASSERT_OK_AND_ASSIGN(snapshot, store().LoadEpisode("t1", "ep-2"));
  EXPECT_FALSE(snapshot.exists);
  for (const char* id : {"ev-2", "ev-3", "ev-4"}) {
    ASSERT_OK_AND_ASSIGN(std::optional<StoredEvent> found,
                         store().FindEvent("t1", id));
    EXPECT_FALSE(found.has_value()) << id;
  }
  ASSERT_OK_AND_ASSIGN(std::optional<v1::Prompt> prompt,
                       store().GetPrompt("t1", "pr-1"));
  EXPECT_FALSE(prompt.has_value());
  ASSERT_OK_AND_ASSIGN(std::vector<FeedbackCount> counts,
                       store().CountFeedback("t1"));
  EXPECT_THAT(counts, IsEmpty());
  ASSERT_OK_AND_ASSIGN(
      std::vector<HeldSession> sessions,
      store().ListClinicianSessions("t1", "clin-1", absl::InfinitePast(),
                                    absl::InfiniteFuture()));
  EXPECT_THAT(sessions, IsEmpty());

  // The rejected event id was not consumed: a retry at the right version
  // succeeds.
  stale.expected_version = 1;
  ASSERT_OK(store().Commit(stale));
  ASSERT_OK_AND_ASSIGN(snapshot, store().LoadEpisode("t1", "ep-1"));
  EXPECT_EQ(snapshot.version, 2);
}

// ---------------------------------------------------------------------------
// Tenant isolation

TEST_P(StoreConformanceTest, TenantsNeverSeeEachOthersData) {
  // Identical ids in both tenants, different content.
  struct TenantData {
    std::string tenant;
    absl::Time start;
    int priority;
    v1::PromptFeedback::Outcome outcome;
  };
  const std::vector<TenantData> tenants = {
      {"tenant-a", BaseTime(), 1, v1::PromptFeedback::OUTCOME_ACCEPTED},
      {"tenant-b", BaseTime() + absl::Hours(3), 2,
       v1::PromptFeedback::OUTCOME_DISMISSED},
  };
  const v1::EpisodeRef ref = Ref("ep-1", "clin-1");
  for (const TenantData& t : tenants) {
    EventCommit held =
        MakeCommit(t.tenant, HeldEvent("ev-1", ref, 1, t.start), 0);
    held.prompt_upserts.push_back(
        MakePrompt("pr-1", ref, v1::PROMPT_STATUS_ACTIVE, t.priority, t.start));
    held.prompt_upserts.push_back(
        MakePrompt("pr-2", ref, v1::PROMPT_STATUS_ACTIVE, t.priority, t.start));
    held.fingerprint = t.tenant;
    ASSERT_OK(store().Commit(held));
    ASSERT_OK(store().Commit(
        FeedbackCommit(t.tenant, "ev-2", ref, 1, "attune.rupture", t.outcome)));
  }

  for (const TenantData& t : tenants) {
    SCOPED_TRACE(t.tenant);
    ASSERT_OK_AND_ASSIGN(std::optional<StoredEvent> found,
                         store().FindEvent(t.tenant, "ev-1"));
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->fingerprint, t.tenant);
    EXPECT_EQ(found->event.session_held().start().seconds(),
              absl::ToUnixSeconds(t.start));

    ASSERT_OK_AND_ASSIGN(EpisodeSnapshot snapshot,
                         store().LoadEpisode(t.tenant, "ep-1"));
    EXPECT_EQ(snapshot.version, 2);
    EXPECT_THAT(snapshot.events, SizeIs(2));
    ASSERT_THAT(snapshot.prompts, SizeIs(2));
    EXPECT_EQ(snapshot.prompts[0].priority(), t.priority);

    ASSERT_OK_AND_ASSIGN(std::optional<v1::Prompt> prompt,
                         store().GetPrompt(t.tenant, "pr-1"));
    ASSERT_TRUE(prompt.has_value());
    EXPECT_EQ(prompt->priority(), t.priority);

    for (const PromptQuery& query :
         {ByEpisode(t.tenant, "ep-1"), ByClinician(t.tenant, "clin-1")}) {
      ASSERT_OK_AND_ASSIGN(PromptPage page, store().ListPrompts(query));
      ASSERT_THAT(page.prompts, SizeIs(2));
      for (const v1::Prompt& p : page.prompts) {
        EXPECT_EQ(p.priority(), t.priority);
      }
    }

    ASSERT_OK_AND_ASSIGN(
        std::vector<HeldSession> sessions,
        store().ListClinicianSessions(t.tenant, "clin-1", absl::InfinitePast(),
                                      absl::InfiniteFuture()));
    ASSERT_THAT(sessions, SizeIs(1));
    EXPECT_EQ(sessions[0].start, t.start);

    ASSERT_OK_AND_ASSIGN(std::vector<FeedbackCount> counts,
                         store().CountFeedback(t.tenant));
    EXPECT_THAT(AsTuples(counts),
                ElementsAre(std::make_tuple(std::string("attune.rupture"),
                                            static_cast<int>(t.outcome), 1)));
  }

  // A page token of one tenant is not valid for the other.
  ASSERT_OK_AND_ASSIGN(PromptPage first_page,
                       store().ListPrompts(ByEpisode("tenant-a", "ep-1", {},
                                                     /*page_size=*/1)));
  ASSERT_FALSE(first_page.next_page_token.empty());
  PromptQuery other = ByEpisode("tenant-b", "ep-1", {}, 1);
  other.page_token = first_page.next_page_token;
  EXPECT_EQ(store().ListPrompts(other).status().code(),
            absl::StatusCode::kInvalidArgument);

  // A third tenant sees nothing at all.
  ASSERT_OK_AND_ASSIGN(std::optional<StoredEvent> none,
                       store().FindEvent("tenant-c", "ev-1"));
  EXPECT_FALSE(none.has_value());
  ASSERT_OK_AND_ASSIGN(EpisodeSnapshot empty,
                       store().LoadEpisode("tenant-c", "ep-1"));
  EXPECT_FALSE(empty.exists);
  ASSERT_OK_AND_ASSIGN(std::optional<v1::Prompt> no_prompt,
                       store().GetPrompt("tenant-c", "pr-1"));
  EXPECT_FALSE(no_prompt.has_value());
  EXPECT_THAT(PromptIds(ByEpisode("tenant-c", "ep-1")), IsEmpty());
  EXPECT_THAT(PromptIds(ByClinician("tenant-c", "clin-1")), IsEmpty());
  ASSERT_OK_AND_ASSIGN(
      std::vector<HeldSession> sessions,
      store().ListClinicianSessions("tenant-c", "clin-1", absl::InfinitePast(),
                                    absl::InfiniteFuture()));
  EXPECT_THAT(sessions, IsEmpty());
  ASSERT_OK_AND_ASSIGN(std::vector<FeedbackCount> counts,
                       store().CountFeedback("tenant-c"));
  EXPECT_THAT(counts, IsEmpty());
}

// ---------------------------------------------------------------------------
// Prompts

TEST_P(StoreConformanceTest, PromptUpsertReplacesTheRow) {
  const v1::EpisodeRef ref = Ref("ep-1", "clin-1");
  EventCommit first = MakeCommit("t1", GoalsEvent("ev-1", ref), 0);
  first.prompt_upserts.push_back(
      MakePrompt("pr-1", ref, v1::PROMPT_STATUS_ACTIVE, 5, BaseTime()));
  ASSERT_OK(store().Commit(first));

  EventCommit second = MakeCommit("t1", GoalsEvent("ev-2", ref), 1);
  const v1::Prompt dismissed = MakePrompt(
      "pr-1", ref, v1::PROMPT_STATUS_DISMISSED, 3, BaseTime() + absl::Hours(1));
  second.prompt_upserts.push_back(dismissed);
  ASSERT_OK(store().Commit(second));

  ASSERT_OK_AND_ASSIGN(std::optional<v1::Prompt> got,
                       store().GetPrompt("t1", "pr-1"));
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(ProtoEq(*got, dismissed));
  ASSERT_OK_AND_ASSIGN(EpisodeSnapshot snapshot,
                       store().LoadEpisode("t1", "ep-1"));
  ASSERT_THAT(snapshot.prompts, SizeIs(1));
  EXPECT_EQ(snapshot.prompts[0].status(), v1::PROMPT_STATUS_DISMISSED);
  EXPECT_THAT(PromptIds(ByEpisode("t1", "ep-1", {v1::PROMPT_STATUS_ACTIVE})),
              IsEmpty());
  EXPECT_THAT(PromptIds(ByEpisode("t1", "ep-1", {v1::PROMPT_STATUS_DISMISSED})),
              ElementsAre("pr-1"));

  // The episode moved to another clinician: the prompt follows its row.
  const v1::EpisodeRef transferred = Ref("ep-1", "clin-2");
  EventCommit third = MakeCommit("t1", GoalsEvent("ev-3", transferred), 2);
  third.prompt_upserts.push_back(MakePrompt("pr-1", transferred,
                                            v1::PROMPT_STATUS_ACTIVE, 3,
                                            BaseTime() + absl::Hours(2)));
  ASSERT_OK(store().Commit(third));
  EXPECT_THAT(PromptIds(ByClinician("t1", "clin-1")), IsEmpty());
  EXPECT_THAT(PromptIds(ByClinician("t1", "clin-2")), ElementsAre("pr-1"));
  ASSERT_OK_AND_ASSIGN(snapshot, store().LoadEpisode("t1", "ep-1"));
  EXPECT_THAT(snapshot.prompts, SizeIs(1));
}

TEST_P(StoreConformanceTest, ListPromptsOrdersByPriorityThenRecencyThenId) {
  const v1::EpisodeRef ref = Ref("ep-1");
  const absl::Time t = BaseTime();
  EventCommit commit = MakeCommit("t1", GoalsEvent("ev-1", ref), 0);
  // Inserted in scrambled order.
  commit.prompt_upserts = {
      MakePrompt("pr-d", ref, v1::PROMPT_STATUS_ACTIVE, 5,
                 t + absl::Seconds(10)),
      MakePrompt("pr-a", ref, v1::PROMPT_STATUS_ACTIVE, 1, t),
      MakePrompt("pr-e", ref, v1::PROMPT_STATUS_ACTIVE, 0, t + absl::Hours(9)),
      MakePrompt("pr-b", ref, v1::PROMPT_STATUS_ACTIVE, 5, t),
      MakePrompt("pr-c", ref, v1::PROMPT_STATUS_ACTIVE, 5,
                 t + absl::Seconds(10)),
      // One nanosecond later than pr-c and pr-d.
      MakePrompt("pr-f", ref, v1::PROMPT_STATUS_ACTIVE, 5,
                 t + absl::Seconds(10) + absl::Nanoseconds(1)),
      MakePrompt("pr-g", ref, v1::PROMPT_STATUS_ACTIVE, -2, t),
  };
  ASSERT_OK(store().Commit(commit));
  const std::vector<std::string> expected = {"pr-f", "pr-c", "pr-d", "pr-b",
                                             "pr-a", "pr-e", "pr-g"};
  EXPECT_THAT(PromptIds(ByEpisode("t1", "ep-1")), ElementsAreArray(expected));
  EXPECT_THAT(PromptIds(ByClinician("t1", "clin-1")),
              ElementsAreArray(expected));
}

TEST_P(StoreConformanceTest, ListPromptsFiltersByStatus) {
  const v1::EpisodeRef ref = Ref("ep-1");
  EventCommit commit = MakeCommit("t1", GoalsEvent("ev-1", ref), 0);
  commit.prompt_upserts = {
      MakePrompt("pr-active", ref, v1::PROMPT_STATUS_ACTIVE, 5, BaseTime()),
      MakePrompt("pr-ack", ref, v1::PROMPT_STATUS_ACKNOWLEDGED, 4, BaseTime()),
      MakePrompt("pr-dismissed", ref, v1::PROMPT_STATUS_DISMISSED, 3,
                 BaseTime()),
      MakePrompt("pr-resolved", ref, v1::PROMPT_STATUS_RESOLVED, 2, BaseTime()),
      MakePrompt("pr-queued", ref, v1::PROMPT_STATUS_QUEUED, 1, BaseTime()),
  };
  ASSERT_OK(store().Commit(commit));

  EXPECT_THAT(PromptIds(ByEpisode(
                  "t1", "ep-1",
                  {v1::PROMPT_STATUS_ACKNOWLEDGED, v1::PROMPT_STATUS_ACTIVE})),
              ElementsAre("pr-active", "pr-ack"));
  EXPECT_THAT(PromptIds(ByEpisode("t1", "ep-1")),
              ElementsAre("pr-active", "pr-ack", "pr-dismissed", "pr-resolved",
                          "pr-queued"));
  EXPECT_THAT(
      PromptIds(ByEpisode(
          "t1", "ep-1", {v1::PROMPT_STATUS_QUEUED, v1::PROMPT_STATUS_QUEUED})),
      ElementsAre("pr-queued"));
  EXPECT_THAT(PromptIds(ByEpisode("t1", "ep-1", {v1::PROMPT_STATUS_EXPIRED})),
              IsEmpty());
  EXPECT_THAT(PromptIds(ByClinician(
                  "t1", "clin-1",
                  {v1::PROMPT_STATUS_DISMISSED, v1::PROMPT_STATUS_RESOLVED})),
              ElementsAre("pr-dismissed", "pr-resolved"));
}

TEST_P(StoreConformanceTest, ListPromptsByClinicianSpansEpisodes) {
  int64_t n = 0;
  for (const auto& [episode, clinician, priority] :
       std::vector<std::tuple<std::string, std::string, int>>{
           {"ep-1", "clin-1", 1},
           {"ep-2", "clin-1", 2},
           {"ep-3", "clin-2", 3}}) {
    const v1::EpisodeRef ref = Ref(episode, clinician);
    EventCommit commit =
        MakeCommit("t1", GoalsEvent(absl::StrCat("ev-", ++n), ref), 0);
    commit.prompt_upserts.push_back(MakePrompt(absl::StrCat("pr-", episode),
                                               ref, v1::PROMPT_STATUS_ACTIVE,
                                               priority, BaseTime()));
    ASSERT_OK(store().Commit(commit));
  }
  EXPECT_THAT(PromptIds(ByClinician("t1", "clin-1")),
              ElementsAre("pr-ep-2", "pr-ep-1"));
  EXPECT_THAT(PromptIds(ByClinician("t1", "clin-2")), ElementsAre("pr-ep-3"));
  EXPECT_THAT(PromptIds(ByEpisode("t1", "ep-1")), ElementsAre("pr-ep-1"));
}

TEST_P(StoreConformanceTest, ListPromptsPagesThroughEverything) {
  const v1::EpisodeRef ref = Ref("ep-1");
  EventCommit commit = MakeCommit("t1", GoalsEvent("ev-1", ref), 0);
  for (int i = 0; i < 23; ++i) {
    commit.prompt_upserts.push_back(MakePrompt(
        absl::StrFormat("pr-%02d", i), ref,
        i % 5 == 0 ? v1::PROMPT_STATUS_RESOLVED : v1::PROMPT_STATUS_ACTIVE,
        i % 4, BaseTime() + absl::Seconds(i % 3)));
  }
  ASSERT_OK(store().Commit(commit));
  const std::vector<std::string> all = PromptIds(ByEpisode("t1", "ep-1"));
  ASSERT_THAT(all, SizeIs(23));

  for (int page_size : {1, 5, 22, 23, 100}) {
    SCOPED_TRACE(absl::StrCat("page_size ", page_size));
    std::vector<std::string> paged;
    PromptQuery query = ByEpisode("t1", "ep-1", {}, page_size);
    int pages = 0;
    do {
      ASSERT_OK_AND_ASSIGN(PromptPage page, store().ListPrompts(query));
      ++pages;
      EXPECT_LE(static_cast<int>(page.prompts.size()), page_size);
      EXPECT_FALSE(page.prompts.empty());
      for (const v1::Prompt& p : page.prompts) paged.push_back(p.id());
      query.page_token = page.next_page_token;
      ASSERT_LE(pages, 30);
    } while (!query.page_token.empty());
    EXPECT_EQ(pages, (23 + page_size - 1) / page_size);
    EXPECT_THAT(paged, ElementsAreArray(all));
  }

  // Paging with a status filter.
  const std::vector<std::string> active =
      PromptIds(ByEpisode("t1", "ep-1", {v1::PROMPT_STATUS_ACTIVE}));
  ASSERT_THAT(active, SizeIs(18));
  std::vector<std::string> paged;
  PromptQuery query = ByEpisode("t1", "ep-1", {v1::PROMPT_STATUS_ACTIVE}, 7);
  do {
    ASSERT_OK_AND_ASSIGN(PromptPage page, store().ListPrompts(query));
    for (const v1::Prompt& p : page.prompts) paged.push_back(p.id());
    query.page_token = page.next_page_token;
  } while (!query.page_token.empty());
  EXPECT_THAT(paged, ElementsAreArray(active));
}

// Keyset paging: prompts added ahead of the cursor do not shift later pages.
TEST_P(StoreConformanceTest, ListPromptsPagingIsStableWhileAdding) {
  const v1::EpisodeRef ref = Ref("ep-1");
  EventCommit commit = MakeCommit("t1", GoalsEvent("ev-1", ref), 0);
  for (int i = 0; i < 10; ++i) {
    commit.prompt_upserts.push_back(MakePrompt(absl::StrFormat("pr-%02d", i),
                                               ref, v1::PROMPT_STATUS_ACTIVE,
                                               10 - i, BaseTime()));
  }
  ASSERT_OK(store().Commit(commit));

  PromptQuery query = ByEpisode("t1", "ep-1", {}, 4);
  ASSERT_OK_AND_ASSIGN(PromptPage first, store().ListPrompts(query));
  ASSERT_THAT(first.prompts, SizeIs(4));
  EventCommit more = MakeCommit("t1", GoalsEvent("ev-2", ref), 1);
  more.prompt_upserts.push_back(
      MakePrompt("pr-new", ref, v1::PROMPT_STATUS_ACTIVE, 100, BaseTime()));
  ASSERT_OK(store().Commit(more));

  query.page_token = first.next_page_token;
  ASSERT_OK_AND_ASSIGN(PromptPage second, store().ListPrompts(query));
  ASSERT_THAT(second.prompts, SizeIs(4));
  EXPECT_EQ(second.prompts[0].id(), "pr-04");
  EXPECT_EQ(second.prompts[3].id(), "pr-07");
}

TEST_P(StoreConformanceTest, ListPromptsRejectsBadPageToken) {
  const v1::EpisodeRef ref = Ref("ep-1");
  EventCommit commit = MakeCommit("t1", GoalsEvent("ev-1", ref), 0);
  for (int i = 0; i < 3; ++i) {
    commit.prompt_upserts.push_back(MakePrompt(
        absl::StrCat("pr-", i), ref, v1::PROMPT_STATUS_ACTIVE, i, BaseTime()));
  }
  ASSERT_OK(store().Commit(commit));
  ASSERT_OK_AND_ASSIGN(PromptPage page,
                       store().ListPrompts(ByEpisode("t1", "ep-1", {}, 1)));
  ASSERT_FALSE(page.next_page_token.empty());

  std::vector<PromptQuery> bad;
  for (const char* token : {"not a token!", "aGVsbG8", "%%%", "AAAA"}) {
    PromptQuery query = ByEpisode("t1", "ep-1", {}, 1);
    query.page_token = token;
    bad.push_back(query);
  }
  // A real token used with a different query.
  PromptQuery other_episode = ByEpisode("t1", "ep-2", {}, 1);
  other_episode.page_token = page.next_page_token;
  bad.push_back(other_episode);
  PromptQuery other_statuses =
      ByEpisode("t1", "ep-1", {v1::PROMPT_STATUS_ACTIVE}, 1);
  other_statuses.page_token = page.next_page_token;
  bad.push_back(other_statuses);
  PromptQuery by_clinician = ByClinician("t1", "clin-1", {}, 1);
  by_clinician.page_token = page.next_page_token;
  bad.push_back(by_clinician);

  for (const PromptQuery& query : bad) {
    SCOPED_TRACE(query.page_token);
    absl::StatusOr<PromptPage> result = store().ListPrompts(query);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(result.status().message()),
                StartsWith("page_token: "));
  }

  // The token still works with its own query, with another page size too.
  PromptQuery same = ByEpisode("t1", "ep-1", {}, 2);
  same.page_token = page.next_page_token;
  ASSERT_OK_AND_ASSIGN(PromptPage rest, store().ListPrompts(same));
  EXPECT_THAT(rest.prompts, SizeIs(2));
  EXPECT_TRUE(rest.next_page_token.empty());
}

TEST_P(StoreConformanceTest, ListPromptsRejectsBadQuery) {
  PromptQuery neither;
  neither.tenant = "t1";
  EXPECT_EQ(store().ListPrompts(neither).status().code(),
            absl::StatusCode::kInvalidArgument);
  PromptQuery both = ByEpisode("t1", "ep-1");
  both.clinician_id = "clin-1";
  EXPECT_EQ(store().ListPrompts(both).status().code(),
            absl::StatusCode::kInvalidArgument);
  for (int page_size : {0, -1, 501}) {
    absl::StatusOr<PromptPage> result =
        store().ListPrompts(ByEpisode("t1", "ep-1", {}, page_size));
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument)
        << page_size;
    EXPECT_THAT(std::string(result.status().message()),
                StartsWith("page_size: "));
  }
  EXPECT_OK(store().ListPrompts(ByEpisode("t1", "ep-1", {}, 500)));
  EXPECT_OK(store().ListPrompts(ByEpisode("t1", "ep-1", {}, 1)));
}

// ---------------------------------------------------------------------------
// Shadow prompts (RulesConfig.modules shadow mode)

// A prompt of a module in shadow mode, raised at `session`.
v1::Prompt ShadowPrompt(const std::string& id, const v1::EpisodeRef& ref,
                        int priority, int session = 1,
                        const std::string& module_id = "acme.rupture_v2") {
  v1::Prompt prompt = MakePrompt(id, ref, v1::PROMPT_STATUS_ACTIVE, priority,
                                 BaseTime(), module_id);
  prompt.set_shadow(true);
  prompt.set_raised_at_session(session);
  return prompt;
}

TEST_P(StoreConformanceTest, ShadowPromptsAreNeverListed) {
  const v1::EpisodeRef ep1 = Ref("ep-1", "clin-1");
  const v1::EpisodeRef ep2 = Ref("ep-2", "clin-1");
  EventCommit first = MakeCommit("t1", GoalsEvent("ev-1", ep1), 0);
  // Shadow prompts rank above the live ones in every sort key, so a filter
  // applied after a LIMIT would lose live prompts.
  first.prompt_upserts = {
      MakePrompt("pr-live-1", ep1, v1::PROMPT_STATUS_ACTIVE, 2, BaseTime()),
      MakePrompt("pr-live-2", ep1, v1::PROMPT_STATUS_ACTIVE, 1, BaseTime()),
      ShadowPrompt("pr-shadow-1", ep1, 9),
      ShadowPrompt("pr-shadow-2", ep1, 8),
  };
  ASSERT_OK(store().Commit(first));
  EventCommit second = MakeCommit("t1", GoalsEvent("ev-2", ep2), 0);
  second.prompt_upserts = {ShadowPrompt("pr-shadow-3", ep2, 9)};
  ASSERT_OK(store().Commit(second));

  EXPECT_THAT(PromptIds(ByEpisode("t1", "ep-1")),
              ElementsAre("pr-live-1", "pr-live-2"));
  EXPECT_THAT(PromptIds(ByEpisode("t1", "ep-1", {v1::PROMPT_STATUS_ACTIVE})),
              ElementsAre("pr-live-1", "pr-live-2"));
  EXPECT_THAT(PromptIds(ByClinician("t1", "clin-1")),
              ElementsAre("pr-live-1", "pr-live-2"));
  // An episode with only shadow prompts lists nothing.
  EXPECT_THAT(PromptIds(ByEpisode("t1", "ep-2")), IsEmpty());

  // Paging neither shows them nor ends early because of them.
  for (PromptQuery query :
       {ByEpisode("t1", "ep-1", {}, 1), ByClinician("t1", "clin-1", {}, 1)}) {
    std::vector<std::string> paged;
    int pages = 0;
    do {
      ASSERT_OK_AND_ASSIGN(PromptPage page, store().ListPrompts(query));
      ASSERT_THAT(page.prompts, SizeIs(1));
      paged.push_back(page.prompts[0].id());
      query.page_token = page.next_page_token;
      ASSERT_LE(++pages, 5);
    } while (!query.page_token.empty());
    EXPECT_THAT(paged, ElementsAre("pr-live-1", "pr-live-2"));
  }

  // Read by id and with the episode, they are all there, flag intact.
  ASSERT_OK_AND_ASSIGN(std::optional<v1::Prompt> got,
                       store().GetPrompt("t1", "pr-shadow-1"));
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->shadow());
  ASSERT_OK_AND_ASSIGN(EpisodeSnapshot snapshot,
                       store().LoadEpisode("t1", "ep-1"));
  std::vector<std::pair<std::string, bool>> loaded;
  for (const v1::Prompt& p : snapshot.prompts) {
    loaded.emplace_back(p.id(), p.shadow());
  }
  EXPECT_THAT(loaded, UnorderedElementsAre(std::pair("pr-live-1", false),
                                           std::pair("pr-live-2", false),
                                           std::pair("pr-shadow-1", true),
                                           std::pair("pr-shadow-2", true)));
}

TEST_P(StoreConformanceTest, ListModulePromptsFiltersByModuleAndShadow) {
  struct Seed {
    std::string episode_id;
    std::string prompt_id;
    std::string module_id;
    bool shadow;
    int session;
  };
  // Episodes, sessions and ids deliberately out of order.
  const std::vector<Seed> seeds = {
      {"ep-b", "pr-1", "acme.v2", true, 3},
      {"ep-a", "pr-2", "acme.v2", true, 5},
      {"ep-b", "pr-3", "acme.v2", true, 1},
      {"ep-a", "pr-4", "acme.v2", true, 5},
      {"ep-a", "pr-0", "acme.v2", true, 2},
      {"ep-c", "pr-5", "acme.v2", false, 1},
      {"ep-a", "pr-6", "acme.v1", false, 4},
      {"ep-c", "pr-7", "acme.v1", false, 2},
      {"ep-a", "pr-8", "acme.v1", true, 1},
  };
  std::map<std::string, int64_t> versions;
  int n = 0;
  for (const Seed& seed : seeds) {
    const v1::EpisodeRef ref = Ref(seed.episode_id);
    EventCommit commit =
        MakeCommit("t1", GoalsEvent(absl::StrCat("ev-", ++n), ref),
                   versions[seed.episode_id]++);
    v1::Prompt prompt =
        MakePrompt(seed.prompt_id, ref, v1::PROMPT_STATUS_ACTIVE, 1, BaseTime(),
                   seed.module_id);
    prompt.set_shadow(seed.shadow);
    prompt.set_raised_at_session(seed.session);
    commit.prompt_upserts.push_back(prompt);
    ASSERT_OK(store().Commit(commit));
  }
  // Another tenant's prompt of the same module is never included.
  EventCommit other = MakeCommit("t2", GoalsEvent("ev-x", Ref("ep-a")), 0);
  other.prompt_upserts.push_back(
      ShadowPrompt("pr-x", Ref("ep-a"), 1, 1, "acme.v2"));
  ASSERT_OK(store().Commit(other));

  auto ids = [&](const std::string& module_id, bool shadow, int limit) {
    absl::StatusOr<std::vector<v1::Prompt>> prompts =
        store().ListModulePrompts("t1", module_id, shadow, limit);
    EXPECT_TRUE(prompts.ok()) << prompts.status();
    std::vector<std::string> out;
    if (!prompts.ok()) return out;
    for (const v1::Prompt& p : *prompts) {
      EXPECT_EQ(p.module_id(), module_id);
      EXPECT_EQ(p.shadow(), shadow);
      out.push_back(p.id());
    }
    return out;
  };
  // By episode, then session, then id.
  EXPECT_THAT(ids("acme.v2", true, 100),
              ElementsAre("pr-0", "pr-2", "pr-4", "pr-3", "pr-1"));
  EXPECT_THAT(ids("acme.v2", false, 100), ElementsAre("pr-5"));
  EXPECT_THAT(ids("acme.v1", false, 100), ElementsAre("pr-6", "pr-7"));
  EXPECT_THAT(ids("acme.v1", true, 100), ElementsAre("pr-8"));
  EXPECT_THAT(ids("acme.none", true, 100), IsEmpty());
  // The limit keeps the first prompts in that order, also mid-episode.
  EXPECT_THAT(ids("acme.v2", true, 2), ElementsAre("pr-0", "pr-2"));
  EXPECT_THAT(ids("acme.v2", true, 4),
              ElementsAre("pr-0", "pr-2", "pr-4", "pr-3"));
  EXPECT_THAT(ids("acme.v2", true, 1), ElementsAre("pr-0"));

  for (int limit : {0, -1}) {
    absl::StatusOr<std::vector<v1::Prompt>> bad =
        store().ListModulePrompts("t1", "acme.v2", true, limit);
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(bad.status().message()), StartsWith("limit: "));
  }
  absl::StatusOr<std::vector<v1::Prompt>> no_module =
      store().ListModulePrompts("t1", "", true, 10);
  EXPECT_EQ(no_module.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(no_module.status().message()),
              StartsWith("module_id: "));
}

// ---------------------------------------------------------------------------
// ScanEvents

// Every event ScanEvents returns for `tenant`, following the tokens.
std::vector<std::string> ScanAll(Store& store, const std::string& tenant,
                                 int page_size) {
  std::vector<std::string> ids;
  std::string token;
  int pages = 0;
  do {
    absl::StatusOr<EventPage> page = store.ScanEvents(tenant, page_size, token);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) break;
    EXPECT_LE(static_cast<int>(page->events.size()), page_size);
    // A page is never empty unless the whole scan is.
    if (!page->next_page_token.empty() || pages > 0) {
      EXPECT_FALSE(page->events.empty());
    }
    for (const v1::SessionEvent& e : page->events) ids.push_back(e.event_id());
    token = page->next_page_token;
    if (++pages > 1000) {
      ADD_FAILURE() << "scan does not end";
      break;
    }
  } while (!token.empty());
  return ids;
}

TEST_P(StoreConformanceTest, ScanEventsReturnsEveryEventOnceInOrder) {
  EXPECT_THAT(ScanAll(store(), "t1", 10), IsEmpty());
  // Commits interleave episodes; ids disagree with both orders.
  const std::vector<std::pair<std::string, std::string>> commits = {
      {"ep-c", "ev-09"},   {"ep-a", "ev-08"}, {"ep-c", "ev-07"},
      {"ep-b", "ev-06"},   {"ep-a", "ev-05"}, {"ep-c", "ev-04"},
      {"ep-a|x", "ev-03"}, {"ep-a", "ev-02"}, {"ep-b", "ev-01"},
  };
  std::map<std::string, int64_t> versions;
  for (const auto& [episode, event_id] : commits) {
    ASSERT_OK(store().Commit(MakeCommit(
        "t1", GoalsEvent(event_id, Ref(episode)), versions[episode]++)));
  }
  ASSERT_OK(
      store().Commit(MakeCommit("t2", GoalsEvent("ev-t2", Ref("ep-a")), 0)));
  const std::vector<std::string> expected = {
      "ev-08", "ev-05", "ev-02",  // ep-a
      "ev-03",                    // ep-a|x
      "ev-06", "ev-01",           // ep-b
      "ev-09", "ev-07", "ev-04",  // ep-c
  };
  for (int page_size : {1, 2, 3, 8, 9, 10, 10000}) {
    SCOPED_TRACE(absl::StrCat("page_size ", page_size));
    EXPECT_THAT(ScanAll(store(), "t1", page_size), ElementsAreArray(expected));
  }
  EXPECT_THAT(ScanAll(store(), "t2", 5), ElementsAre("ev-t2"));
  EXPECT_THAT(ScanAll(store(), "t3", 5), IsEmpty());

  // Whole events, as stored.
  ASSERT_OK_AND_ASSIGN(EventPage page, store().ScanEvents("t1", 1, ""));
  ASSERT_THAT(page.events, SizeIs(1));
  EXPECT_TRUE(ProtoEq(page.events[0], GoalsEvent("ev-08", Ref("ep-a"))));
}

TEST_P(StoreConformanceTest, ScanEventsPagingIsStableWhileEventsArrive) {
  std::map<std::string, int64_t> versions;
  auto add = [&](const std::string& episode, const std::string& event_id) {
    return store().Commit(MakeCommit("t1", GoalsEvent(event_id, Ref(episode)),
                                     versions[episode]++));
  };
  for (const auto& [episode, event_id] :
       std::vector<std::pair<std::string, std::string>>{{"ep-b", "b1"},
                                                        {"ep-b", "b2"},
                                                        {"ep-c", "c1"},
                                                        {"ep-c", "c2"},
                                                        {"ep-e", "e1"}}) {
    ASSERT_OK(add(episode, event_id));
  }

  std::vector<std::string> scanned;
  ASSERT_OK_AND_ASSIGN(EventPage page, store().ScanEvents("t1", 3, ""));
  for (const v1::SessionEvent& e : page.events) scanned.push_back(e.event_id());
  ASSERT_THAT(scanned, ElementsAre("b1", "b2", "c1"));
  ASSERT_FALSE(page.next_page_token.empty());

  // Meanwhile: an episode before the cursor gets an event, one sorting
  // before everything appears, the cursor's own episode grows, and so do
  // episodes after it (an existing one and a new one).
  ASSERT_OK(add("ep-b", "b3"));
  ASSERT_OK(add("ep-a", "a1"));
  ASSERT_OK(add("ep-c", "c3"));
  ASSERT_OK(add("ep-e", "e2"));
  ASSERT_OK(add("ep-d", "d1"));

  std::string token = page.next_page_token;
  int pages = 0;
  while (!token.empty()) {
    ASSERT_OK_AND_ASSIGN(page, store().ScanEvents("t1", 3, token));
    for (const v1::SessionEvent& e : page.events) {
      scanned.push_back(e.event_id());
    }
    token = page.next_page_token;
    ASSERT_LE(++pages, 10);
  }
  // Everything stored before the scan exactly once and in order; of the
  // newcomers, exactly those after the position already reached.
  EXPECT_THAT(scanned,
              ElementsAre("b1", "b2", "c1", "c2", "c3", "d1", "e1", "e2"));
}

TEST_P(StoreConformanceTest, ScanEventsRejectsBadPageSizeAndToken) {
  for (int n = 0; n < 3; ++n) {
    ASSERT_OK(store().Commit(
        MakeCommit("t1", GoalsEvent(absl::StrCat("ev-", n), Ref("ep-1")), n)));
  }
  for (int page_size : {0, -1, 10001}) {
    absl::StatusOr<EventPage> result = store().ScanEvents("t1", page_size, "");
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument)
        << page_size;
    EXPECT_THAT(std::string(result.status().message()),
                StartsWith("page_size: "));
  }

  ASSERT_OK_AND_ASSIGN(EventPage first, store().ScanEvents("t1", 1, ""));
  ASSERT_FALSE(first.next_page_token.empty());
  // A ListPrompts token is not a ScanEvents token.
  EventCommit with_prompts =
      MakeCommit("t1", GoalsEvent("ev-p", Ref("ep-2")), 0);
  for (int i = 0; i < 2; ++i) {
    with_prompts.prompt_upserts.push_back(
        MakePrompt(absl::StrCat("pr-", i), Ref("ep-2"),
                   v1::PROMPT_STATUS_ACTIVE, i, BaseTime()));
  }
  ASSERT_OK(store().Commit(with_prompts));
  ASSERT_OK_AND_ASSIGN(PromptPage prompt_page,
                       store().ListPrompts(ByEpisode("t1", "ep-2", {}, 1)));
  ASSERT_FALSE(prompt_page.next_page_token.empty());

  std::vector<std::pair<std::string, std::string>> bad = {
      {"t1", "not a token!"},
      {"t1", "%%%"},
      {"t1", "aGVsbG8"},
      {"t1", prompt_page.next_page_token},
      // A real token, for another tenant.
      {"t2", first.next_page_token},
  };
  for (const auto& [tenant, token] : bad) {
    SCOPED_TRACE(token);
    absl::StatusOr<EventPage> result = store().ScanEvents(tenant, 10, token);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(result.status().message()),
                StartsWith("page_token: "));
  }
  // The token still works for its own tenant, with another page size too.
  ASSERT_OK_AND_ASSIGN(EventPage rest,
                       store().ScanEvents("t1", 10, first.next_page_token));
  EXPECT_THAT(rest.events, SizeIs(3));
  EXPECT_TRUE(rest.next_page_token.empty());
}

// ---------------------------------------------------------------------------
// Clinician sessions and feedback

TEST_P(StoreConformanceTest, ClinicianSessionsAreDerivedFromSessionHeld) {
  const absl::Time t = BaseTime();
  const v1::EpisodeRef ep1 = Ref("ep-1", "clin-1");
  const v1::EpisodeRef ep2 = Ref("ep-2", "clin-1");
  const v1::EpisodeRef ep3 = Ref("ep-3", "clin-2");
  ASSERT_OK(store().Commit(MakeCommit("t1", HeldEvent("ev-1", ep1, 1, t), 0)));
  ASSERT_OK(store().Commit(
      MakeCommit("t1", HeldEvent("ev-2", ep1, 2, t + absl::Hours(24 * 7)), 1)));
  ASSERT_OK(store().Commit(
      MakeCommit("t1", HeldEvent("ev-3", ep2, 1, t + absl::Hours(2)), 0)));
  ASSERT_OK(store().Commit(
      MakeCommit("t1", HeldEvent("ev-4", ep3, 1, t + absl::Hours(1)), 0)));
  // Not a held session.
  ASSERT_OK(store().Commit(MakeCommit("t1", GoalsEvent("ev-5", ep1), 2)));

  ASSERT_OK_AND_ASSIGN(
      std::vector<HeldSession> day,
      store().ListClinicianSessions("t1", "clin-1", t, t + absl::Hours(24)));
  ASSERT_THAT(day, SizeIs(2));
  EXPECT_EQ(day[0].episode_id, "ep-1");
  EXPECT_EQ(day[0].session_number, 1);
  EXPECT_EQ(day[0].start, t);
  EXPECT_EQ(day[0].end, t + absl::Minutes(50));
  EXPECT_EQ(day[1].episode_id, "ep-2");
  EXPECT_EQ(day[1].start, t + absl::Hours(2));

  // [from, to): a session starting at `to` is outside.
  ASSERT_OK_AND_ASSIGN(
      std::vector<HeldSession> window,
      store().ListClinicianSessions("t1", "clin-1", t + absl::Hours(2),
                                    t + absl::Hours(24 * 7)));
  ASSERT_THAT(window, SizeIs(1));
  EXPECT_EQ(window[0].episode_id, "ep-2");

  ASSERT_OK_AND_ASSIGN(
      std::vector<HeldSession> other,
      store().ListClinicianSessions("t1", "clin-2", absl::InfinitePast(),
                                    absl::InfiniteFuture()));
  ASSERT_THAT(other, SizeIs(1));
  EXPECT_EQ(other[0].episode_id, "ep-3");

  // A corrected session_held replaces the session rather than adding one.
  ASSERT_OK(store().Commit(MakeCommit(
      "t1", HeldEvent("ev-6", ep1, 1, t + absl::Minutes(30), absl::Minutes(45)),
      3)));
  // The episode moves to clin-2 for session 3.
  ASSERT_OK(store().Commit(MakeCommit(
      "t1",
      HeldEvent("ev-7", Ref("ep-1", "clin-2"), 3, t + absl::Hours(24 * 14)),
      4)));

  ASSERT_OK_AND_ASSIGN(
      std::vector<HeldSession> all,
      store().ListClinicianSessions("t1", "clin-1", absl::InfinitePast(),
                                    absl::InfiniteFuture()));
  ASSERT_THAT(all, SizeIs(3));
  EXPECT_EQ(all[0].episode_id, "ep-1");
  EXPECT_EQ(all[0].session_number, 1);
  EXPECT_EQ(all[0].start, t + absl::Minutes(30));
  EXPECT_EQ(all[0].end, t + absl::Minutes(75));
  EXPECT_EQ(all[1].episode_id, "ep-2");
  EXPECT_EQ(all[2].session_number, 2);
  ASSERT_OK_AND_ASSIGN(
      other, store().ListClinicianSessions("t1", "clin-2", absl::InfinitePast(),
                                           absl::InfiniteFuture()));
  ASSERT_THAT(other, SizeIs(2));
  EXPECT_EQ(other[1].episode_id, "ep-1");
  EXPECT_EQ(other[1].session_number, 3);

  // An empty or inverted window.
  ASSERT_OK_AND_ASSIGN(day,
                       store().ListClinicianSessions("t1", "clin-1", t, t));
  EXPECT_THAT(day, IsEmpty());
  ASSERT_OK_AND_ASSIGN(day, store().ListClinicianSessions(
                                "t1", "clin-1", t + absl::Hours(1), t));
  EXPECT_THAT(day, IsEmpty());
}

TEST_P(StoreConformanceTest, FeedbackIsCountedPerModuleAndOutcome) {
  const v1::EpisodeRef ref = Ref("ep-1");
  struct Row {
    const char* module;
    v1::PromptFeedback::Outcome outcome;
  };
  const std::vector<Row> rows = {
      {"attune.rupture", v1::PromptFeedback::OUTCOME_ACCEPTED},
      {"attune.rupture", v1::PromptFeedback::OUTCOME_DISMISSED},
      {"attune.phase", v1::PromptFeedback::OUTCOME_SNOOZED},
      {"attune.rupture", v1::PromptFeedback::OUTCOME_ACCEPTED},
  };
  int64_t version = 0;
  for (const Row& row : rows) {
    ASSERT_OK(
        store().Commit(FeedbackCommit("t1", absl::StrCat("ev-", version), ref,
                                      version, row.module, row.outcome)));
    ++version;
  }
  // Events without feedback do not count.
  ASSERT_OK(store().Commit(MakeCommit("t1", GoalsEvent("ev-x", ref), version)));

  ASSERT_OK_AND_ASSIGN(std::vector<FeedbackCount> counts,
                       store().CountFeedback("t1"));
  using T = std::tuple<std::string, int, int64_t>;
  EXPECT_THAT(AsTuples(counts),
              UnorderedElementsAre(
                  T{"attune.rupture", v1::PromptFeedback::OUTCOME_ACCEPTED, 2},
                  T{"attune.rupture", v1::PromptFeedback::OUTCOME_DISMISSED, 1},
                  T{"attune.phase", v1::PromptFeedback::OUTCOME_SNOOZED, 1}));
}

// ---------------------------------------------------------------------------
// Concurrency

TEST_P(StoreConformanceTest, ConcurrentCommitsAreAllDurable) {
  constexpr int kThreads = 8;
  constexpr int kCommitsPerThread = 25;
  std::latch start(kThreads + 1);
  std::vector<std::thread> threads;
  std::vector<std::vector<absl::Status>> results(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      const v1::EpisodeRef ref = Ref(absl::StrCat("ep-", t));
      for (int i = 0; i < kCommitsPerThread; ++i) {
        EventCommit commit = MakeCommit(
            "t1", GoalsEvent(absl::StrCat("ev-", t, "-", i), ref), i);
        commit.prompt_upserts.push_back(MakePrompt(absl::StrCat("pr-", t), ref,
                                                   v1::PROMPT_STATUS_ACTIVE, i,
                                                   BaseTime()));
        results[t].push_back(store().Commit(std::move(commit)));
      }
    });
  }
  // A reader alongside the writers must always see a consistent episode.
  std::atomic<bool> done{false};
  std::atomic<int> inconsistent{0};
  std::thread reader([&] {
    start.arrive_and_wait();
    while (!done) {
      absl::StatusOr<EpisodeSnapshot> snapshot =
          store().LoadEpisode("t1", "ep-0");
      if (!snapshot.ok() ||
          static_cast<int64_t>(snapshot->events.size()) != snapshot->version) {
        ++inconsistent;
      }
    }
  });
  for (std::thread& thread : threads) thread.join();
  done = true;
  reader.join();
  EXPECT_EQ(inconsistent.load(), 0);

  for (int t = 0; t < kThreads; ++t) {
    for (const absl::Status& status : results[t]) EXPECT_OK(status);
    ASSERT_OK_AND_ASSIGN(EpisodeSnapshot snapshot,
                         store().LoadEpisode("t1", absl::StrCat("ep-", t)));
    EXPECT_EQ(snapshot.version, kCommitsPerThread);
    ASSERT_THAT(snapshot.events, SizeIs(kCommitsPerThread));
    for (int i = 0; i < kCommitsPerThread; ++i) {
      EXPECT_EQ(snapshot.events[i].event_id(), absl::StrCat("ev-", t, "-", i));
    }
    ASSERT_THAT(snapshot.prompts, SizeIs(1));
    EXPECT_EQ(snapshot.prompts[0].priority(), kCommitsPerThread - 1);
  }
}

TEST_P(StoreConformanceTest, ConcurrentWritersToOneEpisodeExactlyOneWins) {
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::vector<absl::Status> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      results[t] = store().Commit(
          MakeCommit("t1", GoalsEvent(absl::StrCat("ev-", t), Ref("ep-1")), 0));
    });
  }
  for (std::thread& thread : threads) thread.join();
  int ok = 0;
  for (const absl::Status& status : results) {
    if (status.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(status.code(), absl::StatusCode::kAborted) << status;
    }
  }
  EXPECT_EQ(ok, 1);
  ASSERT_OK_AND_ASSIGN(EpisodeSnapshot snapshot,
                       store().LoadEpisode("t1", "ep-1"));
  EXPECT_EQ(snapshot.version, 1);
  EXPECT_THAT(snapshot.events, SizeIs(1));
}

TEST_P(StoreConformanceTest, ConcurrentSameEventIdExactlyOneWins) {
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::vector<absl::Status> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      results[t] = store().Commit(MakeCommit(
          "t1", GoalsEvent("ev-same", Ref(absl::StrCat("ep-", t))), 0));
    });
  }
  for (std::thread& thread : threads) thread.join();
  int ok = 0;
  for (const absl::Status& status : results) {
    if (status.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists) << status;
    }
  }
  EXPECT_EQ(ok, 1);
}

// ---------------------------------------------------------------------------
// Audit log

AuditRecord MakeAudit(const std::string& tenant, const std::string& action,
                      const std::string& object = "",
                      const std::string& outcome = "OK", int second = 0) {
  AuditRecord record;
  record.at = BaseTime() + absl::Seconds(second);
  record.tenant = tenant;
  record.caller = "tok:0123456789abcdef";
  record.action = action;
  record.object = object;
  record.outcome = outcome;
  return record;
}

bool IsHex64(const std::string& s) {
  return s.size() == 64 &&
         s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

TEST_P(StoreConformanceTest, AuditLogStartsEmptyAndIntact) {
  ASSERT_OK_AND_ASSIGN(AuditVerification v, store().VerifyAudit());
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.rows, 0);
  EXPECT_EQ(v.head_seq, 0);
  EXPECT_EQ(v.head_hash, "");
}

TEST_P(StoreConformanceTest, AuditAppendsExtendOneVerifiedChain) {
  ASSERT_OK(store().AppendAudit(
      {MakeAudit("t1", "SubmitEvent", "episode:aa"),
       MakeAudit("t1", "ListPrompts", "clinician:bb", "OK", 1),
       MakeAudit("t2", "GetAssessment", "episode:cc", "PERMISSION_DENIED",
                 2)}));
  ASSERT_OK_AND_ASSIGN(AuditVerification first, store().VerifyAudit());
  EXPECT_TRUE(first.ok) << first.problem;
  EXPECT_EQ(first.rows, 3);
  EXPECT_EQ(first.head_seq, 3);
  EXPECT_TRUE(IsHex64(first.head_hash)) << first.head_hash;

  ASSERT_OK(store().AppendAudit(
      {MakeAudit("t1", "RuleAdmin.ListModules", "", "OK", 3),
       MakeAudit("t1", "WatchPrompts", "episode:aa", "OK", 4)}));
  ASSERT_OK_AND_ASSIGN(AuditVerification second, store().VerifyAudit());
  EXPECT_TRUE(second.ok) << second.problem;
  EXPECT_EQ(second.rows, 5);
  EXPECT_EQ(second.head_seq, 5);
  EXPECT_TRUE(IsHex64(second.head_hash)) << second.head_hash;
  EXPECT_NE(second.head_hash, first.head_hash);
}

TEST_P(StoreConformanceTest, AuditEmptyAppendChangesNothing) {
  ASSERT_OK(store().AppendAudit({}));
  ASSERT_OK_AND_ASSIGN(AuditVerification v, store().VerifyAudit());
  EXPECT_EQ(v.rows, 0);
}

TEST_P(StoreConformanceTest, AuditRecordsNeedTenantActionAndOutcome) {
  struct Case {
    const char* field;
    AuditRecord bad;
  };
  std::vector<Case> cases = {
      {"records[1].tenant", MakeAudit("", "SubmitEvent")},
      {"records[1].action", MakeAudit("t1", "")},
      {"records[1].outcome", MakeAudit("t1", "SubmitEvent", "", "")},
  };
  for (const Case& c : cases) {
    absl::Status status =
        store().AppendAudit({MakeAudit("t1", "SubmitEvent"), c.bad});
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(std::string(status.message()), StartsWith(c.field));
  }
  // Nothing of a refused batch was appended, not even its good records.
  ASSERT_OK_AND_ASSIGN(AuditVerification v, store().VerifyAudit());
  EXPECT_EQ(v.rows, 0);
}

TEST_P(StoreConformanceTest, ConcurrentAuditAppendsFormOneChain) {
  constexpr int kThreads = 8;
  constexpr int kAppends = 10;
  std::latch start(kThreads + 1);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kAppends; ++i) {
        const std::string tenant = absl::StrCat("t", t);
        if (!store()
                 .AppendAudit({MakeAudit(tenant, "SubmitEvent", "", "OK", i),
                               MakeAudit(tenant, "ListPrompts", "", "OK", i),
                               MakeAudit(tenant, "GetAssessment", "", "OK", i)})
                 .ok()) {
          failures.fetch_add(1);
        }
      }
    });
  }
  // Event commits go through the same writer meanwhile.
  std::thread committer([&] {
    start.arrive_and_wait();
    for (int i = 0; i < kAppends; ++i) {
      EXPECT_OK(store().Commit(MakeCommit(
          "t1", GoalsEvent(absl::StrCat("ev-", i), Ref("ep-1")), i)));
    }
  });
  for (std::thread& thread : threads) thread.join();
  committer.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_OK_AND_ASSIGN(AuditVerification v, store().VerifyAudit());
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.rows, kThreads * kAppends * 3);
  EXPECT_EQ(v.head_seq, kThreads * kAppends * 3);
}

TEST_P(StoreConformanceTest, EraseClientLeavesTheAuditLogIntact) {
  ASSERT_OK(
      store().Commit(MakeCommit("t1", GoalsEvent("ev-1", Ref("ep-1")), 0)));
  ASSERT_OK(store().AppendAudit(
      {MakeAudit("t1", "SubmitEvent", "episode:x"),
       MakeAudit("t1", "GetAssessment", "episode:x", "OK", 1)}));
  ASSERT_OK_AND_ASSIGN(AuditVerification before, store().VerifyAudit());
  ASSERT_OK(store().EraseClient("t1", "client-1"));
  ASSERT_OK(store().AppendAudit(
      {MakeAudit("t1", "DataAdmin.EraseClient", "client:y", "OK", 2)}));
  ASSERT_OK_AND_ASSIGN(AuditVerification after, store().VerifyAudit());
  EXPECT_TRUE(after.ok) << after.problem;
  EXPECT_EQ(after.rows, before.rows + 1);
}

// ---------------------------------------------------------------------------
// Erasure and retention

// Commits `events` to one episode in order (versions 0, 1, ...), with a
// prompt named after each event and, for ids starting "fb-", feedback.
void CommitEpisode(Store& store, const std::string& tenant,
                   const v1::EpisodeRef& ref,
                   const std::vector<std::string>& event_ids) {
  for (size_t i = 0; i < event_ids.size(); ++i) {
    const std::string& id = event_ids[i];
    const int64_t version = static_cast<int64_t>(i);
    EventCommit commit =
        absl::StartsWith(id, "fb-")
            ? FeedbackCommit(tenant, id, ref, version, "attune.rupture",
                             v1::PromptFeedback::OUTCOME_ACCEPTED)
            : MakeCommit(tenant,
                         HeldEvent(id, ref, static_cast<int>(i) + 1,
                                   BaseTime() + absl::Hours(i)),
                         version);
    commit.prompt_upserts.push_back(MakePrompt(absl::StrCat("pr-", id), ref,
                                               v1::PROMPT_STATUS_ACTIVE, 1,
                                               BaseTime() + absl::Hours(i)));
    absl::Status status = store.Commit(std::move(commit));
    ASSERT_TRUE(status.ok()) << status;
  }
}

std::vector<std::string> SessionEpisodes(Store& store,
                                         const std::string& tenant,
                                         const std::string& clinician_id) {
  absl::StatusOr<std::vector<HeldSession>> sessions =
      store.ListClinicianSessions(tenant, clinician_id, absl::InfinitePast(),
                                  absl::InfiniteFuture());
  EXPECT_TRUE(sessions.ok()) << sessions.status();
  std::vector<std::string> episodes;
  if (!sessions.ok()) return episodes;
  for (const HeldSession& s : *sessions) episodes.push_back(s.episode_id);
  return episodes;
}

TEST_P(StoreConformanceTest, EraseClientRemovesTheClientsEpisodesOnly) {
  // Client "anna" has two episodes in t1; "ben" shares her clinician in t1;
  // t2 has a client also called "anna" with the same episode and event ids.
  const v1::EpisodeRef anna1 = Ref("ep-a1", "clin-1", "anna");
  const v1::EpisodeRef anna2 = Ref("ep-a2", "clin-1", "anna");
  const v1::EpisodeRef ben = Ref("ep-b1", "clin-1", "ben");
  CommitEpisode(store(), "t1", anna1, {"a1-1", "a1-2", "fb-a1"});
  CommitEpisode(store(), "t1", anna2, {"a2-1"});
  CommitEpisode(store(), "t1", ben, {"b1-1", "fb-b1"});
  CommitEpisode(store(), "t2", anna1, {"a1-1", "a1-2", "fb-a1"});
  // A shadow prompt is erased too.
  {
    EventCommit commit = MakeCommit("t1", GoalsEvent("a2-2", anna2), 1);
    v1::Prompt shadow = MakePrompt("pr-a2-shadow", anna2,
                                   v1::PROMPT_STATUS_ACTIVE, 1, BaseTime());
    shadow.set_shadow(true);
    commit.prompt_upserts.push_back(shadow);
    ASSERT_OK(store().Commit(commit));
  }

  ASSERT_OK_AND_ASSIGN(EraseCounts counts, store().EraseClient("t1", "anna"));
  EXPECT_EQ(counts.episodes, 2);
  EXPECT_EQ(counts.events, 5);
  EXPECT_EQ(counts.prompts, 5);

  for (const char* episode : {"ep-a1", "ep-a2"}) {
    ASSERT_OK_AND_ASSIGN(EpisodeSnapshot gone,
                         store().LoadEpisode("t1", episode));
    EXPECT_FALSE(gone.exists) << episode;
    EXPECT_THAT(gone.events, IsEmpty()) << episode;
    EXPECT_THAT(gone.prompts, IsEmpty()) << episode;
    EXPECT_THAT(PromptIds(ByEpisode("t1", episode)), IsEmpty()) << episode;
  }
  for (const char* event : {"a1-1", "a1-2", "fb-a1", "a2-1", "a2-2"}) {
    ASSERT_OK_AND_ASSIGN(std::optional<StoredEvent> found,
                         store().FindEvent("t1", event));
    EXPECT_FALSE(found.has_value()) << event;
  }
  for (const char* prompt : {"pr-a1-1", "pr-a2-1", "pr-a2-shadow"}) {
    ASSERT_OK_AND_ASSIGN(std::optional<v1::Prompt> found,
                         store().GetPrompt("t1", prompt));
    EXPECT_FALSE(found.has_value()) << prompt;
  }
  // Ben's data, which shares the clinician and the tenant, is intact.
  ASSERT_OK_AND_ASSIGN(EpisodeSnapshot kept,
                       store().LoadEpisode("t1", "ep-b1"));
  EXPECT_EQ(kept.version, 2);
  EXPECT_THAT(kept.events, SizeIs(2));
  EXPECT_THAT(PromptIds(ByClinician("t1", "clin-1")),
              UnorderedElementsAre("pr-b1-1", "pr-fb-b1"));
  EXPECT_THAT(SessionEpisodes(store(), "t1", "clin-1"), ElementsAre("ep-b1"));
  ASSERT_OK_AND_ASSIGN(std::vector<FeedbackCount> feedback,
                       store().CountFeedback("t1"));
  EXPECT_THAT(AsTuples(feedback),
              ElementsAre(std::make_tuple(
                  "attune.rupture",
                  static_cast<int>(v1::PromptFeedback::OUTCOME_ACCEPTED), 1)));
  EXPECT_THAT(ScanAll(store(), "t1", 100), ElementsAre("b1-1", "fb-b1"));
  ASSERT_OK_AND_ASSIGN(
      std::vector<v1::Prompt> module_prompts,
      store().ListModulePrompts("t1", "attune.rupture", /*shadow=*/true, 10));
  EXPECT_THAT(module_prompts, IsEmpty());

  // The other tenant's "anna" is another person: untouched.
  ASSERT_OK_AND_ASSIGN(EpisodeSnapshot other,
                       store().LoadEpisode("t2", "ep-a1"));
  EXPECT_EQ(other.version, 3);
  EXPECT_THAT(other.events, SizeIs(3));
  EXPECT_THAT(other.prompts, SizeIs(3));
  EXPECT_THAT(SessionEpisodes(store(), "t2", "clin-1"),
              ElementsAre("ep-a1", "ep-a1"));
  ASSERT_OK_AND_ASSIGN(feedback, store().CountFeedback("t2"));
  EXPECT_THAT(feedback, SizeIs(1));
}

TEST_P(StoreConformanceTest, EraseClientIsIdempotentAndTheClientCanReturn) {
  const v1::EpisodeRef ref = Ref("ep-1", "clin-1", "anna");
  CommitEpisode(store(), "t1", ref, {"ev-1", "ev-2"});
  ASSERT_OK_AND_ASSIGN(EraseCounts first, store().EraseClient("t1", "anna"));
  EXPECT_EQ(first.episodes, 1);
  ASSERT_OK_AND_ASSIGN(EraseCounts again, store().EraseClient("t1", "anna"));
  EXPECT_EQ(again.episodes, 0);
  EXPECT_EQ(again.events, 0);
  EXPECT_EQ(again.prompts, 0);
  ASSERT_OK_AND_ASSIGN(EraseCounts unknown,
                       store().EraseClient("t1", "nobody"));
  EXPECT_EQ(unknown.episodes, 0);

  // An event sent later starts the episode afresh, even one reusing an id.
  ASSERT_OK(store().Commit(MakeCommit("t1", GoalsEvent("ev-1", ref), 0)));
  ASSERT_OK_AND_ASSIGN(EpisodeSnapshot snapshot,
                       store().LoadEpisode("t1", "ep-1"));
  EXPECT_EQ(snapshot.version, 1);
  EXPECT_THAT(snapshot.events, SizeIs(1));
  EXPECT_THAT(snapshot.prompts, IsEmpty());
  // ...and is found by the next erase.
  ASSERT_OK_AND_ASSIGN(EraseCounts later, store().EraseClient("t1", "anna"));
  EXPECT_EQ(later.episodes, 1);
  EXPECT_EQ(later.events, 1);
}

TEST_P(StoreConformanceTest, CommitBasedOnAnErasedEpisodeIsAborted) {
  const v1::EpisodeRef ref = Ref("ep-1", "clin-1", "anna");
  CommitEpisode(store(), "t1", ref, {"ev-1"});
  ASSERT_OK(store().EraseClient("t1", "anna"));
  // Read before the erase: version 1, which no longer exists.
  EXPECT_EQ(store()
                .Commit(MakeCommit("t1", GoalsEvent("ev-2", ref),
                                   /*expected_version=*/1))
                .code(),
            absl::StatusCode::kAborted);
  ASSERT_OK_AND_ASSIGN(EpisodeSnapshot snapshot,
                       store().LoadEpisode("t1", "ep-1"));
  EXPECT_FALSE(snapshot.exists);
}

TEST_P(StoreConformanceTest, EraseClientNeedsAClientId) {
  absl::StatusOr<EraseCounts> erased = store().EraseClient("t1", "");
  EXPECT_EQ(erased.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(erased.status().message()),
              StartsWith("client_id: "));
}

TEST_P(StoreConformanceTest, EraseInactiveEpisodesByLastCommitOldestFirst) {
  // ep-1 is committed first but again after ep-2: ep-2 is the oldest.
  CommitEpisode(store(), "t1", Ref("ep-1"), {"e1-1"});
  CommitEpisode(store(), "t2", Ref("ep-2"), {"e2-1", "e2-2"});
  ASSERT_OK(
      store().Commit(MakeCommit("t1", GoalsEvent("e1-2", Ref("ep-1")), 1)));
  const absl::Time cutoff = absl::Now();
  CommitEpisode(store(), "t1", Ref("ep-3"), {"e3-1"});

  ASSERT_OK_AND_ASSIGN(EraseCounts first,
                       store().EraseInactiveEpisodes(cutoff, 1));
  EXPECT_EQ(first.episodes, 1);
  EXPECT_EQ(first.events, 2);
  EXPECT_EQ(first.prompts, 2);
  ASSERT_OK_AND_ASSIGN(EpisodeSnapshot snapshot,
                       store().LoadEpisode("t2", "ep-2"));
  EXPECT_FALSE(snapshot.exists);
  ASSERT_OK_AND_ASSIGN(snapshot, store().LoadEpisode("t1", "ep-1"));
  EXPECT_TRUE(snapshot.exists);

  // Fewer than `limit` left: the sweep is done.
  ASSERT_OK_AND_ASSIGN(EraseCounts second,
                       store().EraseInactiveEpisodes(cutoff, 10));
  EXPECT_EQ(second.episodes, 1);
  EXPECT_EQ(second.events, 2);
  ASSERT_OK_AND_ASSIGN(snapshot, store().LoadEpisode("t1", "ep-1"));
  EXPECT_FALSE(snapshot.exists);
  ASSERT_OK_AND_ASSIGN(EraseCounts none,
                       store().EraseInactiveEpisodes(cutoff, 10));
  EXPECT_EQ(none.episodes, 0);

  // Committed after the cutoff: kept.
  ASSERT_OK_AND_ASSIGN(snapshot, store().LoadEpisode("t1", "ep-3"));
  EXPECT_TRUE(snapshot.exists);
  EXPECT_THAT(ScanAll(store(), "t1", 100), ElementsAre("e3-1"));
  ASSERT_OK_AND_ASSIGN(EraseCounts past,
                       store().EraseInactiveEpisodes(absl::InfinitePast(), 10));
  EXPECT_EQ(past.episodes, 0);

  absl::StatusOr<EraseCounts> bad = store().EraseInactiveEpisodes(cutoff, 0);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), StartsWith("limit: "));
}

// Erasure shares the store with the group commit: neither waits on the
// other's lock, and no commit of another client is lost or rolled back.
TEST_P(StoreConformanceTest, EraseRunsAlongsideConcurrentCommits) {
  constexpr int kThreads = 4;
  constexpr int kEvents = 10;
  CommitEpisode(store(), "t1", Ref("ep-gone", "clin-1", "anna"),
                {"g-1", "g-2", "g-3"});
  std::latch start(kThreads + 1);
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(kThreads * kEvents);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const v1::EpisodeRef ref =
          Ref(absl::StrCat("ep-", t), "clin-1", absl::StrCat("client-", t));
      start.arrive_and_wait();
      for (int i = 0; i < kEvents; ++i) {
        results[t * kEvents + i] = store().Commit(MakeCommit(
            "t1", GoalsEvent(absl::StrCat("ev-", t, "-", i), ref), i));
      }
    });
  }
  start.arrive_and_wait();
  absl::StatusOr<EraseCounts> erased = store().EraseClient("t1", "anna");
  for (std::thread& thread : threads) thread.join();
  ASSERT_OK(erased);
  EXPECT_EQ(erased->episodes, 1);
  EXPECT_EQ(erased->events, 3);
  for (const absl::Status& status : results) EXPECT_OK(status);
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_OK_AND_ASSIGN(EpisodeSnapshot snapshot,
                         store().LoadEpisode("t1", absl::StrCat("ep-", t)));
    EXPECT_EQ(snapshot.version, kEvents);
  }
}

// ---------------------------------------------------------------------------
// Backends

// SQLite in its three ways of storing rows: plaintext; sealed
// (pseudonymised identifiers, encrypted messages); and sealed with a ring of
// two keys, as after a rotation, so that every identifier query matches
// several lookup hashes.
StoreBackend SqliteBackend(const std::string& name,
                           std::vector<std::string> key_ids) {
  return StoreBackend{name, [key_ids](const std::string& dir) {
                        SqliteStoreOptions options;
                        options.path = dir + "/attune.db";
                        if (!key_ids.empty())
                          options.keys = testing::TestKeyRing(key_ids);
                        return OpenSqliteStore(options);
                      }};
}

// PostgreSQL in the same three ways, each test on a fresh database.
StoreBackend PostgresBackend(const std::string& name,
                             std::vector<std::string> key_ids) {
  return StoreBackend{
      name, [key_ids](const std::string& /*dir*/) {
        return testing::OpenFreshPostgresStore(
            key_ids.empty() ? nullptr : testing::TestKeyRing(key_ids));
      }};
}

INSTANTIATE_TEST_SUITE_P(
    Backends, StoreConformanceTest,
    ::testing::Values(SqliteBackend("sqlite", {}),
                      SqliteBackend("sqlite_sealed", {"k1"}),
                      SqliteBackend("sqlite_sealed_rotated", {"k2", "k1"}),
                      PostgresBackend("postgres", {}),
                      PostgresBackend("postgres_sealed", {"k1"}),
                      PostgresBackend("postgres_sealed_rotated", {"k2", "k1"})),
    [](const ::testing::TestParamInfo<StoreBackend>& info) {
      return info.param.name;
    });

}  // namespace
}  // namespace attune::store
