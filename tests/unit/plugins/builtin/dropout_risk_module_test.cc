#include "plugins/builtin/dropout_risk/dropout_risk_module.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/unit/plugins/builtin/episode_builder.h"

namespace attune::builtin {
namespace {

using test_support::DefaultRules;
using test_support::EpisodeBuilder;
using test_support::Evaluate;
using test_support::Evaluation;

// A rupture detected in session 3 (38 -> 30).
EpisodeBuilder Ruptured() {
  EpisodeBuilder b;
  b.Goals(1).HeldSrs(1, 38).HeldSrs(2, 38).HeldSrs(3, 30);
  return b;
}

// Never established: ratings below the cut-off through session 5.
EpisodeBuilder WeakEarly() {
  EpisodeBuilder b;
  b.Goals(1);
  const double totals[] = {30, 31, 32, 31, 30};
  for (int s = 1; s <= 5; ++s) b.HeldSrs(s, totals[s - 1]);
  return b;
}

TEST(DropoutRiskModuleTest, RuptureThenLateCancellation) {
  EpisodeBuilder b = Ruptured();
  b.Cancelled(4, v1::CANCELLED_BY_CLIENT, /*late=*/true);
  Evaluation r = Evaluate(b.events(), DefaultRules());
  const engine::ProposedPrompt* p = r.Find(DropoutRiskModule::kReachOut);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->prompt.severity(), v1::SEVERITY_WARNING);
  EXPECT_EQ(p->prompt.priority(), 80);
  EXPECT_EQ(p->strength, 1);
  EXPECT_TRUE(absl::StrContains(p->prompt.summary(), "Risk of premature"));
  EXPECT_TRUE(absl::StrContains(p->prompt.detail(),
                                "rupture was suspected in session 3"))
      << p->prompt.detail();
  EXPECT_TRUE(absl::StrContains(p->prompt.detail(), "19.7%"));
}

TEST(DropoutRiskModuleTest, TwoMissesInARowAreStronger) {
  EpisodeBuilder b = Ruptured();
  b.Cancelled(4, v1::CANCELLED_BY_CLIENT, true).NoShow(5);
  Evaluation r = Evaluate(b.events(), DefaultRules());
  const engine::ProposedPrompt* p = r.Find(DropoutRiskModule::kReachOut);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->strength, 2);
}

TEST(DropoutRiskModuleTest, QuietForCancellationsThatDoNotCount) {
  EpisodeBuilder on_time = Ruptured();
  on_time.Cancelled(4, v1::CANCELLED_BY_CLIENT, /*late=*/false);
  EXPECT_EQ(Evaluate(on_time.events(), DefaultRules())
                .Find(DropoutRiskModule::kReachOut),
            nullptr);
  EpisodeBuilder by_clinician = Ruptured();
  by_clinician.Cancelled(4, v1::CANCELLED_BY_CLINICIAN, /*late=*/true);
  EXPECT_EQ(Evaluate(by_clinician.events(), DefaultRules())
                .Find(DropoutRiskModule::kReachOut),
            nullptr);
}

TEST(DropoutRiskModuleTest, QuietOnceTheClientIsBack) {
  EpisodeBuilder b = Ruptured();
  b.Cancelled(4, v1::CANCELLED_BY_CLIENT, true).Held(5);
  EXPECT_EQ(
      Evaluate(b.events(), DefaultRules()).Find(DropoutRiskModule::kReachOut),
      nullptr);
}

TEST(DropoutRiskModuleTest, QuietWhenTheRuptureWasRepaired) {
  EpisodeBuilder b = Ruptured();
  b.HeldSrs(4, 38).NoShow(5);
  EXPECT_EQ(
      Evaluate(b.events(), DefaultRules()).Find(DropoutRiskModule::kReachOut),
      nullptr);
}

TEST(DropoutRiskModuleTest, WeakEarlyAllianceThenNoShow) {
  EpisodeBuilder b = WeakEarly();
  b.NoShow(6);
  Evaluation r = Evaluate(b.events(), DefaultRules());
  EXPECT_EQ(r.assessment.rupture().status(), v1::RUPTURE_STATUS_NONE);
  const engine::ProposedPrompt* p = r.Find(DropoutRiskModule::kReachOut);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(
      absl::StrContains(p->prompt.summary(), "did not attend session 6"))
      << p->prompt.summary();
  EXPECT_TRUE(absl::StrContains(p->prompt.detail(),
                                "not been established by session 5"))
      << p->prompt.detail();
}

TEST(DropoutRiskModuleTest, WeakEarlyPathWaitsForTheExpectedSession) {
  EpisodeBuilder b;
  b.Goals(1).HeldSrs(1, 30).HeldSrs(2, 31).NoShow(3);
  EXPECT_EQ(
      Evaluate(b.events(), DefaultRules()).Find(DropoutRiskModule::kReachOut),
      nullptr);
}

TEST(DropoutRiskModuleTest, EstablishedAllianceThenNoShowIsQuiet) {
  EpisodeBuilder b;
  b.Goals(1);
  for (int s = 1; s <= 5; ++s) b.HeldSrs(s, 38);
  b.NoShow(6);
  EXPECT_EQ(
      Evaluate(b.events(), DefaultRules()).Find(DropoutRiskModule::kReachOut),
      nullptr);
}

TEST(DropoutRiskModuleTest, NoShowsNotCountedWhenConfiguredOff) {
  v1::RulesConfig rules = DefaultRules();
  rules.mutable_dropout_risk()->set_count_no_show(false);
  EpisodeBuilder b = WeakEarly();
  b.NoShow(6);
  EXPECT_EQ(Evaluate(b.events(), rules).Find(DropoutRiskModule::kReachOut),
            nullptr);
}

TEST(DropoutRiskModuleTest, DisabledModuleDoesNothing) {
  v1::RulesConfig rules = DefaultRules();
  rules.mutable_dropout_risk()->set_enabled(false);
  EpisodeBuilder b = Ruptured();
  b.NoShow(4);
  EXPECT_EQ(Evaluate(b.events(), rules).Find(DropoutRiskModule::kReachOut),
            nullptr);
}

}  // namespace
}  // namespace attune::builtin
