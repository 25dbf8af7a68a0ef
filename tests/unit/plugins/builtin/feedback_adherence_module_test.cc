#include "plugins/builtin/feedback_adherence/feedback_adherence_module.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/unit/plugins/builtin/episode_builder.h"

namespace attune::builtin {
namespace {

using test_support::DefaultRules;
using test_support::EpisodeBuilder;
using test_support::Evaluate;

const engine::ProposedPrompt* Collect(const test_support::Evaluation& r) {
  return r.Find(FeedbackAdherenceModule::kCollectFeedback);
}

TEST(FeedbackAdherenceModuleTest, TwoHeldSessionsWithoutRatingPrompt) {
  EpisodeBuilder b;
  b.HeldSrs(1, 38).Held(2).Held(3);
  test_support::Evaluation r = Evaluate(b.events(), DefaultRules());
  const engine::ProposedPrompt* p = Collect(r);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->prompt.severity(), v1::SEVERITY_INFO);
  EXPECT_EQ(p->prompt.priority(), 20);
  EXPECT_EQ(p->strength, 2);
  EXPECT_TRUE(absl::StrContains(p->prompt.detail(), "2, 3"))
      << p->prompt.detail();
}

TEST(FeedbackAdherenceModuleTest, RatingsPresentIsQuiet) {
  EpisodeBuilder b;
  b.HeldSrs(1, 38).HeldSrs(2, 38).Held(3);
  EXPECT_EQ(Collect(Evaluate(b.events(), DefaultRules())), nullptr);
}

TEST(FeedbackAdherenceModuleTest, NeedsEnoughHeldSessions) {
  EpisodeBuilder b;
  b.Held(1);
  EXPECT_EQ(Collect(Evaluate(b.events(), DefaultRules())), nullptr);
}

TEST(FeedbackAdherenceModuleTest, AnyClientAllianceInstrumentCounts) {
  EpisodeBuilder b;
  b.HeldSrs(1, 38).Held(2).Total(2, v1::INSTRUMENT_SAI, 30).Held(3);
  EXPECT_EQ(Collect(Evaluate(b.events(), DefaultRules())), nullptr);
}

TEST(FeedbackAdherenceModuleTest, TherapistAndOutcomeRatingsDoNotCount) {
  EpisodeBuilder b;
  b.Held(1).Srs(1, 35, v1::RATER_THERAPIST);
  b.Held(2).Total(2, v1::INSTRUMENT_ORS, 25);
  EXPECT_NE(Collect(Evaluate(b.events(), DefaultRules())), nullptr);
}

TEST(FeedbackAdherenceModuleTest, LateArrivingRatingClearsIt) {
  EpisodeBuilder b;
  b.HeldSrs(1, 38).Held(2).Held(3);
  ASSERT_NE(Collect(Evaluate(b.events(), DefaultRules())), nullptr);
  b.At(test_support::SessionStart(4)).Srs(2, 37);  // entered a week late
  EXPECT_EQ(Collect(Evaluate(b.events(), DefaultRules())), nullptr);
}

TEST(FeedbackAdherenceModuleTest, DisabledModuleDoesNothing) {
  v1::RulesConfig rules = DefaultRules();
  rules.mutable_feedback_adherence()->set_enabled(false);
  EpisodeBuilder b;
  b.Held(1).Held(2).Held(3);
  EXPECT_EQ(Collect(Evaluate(b.events(), rules)), nullptr);
}

}  // namespace
}  // namespace attune::builtin
