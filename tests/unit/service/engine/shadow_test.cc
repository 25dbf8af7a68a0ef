// Shadow mode through the engine: a module in shadow for one tenant runs and
// its prompts are stored, yet they never surface anywhere a clinician could
// see them (response, changed, ListPrompts, the watch bus, feedback) and
// never change the assessment; RuleAdmin.CompareShadow is the only way to
// see them. The same module live for another tenant shows everything, so
// every "nothing" below is measured against a "something".
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "service/config/config_loader.h"
#include "service/engine/alliance_engine.h"
#include "service/engine/prompt_reconciler.h"
#include "service/store/sqlite/sqlite_store.h"

namespace attune::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;

const absl::Time kStart = absl::Now() - absl::Hours(24 * 7 * 20);

// Proposes a warning while the latest client SRS total is in [low, high),
// and always writes its mark into the assessment's rupture section, so a
// leak of a shadow module's writes would show.
class SrsBandModule : public RuleModule {
 public:
  SrsBandModule(std::string id, double low, double high)
      : id_(std::move(id)), low_(low), high_(high) {}
  std::string_view id() const override { return id_; }
  std::string_view version() const override { return "1.0.0"; }
  bool Enabled(const v1::RulesConfig&) const override { return true; }
  absl::Status Evaluate(const RuleInput& in, RuleOutput& out) const override {
    out.assessment->mutable_rupture()->set_status(v1::RUPTURE_STATUS_SUSPECTED);
    out.assessment->mutable_rupture()->add_evidence()->set_name(id_);
    double latest = -1;
    for (const auto& [n, s] : in.history.sessions()) {
      for (const auto& m : s.measures) latest = m.total;
    }
    if (latest >= low_ && latest < high_) {
      ProposedPrompt p;
      p.prompt.set_kind(id_ + "/low");
      p.prompt.set_severity(v1::SEVERITY_WARNING);
      p.prompt.set_summary("SRS in band");
      p.strength = high_ - latest;
      out.prompts.push_back(p);
    }
    return absl::OkStatus();
  }

 private:
  std::string id_;
  double low_;
  double high_;
};

// Writes to the assessment, then fails every evaluation.
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

// test.srs_v2 is the candidate (fires below 36, from 20), test.srs_v1 the
// module it would replace (fires below 30).
std::vector<std::unique_ptr<RuleModule>> Modules() {
  std::vector<std::unique_ptr<RuleModule>> modules;
  modules.push_back(std::make_unique<SrsBandModule>("test.srs_v1", 0, 30));
  modules.push_back(std::make_unique<SrsBandModule>("test.srs_v2", 20, 36));
  modules.push_back(std::make_unique<BrokenModule>());
  return modules;
}

v1::ServerConfig Defaults() {
  absl::StatusOr<v1::ServerConfig> config = config::DefaultConfig();
  EXPECT_TRUE(config.ok()) << config.status();
  v1::ServerConfig out = config.value_or(v1::ServerConfig());
  // test.broken only runs where a test turns it on.
  v1::ModuleSettings* off = out.mutable_rules()->add_modules();
  off->set_module_id("test.broken");
  off->set_enabled(false);
  return out;
}

v1::ModuleSettings* Settings(v1::RulesConfig* rules, const std::string& id) {
  v1::ModuleSettings* s = rules->add_modules();
  s->set_module_id(id);
  return s;
}

v1::RulesConfig* AddTenant(v1::ServerConfig& config, const std::string& name) {
  v1::TenantRules* t = config.add_tenants();
  t->set_tenant(name);
  return t->mutable_rules();
}

// Every prompt the bus delivers for one filter.
class BusRecorder {
 public:
  BusRecorder(PromptBus& bus, PromptFilter filter) : bus_(bus) {
    token_ = bus_.Subscribe(
        std::move(filter),
        [this](const v1::Prompt& p) {
          std::lock_guard<std::mutex> lock(mu_);
          prompts_.push_back(p);
        },
        [] {});
  }
  ~BusRecorder() { bus_.Unsubscribe(token_); }

  std::vector<v1::Prompt> prompts() const {
    std::lock_guard<std::mutex> lock(mu_);
    return prompts_;
  }

 private:
  PromptBus& bus_;
  int64_t token_ = 0;
  mutable std::mutex mu_;
  std::vector<v1::Prompt> prompts_;
};

std::vector<std::string> Kinds(const std::vector<v1::Prompt>& prompts) {
  std::vector<std::string> kinds;
  for (const v1::Prompt& p : prompts) kinds.push_back(p.kind());
  return kinds;
}

template <typename Repeated>
std::vector<std::string> Kinds(const Repeated& prompts) {
  return Kinds(std::vector<v1::Prompt>(prompts.begin(), prompts.end()));
}

class ShadowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::SqliteStoreOptions options;
    options.path =
        ::testing::TempDir() + "shadow-" +
        ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db";
    std::remove(options.path.c_str());
    std::remove((options.path + "-wal").c_str());
    std::remove((options.path + "-shm").c_str());
    auto store = store::OpenSqliteStore(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  void StartEngine(const v1::ServerConfig& config) {
    auto engine = AllianceEngine::Create(store_.get(), config, Modules());
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }

  static v1::SessionEvent Event(const std::string& episode,
                                const std::string& id, int session) {
    v1::SessionEvent e;
    e.set_event_id(id);
    *e.mutable_occurred_at() =
        ToProto(kStart + absl::Hours(24 * 7) * session + absl::Minutes(50));
    e.mutable_episode()->set_client_id("client-" + episode);
    e.mutable_episode()->set_clinician_id("clinician-1");
    e.mutable_episode()->set_episode_id(episode);
    return e;
  }

  static v1::SessionEvent Held(const std::string& episode, int session) {
    v1::SessionEvent e =
        Event(episode, absl::StrCat(episode, "-held-", session), session);
    auto* h = e.mutable_session_held();
    h->set_session_number(session);
    *h->mutable_start() = ToProto(kStart + absl::Hours(24 * 7) * session);
    *h->mutable_end() =
        ToProto(kStart + absl::Hours(24 * 7) * session + absl::Minutes(50));
    return e;
  }

  static v1::SessionEvent Srs(const std::string& episode, int session,
                              double total) {
    v1::SessionEvent e =
        Event(episode, absl::StrCat(episode, "-srs-", session), session);
    auto* m = e.mutable_measure_recorded();
    m->set_session_number(session);
    m->set_instrument(v1::INSTRUMENT_SRS);
    m->set_rater(v1::RATER_CLIENT);
    m->set_total(total);
    m->set_has_total(true);
    return e;
  }

  // Submits a held session and its SRS; returns both responses.
  std::vector<v1::SubmitEventResponse> Session(const std::string& tenant,
                                               const std::string& episode,
                                               int session, double srs) {
    std::vector<v1::SubmitEventResponse> out;
    for (const v1::SessionEvent& e :
         {Held(episode, session), Srs(episode, session, srs)}) {
      absl::StatusOr<v1::SubmitEventResponse> r = engine_->Submit(tenant, e);
      EXPECT_TRUE(r.ok()) << r.status();
      if (r.ok()) out.push_back(*std::move(r));
    }
    return out;
  }

  // Every prompt the engine lists, any status.
  std::vector<v1::Prompt> Listed(const std::string& tenant,
                                 const std::string& episode_id,
                                 const std::string& clinician_id) {
    store::PromptQuery q;
    q.tenant = tenant;
    q.episode_id = episode_id;
    q.clinician_id = clinician_id;
    for (int s = v1::PromptStatus_MIN; s <= v1::PromptStatus_MAX; ++s) {
      if (s != v1::PROMPT_STATUS_UNSPECIFIED && v1::PromptStatus_IsValid(s)) {
        q.statuses.push_back(static_cast<v1::PromptStatus>(s));
      }
    }
    absl::StatusOr<store::PromptPage> page = engine_->ListPrompts(q);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) return {};
    EXPECT_THAT(page->next_page_token, IsEmpty());
    return page->prompts;
  }

  absl::StatusOr<v1::CompareShadowResponse> Compare(
      const std::string& tenant, const std::string& shadow,
      const std::string& live = "", int max_episodes = 0) {
    v1::CompareShadowRequest req;
    req.set_shadow_module_id(shadow);
    req.set_live_module_id(live);
    req.set_max_episodes(max_episodes);
    return engine_->CompareShadow(tenant, req);
  }

  std::unique_ptr<store::Store> store_;
  std::unique_ptr<AllianceEngine> engine_;
};

TEST_F(ShadowTest, ShadowModuleNeverSurfacesAPromptYetCompareShowsIt) {
  v1::ServerConfig config = Defaults();
  Settings(AddTenant(config, "tenant-a"), "test.srs_v2")->set_shadow(true);
  // tenant-b: the defaults, test.srs_v2 live. tenant-c: without it at all.
  Settings(AddTenant(config, "tenant-c"), "test.srs_v2")->set_enabled(false);
  StartEngine(config);

  struct Seen {
    std::vector<v1::SubmitEventResponse> responses;
    std::vector<v1::Prompt> bus_episode;
    std::vector<v1::Prompt> bus_clinician;
  };
  std::map<std::string, Seen> seen;
  for (const std::string tenant : {"tenant-a", "tenant-b", "tenant-c"}) {
    BusRecorder by_episode(engine_->bus(), PromptFilter{tenant, "ep-1", ""});
    BusRecorder by_clinician(engine_->bus(),
                             PromptFilter{tenant, "", "clinician-1"});
    // SRS 33: only test.srs_v2 fires.
    seen[tenant].responses = Session(tenant, "ep-1", 1, 33);
    ASSERT_THAT(seen[tenant].responses, SizeIs(2));
    seen[tenant].bus_episode = by_episode.prompts();
    seen[tenant].bus_clinician = by_clinician.prompts();
  }

  // Live for tenant-b: everywhere.
  const Seen& b = seen["tenant-b"];
  EXPECT_THAT(Kinds(b.responses[1].prompts()), ElementsAre("test.srs_v2/low"));
  EXPECT_THAT(Kinds(b.responses[1].changed()), ElementsAre("test.srs_v2/low"));
  EXPECT_THAT(Kinds(b.bus_episode), ElementsAre("test.srs_v2/low"));
  EXPECT_THAT(Kinds(b.bus_clinician), ElementsAre("test.srs_v2/low"));
  EXPECT_THAT(Kinds(Listed("tenant-b", "ep-1", "")),
              ElementsAre("test.srs_v2/low"));
  EXPECT_THAT(Kinds(Listed("tenant-b", "", "clinician-1")),
              ElementsAre("test.srs_v2/low"));

  // Shadow for tenant-a: nowhere.
  const Seen& a = seen["tenant-a"];
  for (const v1::SubmitEventResponse& r : a.responses) {
    EXPECT_THAT(r.prompts(), IsEmpty());
    EXPECT_THAT(r.changed(), IsEmpty());
  }
  EXPECT_THAT(a.bus_episode, IsEmpty());
  EXPECT_THAT(a.bus_clinician, IsEmpty());
  EXPECT_THAT(Listed("tenant-a", "ep-1", ""), IsEmpty());
  EXPECT_THAT(Listed("tenant-a", "", "clinician-1"), IsEmpty());

  // The assessment is as if the module were not loaded (tenant-c), and the
  // module does write one when live (tenant-b).
  absl::StatusOr<v1::Assessment> with_shadow =
      engine_->GetAssessment("tenant-a", "ep-1");
  absl::StatusOr<v1::Assessment> without =
      engine_->GetAssessment("tenant-c", "ep-1");
  absl::StatusOr<v1::Assessment> live =
      engine_->GetAssessment("tenant-b", "ep-1");
  ASSERT_TRUE(with_shadow.ok() && without.ok() && live.ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*with_shadow,
                                                                 *without))
      << with_shadow->DebugString() << "\nvs\n"
      << without->DebugString();
  auto marks = [](const v1::Assessment& a) {
    std::vector<std::string> names;
    for (const v1::Evidence& e : a.rupture().evidence()) {
      names.push_back(e.name());
    }
    return names;
  };
  EXPECT_THAT(marks(*live), ElementsAre("test.srs_v1", "test.srs_v2"));
  EXPECT_THAT(marks(*with_shadow), ElementsAre("test.srs_v1"));

  // Yet the module ran and its would-be prompt was recorded.
  absl::StatusOr<v1::CompareShadowResponse> compared =
      Compare("tenant-a", "test.srs_v2");
  ASSERT_TRUE(compared.ok()) << compared.status();
  EXPECT_EQ(compared->summary().shadow_prompts(), 1);
  EXPECT_EQ(compared->summary().episodes_with_shadow(), 1);
  EXPECT_EQ(compared->summary().live_prompts(), 0);
  ASSERT_THAT(compared->episodes(), SizeIs(1));
  EXPECT_EQ(compared->episodes(0).episode_id(), "ep-1");
  ASSERT_THAT(compared->episodes(0).shadow_prompts(), SizeIs(1));
  const v1::Prompt shadow = compared->episodes(0).shadow_prompts(0);
  EXPECT_TRUE(shadow.shadow());
  EXPECT_EQ(shadow.kind(), "test.srs_v2/low");
  EXPECT_EQ(shadow.module_id(), "test.srs_v2");
  EXPECT_EQ(shadow.raised_at_session(), 1);

  // It exists in the store, but a clinician cannot react to it.
  absl::StatusOr<std::optional<v1::Prompt>> stored =
      store_->GetPrompt("tenant-a", shadow.id());
  ASSERT_TRUE(stored.ok() && stored->has_value());
  v1::RecordPromptFeedbackRequest feedback;
  feedback.set_prompt_id(shadow.id());
  feedback.set_event_id("fb-1");
  feedback.set_outcome(v1::PromptFeedback::OUTCOME_ACCEPTED);
  EXPECT_EQ(engine_->RecordFeedback("tenant-a", feedback).status().code(),
            absl::StatusCode::kNotFound);
  // Nothing was stored by the refused feedback.
  EXPECT_EQ(engine_->GetAssessment("tenant-a", "ep-1")->event_count(), 2);

  // Where the module is live there is nothing in shadow to compare.
  absl::StatusOr<v1::CompareShadowResponse> for_b =
      Compare("tenant-b", "test.srs_v2");
  ASSERT_TRUE(for_b.ok()) << for_b.status();
  EXPECT_EQ(for_b->summary().shadow_prompts(), 0);
  EXPECT_THAT(for_b->episodes(), IsEmpty());
}

TEST_F(ShadowTest, FailingShadowModuleNeverFailsTheRequest) {
  v1::ServerConfig config = Defaults();
  v1::ModulePolicy* policy = config.mutable_rules()->add_module_policies();
  policy->set_module_id("test.broken");
  policy->set_on_error(v1::ModulePolicy::ON_ERROR_FAIL);
  v1::ModuleSettings* shadow =
      Settings(AddTenant(config, "tenant-a"), "test.broken");
  shadow->set_enabled(true);
  shadow->set_shadow(true);
  Settings(AddTenant(config, "tenant-b"), "test.broken")->set_enabled(true);
  StartEngine(config);

  // Live, the policy fails the request...
  absl::StatusOr<v1::SubmitEventResponse> live =
      engine_->Submit("tenant-b", Srs("ep-1", 1, 33));
  EXPECT_EQ(live.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(live.status().message()), HasSubstr("test.broken"));

  // ...in shadow, never: the live modules' prompts arrive as usual and the
  // broken module's partial write is gone.
  absl::StatusOr<v1::SubmitEventResponse> shadowed =
      engine_->Submit("tenant-a", Srs("ep-1", 1, 33));
  ASSERT_TRUE(shadowed.ok()) << shadowed.status();
  EXPECT_THAT(Kinds(shadowed->prompts()), ElementsAre("test.srs_v2/low"));
  EXPECT_NE(shadowed->assessment().phase().phase(), v1::PHASE_CLOSED);
  std::shared_ptr<const RuleSet> set = engine_->rules();
  bool found = false;
  for (const ModuleHealth& h :
       set->pipeline().Health(set->RulesFor("tenant-a"))) {
    if (h.module_id != "test.broken") continue;
    found = true;
    EXPECT_TRUE(h.shadow);
    EXPECT_EQ(h.errors, 2);  // it did run, and fail, both times
  }
  EXPECT_TRUE(found);
}

TEST_F(ShadowTest, ModuleSwitchedFromShadowToLiveKeepsPromptsApart) {
  v1::ServerConfig config = Defaults();
  Settings(config.mutable_rules(), "test.srs_v2")->set_shadow(true);
  StartEngine(config);
  Session("t", "ep-1", 1, 33);
  absl::StatusOr<v1::CompareShadowResponse> before =
      Compare("t", "test.srs_v2");
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_EQ(before->summary().shadow_prompts(), 1);
  const std::string shadow_id = before->episodes(0).shadow_prompts(0).id();

  // Promoted: the same module, live.
  v1::ServerConfig promoted = Defaults();
  auto next = RuleSet::Create(promoted, Modules(), engine_->rules().get());
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_TRUE(engine_->InstallRules(*next).ok());

  BusRecorder bus(engine_->bus(), PromptFilter{"t", "ep-1", ""});
  std::vector<v1::SubmitEventResponse> after = Session("t", "ep-1", 2, 32);
  ASSERT_THAT(after, SizeIs(2));
  // A live prompt of its own: new id, not the shadow one taken over.
  ASSERT_THAT(after[1].prompts(), SizeIs(1));
  const v1::Prompt live = after[1].prompts(0);
  EXPECT_EQ(live.kind(), "test.srs_v2/low");
  EXPECT_FALSE(live.shadow());
  EXPECT_NE(live.id(), shadow_id);
  EXPECT_EQ(live.raised_at_session(), 2);
  // Only the live prompt is announced or listed; the shadow prompt's own
  // changes (it resolves, nothing proposes it any more) stay silent.
  for (const v1::Prompt& p : bus.prompts()) {
    EXPECT_EQ(p.id(), live.id());
    EXPECT_FALSE(p.shadow());
  }
  EXPECT_THAT(bus.prompts(), testing::Not(IsEmpty()));
  std::vector<v1::Prompt> listed = Listed("t", "ep-1", "");
  ASSERT_THAT(listed, SizeIs(1));
  EXPECT_EQ(listed[0].id(), live.id());
  absl::StatusOr<std::optional<v1::Prompt>> old =
      store_->GetPrompt("t", shadow_id);
  ASSERT_TRUE(old.ok() && old->has_value());
  EXPECT_TRUE((*old)->shadow());

  // The comparison now has both sides of the same module.
  absl::StatusOr<v1::CompareShadowResponse> compared =
      Compare("t", "test.srs_v2", "test.srs_v2");
  ASSERT_TRUE(compared.ok()) << compared.status();
  ASSERT_THAT(compared->episodes(), SizeIs(1));
  ASSERT_THAT(compared->episodes(0).shadow_prompts(), SizeIs(1));
  ASSERT_THAT(compared->episodes(0).live_prompts(), SizeIs(1));
  EXPECT_EQ(compared->episodes(0).shadow_prompts(0).id(), shadow_id);
  EXPECT_EQ(compared->episodes(0).live_prompts(0).id(), live.id());
  EXPECT_EQ(compared->summary().episodes_with_both(), 1);
  // Raised at sessions 1 and 2: no agreement.
  EXPECT_EQ(compared->summary().shadow_agreeing(), 0);
}

TEST_F(ShadowTest, CompareShadowAgainstALiveModule) {
  v1::ServerConfig config = Defaults();
  Settings(config.mutable_rules(), "test.srs_v2")->set_shadow(true);
  StartEngine(config);
  Session("t", "ep-a", 1, 33);  // shadow only
  Session("t", "ep-b", 1, 25);  // both, at session 1
  Session("t", "ep-c", 1, 15);  // live only
  Session("t", "ep-d", 1, 38);  // neither
  // Another tenant's prompts never count.
  Session("other", "ep-a", 1, 25);

  auto episodes = [](const v1::CompareShadowResponse& r) {
    std::vector<std::string> ids;
    for (const v1::EpisodeComparison& e : r.episodes()) {
      ids.push_back(e.episode_id());
    }
    return ids;
  };

  absl::StatusOr<v1::CompareShadowResponse> against =
      Compare("t", "test.srs_v2", "test.srs_v1");
  ASSERT_TRUE(against.ok()) << against.status();
  EXPECT_THAT(episodes(*against), ElementsAre("ep-a", "ep-b", "ep-c"));
  const v1::ShadowSummary& s = against->summary();
  EXPECT_EQ(s.episodes_with_shadow(), 2);
  EXPECT_EQ(s.episodes_with_live(), 2);
  EXPECT_EQ(s.episodes_with_both(), 1);
  EXPECT_EQ(s.shadow_prompts(), 2);
  EXPECT_EQ(s.live_prompts(), 2);
  EXPECT_EQ(s.shadow_agreeing(), 1);
  EXPECT_THAT(s.shadow_by_severity(),
              UnorderedElementsAre(Pair("SEVERITY_WARNING", 2)));
  for (const v1::EpisodeComparison& e : against->episodes()) {
    for (const v1::Prompt& p : e.shadow_prompts()) {
      EXPECT_TRUE(p.shadow());
      EXPECT_EQ(p.module_id(), "test.srs_v2");
    }
    for (const v1::Prompt& p : e.live_prompts()) {
      EXPECT_FALSE(p.shadow());
      EXPECT_EQ(p.module_id(), "test.srs_v1");
    }
  }

  // Without a live module: every live prompt, of the shadow's episodes.
  absl::StatusOr<v1::CompareShadowResponse> any = Compare("t", "test.srs_v2");
  ASSERT_TRUE(any.ok()) << any.status();
  EXPECT_THAT(episodes(*any), ElementsAre("ep-a", "ep-b"));
  EXPECT_EQ(any->summary().episodes_with_live(), 1);
  EXPECT_EQ(any->summary().shadow_agreeing(), 1);
  ASSERT_THAT(any->episodes(1).live_prompts(), SizeIs(1));
  EXPECT_EQ(any->episodes(1).live_prompts(0).kind(), "test.srs_v1/low");

  // max_episodes shortens the list, never the summary.
  absl::StatusOr<v1::CompareShadowResponse> one =
      Compare("t", "test.srs_v2", "test.srs_v1", 1);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_THAT(episodes(*one), ElementsAre("ep-a"));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      one->summary(), against->summary()));
}

TEST_F(ShadowTest, CompareShadowRejectsBadRequests) {
  StartEngine(Defaults());
  struct Case {
    std::string shadow;
    std::string live;
    int max_episodes;
    absl::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"", "", 0, absl::StatusCode::kInvalidArgument,
       "shadow_module_id: is required"},
      {"test.nope", "", 0, absl::StatusCode::kNotFound,
       "shadow_module_id: no module test.nope is loaded"},
      {"test.srs_v2", "test.gone", 0, absl::StatusCode::kNotFound,
       "live_module_id: no module test.gone is loaded"},
      {"test.srs_v2", "", -1, absl::StatusCode::kInvalidArgument,
       "max_episodes: must be 1-1000, got -1"},
      {"test.srs_v2", "", 1001, absl::StatusCode::kInvalidArgument,
       "max_episodes: must be 1-1000, got 1001"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<v1::CompareShadowResponse> r =
        Compare("t", c.shadow, c.live, c.max_episodes);
    EXPECT_EQ(r.status().code(), c.code) << r.status();
    EXPECT_EQ(r.status().message(), c.message);
  }
  for (int max_episodes : {0, 1, 1000}) {
    EXPECT_TRUE(Compare("t", "test.srs_v2", "", max_episodes).ok())
        << max_episodes;
  }
}

}  // namespace
}  // namespace attune::engine
