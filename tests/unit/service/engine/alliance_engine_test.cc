// AllianceEngine over a real SQLite store with small test modules, so the
// engine's own guarantees are pinned apart from the clinical rules.
#include "service/engine/alliance_engine.h"

#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "service/config/config_loader.h"
#include "service/engine/prompt_reconciler.h"
#include "service/store/sqlite/sqlite_store.h"
#include "tests/unit/service/engine/engine_test_events.h"

namespace attune::engine {
namespace {

using test_events::ClinicianDayModule;
using test_events::Event;
using test_events::Held;
using test_events::kStart;
using test_events::LowSrsModule;
using test_events::Srs;

// Always fails.
class BrokenModule : public RuleModule {
 public:
  std::string_view id() const override { return "test.broken"; }
  std::string_view version() const override { return "0.0.1"; }
  bool Enabled(const v1::RulesConfig&) const override { return true; }
  absl::Status Evaluate(const RuleInput&, RuleOutput& out) const override {
    out.assessment->mutable_phase()->set_phase(v1::PHASE_CLOSED);
    return absl::InternalError("broken on purpose");
  }
};

// An engine over `store` with BrokenModule, LowSrsModule and
// ClinicianDayModule, and an episode cache of `cache_mib` (0: off).
std::unique_ptr<AllianceEngine> EngineOver(store::Store* store,
                                           v1::ServerConfig config,
                                           int cache_mib) {
  config.mutable_store()->set_episode_cache_mib(cache_mib);
  std::vector<std::unique_ptr<RuleModule>> modules;
  modules.push_back(std::make_unique<BrokenModule>());
  modules.push_back(std::make_unique<LowSrsModule>());
  modules.push_back(std::make_unique<ClinicianDayModule>());
  auto engine = AllianceEngine::Create(store, config, std::move(modules));
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? *std::move(engine) : nullptr;
}

// A fresh SQLite store named `name` in the test's temp dir.
std::unique_ptr<store::Store> OpenStore(const std::string& name) {
  store::SqliteStoreOptions options;
  options.path = ::testing::TempDir() + "engine-" + name + ".db";
  std::remove(options.path.c_str());
  std::remove((options.path + "-wal").c_str());
  auto store = store::OpenSqliteStore(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

class AllianceEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = config::DefaultConfig();
    ASSERT_TRUE(config.ok());
    config_ = *config;
    store_ = OpenStore(
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_NE(store_, nullptr);
    engine_ =
        EngineOver(store_.get(), config_, config_.store().episode_cache_mib());
    ASSERT_NE(engine_, nullptr);
  }

  v1::ServerConfig config_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<AllianceEngine> engine_;
};

TEST_F(AllianceEngineTest, FailingModuleIsSkippedAndCounted) {
  auto r = engine_->Submit("t", Srs("ep", 1, 30));
  ASSERT_TRUE(r.ok()) << r.status();
  // The broken module's partial write did not leak into the assessment.
  EXPECT_NE(r->assessment().phase().phase(), v1::PHASE_CLOSED);
  ASSERT_EQ(r->prompts_size(), 1);
  EXPECT_EQ(r->prompts(0).kind(), "test.low_srs/low");
  for (const ModuleHealth& h :
       engine_->rules()->pipeline().Health(config_.rules())) {
    if (h.module_id == "test.broken") {
      EXPECT_EQ(h.errors, 1);
      EXPECT_EQ(h.evaluations, 1);
    }
  }
  EXPECT_EQ(engine_->GetAssessment("t", "ep")->event_count(), 1);
}

TEST_F(AllianceEngineTest,
       ConcurrentEventsLoseNothingAndNeverDuplicatePrompts) {
  constexpr int kThreads = 8;
  constexpr int kEpisodes = 4;
  constexpr int kPerThread = 12;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string ep = absl::StrCat("ep", (t + i) % kEpisodes);
        double total = (i % 3 == 0) ? 30 : 38;
        auto r =
            engine_->Submit("t", Srs(ep, 1 + i, total, absl::StrCat("-t", t)));
        if (!r.ok()) {
          failures.fetch_add(1);
          ADD_FAILURE() << r.status();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  int events = 0;
  for (int e = 0; e < kEpisodes; ++e) {
    std::string ep = absl::StrCat("ep", e);
    events += engine_->GetAssessment("t", ep)->event_count();
    store::PromptQuery q;
    q.tenant = "t";
    q.episode_id = ep;
    q.page_size = 500;
    auto page = store_->ListPrompts(q);
    ASSERT_TRUE(page.ok());
    std::map<std::string, int> open;
    for (const auto& p : page->prompts) {
      if (!IsTerminal(p.status()) && p.scope() == v1::PROMPT_SCOPE_EPISODE) {
        EXPECT_EQ(++open[p.kind()], 1) << "duplicate open prompt in " << ep;
      }
    }
  }
  EXPECT_EQ(events, kThreads * kPerThread);
}

TEST_F(AllianceEngineTest, FailPolicyRejectsTheEventAndStoresNothing) {
  v1::ServerConfig strict = config_;
  v1::ModulePolicy* policy = strict.mutable_rules()->add_module_policies();
  policy->set_module_id("test.broken");
  policy->set_on_error(v1::ModulePolicy::ON_ERROR_FAIL);
  std::vector<std::unique_ptr<RuleModule>> modules;
  modules.push_back(std::make_unique<BrokenModule>());
  modules.push_back(std::make_unique<LowSrsModule>());
  auto engine =
      AllianceEngine::Create(store_.get(), strict, std::move(modules));
  ASSERT_TRUE(engine.ok());
  auto r = (*engine)->Submit("t", Srs("ep", 1, 30));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("test.broken"), std::string::npos);
  EXPECT_EQ((*engine)->GetAssessment("t", "ep").status().code(),
            absl::StatusCode::kNotFound);
  // The same event goes through once the policy is back to skipping.
  EXPECT_TRUE(engine_->Submit("t", Srs("ep", 1, 30)).ok());
}

TEST_F(AllianceEngineTest, ClosedEpisodeAcceptsOnlyLateDataAndFeedback) {
  ASSERT_TRUE(engine_->Submit("t", Held("ep", 1)).ok());
  v1::SessionEvent close = Event("ep", "close", 1);
  close.mutable_episode_closed()->set_reason(v1::ENDING_REASON_DROPOUT);
  ASSERT_TRUE(engine_->Submit("t", close).ok());
  auto refused = engine_->Submit("t", Held("ep", 2));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(engine_->Submit("t", Srs("ep", 1, 37)).ok());
  auto beyond = engine_->Submit("t", Srs("ep", 5, 37));
  EXPECT_EQ(beyond.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(AllianceEngineTest, EventForAnotherClientIsRefusedWithoutEchoingIds) {
  ASSERT_TRUE(engine_->Submit("t", Held("ep", 1)).ok());
  v1::SessionEvent other = Held("ep", 2);
  other.mutable_episode()->set_client_id("SOMEONE-ELSE-42");
  auto r = engine_->Submit("t", other);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("episode.client_id"), std::string::npos);
  EXPECT_EQ(r.status().message().find("SOMEONE-ELSE-42"), std::string::npos);
}

TEST_F(AllianceEngineTest, BatchCommitsAnEpisodeTogetherAndReportsEachEvent) {
  std::vector<v1::SessionEvent> batch = {Held("a", 1), Srs("a", 1, 30),
                                         Held("b", 1), Srs("a", 1, 30)};
  auto results = engine_->SubmitBatch("t", batch);
  ASSERT_EQ(results.size(), 4u);
  EXPECT_TRUE(results[0].ok());
  EXPECT_TRUE(results[1].ok());
  EXPECT_TRUE(results[2].ok());
  EXPECT_EQ(results[3].status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(engine_->GetAssessment("t", "a")->event_count(), 2);
  // The low score raised the episode's prompt; the held session raised the
  // clinician's, which is shown beside it.
  std::vector<std::string> kinds;
  for (const auto& p : results[1]->prompts()) kinds.push_back(p.kind());
  EXPECT_EQ(kinds, (std::vector<std::string>{"test.low_srs/low",
                                             "test.clinician/day"}));
}

TEST_F(AllianceEngineTest, ClinicianPromptIsOnePerDayAcrossEpisodes) {
  auto first = engine_->Submit("t", Held("a", 1));
  auto second = engine_->Submit("t", Held("b", 1));  // same day, same clinician
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(second.ok());
  store::PromptQuery q;
  q.tenant = "t";
  q.clinician_id = "clinician-1";
  auto page = store_->ListPrompts(q);
  ASSERT_TRUE(page.ok());
  int day_prompts = 0;
  for (const auto& p : page->prompts) {
    if (p.kind() == "test.clinician/day") {
      ++day_prompts;
      EXPECT_EQ(p.summary(), "2 sessions today");
      EXPECT_EQ(p.scope(), v1::PROMPT_SCOPE_CLINICIAN);
    }
  }
  EXPECT_EQ(day_prompts, 1);
}

TEST_F(AllianceEngineTest, ReplayOutlivesAConfigurationChange) {
  v1::SessionEvent srs = Srs("ep", 1, 30);
  auto first = engine_->Submit("t", srs);
  ASSERT_TRUE(first.ok());
  // The clinic later narrows the SRS total range: the stored event would no
  // longer validate, but resending it is still answered from storage.
  v1::ServerConfig narrowed = config_;
  for (auto& def : *narrowed.mutable_rules()->mutable_instruments()) {
    if (def.instrument() == v1::INSTRUMENT_SRS) def.set_total_min(32);
  }
  std::vector<std::unique_ptr<RuleModule>> modules;
  modules.push_back(std::make_unique<LowSrsModule>());
  auto engine =
      AllianceEngine::Create(store_.get(), narrowed, std::move(modules));
  ASSERT_TRUE(engine.ok());
  auto again = (*engine)->Submit("t", srs);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed());
  // A new event breaking the new rule is rejected as usual.
  auto fresh = (*engine)->Submit("t", Srs("ep", 2, 30));
  EXPECT_EQ(fresh.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(AllianceEngineTest, TenantsNeverSeeEachOther) {
  ASSERT_TRUE(engine_->Submit("tenant-a", Srs("ep", 1, 30)).ok());
  EXPECT_EQ(engine_->GetAssessment("tenant-b", "ep").status().code(),
            absl::StatusCode::kNotFound);
  // The same event id is independent per tenant.
  EXPECT_TRUE(engine_->Submit("tenant-b", Srs("ep", 1, 38)).ok());
  EXPECT_EQ(engine_->GetAssessment("tenant-a", "ep")->alliance().raw_total(),
            engine_->GetAssessment("tenant-a", "ep")->alliance().raw_total());
}

TEST_F(AllianceEngineTest, EpisodeCacheAnswersExactlyAsTheStoreWould) {
  // The same events through an engine with the cache and one without, each
  // on its own store: every response must be the same, byte for byte.
  std::unique_ptr<store::Store> cold_store = OpenStore("cold");
  ASSERT_NE(cold_store, nullptr);
  std::unique_ptr<AllianceEngine> cold =
      EngineOver(cold_store.get(), config_, 0);
  ASSERT_NE(cold, nullptr);
  std::vector<v1::SessionEvent> events;
  for (int session = 1; session <= 6; ++session) {
    for (const char* ep : {"a", "b", "c"}) {
      events.push_back(Held(ep, session));
      // A dip at session 2 raises a low-SRS prompt that settles; the one
      // from sessions 5-6 is still open at the end.
      events.push_back(
          Srs(ep, session, session == 2 || session >= 5 ? 28 : 39));
    }
  }
  for (const v1::SessionEvent& e : events) {
    auto warm_r = engine_->Submit("t", e);
    auto cold_r = cold->Submit("t", e);
    ASSERT_TRUE(warm_r.ok()) << warm_r.status();
    ASSERT_TRUE(cold_r.ok()) << cold_r.status();
    EXPECT_EQ(warm_r->SerializeAsString(), cold_r->SerializeAsString())
        << "event " << e.event_id();
  }
  // Feedback on a prompt the cached episode raised.
  store::PromptQuery query;
  query.tenant = "t";
  query.episode_id = "a";
  auto prompts = engine_->ListPrompts(query);
  ASSERT_TRUE(prompts.ok());
  ASSERT_FALSE(prompts->prompts.empty());
  v1::RecordPromptFeedbackRequest feedback;
  feedback.set_prompt_id(prompts->prompts[0].id());
  feedback.set_event_id("fb-1");
  feedback.set_outcome(v1::PromptFeedback::OUTCOME_ACCEPTED);
  *feedback.mutable_occurred_at() =
      ToProto(kStart + absl::Hours(24 * 7) * 6 + absl::Hours(2));
  auto warm_fb = engine_->RecordFeedback("t", feedback);
  auto cold_fb = cold->RecordFeedback("t", feedback);
  ASSERT_TRUE(warm_fb.ok()) << warm_fb.status();
  ASSERT_TRUE(cold_fb.ok()) << cold_fb.status();
  EXPECT_EQ(warm_fb->SerializeAsString(), cold_fb->SerializeAsString());
  auto warm_next = engine_->Submit("t", Held("a", 7));
  auto cold_next = cold->Submit("t", Held("a", 7));
  ASSERT_TRUE(warm_next.ok() && cold_next.ok());
  EXPECT_EQ(warm_next->SerializeAsString(), cold_next->SerializeAsString());

  const EpisodeCacheStats stats = engine_->episode_cache_stats();
  // Every event after an episode's first was served from memory.
  EXPECT_EQ(stats.misses, 3);
  EXPECT_EQ(stats.hits, static_cast<int64_t>(events.size()) + 2 - 3);
  EXPECT_EQ(stats.stale, 0);
  EXPECT_EQ(stats.entries, 3);
  EXPECT_EQ(cold->episode_cache_stats().hits, 0);
}

TEST_F(AllianceEngineTest, CachedEpisodeWrittenByAnotherReplicaIsReloaded) {
  // Two engines on one store: what two attuned replicas on one database do.
  std::unique_ptr<AllianceEngine> other = EngineOver(store_.get(), config_, 64);
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(engine_->Submit("t", Held("ep", 1)).ok());
  ASSERT_TRUE(other->Submit("t", Held("ep", 2)).ok());
  auto r = engine_->Submit("t", Held("ep", 3));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->assessment().event_count(), 3);
  EXPECT_EQ(r->assessment().sessions_held(), 3);
  EXPECT_EQ(engine_->episode_cache_stats().stale, 1);
  // And the next one is served from memory again.
  ASSERT_TRUE(engine_->Submit("t", Srs("ep", 3, 39)).ok());
  EXPECT_EQ(engine_->episode_cache_stats().stale, 1);
  EXPECT_EQ(engine_->GetAssessment("t", "ep")->event_count(), 4);
}

TEST_F(AllianceEngineTest, GetAssessmentIsServedFromTheCacheAndNeverStale) {
  std::unique_ptr<AllianceEngine> other = EngineOver(store_.get(), config_, 64);
  ASSERT_NE(other, nullptr);
  EXPECT_TRUE(absl::IsNotFound(engine_->GetAssessment("t", "ep").status()));
  ASSERT_TRUE(engine_->Submit("t", Held("ep", 1)).ok());
  const int64_t hits = engine_->episode_cache_stats().hits;
  auto first = engine_->GetAssessment("t", "ep");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->event_count(), 1);
  EXPECT_EQ(engine_->episode_cache_stats().hits, hits + 1);
  // Another replica adds an event: the kept copy is stale, the store's
  // assessment is returned.
  ASSERT_TRUE(other->Submit("t", Held("ep", 2)).ok());
  auto second = engine_->GetAssessment("t", "ep");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->event_count(), 2);
  EXPECT_EQ(second->sessions_held(), 2);
  EXPECT_EQ(engine_->episode_cache_stats().stale, 1);
  // A read of an episode not kept loads it and keeps it for the next event.
  auto cold = other->GetAssessment("t", "ep");
  ASSERT_TRUE(cold.ok());
  EXPECT_EQ(cold->SerializeAsString(), second->SerializeAsString());
}

TEST_F(AllianceEngineTest, ClinicianPromptChangedThroughAnotherEpisodeIsFresh) {
  // Episode a raises today's clinician prompt and is kept in memory; episode
  // b, same clinician and day, updates that prompt without touching a.
  ASSERT_TRUE(engine_->Submit("t", Held("a", 1)).ok());
  ASSERT_TRUE(engine_->Submit("t", Held("b", 1)).ok());
  auto r = engine_->Submit("t", Srs("a", 1, 39));
  ASSERT_TRUE(r.ok()) << r.status();
  int seen = 0;
  for (const v1::Prompt& p : r->prompts()) {
    if (p.kind() != "test.clinician/day") continue;
    ++seen;
    EXPECT_EQ(p.summary(), "2 sessions today");
  }
  EXPECT_EQ(seen, 1);
  EXPECT_GE(engine_->episode_cache_stats().hits, 1);
}

TEST_F(AllianceEngineTest, CacheOffLoadsEveryEpisodeFromTheStore) {
  std::unique_ptr<AllianceEngine> off = EngineOver(store_.get(), config_, 0);
  ASSERT_NE(off, nullptr);
  ASSERT_TRUE(off->Submit("t", Held("ep", 1)).ok());
  ASSERT_TRUE(off->Submit("t", Held("ep", 2)).ok());
  EXPECT_EQ(off->episode_cache_stats().hits, 0);
  EXPECT_EQ(off->episode_cache_stats().entries, 0);
}

}  // namespace
}  // namespace attune::engine
