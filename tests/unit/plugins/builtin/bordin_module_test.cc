#include "plugins/builtin/bordin/bordin_module.h"

#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/unit/plugins/builtin/episode_builder.h"

namespace attune::builtin {
namespace {

using test_support::DefaultRules;
using test_support::EpisodeBuilder;
using test_support::Evaluate;
using test_support::Evaluation;

// WAI-SR items in form order: Task = 1, 2, 10, 12; Bond = 3, 5, 7, 9;
// Goal = 4, 6, 8, 11 (Hatcher & Gillaspy 2006).
std::vector<double> WaiSr(double task, double bond, double goal) {
  std::vector<double> items(12);
  for (int i : {1, 2, 10, 12}) items[i - 1] = task;
  for (int i : {3, 5, 7, 9}) items[i - 1] = bond;
  for (int i : {4, 6, 8, 11}) items[i - 1] = goal;
  return items;
}

Evaluation WithWaiSr(double task, double bond, double goal,
                     const v1::RulesConfig& rules = DefaultRules()) {
  EpisodeBuilder b;
  b.HeldSrs(1, 38).HeldSrs(2, 38);
  b.Measure(2, v1::INSTRUMENT_WAI_SR, WaiSr(task, bond, goal));
  return Evaluate(b.events(), rules);
}

TEST(BordinModuleTest, FillsComponentsAsPercentOfItemRange) {
  Evaluation r = WithWaiSr(/*task=*/4, /*bond=*/5, /*goal=*/2);
  const v1::BordinComponents& c = r.assessment.alliance().components();
  EXPECT_EQ(c.session_number(), 2);
  EXPECT_DOUBLE_EQ(c.bond(), 100);
  EXPECT_DOUBLE_EQ(c.tasks(), 75);
  EXPECT_DOUBLE_EQ(c.goals(), 25);
}

TEST(BordinModuleTest, LowGoalsWithFineBondRevisitsAgreement) {
  Evaluation r = WithWaiSr(/*task=*/4, /*bond=*/4.5, /*goal=*/2.5);
  const engine::ProposedPrompt* p = r.Find(BordinModule::kRevisitAgreement);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(r.Find(BordinModule::kAttendToBond), nullptr);
  EXPECT_EQ(p->prompt.severity(), v1::SEVERITY_INFO);
  EXPECT_EQ(p->prompt.priority(), 60);
  EXPECT_DOUBLE_EQ(p->strength, 0.5);
  EXPECT_TRUE(absl::StrContains(p->prompt.summary(), "Agreement on goals "))
      << p->prompt.summary();
  EXPECT_TRUE(absl::StrContains(p->prompt.detail(), "goals 2.5"))
      << p->prompt.detail();
}

TEST(BordinModuleTest, LowTasksAlsoRevisitsAgreement) {
  Evaluation r = WithWaiSr(/*task=*/2, /*bond=*/4, /*goal=*/2.75);
  const engine::ProposedPrompt* p = r.Find(BordinModule::kRevisitAgreement);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(absl::StrContains(p->prompt.summary(), "goals and tasks"))
      << p->prompt.summary();
}

TEST(BordinModuleTest, LowBondAttendsToTheBond) {
  Evaluation r = WithWaiSr(/*task=*/2, /*bond=*/2.25, /*goal=*/4);
  const engine::ProposedPrompt* p = r.Find(BordinModule::kAttendToBond);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(r.Find(BordinModule::kRevisitAgreement), nullptr);
  EXPECT_DOUBLE_EQ(p->strength, 0.75);
  EXPECT_TRUE(absl::StrContains(p->prompt.detail(), "tasks is low as well"))
      << p->prompt.detail();
}

TEST(BordinModuleTest, AllComponentsFineIsQuiet) {
  Evaluation r = WithWaiSr(4, 4, 3);  // 3 is not below the midpoint
  EXPECT_EQ(r.Find(BordinModule::kRevisitAgreement), nullptr);
  EXPECT_EQ(r.Find(BordinModule::kAttendToBond), nullptr);
}

TEST(BordinModuleTest, TherapistFormIsIgnored) {
  EpisodeBuilder b;
  b.HeldSrs(1, 38);
  b.Measure(1, v1::INSTRUMENT_WAI_SR, WaiSr(2, 4, 2), v1::RATER_THERAPIST);
  Evaluation r = Evaluate(b.events(), DefaultRules());
  EXPECT_EQ(r.assessment.alliance().components().session_number(), 0);
  EXPECT_EQ(r.Find(BordinModule::kRevisitAgreement), nullptr);
}

TEST(BordinModuleTest, DisabledModuleDoesNothing) {
  v1::RulesConfig rules = DefaultRules();
  rules.mutable_bordin()->set_enabled(false);
  Evaluation r = WithWaiSr(4, 4.5, 2.5, rules);
  EXPECT_FALSE(r.assessment.alliance().has_components());
  EXPECT_EQ(r.Find(BordinModule::kRevisitAgreement), nullptr);
}

}  // namespace
}  // namespace attune::builtin
