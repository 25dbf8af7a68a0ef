#include "plugins/builtin/repair/repair_module.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "plugins/builtin/rupture/rupture_module.h"
#include "tests/unit/plugins/builtin/episode_builder.h"

namespace attune::builtin {
namespace {

using test_support::DefaultRules;
using test_support::EpisodeBuilder;
using test_support::Evaluate;
using test_support::Evaluation;

EpisodeBuilder VShape() {
  EpisodeBuilder b;
  b.HeldSrs(1, 38).HeldSrs(2, 38.5).HeldSrs(3, 38).HeldSrs(4, 30);
  b.HeldSrs(5, 34);
  return b;
}

TEST(RepairModuleTest, QuietWhileSuspectedOrRepairing) {
  EXPECT_EQ(Evaluate(VShape().events(), DefaultRules())
                .Find(RepairModule::kRuptureRepaired),
            nullptr);
}

TEST(RepairModuleTest, InfoOnceWhenBackAtTheEarlierLevel) {
  EpisodeBuilder b = VShape();
  b.HeldSrs(6, 38.5);
  Evaluation r = Evaluate(b.events(), DefaultRules());
  const engine::ProposedPrompt* p = r.Find(RepairModule::kRuptureRepaired);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->prompt.severity(), v1::SEVERITY_INFO);
  EXPECT_EQ(p->prompt.priority(), 40);
  EXPECT_EQ(p->strength, 8.5);  // from the low of 30 back to 38.5
  EXPECT_TRUE(absl::StrContains(p->prompt.summary(), "38.5 in session 6"))
      << p->prompt.summary();
  EXPECT_TRUE(absl::StrContains(p->prompt.detail(), "fell to 30 (session 4)"))
      << p->prompt.detail();
  EXPECT_TRUE(absl::StrContains(p->prompt.detail(), "repair threshold of 38"))
      << p->prompt.detail();
  EXPECT_EQ(r.Find(RuptureModule::kCheckRupture), nullptr);

  // The next rating: still repaired, but the news is no longer new.
  b.HeldSrs(7, 39);
  r = Evaluate(b.events(), DefaultRules());
  EXPECT_EQ(r.assessment.rupture().status(), v1::RUPTURE_STATUS_REPAIRED);
  EXPECT_EQ(r.Find(RepairModule::kRuptureRepaired), nullptr);
}

TEST(RepairModuleTest, PartialReturnIsNotCalledFullyBack) {
  v1::RulesConfig rules = DefaultRules();
  rules.mutable_repair()->set_return_fraction(0.5);
  EpisodeBuilder b;
  b.HeldSrs(1, 38).HeldSrs(2, 30).HeldSrs(3, 35);  // threshold 34
  Evaluation r = Evaluate(b.events(), rules);
  const engine::ProposedPrompt* p = r.Find(RepairModule::kRuptureRepaired);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(absl::StartsWith(p->prompt.summary(), "Alliance largely"))
      << p->prompt.summary();
  EXPECT_TRUE(absl::StrContains(p->prompt.detail(), "repair threshold of 34"))
      << p->prompt.detail();
}

TEST(RepairModuleTest, DisabledModuleDoesNothing) {
  v1::RulesConfig rules = DefaultRules();
  rules.mutable_repair()->set_enabled(false);
  EpisodeBuilder b = VShape();
  b.HeldSrs(6, 38.5);
  Evaluation r = Evaluate(b.events(), rules);
  EXPECT_EQ(r.assessment.rupture().status(), v1::RUPTURE_STATUS_REPAIRED);
  EXPECT_EQ(r.Find(RepairModule::kRuptureRepaired), nullptr);
}

}  // namespace
}  // namespace attune::builtin
