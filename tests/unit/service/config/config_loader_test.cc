#include "service/config/config_loader.h"

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "attune/v1/config.pb.h"
#include "gtest/gtest.h"

namespace attune::config {
namespace {

using v1::ServerConfig;

ServerConfig Defaults() {
  absl::StatusOr<ServerConfig> config = DefaultConfig();
  EXPECT_TRUE(config.ok()) << config.status();
  return config.value_or(ServerConfig());
}

ServerConfig Parse(const std::string& text) {
  absl::StatusOr<ServerConfig> config = ParseConfigText(text, "test");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.value_or(ServerConfig());
}

// Writes `text` to a file in the test's temporary directory, named for this
// process (ctest runs tests in parallel processes).
std::string WriteFile(const std::string& name, const std::string& text) {
  std::string path = absl::StrCat(testing::TempDir(), "/config_loader_test_",
                                  ::getpid(), "_", name);
  std::ofstream(path) << text;
  return path;
}

const v1::InstrumentDefinition* Find(const ServerConfig& c,
                                     v1::Instrument instrument) {
  for (const auto& def : c.rules().instruments()) {
    if (def.instrument() == instrument) return &def;
  }
  return nullptr;
}

v1::InstrumentDefinition* Mutable(ServerConfig& c, v1::Instrument instrument) {
  for (auto& def : *c.mutable_rules()->mutable_instruments()) {
    if (def.instrument() == instrument) return &def;
  }
  ADD_FAILURE() << "no definition of instrument " << instrument;
  return c.mutable_rules()->add_instruments();
}

void Remove(ServerConfig& c, v1::Instrument instrument) {
  auto* list = c.mutable_rules()->mutable_instruments();
  for (int i = 0; i < list->size(); ++i) {
    if (list->Get(i).instrument() == instrument) {
      list->DeleteSubrange(i, 1);
      return;
    }
  }
}

// ---------------------------------------------------------------------------
// Defaults.

TEST(DefaultConfigTest, ParsesAndValidates) {
  absl::StatusOr<ServerConfig> config = DefaultConfig();
  ASSERT_TRUE(config.ok()) << config.status();
  absl::Status valid = ValidateConfig(*config);
  EXPECT_TRUE(valid.ok()) << valid;
}

TEST(DefaultConfigTest, HasTheSrsCutOff) {
  const ServerConfig defaults = Defaults();
  const v1::InstrumentDefinition* srs = Find(defaults, v1::INSTRUMENT_SRS);
  ASSERT_NE(srs, nullptr);
  ASSERT_TRUE(srs->has_concern_below_total());
  EXPECT_EQ(srs->concern_below_total(), 36);
  EXPECT_FALSE(srs->concern_inclusive());
}

TEST(DefaultConfigTest, EmbeddedTextIsTheSourceFile) {
  std::ifstream file(ATTUNE_SOURCE_DIR "/service/config/defaults.textproto");
  ASSERT_TRUE(file.good());
  std::stringstream text;
  text << file.rdbuf();
  EXPECT_EQ(DefaultConfigText(), text.str());
}

TEST(DefaultConfigTest, EffectiveConfigWithoutFileIsTheDefaults) {
  absl::StatusOr<ServerConfig> config = LoadEffectiveConfig("");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->SerializeAsString(), Defaults().SerializeAsString());
}

// ---------------------------------------------------------------------------
// Loading and merging.

TEST(LoadEffectiveConfigTest, OverlayChangesOneThresholdAndKeepsTheRest) {
  std::string path = WriteFile("one_threshold.textproto",
                               "rules { rupture { sd_multiplier: 2.0 } }\n");
  absl::StatusOr<ServerConfig> config = LoadEffectiveConfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  ServerConfig expected = Defaults();
  expected.mutable_rules()->mutable_rupture()->set_sd_multiplier(2.0);
  EXPECT_EQ(config->SerializeAsString(), expected.SerializeAsString());
  EXPECT_EQ(config->rules().rupture().min_prior_ratings_for_sd(), 3);
  EXPECT_EQ(config->rules().instruments_size(), 4);
}

TEST(LoadEffectiveConfigTest, ExplicitFalseOverridesDefaultTrue) {
  ASSERT_TRUE(Defaults().rules().bordin().enabled());
  std::string path =
      WriteFile("disable.textproto", "rules { bordin { enabled: false } }\n");
  absl::StatusOr<ServerConfig> config = LoadEffectiveConfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->rules().bordin().enabled());
  EXPECT_EQ(config->rules().bordin().low_item_mean(), 3.0);
  EXPECT_TRUE(config->rules().rupture().enabled());
}

TEST(MergeConfigTest, ExplicitZeroOverridesDefault) {
  ServerConfig merged = MergeConfig(
      Defaults(), Parse("rules { budget { dismiss_cooldown_sessions: 0 } }"));
  EXPECT_TRUE(merged.rules().budget().has_dismiss_cooldown_sessions());
  EXPECT_EQ(merged.rules().budget().dismiss_cooldown_sessions(), 0);
  EXPECT_EQ(merged.rules().budget().max_visible_per_episode(), 2);
}

TEST(MergeConfigTest, InstrumentOverrideReplacesTheDefinition) {
  ServerConfig merged = MergeConfig(Defaults(), Parse(R"pb(
                                      rules {
                                        instruments {
                                          instrument: INSTRUMENT_SRS
                                          construct: CONSTRUCT_ALLIANCE
                                          item_count: 4
                                          item_min: 0
                                          item_max: 10
                                          total_min: 0
                                          total_max: 40
                                          higher_is_better: true
                                          concern_below_total: 35
                                        }
                                      }
                                    )pb"));
  ASSERT_EQ(merged.rules().instruments_size(), 4);
  const v1::InstrumentDefinition& srs = merged.rules().instruments(0);
  EXPECT_EQ(srs.instrument(), v1::INSTRUMENT_SRS);
  EXPECT_EQ(srs.concern_below_total(), 35);
  // Replaced, not merged: the default's fields not listed are gone.
  EXPECT_FALSE(srs.has_reliable_drop());
  EXPECT_FALSE(srs.has_concern_inclusive());
  const ServerConfig defaults = Defaults();
  EXPECT_EQ(Find(merged, v1::INSTRUMENT_ORS)->SerializeAsString(),
            Find(defaults, v1::INSTRUMENT_ORS)->SerializeAsString());
  EXPECT_TRUE(ValidateConfig(merged).ok());
}

TEST(MergeConfigTest, NewInstrumentIsAppended) {
  ServerConfig base = Defaults();
  v1::InstrumentDefinition sai = *Find(base, v1::INSTRUMENT_SAI);
  Remove(base, v1::INSTRUMENT_SAI);
  ServerConfig overlay;
  *overlay.mutable_rules()->add_instruments() = sai;
  ServerConfig merged = MergeConfig(base, overlay);
  ASSERT_EQ(merged.rules().instruments_size(), 4);
  EXPECT_EQ(merged.rules().instruments(3).instrument(), v1::INSTRUMENT_SAI);
}

TEST(MergeConfigTest, NonEmptyAlliancePreferenceReplacesTheList) {
  ServerConfig merged = MergeConfig(
      Defaults(), Parse("rules { alliance_preference: [INSTRUMENT_WAI_SR] }"));
  ASSERT_EQ(merged.rules().alliance_preference_size(), 1);
  EXPECT_EQ(merged.rules().alliance_preference(0), v1::INSTRUMENT_WAI_SR);
}

TEST(MergeConfigTest, EmptyAlliancePreferenceKeepsTheList) {
  ServerConfig merged =
      MergeConfig(Defaults(), Parse("rules { phase { enabled: false } }"));
  EXPECT_EQ(merged.rules().alliance_preference_size(), 3);
  EXPECT_EQ(merged.rules().instruments_size(), 4);
}

TEST(MergeConfigTest, OverlayWithoutRulesKeepsAllRules) {
  ServerConfig merged =
      MergeConfig(Defaults(), Parse("listen_address: \"127.0.0.1:9\""));
  ServerConfig expected = Defaults();
  expected.set_listen_address("127.0.0.1:9");
  EXPECT_EQ(merged.SerializeAsString(), expected.SerializeAsString());
}

TEST(LoadEffectiveConfigTest, InstrumentListedTwiceInTheFileIsRejected) {
  std::string srs = R"pb(instruments {
                           instrument: INSTRUMENT_SRS
                           construct: CONSTRUCT_ALLIANCE
                           total_min: 0
                           total_max: 40
                         })pb";
  std::string path =
      WriteFile("twice.textproto", absl::StrCat("rules { ", srs, srs, " }"));
  absl::StatusOr<ServerConfig> config = LoadEffectiveConfig(path);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(
      config.status().message(),
      absl::StrCat(path, ": rules.instruments[srs]: is listed more than once")))
      << config.status();
}

TEST(LoadEffectiveConfigTest, ValidationErrorsNameTheFileAndField) {
  std::string path =
      WriteFile("invalid.textproto", "store { sqlite_path: \"\" }\n");
  absl::StatusOr<ServerConfig> config = LoadEffectiveConfig(path);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(config.status().message(),
            absl::StrCat(path, ": store.sqlite_path: is required"));
}

TEST(LoadConfigFileTest, SyntaxErrorReportsFileLineAndColumn) {
  std::string path =
      WriteFile("syntax.textproto", "# a comment\nmax_batch_events: ten\n");
  absl::StatusOr<ServerConfig> config = LoadConfigFile(path);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(config.status().message(),
                               absl::StrCat(path, ":2:19: ")))
      << config.status();
}

TEST(LoadConfigFileTest, UnknownFieldIsRejected) {
  std::string path = WriteFile("unknown.textproto",
                               "store {\n  sqlite_path: \"a.db\"\n"
                               "  journal_mode: \"wal\"\n}\n");
  absl::StatusOr<ServerConfig> config = LoadConfigFile(path);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      absl::StartsWith(config.status().message(), absl::StrCat(path, ":3:")))
      << config.status();
  EXPECT_TRUE(absl::StrContains(config.status().message(), "journal_mode"));
}

TEST(LoadConfigFileTest, UnknownEnumValueIsRejected) {
  std::string path = WriteFile(
      "enum.textproto", "rules { alliance_preference: [INSTRUMENT_FOO] }\n");
  EXPECT_EQ(LoadConfigFile(path).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LoadConfigFileTest, MissingFileIsNotFoundNamingThePath) {
  std::string path = absl::StrCat(testing::TempDir(), "/no/such/attune.conf");
  absl::StatusOr<ServerConfig> config = LoadConfigFile(path);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(config.status().message(), path));
  EXPECT_EQ(LoadEffectiveConfig(path).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(LoadConfigFileTest, EmptyFileIsAnEmptyOverlay) {
  std::string path = WriteFile("empty.textproto", "");
  absl::StatusOr<ServerConfig> config = LoadEffectiveConfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->SerializeAsString(), Defaults().SerializeAsString());
}

TEST(LoadConfigFileTest, ShippedLocalExampleLoads) {
  const std::string path = ATTUNE_SOURCE_DIR "/deploy/local/attuned.textproto";
  if (!std::ifstream(path).good()) GTEST_SKIP() << "no " << path;
  absl::StatusOr<ServerConfig> config = LoadEffectiveConfig(path);
  EXPECT_TRUE(config.ok()) << config.status();
}

// ---------------------------------------------------------------------------
// ValidateConfig: one case per rule, each naming its field.

struct RuleCase {
  std::string name;
  std::function<void(ServerConfig&)> change;
  std::string field;
};

void PrintTo(const RuleCase& c, std::ostream* os) { *os << c.name; }

class ValidateConfigRuleTest : public testing::TestWithParam<RuleCase> {};

TEST_P(ValidateConfigRuleTest, FailsNamingTheField) {
  ServerConfig config = Defaults();
  GetParam().change(config);
  absl::Status status = ValidateConfig(config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StartsWith(status.message(), GetParam().field + ": "))
      << "message: " << status.message()
      << "\nexpected field: " << GetParam().field;
}

// A PostgreSQL deployment needs no SQLite file name.
TEST(ValidateConfigTest, PostgresDsnReplacesTheSqlitePath) {
  ServerConfig config = Defaults();
  config.mutable_store()->set_sqlite_path("");
  config.mutable_store()->set_postgres_dsn(
      "host=/run/postgresql dbname=attune user=attune");
  EXPECT_TRUE(ValidateConfig(config).ok()) << ValidateConfig(config);
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

v1::RulesConfig* Rules(ServerConfig& c) { return c.mutable_rules(); }
v1::InstrumentDefinition* Srs(ServerConfig& c) {
  return Mutable(c, v1::INSTRUMENT_SRS);
}

std::vector<RuleCase> ServerCases() {
  return {
      {"ListenAddressEmpty", [](auto& c) { c.set_listen_address(""); },
       "listen_address"},
      {"FutureSkewNegative", [](auto& c) { c.set_max_future_skew_seconds(-1); },
       "max_future_skew_seconds"},
      {"BatchZero", [](auto& c) { c.set_max_batch_events(0); },
       "max_batch_events"},
      {"MessageBytesZero", [](auto& c) { c.set_max_message_bytes(0); },
       "max_message_bytes"},
      {"GraceNegative", [](auto& c) { c.set_shutdown_grace_seconds(-1); },
       "shutdown_grace_seconds"},
      {"SqlitePathEmpty",
       [](auto& c) { c.mutable_store()->set_sqlite_path(""); },
       "store.sqlite_path"},
      {"GroupCommitZero",
       [](auto& c) { c.mutable_store()->set_group_commit_max_batch(0); },
       "store.group_commit_max_batch"},
      {"PostgresDsnEmpty",
       [](auto& c) { c.mutable_store()->set_postgres_dsn(""); },
       "store.postgres_dsn"},
      {"PostgresPoolTooSmall",
       [](auto& c) {
         c.mutable_store()->set_postgres_dsn("host=/run/pg dbname=attune");
         c.mutable_store()->set_postgres_pool_size(1);
       },
       "store.postgres_pool_size"},
      {"PostgresPoolTooLarge",
       [](auto& c) {
         c.mutable_store()->set_postgres_dsn("host=/run/pg dbname=attune");
         c.mutable_store()->set_postgres_pool_size(257);
       },
       "store.postgres_pool_size"},
      {"SendBytesZero", [](auto& c) { c.set_max_send_message_bytes(0); },
       "max_send_message_bytes"},
      {"PolicyWithoutModule",
       [](auto& c) {
         Rules(c)->add_module_policies()->set_on_error(
             v1::ModulePolicy::ON_ERROR_FAIL);
       },
       "rules.module_policies[0].module_id"},
      {"PolicyWithoutAction",
       [](auto& c) {
         Rules(c)->add_module_policies()->set_module_id("acme.safety");
       },
       "rules.module_policies[0].on_error"},
      {"PolicyListedTwice",
       [](auto& c) {
         for (int i = 0; i < 2; ++i) {
           v1::ModulePolicy* p = Rules(c)->add_module_policies();
           p->set_module_id("acme.safety");
           p->set_on_error(v1::ModulePolicy::ON_ERROR_SKIP);
         }
       },
       "rules.module_policies[1].module_id"},
  };
}

std::vector<RuleCase> InstrumentCases() {
  return {
      {"TotalRangeEmpty", [](auto& c) { Srs(c)->set_total_max(0); },
       "rules.instruments[srs].total_min"},
      {"ItemRangeInverted", [](auto& c) { Srs(c)->set_item_min(11); },
       "rules.instruments[srs].item_min"},
      {"ItemCountTooLarge", [](auto& c) { Srs(c)->set_item_count(101); },
       "rules.instruments[srs].item_count"},
      {"SubscaleItemOutOfRange",
       [](auto& c) {
         Mutable(c, v1::INSTRUMENT_WAI_SR)->mutable_subscales(0)->add_items(13);
       },
       "rules.instruments[wai_sr].subscales.tasks"},
      {"CustomInstrumentConfigured",
       [](auto& c) {
         Rules(c)->add_instruments()->set_instrument(v1::INSTRUMENT_CUSTOM);
       },
       "rules.instruments[custom:]"},
      {"UnspecifiedInstrumentConfigured",
       [](auto& c) { Rules(c)->add_instruments(); },
       "rules.instruments[unspecified]"},
      {"InstrumentListedTwice",
       [](auto& c) {
         *Rules(c)->add_instruments() = *Mutable(c, v1::INSTRUMENT_ORS);
       },
       "rules.instruments[ors]"},
      {"ConstructMissing", [](auto& c) { Srs(c)->clear_construct(); },
       "rules.instruments[srs].construct"},
      {"TotalMaxInfinite", [](auto& c) { Srs(c)->set_total_max(kInf); },
       "rules.instruments[srs].total_max"},
      {"ItemMinNegInfinite", [](auto& c) { Srs(c)->set_item_min(-kInf); },
       "rules.instruments[srs].item_min"},
      {"CutOffAboveTotalRange",
       [](auto& c) { Srs(c)->set_concern_below_total(41); },
       "rules.instruments[srs].concern_below_total"},
      {"ReliableDropZero", [](auto& c) { Srs(c)->set_reliable_drop(0); },
       "rules.instruments[srs].reliable_drop"},
      {"ReliableDropBeyondRange",
       [](auto& c) { Srs(c)->set_reliable_drop(41); },
       "rules.instruments[srs].reliable_drop"},
      {"PreferenceNotAlliance",
       [](auto& c) {
         Rules(c)->set_alliance_preference(0, v1::INSTRUMENT_ORS);
       },
       "rules.alliance_preference[0]"},
      {"PreferenceNotConfigured",
       [](auto& c) { Remove(c, v1::INSTRUMENT_SAI); },
       "rules.alliance_preference[1]"},
      {"PreferenceListedTwice",
       [](auto& c) { Rules(c)->add_alliance_preference(v1::INSTRUMENT_SRS); },
       "rules.alliance_preference[3]"},
  };
}

std::vector<RuleCase> ModuleCases() {
  return {
      {"GoalsBySessionZero",
       [](auto& c) {
         Rules(c)->mutable_phase()->set_goals_expected_by_session(0);
       },
       "rules.phase.goals_expected_by_session"},
      {"EstablishedBySessionTooLarge",
       [](auto& c) {
         Rules(c)->mutable_phase()->set_established_expected_by_session(1001);
       },
       "rules.phase.established_expected_by_session"},
      {"EstablishedWindowZero",
       [](auto& c) { Rules(c)->mutable_phase()->set_established_window(0); },
       "rules.phase.established_window"},
      {"EstablishedMinAboveWindow",
       [](auto& c) {
         Rules(c)->mutable_phase()->set_established_min_at_cutoff(4);
       },
       "rules.phase.established_min_at_cutoff"},
      {"EstablishedMinZero",
       [](auto& c) {
         Rules(c)->mutable_phase()->set_established_min_at_cutoff(0);
       },
       "rules.phase.established_min_at_cutoff"},
      {"SdMultiplierZero",
       [](auto& c) { Rules(c)->mutable_rupture()->set_sd_multiplier(0); },
       "rules.rupture.sd_multiplier"},
      {"SdMultiplierNaN",
       [](auto& c) { Rules(c)->mutable_rupture()->set_sd_multiplier(kNaN); },
       "rules.rupture.sd_multiplier"},
      {"PriorRatingsForSdOne",
       [](auto& c) {
         Rules(c)->mutable_rupture()->set_min_prior_ratings_for_sd(1);
       },
       "rules.rupture.min_prior_ratings_for_sd"},
      {"DeclineRunZero",
       [](auto& c) { Rules(c)->mutable_rupture()->set_decline_run(0); },
       "rules.rupture.decline_run"},
      {"DeclineTotalNegative",
       [](auto& c) {
         Rules(c)->mutable_rupture()->set_decline_total_in_reliable_drops(-1);
       },
       "rules.rupture.decline_total_in_reliable_drops"},
      {"RupturePromptSessionsZero",
       [](auto& c) { Rules(c)->mutable_rupture()->set_prompt_for_sessions(0); },
       "rules.rupture.prompt_for_sessions"},
      {"ReturnFractionZero",
       [](auto& c) { Rules(c)->mutable_repair()->set_return_fraction(0); },
       "rules.repair.return_fraction"},
      {"ReturnFractionAboveOne",
       [](auto& c) { Rules(c)->mutable_repair()->set_return_fraction(1.5); },
       "rules.repair.return_fraction"},
      {"WeakEarlyBySessionZero",
       [](auto& c) {
         Rules(c)->mutable_dropout_risk()->set_weak_early_by_session(0);
       },
       "rules.dropout_risk.weak_early_by_session"},
      {"GapPercentNegative",
       [](auto& c) {
         Rules(c)->mutable_rater_discrepancy()->set_min_gap_percent(-1);
       },
       "rules.rater_discrepancy.min_gap_percent"},
      {"GapPercentAbove100",
       [](auto& c) {
         Rules(c)->mutable_rater_discrepancy()->set_min_gap_percent(101);
       },
       "rules.rater_discrepancy.min_gap_percent"},
      {"LowItemMeanAtItemMin",
       [](auto& c) { Rules(c)->mutable_bordin()->set_low_item_mean(1); },
       "rules.bordin.low_item_mean"},
      {"LowItemMeanAboveItemMax",
       [](auto& c) { Rules(c)->mutable_bordin()->set_low_item_mean(6); },
       "rules.bordin.low_item_mean"},
      {"LowItemMeanNegativeWithoutWaiSr",
       [](auto& c) {
         Remove(c, v1::INSTRUMENT_WAI_SR);
         Rules(c)->clear_alliance_preference();
         Rules(c)->mutable_bordin()->set_low_item_mean(-1);
       },
       "rules.bordin.low_item_mean"},
      {"HeldWithoutMeasureZero",
       [](auto& c) {
         Rules(c)
             ->mutable_feedback_adherence()
             ->set_held_sessions_without_measure(0);
       },
       "rules.feedback_adherence.held_sessions_without_measure"},
  };
}

std::vector<RuleCase> LoadAndBudgetCases() {
  return {
      {"SessionsPerDayZero",
       [](auto& c) {
         Rules(c)->mutable_clinician_load()->set_max_sessions_per_day(0);
       },
       "rules.clinician_load.max_sessions_per_day"},
      {"BackToBackZero",
       [](auto& c) {
         Rules(c)->mutable_clinician_load()->set_max_back_to_back(0);
       },
       "rules.clinician_load.max_back_to_back"},
      {"GapMinutesNegative",
       [](auto& c) {
         Rules(c)->mutable_clinician_load()->set_back_to_back_gap_minutes(-1);
       },
       "rules.clinician_load.back_to_back_gap_minutes"},
      {"GapMinutesOverADay",
       [](auto& c) {
         Rules(c)->mutable_clinician_load()->set_back_to_back_gap_minutes(1441);
       },
       "rules.clinician_load.back_to_back_gap_minutes"},
      {"DaySpanZero",
       [](auto& c) {
         Rules(c)->mutable_clinician_load()->set_max_day_span_hours(0);
       },
       "rules.clinician_load.max_day_span_hours"},
      {"DaySpanOverADay",
       [](auto& c) {
         Rules(c)->mutable_clinician_load()->set_max_day_span_hours(25);
       },
       "rules.clinician_load.max_day_span_hours"},
      {"MaxVisibleZero",
       [](auto& c) {
         Rules(c)->mutable_budget()->set_max_visible_per_episode(0);
       },
       "rules.budget.max_visible_per_episode"},
      {"CooldownNegative",
       [](auto& c) {
         Rules(c)->mutable_budget()->set_dismiss_cooldown_sessions(-1);
       },
       "rules.budget.dismiss_cooldown_sessions"},
      {"TtlZeroDays",
       [](auto& c) { Rules(c)->mutable_budget()->set_prompt_ttl_days(0); },
       "rules.budget.prompt_ttl_days"},
      {"SnoozeZeroDays",
       [](auto& c) { Rules(c)->mutable_budget()->set_max_snooze_days(0); },
       "rules.budget.max_snooze_days"},
      {"PluginWithoutPath", [](auto& c) { c.add_plugins(); },
       "plugins[0].path"},
      {"PluginListedTwice",
       [](auto& c) {
         c.add_plugins()->set_path("/opt/a.so");
         c.add_plugins()->set_path("/opt/a.so");
       },
       "plugins[1].path"},
      {"PluginConfigNotAnObject",
       [](auto& c) {
         v1::NativePlugin* p = c.add_plugins();
         p->set_path("/opt/a.so");
         p->set_config_json("[1]");
       },
       "plugins[0].config_json"},
  };
}

v1::TenantRules* Tenant(ServerConfig& c, const std::string& name) {
  v1::TenantRules* t = c.add_tenants();
  t->set_tenant(name);
  return t;
}

v1::RemoteModule* Remote(ServerConfig& c) {
  v1::RemoteModule* m = c.add_remote_modules();
  m->set_address("127.0.0.1:7001");
  return m;
}

std::vector<RuleCase> TenantAndRemoteCases() {
  return {
      {"ModuleSettingsWithoutModule",
       [](auto& c) { Rules(c)->add_modules()->set_enabled(false); },
       "rules.modules[0].module_id"},
      {"TenantWithoutName", [](auto& c) { Tenant(c, ""); },
       "tenants[0].tenant"},
      {"TenantListedTwice",
       [](auto& c) {
         Tenant(c, "clinic-a");
         Tenant(c, "clinic-b");
         Tenant(c, "clinic-a");
       },
       "tenants[2].tenant"},
      {"TenantSetsInstruments",
       [](auto& c) {
         *Tenant(c, "clinic-a")->mutable_rules()->add_instruments() = *Srs(c);
       },
       "tenants[0].rules.instruments"},
      {"TenantSetsAlliancePreference",
       [](auto& c) {
         Tenant(c, "clinic-a")
             ->mutable_rules()
             ->add_alliance_preference(v1::INSTRUMENT_SRS);
       },
       "tenants[0].rules.alliance_preference"},
      // Checked as it will run, merged over the server's rules.
      {"TenantThresholdOutOfRange",
       [](auto& c) {
         Tenant(c, "clinic-a");
         Tenant(c, "clinic-b")
             ->mutable_rules()
             ->mutable_rupture()
             ->set_sd_multiplier(0);
       },
       "tenants[1].rules.rupture.sd_multiplier"},
      {"TenantBudgetOutOfRange",
       [](auto& c) {
         Tenant(c, "clinic-a")
             ->mutable_rules()
             ->mutable_budget()
             ->set_max_visible_per_episode(0);
       },
       "tenants[0].rules.budget.max_visible_per_episode"},
      {"TenantModuleSettingsWithoutModule",
       [](auto& c) {
         Tenant(c, "clinic-a")
             ->mutable_rules()
             ->add_modules()
             ->set_shadow(true);
       },
       "tenants[0].rules.modules[0].module_id"},
      // Positions count the tenant's own entries, not the merged list's.
      {"TenantModuleSettingsNamedByTheTenantsOwnPosition",
       [](auto& c) {
         Rules(c)->add_modules()->set_module_id("attune.bordin");
         Rules(c)->add_modules()->set_module_id("attune.phase");
         v1::RulesConfig* r = Tenant(c, "clinic-a")->mutable_rules();
         r->add_modules()->set_module_id("attune.rupture");
         r->add_modules()->set_shadow(true);
       },
       "tenants[0].rules.modules[1].module_id"},
      {"TenantPolicyWithoutAction",
       [](auto& c) {
         Tenant(c, "clinic-a")
             ->mutable_rules()
             ->add_module_policies()
             ->set_module_id("acme.safety");
       },
       "tenants[0].rules.module_policies[0].on_error"},
      {"RemoteWithoutAddress", [](auto& c) { Remote(c)->clear_address(); },
       "remote_modules[0].address"},
      {"RemoteDeadlineZero", [](auto& c) { Remote(c)->set_deadline_ms(0); },
       "remote_modules[0].deadline_ms"},
      {"RemoteDeadlineOverAMinute",
       [](auto& c) { Remote(c)->set_deadline_ms(60001); },
       "remote_modules[0].deadline_ms"},
      {"RemoteFailureThresholdZero",
       [](auto& c) {
         Remote(c);
         Remote(c)->set_failure_threshold(0);
       },
       "remote_modules[1].failure_threshold"},
      {"RemoteFailureThresholdTooLarge",
       [](auto& c) { Remote(c)->set_failure_threshold(1001); },
       "remote_modules[0].failure_threshold"},
      {"RemoteRetryAfterZero",
       [](auto& c) { Remote(c)->set_retry_after_ms(0); },
       "remote_modules[0].retry_after_ms"},
      {"RemoteRetryAfterOverAnHour",
       [](auto& c) { Remote(c)->set_retry_after_ms(3600001); },
       "remote_modules[0].retry_after_ms"},
      {"RemoteConnectTimeoutNegative",
       [](auto& c) { Remote(c)->set_connect_timeout_ms(-1); },
       "remote_modules[0].connect_timeout_ms"},
      {"RemoteConfigNotAnObject",
       [](auto& c) { Remote(c)->set_config_json("[1, 2]"); },
       "remote_modules[0].config_json"},
      {"RemoteConfigNotJson",
       [](auto& c) { Remote(c)->set_config_json("level: 2"); },
       "remote_modules[0].config_json"},
  };
}

std::vector<RuleCase> AllRuleCases() {
  std::vector<RuleCase> all;
  for (auto* group : {ServerCases, InstrumentCases, ModuleCases,
                      LoadAndBudgetCases, TenantAndRemoteCases}) {
    for (RuleCase& c : group()) all.push_back(std::move(c));
  }
  return all;
}

INSTANTIATE_TEST_SUITE_P(Rules, ValidateConfigRuleTest,
                         testing::ValuesIn(AllRuleCases()),
                         [](const testing::TestParamInfo<RuleCase>& info) {
                           return info.param.name;
                         });

// The limits of each rule are inclusive where documented.
TEST(ValidateConfigTest, BoundaryValuesPass) {
  ServerConfig c = Defaults();
  c.set_max_future_skew_seconds(0);
  c.set_shutdown_grace_seconds(0);
  v1::RulesConfig* r = c.mutable_rules();
  r->mutable_phase()->set_established_min_at_cutoff(3);
  r->mutable_repair()->set_return_fraction(1);
  r->mutable_rater_discrepancy()->set_min_gap_percent(0);
  r->mutable_bordin()->set_low_item_mean(5);
  r->mutable_clinician_load()->set_max_day_span_hours(24);
  r->mutable_budget()->set_dismiss_cooldown_sessions(0);
  r->mutable_budget()->set_prompt_ttl_days(1);
  Srs(c)->set_reliable_drop(40);
  Srs(c)->set_concern_below_total(40);
  v1::NativePlugin* plugin = c.add_plugins();
  plugin->set_path("/opt/acme/libacme_safety.so");
  plugin->set_config_json(R"({"acme.safety_item": {"level": 2}})");
  absl::Status status = ValidateConfig(c);
  EXPECT_TRUE(status.ok()) << status;
}

TEST(ValidateConfigTest, TenantsAndRemoteModulesWithinTheirLimitsPass) {
  ServerConfig c = Defaults();
  v1::TenantRules* a = Tenant(c, "clinic-a");
  a->mutable_rules()->mutable_rupture()->set_sd_multiplier(2.5);
  a->mutable_rules()->mutable_budget()->set_max_visible_per_episode(1);
  v1::ModuleSettings* shadow = a->mutable_rules()->add_modules();
  shadow->set_module_id("attune.rupture");
  shadow->set_shadow(true);
  v1::ModulePolicy* policy = a->mutable_rules()->add_module_policies();
  policy->set_module_id("acme.safety");
  policy->set_on_error(v1::ModulePolicy::ON_ERROR_FAIL);
  Tenant(c, "clinic-b");  // no settings: the server's rules
  v1::RemoteModule* low = Remote(c);
  low->set_deadline_ms(1);
  low->set_failure_threshold(1);
  low->set_retry_after_ms(1);
  low->set_connect_timeout_ms(1);
  low->set_config_json(R"({"level": 2})");
  v1::RemoteModule* high = Remote(c);
  high->set_address("unix:/run/acme/module.sock");
  high->set_deadline_ms(60000);
  high->set_failure_threshold(1000);
  high->set_retry_after_ms(3600000);
  high->set_connect_timeout_ms(60000);
  absl::Status status = ValidateConfig(c);
  EXPECT_TRUE(status.ok()) << status;
}

// A tenant may relax a server threshold or tighten it; what counts is the
// merged value, and a tenant's explicit value wins over the server's.
TEST(ValidateConfigTest, TenantValueIsCheckedAfterMerging) {
  ServerConfig c = Defaults();
  Rules(c)->mutable_phase()->set_established_window(5);
  Rules(c)->mutable_phase()->set_established_min_at_cutoff(5);
  // Valid on its own (1 <= 3), and valid merged (3 <= 5).
  Tenant(c, "clinic-a")
      ->mutable_rules()
      ->mutable_phase()
      ->set_established_min_at_cutoff(3);
  EXPECT_TRUE(ValidateConfig(c).ok()) << ValidateConfig(c);
  // Valid on its own, invalid merged: the window shrinks below the server's
  // minimum.
  Tenant(c, "clinic-b")
      ->mutable_rules()
      ->mutable_phase()
      ->set_established_window(4);
  absl::Status status = ValidateConfig(c);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(
      status.message(), "tenants[1].rules.phase.established_min_at_cutoff: "))
      << status;
}

TEST(LoadEffectiveConfigTest, TenantErrorsNameTheFileAndTheTenantsField) {
  std::string path = WriteFile(
      "tenant.textproto",
      "tenants { tenant: \"clinic-a\" rules { bordin { low_item_mean: 9 } } "
      "}\n");
  absl::StatusOr<ServerConfig> config = LoadEffectiveConfig(path);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      absl::StartsWith(config.status().message(),
                       path + ": tenants[0].rules.bordin.low_item_mean: "))
      << config.status();
}

}  // namespace
}  // namespace attune::config
