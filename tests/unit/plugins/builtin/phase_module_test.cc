#include "plugins/builtin/phase/phase_module.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/unit/plugins/builtin/episode_builder.h"

namespace attune::builtin {
namespace {

using test_support::DefaultRules;
using test_support::EpisodeBuilder;
using test_support::Evaluate;
using test_support::Evaluation;

TEST(PhaseModuleTest, ComingTogetherAtTheStart) {
  EpisodeBuilder b;
  b.HeldSrs(1, 38);
  Evaluation r = Evaluate(b.events(), DefaultRules());
  EXPECT_EQ(r.assessment.phase().phase(), v1::PHASE_COMING_TOGETHER);
  EXPECT_FALSE(r.assessment.phase().alliance_established());
  EXPECT_EQ(r.assessment.phase().since_session(), 0);
}

TEST(PhaseModuleTest, ChallengeOnceEstablished) {
  EpisodeBuilder b;
  b.HeldSrs(1, 37).HeldSrs(2, 38).Goals(2).HeldSrs(3, 38);
  Evaluation r = Evaluate(b.events(), DefaultRules());
  const v1::PhaseState& phase = r.assessment.phase();
  EXPECT_EQ(phase.phase(), v1::PHASE_CHALLENGE);
  EXPECT_TRUE(phase.alliance_established());
  EXPECT_TRUE(phase.goals_agreed());
  EXPECT_EQ(phase.since_session(), 2);  // cut-off met 2 of 2, goals agreed
  EXPECT_EQ(r.Find(PhaseModule::kAgreeGoals), nullptr);
  EXPECT_EQ(r.Find(PhaseModule::kNotEstablished), nullptr);
}

TEST(PhaseModuleTest, NotEstablishedWithOneOfThreeAtCutoff) {
  EpisodeBuilder b;
  b.Goals(1).HeldSrs(1, 37).HeldSrs(2, 35).HeldSrs(3, 37.5).HeldSrs(4, 35);
  Evaluation r = Evaluate(b.events(), DefaultRules());
  // Now the last three are 35, 37.5, 35: one at the cut-off. At session 3
  // they were 37, 35, 37.5: two, so the alliance was established then and
  // the phase stays CHALLENGE.
  EXPECT_FALSE(r.assessment.phase().alliance_established());
  EXPECT_EQ(r.assessment.phase().phase(), v1::PHASE_CHALLENGE);
  EXPECT_EQ(r.assessment.phase().since_session(), 3);
}

TEST(PhaseModuleTest, ChallengingInterventionsAfterGoalsStartChallenge) {
  EpisodeBuilder b;
  b.Goals(1).HeldSrs(1, 30).Held(2, /*challenging=*/true).Srs(2, 31);
  Evaluation r = Evaluate(b.events(), DefaultRules());
  EXPECT_EQ(r.assessment.phase().phase(), v1::PHASE_CHALLENGE);
  EXPECT_EQ(r.assessment.phase().since_session(), 2);
  EXPECT_FALSE(r.assessment.phase().alliance_established());
}

TEST(PhaseModuleTest, ChallengingInterventionsBeforeGoalsDoNotCount) {
  EpisodeBuilder b;
  b.Held(1, /*challenging=*/true).Srs(1, 30).HeldSrs(2, 31).Goals(2);
  Evaluation r = Evaluate(b.events(), DefaultRules());
  EXPECT_EQ(r.assessment.phase().phase(), v1::PHASE_COMING_TOGETHER);
}

TEST(PhaseModuleTest, AgreeGoalsInfoFromSessionThree) {
  EpisodeBuilder b;
  b.HeldSrs(1, 38).HeldSrs(2, 38);
  EXPECT_EQ(Evaluate(b.events(), DefaultRules()).Find(PhaseModule::kAgreeGoals),
            nullptr);
  b.HeldSrs(3, 38);
  Evaluation r = Evaluate(b.events(), DefaultRules());
  const engine::ProposedPrompt* p = r.Find(PhaseModule::kAgreeGoals);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->prompt.severity(), v1::SEVERITY_INFO);
  EXPECT_EQ(p->prompt.priority(), 30);
  EXPECT_EQ(p->prompt.scope(), v1::PROMPT_SCOPE_EPISODE);
  EXPECT_EQ(p->strength, 1);
  EXPECT_TRUE(absl::StrContains(p->prompt.detail(), "session 3"));
  EXPECT_FALSE(p->prompt.reflective_question().empty());
}

TEST(PhaseModuleTest, AgreeGoalsQuietOnceGoalsAgreed) {
  EpisodeBuilder b;
  b.HeldSrs(1, 38).HeldSrs(2, 38).HeldSrs(3, 38).Goals(3);
  EXPECT_EQ(Evaluate(b.events(), DefaultRules()).Find(PhaseModule::kAgreeGoals),
            nullptr);
}

TEST(PhaseModuleTest, WarningWhenStillNotEstablishedAfterSessionFive) {
  EpisodeBuilder b;
  b.Goals(2);
  for (int s = 1; s <= 5; ++s) b.HeldSrs(s, 30 + s * 0.5);
  EXPECT_EQ(
      Evaluate(b.events(), DefaultRules()).Find(PhaseModule::kNotEstablished),
      nullptr);  // session 5 itself is still within the expected time
  b.HeldSrs(6, 33.5);
  Evaluation r = Evaluate(b.events(), DefaultRules());
  const engine::ProposedPrompt* p = r.Find(PhaseModule::kNotEstablished);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->prompt.severity(), v1::SEVERITY_WARNING);
  EXPECT_EQ(p->prompt.priority(), 70);
  EXPECT_EQ(p->strength, 1);
  EXPECT_TRUE(absl::StrContains(p->prompt.detail(), "0 of the last 3"))
      << p->prompt.detail();
  EXPECT_TRUE(absl::StrContains(p->prompt.detail(), "session 6: 33.5"));
}

TEST(PhaseModuleTest, NoWarningWhenEstablished) {
  EpisodeBuilder b;
  b.Goals(2);
  for (int s = 1; s <= 7; ++s) b.HeldSrs(s, 38);
  Evaluation r = Evaluate(b.events(), DefaultRules());
  EXPECT_EQ(r.Find(PhaseModule::kNotEstablished), nullptr);
  EXPECT_TRUE(r.prompts.empty());
}

TEST(PhaseModuleTest, NoWarningWithoutRatingsToJudge) {
  EpisodeBuilder b;
  b.Goals(1);
  for (int s = 1; s <= 7; ++s) b.Held(s);
  Evaluation r = Evaluate(b.events(), DefaultRules());
  EXPECT_EQ(r.Find(PhaseModule::kNotEstablished), nullptr);
}

TEST(PhaseModuleTest, EndingPlannedSilencesPrompts) {
  EpisodeBuilder b;
  for (int s = 1; s <= 6; ++s) b.HeldSrs(s, 30);
  b.EndingPlanned(8);
  Evaluation r = Evaluate(b.events(), DefaultRules());
  EXPECT_EQ(r.assessment.phase().phase(), v1::PHASE_ENDING);
  EXPECT_EQ(r.assessment.phase().since_session(), 6);
  EXPECT_EQ(r.Find(PhaseModule::kAgreeGoals), nullptr);
  EXPECT_EQ(r.Find(PhaseModule::kNotEstablished), nullptr);
}

TEST(PhaseModuleTest, ClosedEpisodeIsClosedWhateverTheReason) {
  EpisodeBuilder dropout;
  dropout.HeldSrs(1, 38).HeldSrs(2, 38).Closed(v1::ENDING_REASON_DROPOUT);
  Evaluation r = Evaluate(dropout.events(), DefaultRules());
  EXPECT_EQ(r.assessment.phase().phase(), v1::PHASE_CLOSED);
  EXPECT_EQ(r.assessment.phase().since_session(), 2);
  EXPECT_TRUE(r.prompts.empty());

  EpisodeBuilder planned;
  planned.HeldSrs(1, 38).Closed(v1::ENDING_REASON_PLANNED);
  EXPECT_EQ(
      Evaluate(planned.events(), DefaultRules()).assessment.phase().phase(),
      v1::PHASE_CLOSED);
}

TEST(PhaseModuleTest, DisabledModuleDoesNothing) {
  v1::RulesConfig rules = DefaultRules();
  rules.mutable_phase()->set_enabled(false);
  EpisodeBuilder b;
  for (int s = 1; s <= 6; ++s) b.HeldSrs(s, 30);
  Evaluation r = Evaluate(b.events(), rules);
  EXPECT_FALSE(r.assessment.has_phase());
  EXPECT_EQ(r.Find(PhaseModule::kAgreeGoals), nullptr);
  EXPECT_EQ(r.Find(PhaseModule::kNotEstablished), nullptr);
}

}  // namespace
}  // namespace attune::builtin
