#include "service/engine/prompt_reconciler.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "service/engine/episode_history.h"

namespace attune::engine {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1790000000);

ModuleProposal Proposal(const std::string& kind, v1::Severity severity,
                        int priority, double strength = 1) {
  ModuleProposal mp;
  mp.module_id = kind.substr(0, kind.find('/'));
  mp.module_version = "1.0.0";
  mp.proposal.prompt.set_kind(kind);
  mp.proposal.prompt.set_severity(severity);
  mp.proposal.prompt.set_priority(priority);
  mp.proposal.prompt.set_summary("summary of " + kind);
  mp.proposal.strength = strength;
  return mp;
}

class ReconcilerTest : public ::testing::Test {
 protected:
  ReconcilerTest() {
    budget_.set_max_visible_per_episode(2);
    budget_.set_dismiss_cooldown_sessions(3);
    budget_.set_prompt_ttl_days(28);
    episode_.set_client_id("c");
    episode_.set_clinician_id("t");
    episode_.set_episode_id("e1");
  }

  // One evaluation at `session`, one week per session after kT0.
  ReconcileResult Run(int session, std::vector<ModuleProposal> proposals) {
    ReconcileInput in;
    in.tenant = "default";
    in.episode = episode_;
    in.existing = prompts_;
    in.proposals = std::move(proposals);
    in.session = session;
    in.now = kT0 + absl::Hours(24 * 7) * session;
    in.budget = budget_;
    ReconcileResult r = Reconcile(std::move(in));
    prompts_ = r.prompts;
    return r;
  }

  const v1::Prompt& Only(const std::string& kind) {
    const v1::Prompt* found = nullptr;
    for (const auto& p : prompts_) {
      if (p.kind() == kind && !IsTerminal(p.status())) {
        EXPECT_EQ(found, nullptr) << "two open prompts of kind " << kind;
        found = &p;
      }
    }
    EXPECT_NE(found, nullptr) << "no open prompt of kind " << kind;
    static const v1::Prompt kEmpty;
    return found ? *found : kEmpty;
  }

  void Feedback(const std::string& id, v1::PromptFeedback::Outcome outcome,
                int session, absl::Time snooze_until = absl::InfinitePast()) {
    v1::PromptFeedback fb;
    fb.set_prompt_id(id);
    fb.set_outcome(outcome);
    if (snooze_until != absl::InfinitePast()) {
      *fb.mutable_snooze_until() = ToProto(snooze_until);
    }
    ASSERT_TRUE(ApplyFeedback(fb, kT0 + absl::Hours(24 * 7) * session, session,
                              prompts_, nullptr)
                    .ok());
  }

  v1::AlertBudgetConfig budget_;
  v1::EpisodeRef episode_;
  std::vector<v1::Prompt> prompts_;
};

TEST_F(ReconcilerTest, NewProposalBecomesActivePromptWithStableId) {
  ReconcileResult r = Run(
      4, {Proposal("attune.rupture/check_rupture", v1::SEVERITY_WARNING, 90)});
  ASSERT_EQ(r.changed.size(), 1u);
  const v1::Prompt& p = r.changed[0];
  EXPECT_EQ(p.status(), v1::PROMPT_STATUS_ACTIVE);
  EXPECT_EQ(p.module_id(), "attune.rupture");
  EXPECT_EQ(p.raised_at_session(), 4);
  EXPECT_EQ(p.episode().episode_id(), "e1");
  EXPECT_EQ(ToTime(p.expires_at()) - ToTime(p.created_at()),
            absl::Hours(24 * 28));
  EXPECT_EQ(p.id(),
            MakePromptId("default", "e1", "attune.rupture/check_rupture", 1));
  EXPECT_NE(p.id(), MakePromptId("other-tenant", "e1",
                                 "attune.rupture/check_rupture", 1));
}

TEST_F(ReconcilerTest, RepeatUpdatesTheSamePromptInsteadOfAddingOne) {
  Run(4, {Proposal("attune.rupture/check_rupture", v1::SEVERITY_WARNING, 90)});
  std::string id = Only("attune.rupture/check_rupture").id();
  auto again =
      Proposal("attune.rupture/check_rupture", v1::SEVERITY_WARNING, 90);
  again.proposal.prompt.set_summary("new numbers");
  ReconcileResult r = Run(5, {again});
  EXPECT_EQ(prompts_.size(), 1u);
  EXPECT_EQ(Only("attune.rupture/check_rupture").id(), id);
  EXPECT_EQ(Only("attune.rupture/check_rupture").summary(), "new numbers");
  EXPECT_EQ(Only("attune.rupture/check_rupture").updated_at_session(), 5);
  ASSERT_EQ(r.changed.size(), 1u);
}

TEST_F(ReconcilerTest, IdenticalRepeatChangesNothing) {
  Run(4, {Proposal("attune.rupture/check_rupture", v1::SEVERITY_WARNING, 90)});
  ReconcileResult r = Run(
      4, {Proposal("attune.rupture/check_rupture", v1::SEVERITY_WARNING, 90)});
  EXPECT_TRUE(r.changed.empty());
}

TEST_F(ReconcilerTest, ClearedConditionResolves) {
  Run(4, {Proposal("attune.rupture/check_rupture", v1::SEVERITY_WARNING, 90)});
  ReconcileResult r = Run(5, {});
  ASSERT_EQ(r.changed.size(), 1u);
  EXPECT_EQ(r.changed[0].status(), v1::PROMPT_STATUS_RESOLVED);
  EXPECT_TRUE(VisiblePrompts(prompts_).empty());
}

TEST_F(ReconcilerTest, DismissedStaysQuietThroughCooldownUnlessStronger) {
  const std::string kind = "attune.rupture/check_rupture";
  Run(4, {Proposal(kind, v1::SEVERITY_WARNING, 90, 5)});
  Feedback(Only(kind).id(), v1::PromptFeedback::OUTCOME_DISMISSED, 4);
  // Same evidence, sessions 5 and 6: quiet.
  EXPECT_TRUE(
      Run(5, {Proposal(kind, v1::SEVERITY_WARNING, 90, 5)}).changed.empty());
  EXPECT_EQ(Only(kind).status(), v1::PROMPT_STATUS_DISMISSED);
  // The condition clearing inside the cool-down does not resolve it either.
  EXPECT_TRUE(Run(6, {}).changed.empty());
  // Stronger evidence brings it back at once.
  Run(6, {Proposal(kind, v1::SEVERITY_WARNING, 90, 8)});
  EXPECT_EQ(Only(kind).status(), v1::PROMPT_STATUS_ACTIVE);
}

TEST_F(ReconcilerTest, DismissedReturnsWhenCooldownEnds) {
  const std::string kind = "attune.phase/agree_goals";
  Run(3, {Proposal(kind, v1::SEVERITY_INFO, 30)});
  Feedback(Only(kind).id(), v1::PromptFeedback::OUTCOME_DISMISSED, 3);
  Run(5, {Proposal(kind, v1::SEVERITY_INFO, 30)});
  EXPECT_EQ(Only(kind).status(), v1::PROMPT_STATUS_DISMISSED);
  Run(6, {Proposal(kind, v1::SEVERITY_INFO, 30)});  // 3 sessions later
  EXPECT_EQ(Only(kind).status(), v1::PROMPT_STATUS_ACTIVE);
}

TEST_F(ReconcilerTest, SnoozedReturnsOnlyAfterItsTime) {
  const std::string kind = "attune.feedback_adherence/collect_feedback";
  Run(3, {Proposal(kind, v1::SEVERITY_INFO, 20)});
  Feedback(Only(kind).id(), v1::PromptFeedback::OUTCOME_SNOOZED, 3,
           kT0 + absl::Hours(24 * 7) * 5);
  Run(4, {Proposal(kind, v1::SEVERITY_INFO, 20)});
  EXPECT_EQ(Only(kind).status(), v1::PROMPT_STATUS_SNOOZED);
  Run(5, {Proposal(kind, v1::SEVERITY_INFO, 20)});
  EXPECT_EQ(Only(kind).status(), v1::PROMPT_STATUS_ACTIVE);
}

TEST_F(ReconcilerTest, BudgetShowsTwoByPriorityAndQueuesTheRest) {
  Run(6, {Proposal("attune.feedback_adherence/collect_feedback",
                   v1::SEVERITY_INFO, 20),
          Proposal("attune.rupture/check_rupture", v1::SEVERITY_WARNING, 90),
          Proposal("attune.phase/agree_goals", v1::SEVERITY_INFO, 30)});
  std::vector<v1::Prompt> visible = VisiblePrompts(prompts_);
  ASSERT_EQ(visible.size(), 2u);
  EXPECT_EQ(visible[0].kind(), "attune.rupture/check_rupture");
  EXPECT_EQ(visible[1].kind(), "attune.phase/agree_goals");
  EXPECT_EQ(Only("attune.feedback_adherence/collect_feedback").status(),
            v1::PROMPT_STATUS_QUEUED);
  // When the rupture clears, the queued prompt takes the free slot.
  Run(7, {Proposal("attune.feedback_adherence/collect_feedback",
                   v1::SEVERITY_INFO, 20),
          Proposal("attune.phase/agree_goals", v1::SEVERITY_INFO, 30)});
  EXPECT_EQ(Only("attune.feedback_adherence/collect_feedback").status(),
            v1::PROMPT_STATUS_ACTIVE);
}

TEST_F(ReconcilerTest, AcknowledgedPromptsDoNotCrowdOutNewOnes) {
  Run(3, {Proposal("attune.phase/agree_goals", v1::SEVERITY_INFO, 30),
          Proposal("attune.bordin/attend_to_bond", v1::SEVERITY_INFO, 60)});
  Feedback(Only("attune.phase/agree_goals").id(),
           v1::PromptFeedback::OUTCOME_ACCEPTED, 3);
  Feedback(Only("attune.bordin/attend_to_bond").id(),
           v1::PromptFeedback::OUTCOME_ACCEPTED, 3);
  Run(4, {Proposal("attune.phase/agree_goals", v1::SEVERITY_INFO, 30),
          Proposal("attune.bordin/attend_to_bond", v1::SEVERITY_INFO, 60),
          Proposal("attune.rupture/check_rupture", v1::SEVERITY_WARNING, 90),
          Proposal("attune.dropout_risk/reach_out", v1::SEVERITY_WARNING, 80),
          Proposal("attune.feedback_adherence/collect_feedback",
                   v1::SEVERITY_INFO, 20)});
  // Two new prompts ask for attention; the third waits; the accepted ones
  // stay on screen without taking a slot.
  EXPECT_EQ(Only("attune.rupture/check_rupture").status(),
            v1::PROMPT_STATUS_ACTIVE);
  EXPECT_EQ(Only("attune.dropout_risk/reach_out").status(),
            v1::PROMPT_STATUS_ACTIVE);
  EXPECT_EQ(Only("attune.feedback_adherence/collect_feedback").status(),
            v1::PROMPT_STATUS_QUEUED);
  EXPECT_EQ(Only("attune.phase/agree_goals").status(),
            v1::PROMPT_STATUS_ACKNOWLEDGED);
  int active = 0;
  for (const auto& p : prompts_)
    active += p.status() == v1::PROMPT_STATUS_ACTIVE;
  EXPECT_EQ(active, 2);
}

TEST_F(ReconcilerTest, SnoozeOutlivesTheTtlWithoutARepeat) {
  const std::string kind = "attune.rupture/check_rupture";
  Run(2, {Proposal(kind, v1::SEVERITY_WARNING, 90)});
  std::string id = Only(kind).id();
  // Snoozed for 8 weeks, longer than the 28-day expiry.
  Feedback(id, v1::PromptFeedback::OUTCOME_SNOOZED, 2,
           kT0 + absl::Hours(24 * 7) * 10);
  Run(7, {Proposal(kind, v1::SEVERITY_WARNING, 90)});
  EXPECT_EQ(prompts_.size(), 1u);
  EXPECT_EQ(Only(kind).status(), v1::PROMPT_STATUS_SNOOZED);
  Run(10, {Proposal(kind, v1::SEVERITY_WARNING, 90)});
  EXPECT_EQ(Only(kind).id(), id);
  EXPECT_EQ(Only(kind).status(), v1::PROMPT_STATUS_ACTIVE);
}

TEST_F(ReconcilerTest, FailedModuleKeepsItsPrompts) {
  const std::string kind = "attune.rupture/check_rupture";
  Run(4, {Proposal(kind, v1::SEVERITY_WARNING, 90)});
  ReconcileInput in;
  in.tenant = "default";
  in.episode = episode_;
  in.existing = prompts_;
  in.session = 5;
  in.now = kT0 + absl::Hours(24 * 7) * 5;
  in.budget = budget_;
  in.failed_modules = {"attune.rupture"};
  ReconcileResult r = Reconcile(std::move(in));
  EXPECT_TRUE(r.changed.empty());
  EXPECT_EQ(r.prompts[0].status(), v1::PROMPT_STATUS_ACTIVE);
}

TEST_F(ReconcilerTest, TransferMovesOpenPromptsToTheNewClinician) {
  const std::string kind = "attune.rupture/check_rupture";
  Run(4, {Proposal(kind, v1::SEVERITY_WARNING, 90)});
  episode_.set_clinician_id("t-new");
  ReconcileResult r = Run(5, {Proposal(kind, v1::SEVERITY_WARNING, 90)});
  ASSERT_EQ(r.changed.size(), 1u);
  EXPECT_EQ(Only(kind).episode().clinician_id(), "t-new");
}

TEST_F(ReconcilerTest, ExpiredPromptIsReplacedByANewOne) {
  const std::string kind = "attune.rupture/check_rupture";
  Run(1, {Proposal(kind, v1::SEVERITY_WARNING, 90)});
  std::string first = Only(kind).id();
  // Nothing for 5 weeks (> 28 days), then the condition is seen again.
  ReconcileResult r = Run(6, {Proposal(kind, v1::SEVERITY_WARNING, 90)});
  ASSERT_EQ(prompts_.size(), 2u);
  EXPECT_EQ(prompts_[0].status(), v1::PROMPT_STATUS_EXPIRED);
  EXPECT_NE(Only(kind).id(), first);
  EXPECT_EQ(r.changed.size(), 2u);
}

TEST_F(ReconcilerTest, FeedbackOnUnknownOrClosedPromptIsRefused) {
  v1::PromptFeedback fb;
  fb.set_prompt_id("p-none");
  fb.set_outcome(v1::PromptFeedback::OUTCOME_ACCEPTED);
  EXPECT_EQ(ApplyFeedback(fb, kT0, 1, prompts_, nullptr).code(),
            absl::StatusCode::kNotFound);
  Run(1, {Proposal("attune.rupture/check_rupture", v1::SEVERITY_WARNING, 90)});
  std::string id = prompts_[0].id();
  Run(2, {});
  fb.set_prompt_id(id);
  EXPECT_EQ(ApplyFeedback(fb, kT0, 2, prompts_, nullptr).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(ReconcilerTest,
       AcceptedPromptStaysVisibleAndReturnsToActiveOnEscalation) {
  const std::string kind = "attune.phase/alliance_not_established";
  Run(6, {Proposal(kind, v1::SEVERITY_INFO, 70)});
  Feedback(Only(kind).id(), v1::PromptFeedback::OUTCOME_ACCEPTED, 6);
  Run(7, {Proposal(kind, v1::SEVERITY_INFO, 70)});
  EXPECT_EQ(Only(kind).status(), v1::PROMPT_STATUS_ACKNOWLEDGED);
  EXPECT_EQ(VisiblePrompts(prompts_).size(), 1u);
  Run(8, {Proposal(kind, v1::SEVERITY_WARNING, 70)});
  EXPECT_EQ(Only(kind).status(), v1::PROMPT_STATUS_ACTIVE);
}

// The reconciler as it was before it stopped copying and diffing whole
// prompts (issue 6), kept as the reference the current one must match
// exactly, results and change sets alike.
namespace reference {

void CopyContent(const v1::Prompt& from, v1::Prompt& to) {
  to.set_severity(from.severity());
  to.set_summary(from.summary());
  to.set_detail(from.detail());
  *to.mutable_actions() = from.actions();
  to.set_reflective_question(from.reflective_question());
  *to.mutable_evidence() = from.evidence();
  *to.mutable_references() = from.references();
  to.set_priority(from.priority());
  to.set_scope(from.scope() == v1::PROMPT_SCOPE_UNSPECIFIED
                   ? v1::PROMPT_SCOPE_EPISODE
                   : from.scope());
}

bool CooldownOver(const v1::Prompt& p, const ReconcileInput& in) {
  if (p.status() == v1::PROMPT_STATUS_SNOOZED) {
    return in.now >= ToTime(p.snoozed_until());
  }
  return in.session - p.updated_at_session() >=
         in.budget.dismiss_cooldown_sessions();
}

ReconcileResult Reconcile(ReconcileInput in) {
  using google::protobuf::util::MessageDifferencer;
  std::vector<v1::Prompt> prompts = std::move(in.existing);
  std::vector<v1::Prompt> before = prompts;
  google::protobuf::Timestamp now = ToProto(in.now);
  absl::Duration ttl = absl::Hours(24) * in.budget.prompt_ttl_days();
  std::map<std::string, size_t> open;
  std::map<std::string, int> ordinal;
  for (size_t i = 0; i < prompts.size(); ++i) {
    v1::Prompt& p = prompts[i];
    ++ordinal[p.kind()];
    bool quiet = p.status() == v1::PROMPT_STATUS_DISMISSED ||
                 p.status() == v1::PROMPT_STATUS_SNOOZED;
    if (!IsTerminal(p.status()) && p.scope() != v1::PROMPT_SCOPE_CLINICIAN &&
        !MessageDifferencer::Equals(p.episode(), in.episode)) {
      *p.mutable_episode() = in.episode;
    }
    if (!IsTerminal(p.status()) && !quiet && in.now >= ToTime(p.expires_at())) {
      p.set_status(v1::PROMPT_STATUS_EXPIRED);
      p.set_updated_at_session(in.session);
      *p.mutable_updated_at() = now;
    }
    if (!IsTerminal(p.status())) open[p.kind()] = i;
  }
  std::map<std::string, bool> proposed;
  for (const ModuleProposal& mp : in.proposals) {
    const v1::Prompt& content = mp.proposal.prompt;
    proposed[content.kind()] = true;
    auto it = open.find(content.kind());
    if (it == open.end()) {
      v1::Prompt p;
      p.set_id(MakePromptId(in.tenant,
                            in.shadow ? "shadow:" + in.episode.episode_id()
                                      : in.episode.episode_id(),
                            content.kind(), ++ordinal[content.kind()]));
      p.set_shadow(in.shadow);
      p.set_kind(content.kind());
      CopyContent(content, p);
      p.set_module_id(mp.module_id);
      p.set_module_version(mp.module_version);
      p.set_status(v1::PROMPT_STATUS_QUEUED);
      *p.mutable_episode() = in.episode;
      p.set_raised_at_session(std::max(in.session, in.raised_session));
      p.set_updated_at_session(in.session);
      *p.mutable_created_at() = now;
      *p.mutable_updated_at() = now;
      *p.mutable_expires_at() = ToProto(in.now + ttl);
      p.set_strength(mp.proposal.strength);
      open[p.kind()] = prompts.size();
      prompts.push_back(std::move(p));
      continue;
    }
    v1::Prompt& p = prompts[it->second];
    bool quiet = p.status() == v1::PROMPT_STATUS_DISMISSED ||
                 p.status() == v1::PROMPT_STATUS_SNOOZED;
    bool stronger = content.severity() > p.severity() ||
                    mp.proposal.strength > p.strength();
    if (quiet && !stronger && !CooldownOver(p, in)) continue;
    v1::Prompt updated = p;
    CopyContent(content, updated);
    updated.set_module_version(mp.module_version);
    updated.set_strength(std::max(updated.strength(), mp.proposal.strength));
    if (quiet) {
      updated.set_status(v1::PROMPT_STATUS_QUEUED);
      updated.clear_snoozed_until();
      updated.set_strength(mp.proposal.strength);
    } else if (updated.status() == v1::PROMPT_STATUS_ACKNOWLEDGED &&
               content.severity() > p.severity()) {
      updated.set_status(v1::PROMPT_STATUS_QUEUED);
    }
    if (!MessageDifferencer::Equals(updated, p)) {
      updated.set_updated_at_session(in.session);
      *updated.mutable_updated_at() = now;
      *updated.mutable_expires_at() = ToProto(in.now + ttl);
      p = std::move(updated);
    }
  }
  std::set<std::string> failed(in.failed_modules.begin(),
                               in.failed_modules.end());
  for (auto& [kind, index] : open) {
    if (proposed.count(kind)) continue;
    v1::Prompt& p = prompts[index];
    if (failed.count(p.module_id())) continue;
    bool quiet = p.status() == v1::PROMPT_STATUS_DISMISSED ||
                 p.status() == v1::PROMPT_STATUS_SNOOZED;
    if (quiet && !CooldownOver(p, in)) continue;
    p.set_status(v1::PROMPT_STATUS_RESOLVED);
    p.set_updated_at_session(in.session);
    *p.mutable_updated_at() = now;
  }
  int slots = in.budget.max_visible_per_episode();
  std::vector<size_t> candidates;
  for (size_t i = 0; i < prompts.size(); ++i) {
    v1::PromptStatus s = prompts[i].status();
    if (s == v1::PROMPT_STATUS_ACTIVE || s == v1::PROMPT_STATUS_QUEUED) {
      candidates.push_back(i);
    }
  }
  std::sort(candidates.begin(), candidates.end(), [&](size_t a, size_t b) {
    return HigherPriority(prompts[a], prompts[b]);
  });
  for (size_t i : candidates) {
    prompts[i].set_status(slots-- > 0 ? v1::PROMPT_STATUS_ACTIVE
                                      : v1::PROMPT_STATUS_QUEUED);
  }
  ReconcileResult result;
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (i >= before.size() ||
        !MessageDifferencer::Equals(prompts[i], before[i])) {
      result.changed.push_back(prompts[i]);
    }
  }
  result.prompts = std::move(prompts);
  return result;
}

}  // namespace reference

// Byte-for-byte equality (no maps in a prompt, so serialisation is
// deterministic); unlike MessageDifferencer, a NaN equals itself here.
void ExpectSamePrompts(const std::vector<v1::Prompt>& want,
                       const std::vector<v1::Prompt>& got,
                       const std::string& what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(want[i].SerializeAsString(), got[i].SerializeAsString())
        << what << " [" << i << "]\nwant: " << want[i].ShortDebugString()
        << "\ngot:  " << got[i].ShortDebugString();
  }
}

// Random episodes built to hit the edge cases of change detection: repeats
// identical or not, duplicate kinds in one evaluation, feedback, transfers,
// expiry, failed modules, shadow ids, -0.0 and NaN doubles (the differencer
// tells -0.0 from 0.0 and finds NaN unequal to itself) and unknown fields.
TEST(ReconcilerEquivalenceTest, MatchesTheCopyingReconcilerOnVariedEpisodes) {
  std::mt19937 rng(20261126);
  auto pick = [&rng](int n) { return static_cast<int>(rng() % n); };
  auto chance = [&rng](int percent) {
    return static_cast<int>(rng() % 100) < percent;
  };
  const std::vector<std::string> kinds = {"a.one/x", "a.one/y", "b.two/x",
                                          "c.three/z"};
  const double kNaN = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> doubles = {0.0, -0.0, 1.0, 2.5, 5.0, kNaN};
  auto add_unknown = [&](google::protobuf::Message& m) {
    m.GetReflection()->MutableUnknownFields(&m)->AddVarint(1000 + pick(2), 1);
  };
  auto make_proposal = [&](const std::string& kind) {
    ModuleProposal mp;
    mp.module_id = kind.substr(0, kind.find('/'));
    mp.module_version = chance(85) ? "1.0.0" : "1.1.0";
    v1::Prompt& c = mp.proposal.prompt;
    c.set_kind(kind);
    c.set_severity(static_cast<v1::Severity>(pick(4)));
    c.set_priority(10 * pick(3));
    c.set_scope(chance(50) ? v1::PROMPT_SCOPE_UNSPECIFIED
                           : v1::PROMPT_SCOPE_EPISODE);
    c.set_summary(chance(80) ? "summary" : "other summary");
    if (chance(50)) c.set_detail("detail");
    if (chance(20)) c.set_reflective_question("why?");
    for (int i = pick(3); i > 0; --i) {
      v1::SuggestedAction* a = c.add_actions();
      a->set_id(chance(80) ? "discuss" : "review");
      a->set_label("Discuss");
      if (chance(3)) add_unknown(*a);
    }
    for (int i = pick(3); i > 0; --i) {
      v1::Evidence* e = c.add_evidence();
      e->set_name("srs_total");
      e->set_value(chance(80) ? 30 : doubles[pick(doubles.size())]);
      e->set_threshold(chance(80) ? 36 : doubles[pick(doubles.size())]);
      e->set_has_threshold(chance(70));
      e->set_comparison("<");
      e->set_session_number(pick(3));
      if (chance(3)) add_unknown(*e);
    }
    if (chance(30)) {
      v1::Reference* r = c.add_references();
      r->set_citation("Eubanks-Carter, Muran & Safran 2015");
      if (chance(3)) add_unknown(*r);
    }
    mp.proposal.strength = chance(70) ? 1.0 : doubles[pick(doubles.size())];
    return mp;
  };

  // One field of a proposal changed, so that each is compared on its own.
  auto tweak = [&](ModuleProposal& mp) {
    v1::Prompt& c = mp.proposal.prompt;
    const double d = doubles[pick(doubles.size())];
    switch (pick(16)) {
      case 0:
        c.set_severity(static_cast<v1::Severity>(pick(4)));
        break;
      case 1:
        c.set_priority(10 * pick(3));
        break;
      case 2:  // UNSPECIFIED is stored as EPISODE: no change
        c.set_scope(c.scope() == v1::PROMPT_SCOPE_UNSPECIFIED
                        ? v1::PROMPT_SCOPE_EPISODE
                        : v1::PROMPT_SCOPE_UNSPECIFIED);
        break;
      case 3:
        c.set_summary(c.summary() + "!");
        break;
      case 4:
        c.set_detail(c.detail().empty() ? "detail" : "");
        break;
      case 5:
        c.set_reflective_question(c.reflective_question() + "?");
        break;
      case 6:
        if (c.actions_size() > 0) {
          c.mutable_actions(0)->set_label("Review");
        } else {
          c.add_actions()->set_id("discuss");
        }
        break;
      case 7:
        if (c.actions_size() > 0) c.mutable_actions()->RemoveLast();
        break;
      case 8:
        if (c.evidence_size() > 0) c.mutable_evidence(0)->set_value(d);
        break;
      case 9:
        if (c.evidence_size() > 0) c.mutable_evidence(0)->set_threshold(d);
        break;
      case 10:
        if (c.evidence_size() > 0) {
          v1::Evidence* e = c.mutable_evidence(c.evidence_size() - 1);
          switch (pick(5)) {
            case 0:
              e->set_has_threshold(!e->has_threshold());
              break;
            case 1:
              e->set_note(e->note() + "n");
              break;
            case 2:
              e->set_session_number(e->session_number() + 1);
              break;
            case 3:
              e->set_comparison(">=");
              break;
            default:
              e->set_name("gap");
              break;
          }
        } else {
          c.add_evidence()->set_value(d);
        }
        break;
      case 11:
        if (c.references_size() > 0) {
          v1::Reference* r = c.mutable_references(0);
          if (chance(50)) {
            r->set_url("https://doi.org/x");
          } else {
            r->set_citation("Safran 2000");
          }
        } else {
          c.add_references()->set_citation("Safran 2000");
        }
        break;
      case 12:
        if (c.references_size() > 0) c.mutable_references()->RemoveLast();
        break;
      case 13:
        mp.module_version = mp.module_version == "1.0.0" ? "1.1.0" : "1.0.0";
        break;
      case 14:
        mp.proposal.strength = d;
        break;
      default:
        if (c.actions_size() > 0) c.mutable_actions(0)->set_id("review");
        break;
    }
  };

  int steps = 0, unchanged_repeats = 0, changed = 0, duplicate_kinds = 0;
  std::set<v1::PromptStatus> statuses;
  for (int episode = 0; episode < 200; ++episode) {
    v1::EpisodeRef ref;
    ref.set_client_id("c");
    ref.set_clinician_id("t");
    ref.set_episode_id("e" + std::to_string(episode));
    v1::AlertBudgetConfig budget;
    budget.set_max_visible_per_episode(pick(4));
    budget.set_dismiss_cooldown_sessions(pick(4));
    budget.set_prompt_ttl_days(7 + pick(30));
    const bool shadow = chance(20);
    std::vector<v1::Prompt> prompts;
    // What each kind proposes: mostly the same again, as a condition that
    // persists.
    std::map<std::string, ModuleProposal> current;
    int session = 0;
    absl::Time now = kT0;
    for (int step = 0; step < 20; ++step, ++steps) {
      const std::string what =
          absl::StrCat("episode ", episode, " step ", step);
      session += pick(2);
      now += absl::Hours(24) * pick(10);
      if (chance(10)) ref.set_clinician_id(absl::StrCat("t", pick(3)));
      if (chance(3)) add_unknown(ref);
      // Feedback and the odd stored oddity on existing prompts.
      for (v1::Prompt& p : prompts) {
        if (IsTerminal(p.status())) continue;
        if (chance(15)) {
          v1::PromptFeedback fb;
          fb.set_prompt_id(p.id());
          fb.set_outcome(static_cast<v1::PromptFeedback::Outcome>(1 + pick(3)));
          if (chance(70)) {
            *fb.mutable_snooze_until() =
                ToProto(now + absl::Hours(24 * pick(20)));
          }
          std::vector<v1::Prompt> one = {p};
          if (ApplyFeedback(fb, now, session, one, nullptr).ok()) p = one[0];
        }
        if (chance(3)) add_unknown(p);
        if (chance(3)) p.set_strength(doubles[pick(doubles.size())]);
        if (chance(3)) p.set_scope(v1::PROMPT_SCOPE_CLINICIAN);
        if (chance(2)) p.clear_episode();
      }
      ReconcileInput in;
      in.tenant = "default";
      in.episode = ref;
      in.existing = prompts;
      std::set<std::string> seen;
      for (int i = pick(5); i > 0; --i) {
        const std::string& kind = kinds[pick(kinds.size())];
        auto it = current.find(kind);
        if (it == current.end() || chance(15)) {
          it = current.insert_or_assign(kind, make_proposal(kind)).first;
        } else if (chance(30)) {
          tweak(it->second);
        }
        in.proposals.push_back(it->second);
        if (!seen.insert(in.proposals.back().proposal.prompt.kind()).second) {
          ++duplicate_kinds;
        }
      }
      in.now = now;
      in.session = session;
      in.raised_session = chance(20) ? session + 1 : 0;
      in.budget = budget;
      if (chance(10)) in.failed_modules = {"a.one"};
      in.shadow = shadow;

      ReconcileResult want = reference::Reconcile(in);
      ReconcileResult got = Reconcile(in);
      ExpectSamePrompts(want.prompts, got.prompts, what + " prompts");
      ExpectSamePrompts(want.changed, got.changed, what + " changed");
      if (::testing::Test::HasFailure()) return;
      std::set<std::string> changed_ids;
      for (const v1::Prompt& p : want.changed) changed_ids.insert(p.id());
      for (const v1::Prompt& p : in.existing) {
        if (!IsTerminal(p.status()) && seen.count(p.kind()) &&
            !changed_ids.count(p.id())) {
          ++unchanged_repeats;
        }
      }
      changed += static_cast<int>(want.changed.size());
      for (const v1::Prompt& p : want.prompts) statuses.insert(p.status());
      prompts = std::move(got.prompts);
    }
  }
  // The cases the comparison is about did occur.
  EXPECT_GT(unchanged_repeats, 200);
  EXPECT_GT(changed, steps);
  EXPECT_GT(duplicate_kinds, 100);
  EXPECT_EQ(statuses.size(), 7u);  // every status but UNSPECIFIED
}

// Runs one evaluation through both reconcilers and expects the same.
ReconcileResult RunBoth(std::vector<v1::Prompt>& prompts,
                        const v1::EpisodeRef& episode,
                        const v1::AlertBudgetConfig& budget, int session,
                        std::vector<ModuleProposal> proposals) {
  ReconcileInput in;
  in.tenant = "default";
  in.episode = episode;
  in.existing = prompts;
  in.proposals = std::move(proposals);
  in.session = session;
  in.now = kT0 + absl::Hours(24 * 7) * session;
  in.budget = budget;
  ReconcileResult want = reference::Reconcile(in);
  ReconcileResult got = Reconcile(std::move(in));
  ExpectSamePrompts(want.prompts, got.prompts, "prompts");
  ExpectSamePrompts(want.changed, got.changed, "changed");
  prompts = got.prompts;
  return got;
}

TEST_F(ReconcilerTest, EvidenceGoingFromZeroToMinusZeroIsAChange) {
  // MessageDifferencer tells -0.0 (set: its bits are not zero) from 0.0.
  const std::string kind = "attune.rupture/check_rupture";
  auto zero = Proposal(kind, v1::SEVERITY_WARNING, 90);
  zero.proposal.prompt.add_evidence()->set_name("srs_drop");
  RunBoth(prompts_, episode_, budget_, 4, {zero});
  auto minus_zero = zero;
  minus_zero.proposal.prompt.mutable_evidence(0)->set_value(-0.0);
  ReconcileResult r = RunBoth(prompts_, episode_, budget_, 5, {minus_zero});
  ASSERT_EQ(r.changed.size(), 1u);
  EXPECT_TRUE(std::signbit(r.changed[0].evidence(0).value()));
  EXPECT_EQ(r.changed[0].updated_at_session(), 5);
  // And back again.
  EXPECT_EQ(RunBoth(prompts_, episode_, budget_, 5, {zero}).changed.size(), 1u);
}

TEST_F(ReconcilerTest, NaNEvidenceIsReportedChangedEveryTime) {
  // MessageDifferencer finds NaN unequal to itself, so such a prompt has
  // always been stored again on every evaluation; kept as it was.
  const std::string kind = "attune.rupture/check_rupture";
  auto nan = Proposal(kind, v1::SEVERITY_WARNING, 90);
  nan.proposal.prompt.add_evidence()->set_value(
      std::numeric_limits<double>::quiet_NaN());
  RunBoth(prompts_, episode_, budget_, 4, {nan});
  EXPECT_EQ(RunBoth(prompts_, episode_, budget_, 4, {nan}).changed.size(), 1u);
  EXPECT_EQ(RunBoth(prompts_, episode_, budget_, 4, {}).changed.size(), 1u);
}

TEST_F(ReconcilerTest, SecondProposalOfAKindUndoingTheFirstChangesNothing) {
  const std::string kind = "attune.rupture/check_rupture";
  auto a = Proposal(kind, v1::SEVERITY_WARNING, 90);
  auto b = a;
  b.proposal.prompt.set_summary("other numbers");
  RunBoth(prompts_, episode_, budget_, 4, {a});
  const v1::Prompt before = prompts_[0];
  // Same session and time: b's update, then a's, restore the prompt.
  EXPECT_TRUE(RunBoth(prompts_, episode_, budget_, 4, {b, a}).changed.empty());
  EXPECT_EQ(prompts_[0].SerializeAsString(), before.SerializeAsString());
  // The other way round the prompt ends up with b's content.
  ReconcileResult r = RunBoth(prompts_, episode_, budget_, 4, {a, b});
  ASSERT_EQ(r.changed.size(), 1u);
  EXPECT_EQ(r.changed[0].summary(), "other numbers");
}

// Reconcile compares these messages field by field, mirroring
// MessageDifferencer; a field added to one of them must be added to the
// comparison in prompt_reconciler.cc (Same, ContentDiffers,
// UnequalToItself) before this count is updated.
TEST(ReconcilerEquivalenceTest,
     ComparedMessagesHaveTheFieldsTheReconcilerKnows) {
  EXPECT_EQ(v1::Prompt::descriptor()->field_count(), 23);
  EXPECT_EQ(v1::Evidence::descriptor()->field_count(), 7);
  EXPECT_EQ(v1::SuggestedAction::descriptor()->field_count(), 2);
  EXPECT_EQ(v1::Reference::descriptor()->field_count(), 2);
  EXPECT_EQ(v1::EpisodeRef::descriptor()->field_count(), 3);
}

}  // namespace
}  // namespace attune::engine
