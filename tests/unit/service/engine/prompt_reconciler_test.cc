#include "service/engine/prompt_reconciler.h"

#include <string>
#include <vector>

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

}  // namespace
}  // namespace attune::engine
