#include "plugins/builtin/alliance/alliance_module.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/unit/plugins/builtin/episode_builder.h"

namespace attune::builtin {
namespace {

using test_support::DefaultRules;
using test_support::EpisodeBuilder;
using test_support::Evaluate;
using test_support::Evaluation;

v1::AllianceQuality AllianceOf(const EpisodeBuilder& b) {
  return Evaluate(b.events(), DefaultRules()).assessment.alliance();
}

TEST(AllianceModuleTest, UnknownWithoutClientRatings) {
  EpisodeBuilder b;
  b.Held(1).Srs(1, 30, v1::RATER_THERAPIST);
  v1::AllianceQuality a = AllianceOf(b);
  EXPECT_EQ(a.band(), v1::ALLIANCE_BAND_UNKNOWN);
  EXPECT_EQ(a.trend(), v1::TREND_UNKNOWN);
  EXPECT_EQ(a.session_number(), 0);
}

TEST(AllianceModuleTest, FillsLatestScore) {
  EpisodeBuilder b;
  b.HeldSrs(1, 37).HeldSrs(2, 38);
  v1::AllianceQuality a = AllianceOf(b);
  EXPECT_DOUBLE_EQ(a.score(), 95);
  EXPECT_EQ(a.raw_total(), 38);
  EXPECT_EQ(a.instrument(), v1::INSTRUMENT_SRS);
  EXPECT_EQ(a.session_number(), 2);
  EXPECT_EQ(a.band(), v1::ALLIANCE_BAND_ADEQUATE);  // fewer than 3 rated
  EXPECT_EQ(a.trend(), v1::TREND_UNKNOWN);
  ASSERT_FALSE(a.evidence().empty());
  EXPECT_EQ(a.evidence(0).name(), "srs_total");
  EXPECT_EQ(a.evidence(0).threshold(), 36);
  EXPECT_EQ(a.evidence(0).comparison(), ">=");
}

TEST(AllianceModuleTest, StrongWhenLastThreeMeetCutoff) {
  EpisodeBuilder b;
  b.HeldSrs(1, 30).HeldSrs(2, 36).HeldSrs(3, 38).HeldSrs(4, 37);
  v1::AllianceQuality a = AllianceOf(b);
  EXPECT_EQ(a.band(), v1::ALLIANCE_BAND_STRONG);
  EXPECT_EQ(a.trend(), v1::TREND_STABLE);  // rise then fall
}

TEST(AllianceModuleTest, FragileWhenLatestBelowCutoffWithoutRupture) {
  EpisodeBuilder b;
  b.HeldSrs(1, 33).HeldSrs(2, 34).HeldSrs(3, 35);
  v1::AllianceQuality a = AllianceOf(b);
  EXPECT_EQ(a.band(), v1::ALLIANCE_BAND_FRAGILE);
  EXPECT_EQ(a.trend(), v1::TREND_IMPROVING);
}

TEST(AllianceModuleTest, DecliningAfterTwoFalls) {
  EpisodeBuilder b;
  b.HeldSrs(1, 39.5).HeldSrs(2, 38.5).HeldSrs(3, 37.5);
  v1::AllianceQuality a = AllianceOf(b);
  EXPECT_EQ(a.trend(), v1::TREND_DECLINING);
  EXPECT_EQ(a.band(), v1::ALLIANCE_BAND_STRONG);
}

TEST(AllianceModuleTest, AdequateOnInstrumentWithoutCutoff) {
  EpisodeBuilder b;
  b.Held(1).Total(1, v1::INSTRUMENT_WAI_SR, 30);
  v1::AllianceQuality a = AllianceOf(b);
  EXPECT_EQ(a.band(), v1::ALLIANCE_BAND_ADEQUATE);
  EXPECT_EQ(a.instrument(), v1::INSTRUMENT_WAI_SR);
  EXPECT_DOUBLE_EQ(a.score(), 37.5);  // (30 - 12) / 48
}

TEST(AllianceModuleTest, RaisesNoPrompts) {
  EpisodeBuilder b;
  b.HeldSrs(1, 20);
  for (const auto& kind : Evaluate(b.events(), DefaultRules()).Kinds()) {
    EXPECT_FALSE(absl::StartsWith(kind, AllianceModule::kId)) << kind;
  }
}

}  // namespace
}  // namespace attune::builtin
