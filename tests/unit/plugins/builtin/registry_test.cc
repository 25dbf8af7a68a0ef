#include "plugins/builtin/registry.h"

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/unit/plugins/builtin/episode_builder.h"

namespace attune::builtin {
namespace {

using test_support::DefaultRules;
using test_support::EpisodeBuilder;
using test_support::Evaluate;
using test_support::Evaluation;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(BuiltinRegistryTest, ModulesInRunOrder) {
  std::vector<std::string> ids;
  for (const auto& module : MakeBuiltinModules()) {
    ids.emplace_back(module->id());
    EXPECT_EQ(module->version(), "1.0.0") << module->id();
    EXPECT_TRUE(module->Enabled(DefaultRules())) << module->id();
  }
  EXPECT_THAT(
      ids, ElementsAre("attune.alliance", "attune.phase", "attune.rupture",
                       "attune.repair", "attune.dropout_risk",
                       "attune.rater_discrepancy", "attune.bordin",
                       "attune.feedback_adherence", "attune.clinician_load"));
}

TEST(BuiltinRegistryTest, AllDisabledRaisesNothing) {
  v1::RulesConfig rules = DefaultRules();
  rules.mutable_phase()->set_enabled(false);
  rules.mutable_rupture()->set_enabled(false);
  rules.mutable_repair()->set_enabled(false);
  rules.mutable_dropout_risk()->set_enabled(false);
  rules.mutable_rater_discrepancy()->set_enabled(false);
  rules.mutable_bordin()->set_enabled(false);
  rules.mutable_feedback_adherence()->set_enabled(false);
  rules.mutable_clinician_load()->set_enabled(false);
  EpisodeBuilder b;
  for (int s = 1; s <= 6; ++s) b.HeldSrs(s, s < 4 ? 38 : 28);
  b.Held(7).Held(8).NoShow(9);
  Evaluation r = Evaluate(b.events(), rules);
  EXPECT_THAT(r.prompts, IsEmpty());
  EXPECT_FALSE(r.assessment.has_phase());
  EXPECT_FALSE(r.assessment.has_rupture());
  EXPECT_EQ(r.assessment.alliance().band(), v1::ALLIANCE_BAND_FRAGILE);
}

// An episode that touches most modules: a rupture after challenging work,
// a therapist rating, a WAI-SR, a late cancellation.
EpisodeBuilder BusyEpisode() {
  EpisodeBuilder b;
  b.HeldSrs(1, 36).HeldSrs(2, 37).Goals(2).HeldSrs(3, 38);
  b.Held(4, /*challenging=*/true).Srs(4, 38.5);
  b.Held(5).Srs(5, 30).Srs(5, 36, v1::RATER_THERAPIST);
  b.Measure(5, v1::INSTRUMENT_WAI_SR, {4, 4, 4, 2, 4, 2, 4, 2, 4, 4, 2, 4});
  b.Cancelled(6, v1::CANCELLED_BY_CLIENT, /*late=*/true);
  return b;
}

TEST(BuiltinRegistryTest, BusyEpisodeRaisesTheExpectedKinds) {
  Evaluation r = Evaluate(BusyEpisode().events(), DefaultRules());
  std::vector<std::string> kinds = r.Kinds();
  EXPECT_THAT(kinds,
              ElementsAre("attune.rupture/check_rupture",
                          "attune.dropout_risk/reach_out",
                          "attune.rater_discrepancy/client_below_therapist",
                          "attune.bordin/revisit_agreement"));
  EXPECT_TRUE(r.assessment.rupture().after_challenging_session());
  EXPECT_EQ(r.assessment.phase().phase(), v1::PHASE_CHALLENGE);
}

TEST(BuiltinRegistryTest, EventOrderDoesNotChangeTheResult) {
  std::vector<v1::SessionEvent> events = BusyEpisode().events();
  const v1::SessionEvent trigger = events.back();
  Evaluation in_order = Evaluate(events, DefaultRules(), &trigger);
  std::mt19937 rng(20240101);
  for (int round = 0; round < 5; ++round) {
    std::shuffle(events.begin(), events.end(), rng);
    Evaluation shuffled = Evaluate(events, DefaultRules(), &trigger);
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
        in_order.assessment, shuffled.assessment));
    ASSERT_EQ(in_order.prompts.size(), shuffled.prompts.size());
    for (std::size_t i = 0; i < in_order.prompts.size(); ++i) {
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
          in_order.prompts[i].prompt, shuffled.prompts[i].prompt));
      EXPECT_EQ(in_order.prompts[i].strength, shuffled.prompts[i].strength);
    }
  }
}

TEST(BuiltinRegistryTest, LateArrivingMeasureMatchesInOrder) {
  // The session-3 SRS entered after session 5 had been held.
  EpisodeBuilder in_order;
  in_order.HeldSrs(1, 38).HeldSrs(2, 38).HeldSrs(3, 30).HeldSrs(4, 31);
  in_order.HeldSrs(5, 32);
  EpisodeBuilder late;
  late.HeldSrs(1, 38).HeldSrs(2, 38).Held(3).HeldSrs(4, 31).HeldSrs(5, 32);
  late.At(test_support::SessionStart(5) + absl::Hours(2)).Srs(3, 30);
  const v1::SessionEvent trigger = in_order.events().back();
  Evaluation a = Evaluate(in_order.events(), DefaultRules(), &trigger);
  Evaluation b = Evaluate(late.events(), DefaultRules(), &trigger);
  EXPECT_EQ(a.assessment.rupture().detected_session(), 3);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(a.assessment,
                                                                 b.assessment));
  EXPECT_EQ(a.Kinds(), b.Kinds());
}

TEST(BuiltinRegistryTest, AGoodTherapyStaysQuiet) {
  EpisodeBuilder b;
  b.Goals(2);
  const double totals[] = {35, 37, 38, 38.5, 37.5, 39, 38, 39.5, 38.5, 39};
  for (int s = 1; s <= 10; ++s) b.HeldSrs(s, totals[s - 1]);
  Evaluation r = Evaluate(b.events(), DefaultRules());
  EXPECT_THAT(r.prompts, IsEmpty());
  EXPECT_EQ(r.assessment.alliance().band(), v1::ALLIANCE_BAND_STRONG);
  EXPECT_EQ(r.assessment.phase().phase(), v1::PHASE_CHALLENGE);
}

}  // namespace
}  // namespace attune::builtin
