// AllianceEngine::SubmitBatch over a real SQLite store: a batch is one group
// commit, yet every event gets exactly the answer it would have got had the
// events been submitted one at a time, failures half-way through included.
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "service/config/config_loader.h"
#include "service/engine/alliance_engine.h"
#include "service/store/sqlite/sqlite_store.h"
#include "tests/common/scratch.h"
#include "tests/unit/service/engine/engine_test_events.h"

namespace attune::engine {
namespace {

using test_events::ClinicianDayModule;
using test_events::Event;
using test_events::Held;
using test_events::kStart;
using test_events::LowSrsModule;
using test_events::Srs;

using Results = std::vector<absl::StatusOr<v1::SubmitEventResponse>>;

// An engine over its own SQLite database.
struct Instance {
  std::unique_ptr<store::SqliteStore> store;
  std::unique_ptr<AllianceEngine> engine;
};

Instance MakeInstance(const std::string& name) {
  Instance out;
  store::SqliteStoreOptions options;
  options.path =
      attune::testing::ScratchDir("batch-submit") + "/" + name + ".db";
  auto store = store::SqliteStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status();
  if (!store.ok()) return out;
  out.store = *std::move(store);
  auto config = config::DefaultConfig();
  EXPECT_TRUE(config.ok()) << config.status();
  std::vector<std::unique_ptr<RuleModule>> modules;
  modules.push_back(std::make_unique<LowSrsModule>());
  modules.push_back(std::make_unique<ClinicianDayModule>());
  auto engine =
      AllianceEngine::Create(out.store.get(), *config, std::move(modules));
  EXPECT_TRUE(engine.ok()) << engine.status();
  if (engine.ok()) out.engine = *std::move(engine);
  return out;
}

v1::SessionEvent Closed(const std::string& episode, int session) {
  v1::SessionEvent e = Event(episode, episode + "-closed", session);
  e.mutable_episode_closed()->set_reason(v1::ENDING_REASON_DROPOUT);
  return e;
}

// SubmitBatch on another thread; fails the test instead of hanging when the
// batch never finishes (a deadlock, or a commit never queued). On timeout
// the writer hold is released so that the batch can end.
Results SubmitBatchWithin(Instance& in,
                          const std::vector<v1::SessionEvent>& events) {
  std::future<Results> done = std::async(
      std::launch::async, [&] { return in.engine->SubmitBatch("t", events); });
  if (done.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    ADD_FAILURE() << "SubmitBatch did not finish within 30 s";
    in.store->HoldWriterUntilQueued(0);
  }
  return done.get();
}

TEST(BatchSubmitTest, FailuresHalfWayThroughLeaveTheEpisodeAsIfNeverSent) {
  Instance batched = MakeInstance("batched");
  Instance sequential = MakeInstance("sequential");
  ASSERT_TRUE(batched.engine && sequential.engine);
  for (Instance* in : {&batched, &sequential}) {
    ASSERT_TRUE(in->engine->Submit("t", Held("ep", 1)).ok());
  }

  v1::SessionEvent other_client = Srs("ep", 2, 30, "-other");
  other_client.mutable_episode()->set_client_id("client-someone-else");
  v1::SessionEvent unknown_prompt = Event("ep", "ep-feedback", 2);
  unknown_prompt.mutable_prompt_feedback()->set_prompt_id("no-such-prompt");
  unknown_prompt.mutable_prompt_feedback()->set_outcome(
      v1::PromptFeedback::OUTCOME_ACCEPTED);
  const std::vector<v1::SessionEvent> events = {
      Held("ep", 2),
      other_client,               // refused by the consistency check
      Srs("ep", 2, 30),           // raises the low-SRS prompt
      unknown_prompt,             // refused after the episode was folded
      Srs("ep", 2, 30),           // the same event again in the batch
      Closed("ep", 2),            // closes the episode
      Held("ep", 3),              // refused: the episode is closed
      Srs("ep", 2, 37, "-late"),  // a late measure is still accepted
      Srs("ep", 3, 37),           // refused: session 3 was never recorded
  };
  const std::vector<absl::StatusCode> expected = {
      absl::StatusCode::kOk,
      absl::StatusCode::kInvalidArgument,
      absl::StatusCode::kOk,
      absl::StatusCode::kNotFound,
      absl::StatusCode::kAlreadyExists,
      absl::StatusCode::kOk,
      absl::StatusCode::kFailedPrecondition,
      absl::StatusCode::kOk,
      absl::StatusCode::kFailedPrecondition,
  };

  Results in_batch = SubmitBatchWithin(batched, events);
  ASSERT_EQ(in_batch.size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(in_batch[i].status().code(), expected[i])
        << "event " << i << ": " << in_batch[i].status();
    if (i == 4) {
      // Sent again on its own it would be a replay; in one batch it is
      // refused.
      EXPECT_EQ(in_batch[i].status().message(),
                "event_id: appears more than once in this batch");
      continue;
    }
    // One at a time, each event gets exactly the same answer.
    absl::StatusOr<v1::SubmitEventResponse> alone =
        sequential.engine->Submit("t", events[i]);
    EXPECT_EQ(alone.status().code(), in_batch[i].status().code())
        << "event " << i;
    if (alone.ok() && in_batch[i].ok()) {
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
          *alone, *in_batch[i]))
          << "event " << i << " in the batch:\n"
          << in_batch[i]->DebugString() << "alone:\n"
          << alone->DebugString();
    } else {
      EXPECT_EQ(alone.status().message(), in_batch[i].status().message());
    }
  }
  EXPECT_EQ(in_batch[0]->assessment().event_count(), 2);
  EXPECT_EQ(in_batch[2]->assessment().event_count(), 3);
  EXPECT_EQ(in_batch[7]->assessment().event_count(), 5);
  auto stored = batched.engine->GetAssessment("t", "ep");
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      *stored, in_batch[7]->assessment()));
}

TEST(BatchSubmitTest, ABatchOverManyEpisodesIsOneGroupCommit) {
  Instance in = MakeInstance("group");
  ASSERT_TRUE(in.engine);
  const std::vector<v1::SessionEvent> events = {
      Held("a", 1),    Held("b", 1),    Srs("a", 1, 38),
      Srs("c", 1, 30), Srs("b", 1, 38), Held("c", 1),
  };
  const int64_t batches_before = in.store->stats().batches;
  // The writer starts only once all six commits are queued: an engine that
  // waited for one episode's commits before preparing the next would never
  // get there.
  in.store->HoldWriterUntilQueued(static_cast<int>(events.size()));
  Results results = SubmitBatchWithin(in, events);
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_TRUE(results[i].ok())
        << "event " << i << ": " << results[i].status();
  }
  store::SqliteStore::Stats stats = in.store->stats();
  EXPECT_EQ(stats.batches - batches_before, 1);
  EXPECT_EQ(stats.max_batch_seen, static_cast<int64_t>(events.size()));
  for (const char* ep : {"a", "b", "c"}) {
    auto a = in.engine->GetAssessment("t", ep);
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(a->event_count(), 2) << ep;
  }
}

TEST(BatchSubmitTest, LaterEpisodesSeeWhatEarlierOnesPreparedButNotCommitted) {
  Instance in = MakeInstance("overlay");
  ASSERT_TRUE(in.engine);
  // Three episodes of one clinician held the same day, in one batch that
  // reaches the store only as a whole: the clinician's day prompt must
  // count all three, exactly as if they had been sent one by one.
  const std::vector<v1::SessionEvent> events = {Held("a", 1), Held("b", 1),
                                                Held("c", 1)};
  in.store->HoldWriterUntilQueued(3);
  Results results = SubmitBatchWithin(in, events);
  ASSERT_EQ(results.size(), 3u);
  for (size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i].ok())
        << "event " << i << ": " << results[i].status();
  }
  std::vector<std::string> summaries;
  for (const auto& p : results[2]->changed()) summaries.push_back(p.summary());
  EXPECT_EQ(summaries, std::vector<std::string>{"3 sessions today"});

  store::PromptQuery q;
  q.tenant = "t";
  q.clinician_id = "clinician-1";
  auto page = in.store->ListPrompts(q);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->prompts.size(), 1u);
  EXPECT_EQ(page->prompts[0].summary(), "3 sessions today");
  // Raised by the first episode and updated by the others.
  EXPECT_EQ(page->prompts[0].episode().episode_id(), "a");
}

TEST(BatchSubmitTest, AnEventIdUsedByTwoEpisodesOfABatchIsStoredOnce) {
  Instance in = MakeInstance("event-id");
  ASSERT_TRUE(in.engine);
  v1::SessionEvent first = Held("a", 1);
  v1::SessionEvent second = Srs("b", 1, 38);
  second.set_event_id(first.event_id());
  in.store->HoldWriterUntilQueued(1);
  Results results = SubmitBatchWithin(in, {first, second});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].ok()) << results[0].status();
  EXPECT_EQ(results[1].status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(results[1].status().message(),
            "event_id: already used for a different event");
  EXPECT_EQ(in.engine->GetAssessment("t", "b").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(BatchSubmitTest, OverlappingBatchesAndSingleEventsNeverDeadlock) {
  Instance in = MakeInstance("deadlock");
  ASSERT_TRUE(in.engine);
  constexpr int kBatchThreads = 3;
  constexpr int kRounds = 15;
  constexpr int kEpisodes = 6;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  // Each batch thread visits the episodes in its own order, so batches ask
  // for overlapping sets of locks in different orders; a single-event
  // thread runs beside them.
  for (int t = 0; t < kBatchThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        std::vector<v1::SessionEvent> batch;
        for (int k = 0; k < kEpisodes; ++k) {
          int ep = (t % 2 == 0) ? k : kEpisodes - 1 - k;
          batch.push_back(Srs(absl::StrCat("ep", (ep + t) % kEpisodes), r + 1,
                              38, absl::StrCat("-b", t)));
        }
        for (const auto& result : in.engine->SubmitBatch("t", batch)) {
          if (!result.ok()) {
            failures.fetch_add(1);
            ADD_FAILURE() << result.status();
          }
        }
      }
    });
  }
  threads.emplace_back([&] {
    for (int r = 0; r < kRounds * 2; ++r) {
      auto result = in.engine->Submit(
          "t", Srs(absl::StrCat("ep", r % kEpisodes), r % kRounds + 1, 38,
                   absl::StrCat("-single", r)));
      if (!result.ok()) {
        failures.fetch_add(1);
        ADD_FAILURE() << result.status();
      }
    }
  });
  std::future<void> joined = std::async(std::launch::async, [&] {
    for (auto& th : threads) th.join();
  });
  ASSERT_EQ(joined.wait_for(std::chrono::seconds(120)),
            std::future_status::ready)
      << "submissions deadlocked";
  EXPECT_EQ(failures.load(), 0);
  int events = 0;
  for (int e = 0; e < kEpisodes; ++e) {
    auto a = in.engine->GetAssessment("t", absl::StrCat("ep", e));
    ASSERT_TRUE(a.ok()) << a.status();
    events += a->event_count();
  }
  EXPECT_EQ(events, kBatchThreads * kRounds * kEpisodes + kRounds * 2);
}

}  // namespace
}  // namespace attune::engine
