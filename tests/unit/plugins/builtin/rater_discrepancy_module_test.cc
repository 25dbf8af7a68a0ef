#include "plugins/builtin/rater_discrepancy/rater_discrepancy_module.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/unit/plugins/builtin/episode_builder.h"

namespace attune::builtin {
namespace {

using test_support::DefaultRules;
using test_support::EpisodeBuilder;
using test_support::Evaluate;

const engine::ProposedPrompt* Discrepancy(const test_support::Evaluation& r) {
  return r.Find(RaterDiscrepancyModule::kClientBelowTherapist);
}

TEST(RaterDiscrepancyModuleTest, ClientClearlyBelowTherapist) {
  EpisodeBuilder b;
  b.HeldSrs(1, 37).Held(2).Srs(2, 28).Srs(2, 34, v1::RATER_THERAPIST);
  test_support::Evaluation r = Evaluate(b.events(), DefaultRules());
  const engine::ProposedPrompt* p = Discrepancy(r);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->prompt.severity(), v1::SEVERITY_INFO);
  EXPECT_EQ(p->prompt.priority(), 50);
  EXPECT_DOUBLE_EQ(p->strength, 15);  // 70% vs 85%
  EXPECT_TRUE(absl::StrContains(p->prompt.summary(), "70% vs 85%"))
      << p->prompt.summary();
  EXPECT_TRUE(absl::StrContains(p->prompt.detail(), "d = .63"));
  EXPECT_TRUE(absl::StrContains(p->prompt.reflective_question(), "understood"));
}

TEST(RaterDiscrepancyModuleTest, ClientAboveTherapistIsQuiet) {
  EpisodeBuilder b;
  b.Held(1).Srs(1, 38).Srs(1, 30, v1::RATER_THERAPIST);
  EXPECT_EQ(Discrepancy(Evaluate(b.events(), DefaultRules())), nullptr);
}

TEST(RaterDiscrepancyModuleTest, SmallGapIsQuiet) {
  EpisodeBuilder b;
  b.Held(1).Srs(1, 34).Srs(1, 36, v1::RATER_THERAPIST);  // 5 points
  EXPECT_EQ(Discrepancy(Evaluate(b.events(), DefaultRules())), nullptr);
}

TEST(RaterDiscrepancyModuleTest, LatestSessionWithBothRatingsDecides) {
  EpisodeBuilder b;
  b.Held(1).Srs(1, 28).Srs(1, 36, v1::RATER_THERAPIST);
  b.Held(2).Srs(2, 37).Srs(2, 36, v1::RATER_THERAPIST);
  b.HeldSrs(3, 30);  // client only: no pair
  EXPECT_EQ(Discrepancy(Evaluate(b.events(), DefaultRules())), nullptr);
}

TEST(RaterDiscrepancyModuleTest, DifferentInstrumentsAreNotCompared) {
  EpisodeBuilder b;
  b.Held(1).Srs(1, 28).Total(1, v1::INSTRUMENT_SAI, 36, v1::RATER_THERAPIST);
  EXPECT_EQ(Discrepancy(Evaluate(b.events(), DefaultRules())), nullptr);
}

TEST(RaterDiscrepancyModuleTest, DisabledModuleDoesNothing) {
  v1::RulesConfig rules = DefaultRules();
  rules.mutable_rater_discrepancy()->set_enabled(false);
  EpisodeBuilder b;
  b.Held(1).Srs(1, 28).Srs(1, 36, v1::RATER_THERAPIST);
  EXPECT_EQ(Discrepancy(Evaluate(b.events(), rules)), nullptr);
}

}  // namespace
}  // namespace attune::builtin
