// Whole clinical scenarios against a real attuned over real gRPC.
#include <algorithm>
#include <string>
#include <vector>

#include "attune/v1/rule_admin.grpc.pb.h"
#include "gtest/gtest.h"
#include "service/engine/episode_history.h"
#include "tests/integration/attuned_process.h"
#include "tests/integration/episode_script.h"

namespace attune::testing {
namespace {

class ScenarioTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<AttunedProcess>(MakeTempDir("scenario"));
    ASSERT_TRUE(server_->Start()) << server_->Log();
    stub_ = server_->stub();
  }

  void TearDown() override {
    stub_.reset();
    if (server_) {
      EXPECT_EQ(server_->Stop(), 0) << server_->Log();
    }
  }

  grpc::Status Submit(const v1::SessionEvent& e,
                      v1::SubmitEventResponse* out = nullptr) {
    v1::SubmitEventRequest req;
    *req.mutable_event() = e;
    v1::SubmitEventResponse resp;
    grpc::Status s = stub_->SubmitEvent(Context().get(), req, &resp);
    if (out) *out = resp;
    last_ = resp;
    return s;
  }

  // Submits all events, failing the test on any error; returns the
  // responses.
  std::vector<v1::SubmitEventResponse> SubmitAll(
      const std::vector<v1::SessionEvent>& events) {
    std::vector<v1::SubmitEventResponse> out;
    for (const auto& e : events) {
      v1::SubmitEventResponse r;
      grpc::Status s = Submit(e, &r);
      EXPECT_TRUE(s.ok()) << e.event_id() << ": " << s.error_message();
      out.push_back(r);
    }
    return out;
  }

  static const v1::Prompt* Find(const v1::SubmitEventResponse& r,
                                const std::string& kind) {
    for (const auto& p : r.prompts()) {
      if (p.kind() == kind) return &p;
    }
    return nullptr;
  }

  static bool AnyWarning(const std::vector<v1::SubmitEventResponse>& rs) {
    for (const auto& r : rs) {
      for (const auto& p : r.prompts()) {
        if (p.severity() >= v1::SEVERITY_WARNING) return true;
      }
    }
    return false;
  }

  v1::Assessment Assess(const std::string& episode_id) {
    v1::GetAssessmentRequest req;
    req.set_episode_id(episode_id);
    v1::GetAssessmentResponse resp;
    EXPECT_TRUE(stub_->GetAssessment(Context().get(), req, &resp).ok());
    return resp.assessment();
  }

  std::unique_ptr<AttunedProcess> server_;
  std::unique_ptr<v1::AllianceService::Stub> stub_;
  v1::SubmitEventResponse last_;
};

// A course that goes well: goals at session 2, SRS high and steady.
std::vector<v1::SessionEvent> SteadyCourse(EpisodeScript& s, int sessions) {
  std::vector<v1::SessionEvent> events;
  const double srs[] = {37, 38.5, 38, 39, 38.4, 38.8, 39.2, 38.6, 39, 39.4};
  for (int n = 1; n <= sessions; ++n) {
    events.push_back(s.Held(n, n >= 5));
    events.push_back(s.Srs(n, srs[(n - 1) % 10]));
    if (n == 2) events.push_back(s.Goals(2));
  }
  return events;
}

TEST_F(ScenarioTest, SteadyAllianceRaisesNoWarning) {
  EpisodeScript s("client-steady", "clin-1", "ep-steady");
  std::vector<v1::SubmitEventResponse> rs = SubmitAll(SteadyCourse(s, 10));
  EXPECT_FALSE(AnyWarning(rs));
  v1::Assessment a = Assess("ep-steady");
  EXPECT_EQ(a.phase().phase(), v1::PHASE_CHALLENGE);
  EXPECT_TRUE(a.phase().alliance_established());
  EXPECT_EQ(a.rupture().status(), v1::RUPTURE_STATUS_NONE);
  EXPECT_EQ(a.alliance().band(), v1::ALLIANCE_BAND_STRONG);
  EXPECT_EQ(a.sessions_held(), 10);
  EXPECT_EQ(a.event_count(), 21);
}

TEST_F(ScenarioTest, RuptureAfterChallengingSessionThenRepair) {
  EpisodeScript s("client-r", "clin-1", "ep-rupture");
  SubmitAll(SteadyCourse(s, 4));
  // Session 5: challenging work begins and the SRS falls below the cut-off.
  SubmitAll({s.Held(5, /*challenging=*/true)});
  v1::SubmitEventResponse r;
  ASSERT_TRUE(Submit(s.Srs(5, 30), &r).ok());
  const v1::Prompt* rupture = Find(r, "attune.rupture/check_rupture");
  ASSERT_NE(rupture, nullptr);
  EXPECT_EQ(rupture->severity(), v1::SEVERITY_WARNING);
  EXPECT_EQ(rupture->status(), v1::PROMPT_STATUS_ACTIVE);
  EXPECT_LT(rupture->summary().size(), 140u);
  EXPECT_FALSE(rupture->evidence().empty());
  EXPECT_EQ(rupture->module_id(), "attune.rupture");
  EXPECT_FALSE(rupture->module_version().empty());
  EXPECT_EQ(r.assessment().rupture().status(), v1::RUPTURE_STATUS_SUSPECTED);
  EXPECT_TRUE(r.assessment().rupture().after_challenging_session());
  EXPECT_EQ(r.assessment().alliance().band(), v1::ALLIANCE_BAND_RUPTURED);
  std::string rupture_id = rupture->id();

  // Session 6: back to (above) the level before the drop, 39. The rupture
  // prompt resolves and a "repaired" note appears.
  SubmitAll({s.Held(6, true)});
  ASSERT_TRUE(Submit(s.Srs(6, 39.2), &r).ok());
  EXPECT_EQ(r.assessment().rupture().status(), v1::RUPTURE_STATUS_REPAIRED);
  EXPECT_EQ(Find(r, "attune.rupture/check_rupture"), nullptr);
  EXPECT_NE(Find(r, "attune.repair/rupture_repaired"), nullptr);
  bool resolved = false;
  for (const auto& p : r.changed()) {
    if (p.id() == rupture_id) {
      resolved = p.status() == v1::PROMPT_STATUS_RESOLVED;
    }
  }
  EXPECT_TRUE(resolved);
}

TEST_F(ScenarioTest, RuptureThenLateCancelAndNoShowRaisesDropoutRisk) {
  EpisodeScript s("client-d", "clin-1", "ep-dropout");
  SubmitAll(SteadyCourse(s, 4));
  SubmitAll(s.Session(5, 29, true));
  v1::SubmitEventResponse r;
  ASSERT_TRUE(Submit(s.LateCancel(6), &r).ok());
  ASSERT_TRUE(Submit(s.NoShow(7), &r).ok());
  const v1::Prompt* dropout = Find(r, "attune.dropout_risk/reach_out");
  ASSERT_NE(dropout, nullptr);
  EXPECT_EQ(dropout->severity(), v1::SEVERITY_WARNING);
  // The budget still shows at most two.
  EXPECT_LE(r.prompts_size(), 2);
}

TEST_F(ScenarioTest, AllianceNeverEstablishedBySessionFive) {
  EpisodeScript s("client-n", "clin-1", "ep-never");
  std::vector<v1::SessionEvent> events = {s.Goals(1)};
  const double srs[] = {31, 32, 30.5, 33, 32, 31.5};
  for (int n = 1; n <= 6; ++n) {
    for (auto& e : s.Session(n, srs[n - 1])) events.push_back(e);
  }
  std::vector<v1::SubmitEventResponse> rs = SubmitAll(events);
  const v1::Prompt* p =
      Find(rs.back(), "attune.phase/alliance_not_established");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->severity(), v1::SEVERITY_WARNING);
  EXPECT_EQ(rs.back().assessment().phase().phase(), v1::PHASE_COMING_TOGETHER);
  // Low but stable scores are not a rupture.
  EXPECT_EQ(Find(rs.back(), "attune.rupture/check_rupture"), nullptr);
}

TEST_F(ScenarioTest, ClientRatingBelowTherapist) {
  EpisodeScript s("client-b", "clin-1", "ep-below");
  SubmitAll(SteadyCourse(s, 3));
  SubmitAll({s.Held(4), s.Srs(4, 30)});
  v1::SubmitEventResponse r;
  ASSERT_TRUE(Submit(s.Srs(4, 38, v1::RATER_THERAPIST), &r).ok());
  bool found = false;
  for (const auto& p : r.changed()) {
    found |= p.kind() == "attune.rater_discrepancy/client_below_therapist";
  }
  EXPECT_TRUE(found);
}

TEST_F(ScenarioTest, IdempotentResubmissionAndConflictingReuse) {
  EpisodeScript s("client-i", "clin-1", "ep-idem");
  v1::SessionEvent held = s.Held(1);
  v1::SubmitEventResponse first, again;
  ASSERT_TRUE(Submit(held, &first).ok());
  EXPECT_FALSE(first.replayed());
  ASSERT_TRUE(Submit(held, &again).ok());
  EXPECT_TRUE(again.replayed());
  again.set_replayed(false);
  EXPECT_EQ(again.SerializeAsString(), first.SerializeAsString());

  v1::SessionEvent changed = held;
  changed.mutable_session_held()->set_challenging_interventions(true);
  grpc::Status st = Submit(changed);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_NE(st.error_message().find("event_id"), std::string::npos);
  EXPECT_EQ(Assess("ep-idem").event_count(), 1);
}

TEST_F(ScenarioTest, InvalidEventNamesTheFieldAndChangesNothing) {
  EpisodeScript s("client-v", "clin-1", "ep-invalid");
  SubmitAll(SteadyCourse(s, 2));
  v1::Assessment before = Assess("ep-invalid");

  v1::SessionEvent bad = s.Srs(3, 36);
  bad.mutable_measure_recorded()->set_items(2, 11);
  bad.mutable_measure_recorded()->set_has_total(false);
  grpc::Status st = Submit(bad);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("measure_recorded.items[2]"),
            std::string::npos)
      << st.error_message();

  v1::SessionEvent future = s.Held(3);
  *future.mutable_occurred_at() =
      engine::ToProto(absl::Now() + absl::Hours(24 * 30));
  st = Submit(future);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("occurred_at"), std::string::npos);

  v1::SessionEvent zero = s.Held(0);
  st = Submit(zero);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("session_number"), std::string::npos);

  v1::Assessment after = Assess("ep-invalid");
  EXPECT_EQ(after.SerializeAsString(), before.SerializeAsString());
  // The rejected event's id was not consumed.
  v1::SessionEvent fixed = bad;
  fixed.mutable_measure_recorded()->set_items(2, 9);
  EXPECT_TRUE(Submit(fixed).ok());
}

TEST_F(ScenarioTest, LateMeasureIsPlacedInItsSession) {
  EpisodeScript in_order("client-l", "clin-1", "ep-inorder");
  EpisodeScript late("client-l2", "clin-1", "ep-late");
  std::vector<v1::SessionEvent> a = SteadyCourse(in_order, 5);
  std::vector<v1::SessionEvent> b = SteadyCourse(late, 5);
  // Move session 3's SRS to the end.
  auto srs3 = std::find_if(b.begin(), b.end(), [](const v1::SessionEvent& e) {
    return e.has_measure_recorded() &&
           e.measure_recorded().session_number() == 3;
  });
  v1::SessionEvent moved = *srs3;
  b.erase(srs3);
  b.push_back(moved);
  SubmitAll(a);
  SubmitAll(b);
  v1::Assessment x = Assess("ep-inorder");
  v1::Assessment y = Assess("ep-late");
  EXPECT_EQ(x.phase().phase(), y.phase().phase());
  EXPECT_EQ(x.alliance().band(), y.alliance().band());
  EXPECT_EQ(x.alliance().trend(), y.alliance().trend());
  EXPECT_EQ(x.alliance().raw_total(), y.alliance().raw_total());
}

TEST_F(ScenarioTest, BatchSubmitReportsEachEvent) {
  EpisodeScript s("client-batch", "clin-1", "ep-batch");
  v1::SubmitEventsRequest req;
  for (const auto& e : SteadyCourse(s, 3)) *req.add_events() = e;
  v1::SessionEvent bad = s.Held(4);
  bad.clear_episode();
  *req.add_events() = bad;
  v1::SubmitEventsResponse resp;
  ASSERT_TRUE(stub_->SubmitEvents(Context().get(), req, &resp).ok());
  EXPECT_EQ(resp.accepted(), 7);
  EXPECT_EQ(resp.rejected(), 1);
  ASSERT_EQ(resp.results_size(), 8);
  EXPECT_EQ(resp.results(7).code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(resp.results(7).message().find("episode"), std::string::npos);
  EXPECT_EQ(Assess("ep-batch").event_count(), 7);
}

TEST_F(ScenarioTest, LargeBackfillBatchFitsAndResultsOnlyIsCompact) {
  // 600 events: their full responses exceed the 1 MiB request limit, which
  // must not apply to what the server sends back.
  v1::SubmitEventsRequest req;
  for (int e = 0; e < 30; ++e) {
    EpisodeScript s("client-bf-" + std::to_string(e), "clin-bf",
                    "ep-bf-" + std::to_string(e));
    for (const auto& ev : SteadyCourse(s, 10)) {
      if (!ev.has_goals_agreed()) *req.add_events() = ev;
    }
  }
  ASSERT_EQ(req.events_size(), 600);
  v1::SubmitEventsResponse resp;
  ASSERT_TRUE(stub_->SubmitEvents(Context().get(), req, &resp).ok());
  EXPECT_EQ(resp.accepted(), 600);
  EXPECT_GT(resp.ByteSizeLong(), 1u << 20);

  // Resubmitted with results_only: all replays, no responses.
  req.set_results_only(true);
  ASSERT_TRUE(stub_->SubmitEvents(Context().get(), req, &resp).ok());
  EXPECT_EQ(resp.accepted(), 600);
  for (const auto& r : resp.results()) EXPECT_FALSE(r.has_response());
  EXPECT_LT(resp.ByteSizeLong(), 64u << 10);
}

TEST_F(ScenarioTest, FeedbackDismissesAndListsByClinician) {
  // A recent course: prompts are listed only until they expire.
  EpisodeScript s("client-f", "clin-fb", "ep-feedback",
                  absl::Now() - absl::Hours(24 * 7 * 5));
  SubmitAll(SteadyCourse(s, 4));
  v1::SubmitEventResponse r;
  SubmitAll({s.Held(5, true)});
  ASSERT_TRUE(Submit(s.Srs(5, 30), &r).ok());
  const v1::Prompt* p = Find(r, "attune.rupture/check_rupture");
  ASSERT_NE(p, nullptr);

  v1::ListPromptsRequest list;
  list.set_clinician_id("clin-fb");
  v1::ListPromptsResponse listed;
  ASSERT_TRUE(stub_->ListPrompts(Context().get(), list, &listed).ok());
  ASSERT_GE(listed.prompts_size(), 1);

  v1::RecordPromptFeedbackRequest fb;
  fb.set_event_id("fb-1");
  fb.set_prompt_id(p->id());
  fb.set_outcome(v1::PromptFeedback::OUTCOME_DISMISSED);
  fb.set_reason(v1::PromptFeedback::DISMISS_REASON_ALREADY_ADDRESSED);
  v1::RecordPromptFeedbackResponse fr;
  ASSERT_TRUE(stub_->RecordPromptFeedback(Context().get(), fb, &fr).ok());
  EXPECT_EQ(fr.prompt().status(), v1::PROMPT_STATUS_DISMISSED);
  // Retrying the same feedback is idempotent.
  ASSERT_TRUE(stub_->RecordPromptFeedback(Context().get(), fb, &fr).ok());
  EXPECT_EQ(fr.prompt().status(), v1::PROMPT_STATUS_DISMISSED);

  list.Clear();
  list.set_episode_id("ep-feedback");
  ASSERT_TRUE(stub_->ListPrompts(Context().get(), list, &listed).ok());
  for (const auto& q : listed.prompts()) EXPECT_NE(q.id(), p->id());

  // The dismissal is counted against the rupture rule.
  auto admin = v1::RuleAdmin::NewStub(server_->channel());
  v1::ListModulesResponse modules;
  ASSERT_TRUE(
      admin->ListModules(Context().get(), v1::ListModulesRequest(), &modules)
          .ok());
  ASSERT_EQ(modules.modules_size(), 9);
  EXPECT_EQ(modules.modules(0).id(), "attune.alliance");
  for (const auto& m : modules.modules()) {
    EXPECT_TRUE(m.enabled()) << m.id();
    EXPECT_GT(m.evaluations(), 0) << m.id();
    EXPECT_EQ(m.errors(), 0) << m.id();
    EXPECT_EQ(m.feedback().dismissed(), m.id() == "attune.rupture" ? 1 : 0);
  }

  // An unknown prompt is NOT_FOUND.
  fb.set_event_id("fb-2");
  fb.set_prompt_id("p-unknown");
  EXPECT_EQ(stub_->RecordPromptFeedback(Context().get(), fb, &fr).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ScenarioTest, WatchPromptsStreamsANewPromptLive) {
  EpisodeScript s("client-w", "clin-w", "ep-watch");
  SubmitAll(SteadyCourse(s, 4));
  grpc::ClientContext ctx;
  v1::WatchPromptsRequest req;
  req.set_episode_id("ep-watch");
  auto reader = stub_->WatchPrompts(&ctx, req);
  SubmitAll({s.Held(5, true), s.Srs(5, 29)});
  v1::PromptUpdate update;
  bool saw_rupture = false;
  while (!saw_rupture && reader->Read(&update)) {
    saw_rupture = update.prompt().kind() == "attune.rupture/check_rupture" &&
                  !update.initial();
  }
  EXPECT_TRUE(saw_rupture);
  ctx.TryCancel();
  reader->Finish();

  // A new watcher starts with the current state, marked initial.
  grpc::ClientContext ctx2;
  ctx2.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(10));
  auto reader2 = stub_->WatchPrompts(&ctx2, req);
  ASSERT_TRUE(reader2->Read(&update));
  EXPECT_TRUE(update.initial());
  EXPECT_EQ(update.prompt().kind(), "attune.rupture/check_rupture");
  ctx2.TryCancel();
  reader2->Finish();
}

TEST_F(ScenarioTest, RestartLosesNothingAcknowledged) {
  EpisodeScript s("client-rs", "clin-1", "ep-restart");
  SubmitAll(SteadyCourse(s, 4));
  SubmitAll({s.Held(5, true)});
  v1::SessionEvent srs = s.Srs(5, 30);
  v1::SubmitEventResponse before;
  ASSERT_TRUE(Submit(srs, &before).ok());
  v1::Assessment a1 = Assess("ep-restart");

  ASSERT_EQ(server_->Stop(), 0);
  server_ = std::make_unique<AttunedProcess>(server_->dir());
  ASSERT_TRUE(server_->Start()) << server_->Log();
  stub_ = server_->stub();

  EXPECT_EQ(Assess("ep-restart").SerializeAsString(), a1.SerializeAsString());
  v1::SubmitEventResponse replay;
  ASSERT_TRUE(Submit(srs, &replay).ok());
  EXPECT_TRUE(replay.replayed());
  EXPECT_EQ(replay.prompts_size(), before.prompts_size());
}

TEST_F(ScenarioTest, NoIdentifierReachesLogsOrErrors) {
  const std::string kClient = "CLIENT-PHI-7731";
  const std::string kClinician = "CLINICIAN-PHI-4409";
  const std::string kEpisode = "EPISODE-PHI-5120";
  EpisodeScript s(kClient, kClinician, kEpisode);
  std::vector<std::string> errors;
  SubmitAll(SteadyCourse(s, 4));
  SubmitAll({s.Held(5, true), s.Srs(5, 28)});
  // Failing calls of every kind.
  v1::SessionEvent bad = s.Srs(6, 30);
  bad.mutable_measure_recorded()->set_items(0, 42);
  errors.push_back(Submit(bad).error_message());
  v1::SessionEvent other_client = s.Held(6);
  other_client.mutable_episode()->set_client_id("CLIENT-PHI-OTHER");
  errors.push_back(Submit(other_client).error_message());
  v1::GetAssessmentRequest ga;
  ga.set_episode_id("EPISODE-PHI-MISSING");
  v1::GetAssessmentResponse gr;
  errors.push_back(
      stub_->GetAssessment(Context().get(), ga, &gr).error_message());
  v1::RecordPromptFeedbackRequest fb;
  fb.set_event_id("fb-phi");
  fb.set_prompt_id("PROMPT-PHI-NOPE");
  fb.set_outcome(v1::PromptFeedback::OUTCOME_ACCEPTED);
  v1::RecordPromptFeedbackResponse fr;
  errors.push_back(
      stub_->RecordPromptFeedback(Context().get(), fb, &fr).error_message());
  ASSERT_EQ(server_->Stop(), 0);
  std::string log = server_->Log();
  EXPECT_FALSE(log.empty());
  for (const std::string& secret :
       {kClient, kClinician, kEpisode, std::string("CLIENT-PHI-OTHER"),
        std::string("EPISODE-PHI-MISSING"), std::string("PROMPT-PHI-NOPE")}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << secret;
    for (const std::string& e : errors) {
      EXPECT_FALSE(e.empty());
      EXPECT_EQ(e.find(secret), std::string::npos) << e;
    }
  }
  server_.reset();
}

}  // namespace
}  // namespace attune::testing
