#include "plugins/builtin/rupture/rupture_module.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
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

EpisodeBuilder Series(const std::vector<double>& totals) {
  EpisodeBuilder b;
  int session = 0;
  for (double total : totals) b.HeldSrs(++session, total);
  return b;
}

Evaluation Assess(const EpisodeBuilder& b,
                  const v1::RulesConfig& rules = DefaultRules()) {
  return Evaluate(b.events(), rules);
}

TEST(RuptureModuleTest, SteadyHighScoresAreQuiet) {
  Evaluation r = Assess(Series({38, 39, 37.5, 38.5, 39}));
  EXPECT_EQ(r.assessment.rupture().status(), v1::RUPTURE_STATUS_NONE);
  EXPECT_EQ(r.Find(RuptureModule::kCheckRupture), nullptr);
  EXPECT_EQ(r.assessment.alliance().band(), v1::ALLIANCE_BAND_STRONG);
}

TEST(RuptureModuleTest, NoiseAroundAHighScoreWithTinySdIsQuiet) {
  // SD of the earlier ratings is ~0.3, so a 1.5-point dip is > 1 SD, but it
  // is far below the reliable drop of 4: the floor keeps it quiet.
  Evaluation r = Assess(Series({38, 38.5, 38, 38.5, 37}));
  EXPECT_EQ(r.assessment.rupture().status(), v1::RUPTURE_STATUS_NONE);
  EXPECT_EQ(r.Find(RuptureModule::kCheckRupture), nullptr);
}

TEST(RuptureModuleTest, FallBelowCutoffAfterBeingAbove) {
  Evaluation r = Assess(Series({38, 38, 35}));
  const v1::RuptureState& rupture = r.assessment.rupture();
  EXPECT_EQ(rupture.status(), v1::RUPTURE_STATUS_SUSPECTED);
  EXPECT_THAT(rupture.signals(), ElementsAre(v1::RUPTURE_SIGNAL_BELOW_CUTOFF));
  EXPECT_EQ(rupture.detected_session(), 3);
  EXPECT_EQ(rupture.pre_drop_level(), 38);
  EXPECT_EQ(r.assessment.alliance().band(), v1::ALLIANCE_BAND_RUPTURED);
  const engine::ProposedPrompt* p = r.Find(RuptureModule::kCheckRupture);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->prompt.severity(), v1::SEVERITY_WARNING);
  EXPECT_EQ(p->prompt.priority(), 90);
  EXPECT_EQ(p->strength, 3);
  EXPECT_TRUE(absl::StrContains(p->prompt.summary(), "38 to 35"))
      << p->prompt.summary();
  EXPECT_TRUE(absl::StrContains(p->prompt.detail(), "cut-off of 36"))
      << p->prompt.detail();
  ASSERT_FALSE(p->prompt.evidence().empty());
  EXPECT_EQ(p->prompt.evidence(0).comparison(), "<");
  EXPECT_EQ(p->prompt.evidence(0).threshold(), 36);
}

TEST(RuptureModuleTest, StayingBelowCutoffIsNotANewFall) {
  Evaluation r = Assess(Series({34, 35, 34.5, 35}));
  EXPECT_EQ(r.assessment.rupture().status(), v1::RUPTURE_STATUS_NONE);
  EXPECT_EQ(r.assessment.alliance().band(), v1::ALLIANCE_BAND_FRAGILE);
}

TEST(RuptureModuleTest, SdDropWithThreeOrMoreEarlierRatings) {
  // Earlier 30, 34, 32, 33: SD 1.7. A 5-point drop is > 1 SD and >= 4.
  Evaluation r = Assess(Series({30, 34, 32, 33, 28}));
  const v1::RuptureState& rupture = r.assessment.rupture();
  EXPECT_EQ(rupture.status(), v1::RUPTURE_STATUS_SUSPECTED);
  EXPECT_THAT(rupture.signals(), ElementsAre(v1::RUPTURE_SIGNAL_SD_DROP));
  EXPECT_EQ(rupture.detected_session(), 5);
  EXPECT_EQ(rupture.pre_drop_level(), 33);
  const engine::ProposedPrompt* p = r.Find(RuptureModule::kCheckRupture);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(absl::StrContains(p->prompt.detail(), "1 SD of 4 earlier"))
      << p->prompt.detail();
  EXPECT_EQ(p->strength, 5);
}

TEST(RuptureModuleTest, ClientsOwnLargeSdAbsorbsAReliableSizedDrop) {
  // Earlier 22, 30, 27, 33: SD 4.7, so a 4-point drop is within the
  // client's usual swing (and no earlier step fell by 4).
  Evaluation r = Assess(Series({22, 30, 27, 33, 29}));
  EXPECT_EQ(r.assessment.rupture().status(), v1::RUPTURE_STATUS_NONE);
}

TEST(RuptureModuleTest, StricterSdMultiplierFromConfig) {
  v1::RulesConfig rules = DefaultRules();
  rules.mutable_rupture()->set_sd_multiplier(4.0);  // 4 x 1.7 = 6.8 > 5
  Evaluation r = Assess(Series({30, 34, 32, 33, 28}), rules);
  EXPECT_EQ(r.assessment.rupture().status(), v1::RUPTURE_STATUS_NONE);
}

TEST(RuptureModuleTest, ReliableDropBeforeThereAreEnoughRatingsForAnSd) {
  Evaluation r = Assess(Series({35, 30}));
  const v1::RuptureState& rupture = r.assessment.rupture();
  EXPECT_THAT(rupture.signals(), ElementsAre(v1::RUPTURE_SIGNAL_RELIABLE_DROP));
  EXPECT_EQ(rupture.pre_drop_level(), 35);
  EXPECT_NE(r.Find(RuptureModule::kCheckRupture), nullptr);

  // 3.5 points is below the reliable drop of 4.
  EXPECT_EQ(Assess(Series({34, 30.5})).assessment.rupture().status(),
            v1::RUPTURE_STATUS_NONE);
}

TEST(RuptureModuleTest, SteadyDecline) {
  // Three falls in a row, 4 points in all; 36 is still at the cut-off.
  Evaluation r = Assess(Series({40, 39, 37.5, 36}));
  const v1::RuptureState& rupture = r.assessment.rupture();
  EXPECT_EQ(rupture.status(), v1::RUPTURE_STATUS_SUSPECTED);
  EXPECT_THAT(rupture.signals(),
              ElementsAre(v1::RUPTURE_SIGNAL_STEADY_DECLINE));
  EXPECT_EQ(rupture.pre_drop_level(), 40);  // the value before the run
  const engine::ProposedPrompt* p = r.Find(RuptureModule::kCheckRupture);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(
      absl::StrContains(p->prompt.detail(), "3 rated sessions in a row"))
      << p->prompt.detail();
}

TEST(RuptureModuleTest, SmallFallsInARowAreQuiet) {
  EXPECT_EQ(Assess(Series({40, 39.5, 39, 38.5})).assessment.rupture().status(),
            v1::RUPTURE_STATUS_NONE);
}

TEST(RuptureModuleTest, ClinicianMarker) {
  EpisodeBuilder b = Series({38, 38});
  b.Held(3).Marker(3, v1::RUPTURE_TYPE_WITHDRAWAL).Srs(3, 37.5);
  Evaluation r = Assess(b);
  const v1::RuptureState& rupture = r.assessment.rupture();
  EXPECT_EQ(rupture.status(), v1::RUPTURE_STATUS_SUSPECTED);
  EXPECT_THAT(rupture.signals(),
              ElementsAre(v1::RUPTURE_SIGNAL_CLINICIAN_MARKER));
  EXPECT_EQ(rupture.marker_type(), v1::RUPTURE_TYPE_WITHDRAWAL);
  EXPECT_EQ(rupture.pre_drop_level(), 38);
  const engine::ProposedPrompt* p = r.Find(RuptureModule::kCheckRupture);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(absl::StrContains(p->prompt.detail(), "withdrawal marker"))
      << p->prompt.detail();
}

TEST(RuptureModuleTest, AddressedMarkerDoesNotOutliveARatingBackAtLevel) {
  EpisodeBuilder b = Series({38, 38});
  b.Held(3).Marker(3, v1::RUPTURE_TYPE_CONFRONTATION, /*addressed=*/true);
  b.HeldSrs(4, 38);
  Evaluation r = Assess(b);
  EXPECT_EQ(r.assessment.rupture().status(), v1::RUPTURE_STATUS_REPAIRED);
  EXPECT_EQ(r.assessment.rupture().repaired_session(), 4);
  EXPECT_EQ(r.Find(RuptureModule::kCheckRupture), nullptr);
}

TEST(RuptureModuleTest, MarkerBeforeAnyRatingReturnsToTheCutoff) {
  EpisodeBuilder b;
  b.Held(1).Marker(1, v1::RUPTURE_TYPE_WITHDRAWAL);
  Evaluation r = Assess(b);
  EXPECT_EQ(r.assessment.rupture().status(), v1::RUPTURE_STATUS_SUSPECTED);
  EXPECT_EQ(r.assessment.alliance().band(), v1::ALLIANCE_BAND_RUPTURED);
  b.HeldSrs(2, 36);
  r = Assess(b);
  EXPECT_EQ(r.assessment.rupture().status(), v1::RUPTURE_STATUS_REPAIRED);
  EXPECT_EQ(r.assessment.rupture().pre_drop_level(), 36);
}

TEST(RuptureModuleTest, NotesChallengingInterventionsJustBefore) {
  EpisodeBuilder b = Series({38, 38});
  b.Held(3, /*challenging=*/true).Srs(3, 38).HeldSrs(4, 30);
  Evaluation r = Assess(b);
  EXPECT_TRUE(r.assessment.rupture().after_challenging_session());
  const engine::ProposedPrompt* p = r.Find(RuptureModule::kCheckRupture);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(absl::StrContains(p->prompt.detail(),
                                "Challenging interventions were reported in "
                                "session 3"))
      << p->prompt.detail();
  EXPECT_TRUE(absl::StrContains(p->prompt.reflective_question(), "regard"));
}

TEST(RuptureModuleTest, NoChallengeNoteWhenChallengeWasLongBefore) {
  EpisodeBuilder b;
  b.Held(1, /*challenging=*/true).Srs(1, 38).HeldSrs(2, 38).HeldSrs(3, 30);
  EXPECT_FALSE(Assess(b).assessment.rupture().after_challenging_session());
}

TEST(RuptureModuleTest, VShapeRepairs) {
  EpisodeBuilder b = Series({38, 38.5, 38, 30});
  Evaluation r = Assess(b);
  EXPECT_EQ(r.assessment.rupture().status(), v1::RUPTURE_STATUS_SUSPECTED);
  EXPECT_THAT(
      r.assessment.rupture().signals(),
      ElementsAre(v1::RUPTURE_SIGNAL_BELOW_CUTOFF, v1::RUPTURE_SIGNAL_SD_DROP));

  b.HeldSrs(5, 34);
  r = Assess(b);
  EXPECT_EQ(r.assessment.rupture().status(), v1::RUPTURE_STATUS_REPAIRING);
  EXPECT_EQ(r.assessment.alliance().band(), v1::ALLIANCE_BAND_RUPTURED);
  const engine::ProposedPrompt* p = r.Find(RuptureModule::kCheckRupture);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(absl::StrContains(p->prompt.summary(), "not yet back"));

  b.HeldSrs(6, 38.5);
  r = Assess(b);
  EXPECT_EQ(r.assessment.rupture().status(), v1::RUPTURE_STATUS_REPAIRED);
  EXPECT_EQ(r.assessment.rupture().repaired_session(), 6);
  EXPECT_EQ(r.assessment.rupture().detected_session(), 4);
  EXPECT_EQ(r.Find(RuptureModule::kCheckRupture), nullptr);
  EXPECT_NE(r.assessment.alliance().band(), v1::ALLIANCE_BAND_RUPTURED);
}

TEST(RuptureModuleTest, ReturnFractionFromConfig) {
  v1::RulesConfig rules = DefaultRules();
  rules.mutable_repair()->set_return_fraction(0.5);
  // Low 30, pre-drop 38: half way back is 34.
  Evaluation r = Assess(Series({38, 30, 34}), rules);
  EXPECT_EQ(r.assessment.rupture().status(), v1::RUPTURE_STATUS_REPAIRED);
  EXPECT_EQ(Assess(Series({38, 30, 34})).assessment.rupture().status(),
            v1::RUPTURE_STATUS_REPAIRING);
}

TEST(RuptureModuleTest, FurtherDropWhileRepairingKeepsTheOriginalLevel) {
  Evaluation r = Assess(Series({38, 30, 34, 29}));
  const v1::RuptureState& rupture = r.assessment.rupture();
  EXPECT_EQ(rupture.status(), v1::RUPTURE_STATUS_SUSPECTED);
  EXPECT_EQ(rupture.detected_session(), 2);
  EXPECT_EQ(rupture.pre_drop_level(), 38);
  EXPECT_EQ(r.Find(RuptureModule::kCheckRupture)->strength, 9);
}

TEST(RuptureModuleTest, NewRuptureAfterARepair) {
  Evaluation r = Assess(Series({38, 30, 38, 38, 31}));
  EXPECT_EQ(r.assessment.rupture().status(), v1::RUPTURE_STATUS_SUSPECTED);
  EXPECT_EQ(r.assessment.rupture().detected_session(), 5);
  EXPECT_EQ(r.assessment.rupture().repaired_session(), 0);
}

TEST(RuptureModuleTest, PromptStopsAfterHeldSessionsWithoutRatings) {
  EpisodeBuilder b = Series({38, 38, 30});
  b.Held(4).Held(5);
  Evaluation r = Assess(b);
  EXPECT_NE(r.Find(RuptureModule::kCheckRupture), nullptr);
  b.Held(6);  // the third held session without a new rating
  r = Assess(b);
  EXPECT_EQ(r.Find(RuptureModule::kCheckRupture), nullptr);
  EXPECT_EQ(r.assessment.rupture().status(), v1::RUPTURE_STATUS_SUSPECTED);
}

TEST(RuptureModuleTest, NoPromptOnAClosedEpisode) {
  EpisodeBuilder b = Series({38, 38, 30});
  b.Closed(v1::ENDING_REASON_DROPOUT);
  Evaluation r = Assess(b);
  EXPECT_EQ(r.assessment.rupture().status(), v1::RUPTURE_STATUS_SUSPECTED);
  EXPECT_THAT(r.prompts, IsEmpty());
}

TEST(RuptureModuleTest, DisabledModuleDoesNothing) {
  v1::RulesConfig rules = DefaultRules();
  rules.mutable_rupture()->set_enabled(false);
  Evaluation r = Assess(Series({38, 38, 30}), rules);
  EXPECT_FALSE(r.assessment.has_rupture());
  EXPECT_EQ(r.Find(RuptureModule::kCheckRupture), nullptr);
  EXPECT_EQ(r.assessment.alliance().band(), v1::ALLIANCE_BAND_FRAGILE);
}

TEST(RuptureModuleTest, LongCustomInstrumentNameKeepsTheSummaryShort) {
  v1::RulesConfig rules = DefaultRules();
  rules.clear_alliance_preference();
  rules.add_alliance_preference(v1::INSTRUMENT_CUSTOM);
  v1::CustomInstrument custom;
  custom.set_name(std::string(64, 'x'));
  custom.set_construct(v1::CONSTRUCT_ALLIANCE);
  custom.set_total_min(0);
  custom.set_total_max(100);
  custom.set_higher_is_better(true);
  EpisodeBuilder b;
  b.Held(1).Custom(1, custom, 90).Held(2).Custom(2, custom, 40);
  // No reliable drop or cut-off is declared for a custom instrument, so
  // only a marker can raise a rupture on it.
  b.Marker(2, v1::RUPTURE_TYPE_WITHDRAWAL);
  Evaluation r = Assess(b, rules);
  const engine::ProposedPrompt* p = r.Find(RuptureModule::kCheckRupture);
  ASSERT_NE(p, nullptr);  // the helper checks the summary is under 140
  EXPECT_EQ(r.assessment.alliance().custom_instrument(), custom.name());
}

TEST(RuptureModuleTest, WorksOnAnInstrumentWithoutCutoff) {
  // WAI-SR: no cut-off, reliable drop 6.
  EpisodeBuilder b;
  b.Held(1).Total(1, v1::INSTRUMENT_WAI_SR, 55);
  b.Held(2).Total(2, v1::INSTRUMENT_WAI_SR, 48);
  Evaluation r = Assess(b);
  EXPECT_THAT(r.assessment.rupture().signals(),
              ElementsAre(v1::RUPTURE_SIGNAL_RELIABLE_DROP));
  EXPECT_EQ(r.assessment.alliance().band(), v1::ALLIANCE_BAND_RUPTURED);
}

}  // namespace
}  // namespace attune::builtin
