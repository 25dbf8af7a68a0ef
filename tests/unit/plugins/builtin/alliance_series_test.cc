#include "plugins/builtin/common/alliance_series.h"

#include "gtest/gtest.h"
#include "tests/unit/plugins/builtin/episode_builder.h"

namespace attune::builtin {
namespace {

using test_support::DefaultRules;
using test_support::EpisodeBuilder;
using test_support::FoldEvents;

AllianceSeries SeriesOf(const EpisodeBuilder& b,
                        const v1::RulesConfig& rules = DefaultRules()) {
  engine::EpisodeHistory history = FoldEvents(b.events(), rules);
  return AllianceSeries::Build(history, rules);
}

TEST(AllianceSeriesTest, EmptyWithoutClientAllianceRatings) {
  EpisodeBuilder b;
  b.Held(1)
      .Srs(1, 30, v1::RATER_THERAPIST)
      .Total(1, v1::INSTRUMENT_ORS, 20);  // outcome, not alliance
  EXPECT_TRUE(SeriesOf(b).empty());
}

TEST(AllianceSeriesTest, UsesFirstPreferredInstrumentTheEpisodeHas) {
  EpisodeBuilder b;
  b.Held(1).Total(1, v1::INSTRUMENT_SAI, 30).Srs(1, 38);
  b.Held(2).Total(2, v1::INSTRUMENT_SAI, 31);
  AllianceSeries series = SeriesOf(b);
  ASSERT_EQ(series.size(), 1u);  // SRS is preferred over SAI
  EXPECT_EQ(series.key(), "srs");
  EXPECT_EQ(series.label(), "SRS");
  EXPECT_EQ(series.latest().total, 38);
  EXPECT_DOUBLE_EQ(series.latest().percent, 95);

  EpisodeBuilder sai_only;
  sai_only.Held(1).Total(1, v1::INSTRUMENT_SAI, 30);
  EXPECT_EQ(SeriesOf(sai_only).key(), "sai");
}

TEST(AllianceSeriesTest, OnePointPerSessionTheLastRatingWins) {
  EpisodeBuilder b;
  b.Held(2).Srs(2, 30).Srs(2, 34);
  b.Held(1).Srs(1, 38);
  AllianceSeries series = SeriesOf(b);
  ASSERT_EQ(series.size(), 2u);
  EXPECT_EQ(series.points()[0].session, 1);
  EXPECT_EQ(series.points()[1].session, 2);
  EXPECT_EQ(series.points()[1].total, 34);
}

TEST(AllianceSeriesTest, CutoffHonoursConcernInclusive) {
  EpisodeBuilder b;
  b.HeldSrs(1, 36);
  AllianceSeries strict = SeriesOf(b);
  ASSERT_TRUE(strict.has_cutoff());
  EXPECT_FALSE(strict.IsConcern(36));  // default: concern is < 36
  EXPECT_TRUE(strict.MeetsCutoff(36));
  EXPECT_TRUE(strict.IsConcern(35.9));

  v1::RulesConfig rules = DefaultRules();
  for (auto& def : *rules.mutable_instruments()) {
    if (def.instrument() == v1::INSTRUMENT_SRS) def.set_concern_inclusive(true);
  }
  AllianceSeries inclusive = SeriesOf(b, rules);
  EXPECT_TRUE(inclusive.IsConcern(36));
  EXPECT_FALSE(inclusive.MeetsCutoff(36));
  EXPECT_STREQ(inclusive.ConcernComparison(), "<=");
}

TEST(AllianceSeriesTest, NoCutoffMeansNeitherConcernNorMet) {
  EpisodeBuilder b;
  b.Held(1).Total(1, v1::INSTRUMENT_WAI_SR, 40);
  AllianceSeries series = SeriesOf(b);
  EXPECT_FALSE(series.has_cutoff());
  EXPECT_FALSE(series.IsConcern(12));
  EXPECT_FALSE(series.MeetsCutoff(60));
  ASSERT_TRUE(series.reliable_drop().has_value());
  EXPECT_EQ(*series.reliable_drop(), 6);
}

TEST(AllianceSeriesTest, MeanAndSampleSdOfEarlierPoints) {
  EpisodeBuilder b;
  b.HeldSrs(1, 30).HeldSrs(2, 34).HeldSrs(3, 32).HeldSrs(4, 33);
  AllianceSeries series = SeriesOf(b);
  EXPECT_DOUBLE_EQ(series.MeanBefore(4), 32.25);
  // Sample SD (n - 1) of 30, 34, 32, 33: sqrt(8.75 / 3).
  EXPECT_NEAR(series.SdBefore(4), 1.7078, 1e-4);
  EXPECT_EQ(series.SdBefore(1), 0);
}

TEST(AllianceSeriesTest, LowerIsBetterCustomInstrumentFlipsDirection) {
  v1::RulesConfig rules = DefaultRules();
  rules.clear_alliance_preference();
  rules.add_alliance_preference(v1::INSTRUMENT_CUSTOM);
  v1::CustomInstrument strain;
  strain.set_name("acme.strain");
  strain.set_construct(v1::CONSTRUCT_ALLIANCE);
  strain.set_total_min(0);
  strain.set_total_max(10);
  strain.set_higher_is_better(false);
  EpisodeBuilder b;
  b.Held(1).Custom(1, strain, 2).Held(2).Custom(2, strain, 7);
  AllianceSeries series = SeriesOf(b, rules);
  ASSERT_EQ(series.size(), 2u);
  EXPECT_EQ(series.key(), "custom:acme.strain");
  EXPECT_EQ(series.label(), "acme.strain");
  EXPECT_EQ(series.Drop(2, 7), 5);  // rising strain is a drop in alliance
  EXPECT_EQ(series.Worse(2, 7), 7);
  EXPECT_DOUBLE_EQ(series.latest().percent, 30);
}

}  // namespace
}  // namespace attune::builtin
