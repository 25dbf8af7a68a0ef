#include "service/engine/instrument_registry.h"

#include "gtest/gtest.h"
#include "service/config/config_loader.h"

namespace attune::engine {
namespace {

InstrumentRegistry Defaults() {
  auto config = config::DefaultConfig();
  EXPECT_TRUE(config.ok());
  auto registry = InstrumentRegistry::Create(config->rules());
  EXPECT_TRUE(registry.ok());
  return *std::move(registry);
}

v1::MeasureRecorded Measure(v1::Instrument instrument,
                            std::vector<double> items) {
  v1::MeasureRecorded m;
  m.set_session_number(2);
  m.set_instrument(instrument);
  m.set_rater(v1::RATER_CLIENT);
  for (double v : items) m.add_items(v);
  return m;
}

TEST(InstrumentRegistryTest, ScoresSrsOnItsRange) {
  auto s = Defaults().Score(Measure(v1::INSTRUMENT_SRS, {9.5, 9, 8.5, 9}),
                            "measure_recorded");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_DOUBLE_EQ(s->total, 36);
  EXPECT_DOUBLE_EQ(s->percent, 90);
  EXPECT_EQ(s->instrument_key, "srs");
  EXPECT_EQ(s->construct, v1::CONSTRUCT_ALLIANCE);
  EXPECT_DOUBLE_EQ(s->definition.concern_below_total(), 36);
}

TEST(InstrumentRegistryTest, WaiSrSubscalesFollowHatcherAndGillaspy) {
  // Task = 1,2,10,12; Bond = 3,5,7,9; Goal = 4,6,8,11.
  std::vector<double> items = {2, 2, 5, 4, 5, 4, 5, 4, 5, 2, 4, 2};
  auto s = Defaults().Score(Measure(v1::INSTRUMENT_WAI_SR, items), "m");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_DOUBLE_EQ(s->subscale_means.at("tasks"), 2);
  EXPECT_DOUBLE_EQ(s->subscale_means.at("bond"), 5);
  EXPECT_DOUBLE_EQ(s->subscale_means.at("goals"), 4);
  EXPECT_DOUBLE_EQ(s->total, 44);
}

TEST(InstrumentRegistryTest, TotalDisagreeingWithItemsNamesRuleNotValues) {
  v1::MeasureRecorded m = Measure(v1::INSTRUMENT_SRS, {9.5, 9, 8.5, 9});
  m.set_total(31.25);
  m.set_has_total(true);
  auto s = Defaults().Score(m, "measure_recorded");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.status().message(),
            "measure_recorded.total: must equal the sum of the items within "
            "0.05");
}

TEST(InstrumentRegistryTest, CustomInstrumentCarriesItsCutoffAndDrop) {
  v1::MeasureRecorded m = Measure(v1::INSTRUMENT_CUSTOM, {});
  m.set_total(14);
  m.set_has_total(true);
  v1::CustomInstrument* c = m.mutable_custom();
  c->set_name("acme.alliance4");
  c->set_construct(v1::CONSTRUCT_ALLIANCE);
  c->set_total_min(0);
  c->set_total_max(20);
  c->set_higher_is_better(true);
  c->set_concern_below_total(15);
  c->set_has_concern_cutoff(true);
  c->set_reliable_drop(3);
  auto s = Defaults().Score(m, "measure_recorded");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->instrument_key, "custom:acme.alliance4");
  EXPECT_DOUBLE_EQ(s->definition.concern_below_total(), 15);
  EXPECT_DOUBLE_EQ(s->definition.reliable_drop(), 3);
  EXPECT_DOUBLE_EQ(s->percent, 70);

  c->set_concern_below_total(25);
  EXPECT_EQ(Defaults().Score(m, "measure_recorded").status().message(),
            "measure_recorded.custom.concern_below_total: must lie within "
            "the declared total range");
  c->set_concern_below_total(15);
  c->set_reliable_drop(-1);
  EXPECT_EQ(Defaults().Score(m, "measure_recorded").status().message(),
            "measure_recorded.custom.reliable_drop: must be above 0 and at "
            "most the total range");
}

TEST(InstrumentRegistryTest, LowerIsBetterIsOrientedToHigherIsBetter) {
  v1::MeasureRecorded m = Measure(v1::INSTRUMENT_CUSTOM, {});
  m.set_total(5);
  m.set_has_total(true);
  v1::CustomInstrument* c = m.mutable_custom();
  c->set_name("acme.distress");
  c->set_construct(v1::CONSTRUCT_OUTCOME);
  c->set_total_min(0);
  c->set_total_max(20);
  c->set_higher_is_better(false);
  auto s = Defaults().Score(m, "measure_recorded");
  ASSERT_TRUE(s.ok());
  EXPECT_DOUBLE_EQ(s->percent, 75);
}

}  // namespace
}  // namespace attune::engine
