// What the server relies on when a call's deadline passes: SubmitBatch stops
// between events, keeps (and reports) what it already stored, and answers
// the rest DEADLINE_EXCEEDED; a call that starts too late does nothing.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "service/config/config_loader.h"
#include "service/engine/alliance_engine.h"
#include "service/engine/episode_history.h"
#include "service/store/sqlite/sqlite_store.h"

namespace attune::engine {
namespace {

const absl::Time kStart = absl::Now() - absl::Hours(24 * 7 * 20);

class SubmitDeadlineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<v1::ServerConfig> config = config::DefaultConfig();
    ASSERT_TRUE(config.ok()) << config.status();
    store::SqliteStoreOptions options;
    options.path =
        ::testing::TempDir() + "deadline-" +
        ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db";
    std::remove(options.path.c_str());
    std::remove((options.path + "-wal").c_str());
    absl::StatusOr<std::unique_ptr<store::Store>> store =
        store::OpenSqliteStore(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    absl::StatusOr<std::unique_ptr<AllianceEngine>> engine =
        AllianceEngine::Create(store_.get(), *config, {});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }

  // Held sessions 1..n of one episode.
  static std::vector<v1::SessionEvent> Sessions(const std::string& episode,
                                                int n) {
    std::vector<v1::SessionEvent> events;
    for (int session = 1; session <= n; ++session) {
      const absl::Time start = kStart + absl::Hours(24 * 7) * session;
      v1::SessionEvent e;
      e.set_event_id(absl::StrCat(episode, "-held-", session));
      *e.mutable_occurred_at() = ToProto(start + absl::Minutes(50));
      e.mutable_episode()->set_client_id("client-" + episode);
      e.mutable_episode()->set_clinician_id("clinician-1");
      e.mutable_episode()->set_episode_id(episode);
      v1::SessionHeld* held = e.mutable_session_held();
      held->set_session_number(session);
      *held->mutable_start() = ToProto(start);
      *held->mutable_end() = ToProto(start + absl::Minutes(50));
      events.push_back(std::move(e));
    }
    return events;
  }

  // Passes after it has been asked `allowed` times.
  static AllianceEngine::DeadlinePassed PassesAfter(int allowed) {
    auto asked = std::make_shared<int>(0);
    return [asked, allowed] { return (*asked)++ >= allowed; };
  }

  int StoredEvents(const std::string& episode) {
    absl::StatusOr<v1::Assessment> a = engine_->GetAssessment("t", episode);
    return a.ok() ? a->event_count() : 0;
  }

  std::unique_ptr<store::Store> store_;
  std::unique_ptr<AllianceEngine> engine_;
};

TEST_F(SubmitDeadlineTest, StopsBetweenEventsKeepingWhatWasStored) {
  std::vector<v1::SessionEvent> events = Sessions("ep-1", 2);
  std::vector<v1::SessionEvent> more = Sessions("ep-2", 3);
  events.insert(events.end(), more.begin(), more.end());

  // Asked once before the batch, then before each event: three events in.
  auto results = engine_->SubmitBatch("t", events, false, PassesAfter(4));
  ASSERT_EQ(results.size(), 5u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(results[i].ok()) << i;
  for (int i = 3; i < 5; ++i) {
    EXPECT_EQ(results[i].status().code(), absl::StatusCode::kDeadlineExceeded)
        << i;
    EXPECT_EQ(results[i].status().message(),
              "deadline exceeded before this event was processed; "
              "resubmit it");
  }
  EXPECT_EQ(StoredEvents("ep-1"), 2);
  EXPECT_EQ(StoredEvents("ep-2"), 1);

  // Resubmitting the whole batch completes it: stored events are replays.
  results = engine_->SubmitBatch("t", events);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(results[i].ok()) << i << results[i].status();
    EXPECT_EQ(results[i]->replayed(), i < 3) << i;
  }
  EXPECT_EQ(StoredEvents("ep-2"), 3);
}

TEST_F(SubmitDeadlineTest, ABatchStartingPastItsDeadlineDoesNothing) {
  const std::vector<v1::SessionEvent> events = Sessions("ep-1", 3);
  auto results = engine_->SubmitBatch("t", events, false, PassesAfter(0));
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  }
  absl::StatusOr<v1::SubmitEventResponse> one =
      engine_->Submit("t", events[0], PassesAfter(0));
  EXPECT_EQ(one.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(engine_->GetAssessment("t", "ep-1").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(SubmitDeadlineTest, NoDeadlineMeansEveryEventIsProcessed) {
  const std::vector<v1::SessionEvent> events = Sessions("ep-1", 3);
  auto results = engine_->SubmitBatch("t", events, false, {});
  for (const auto& r : results) EXPECT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(StoredEvents("ep-1"), 3);
}

}  // namespace
}  // namespace attune::engine
