// Tests of the safety_item examples through their exported entry points,
// linked into the test (loading them with dlopen is the loader's test).
// Built twice: EXAMPLE_MODULE_ID names the C or the C++ example.
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "attune/plugin.h"
#include "attune/plugin_json.h"
#include "fake_host.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

// The example's entry points, as plugin.h declares them.
namespace example_entry {
using ::attune_plugin_info;
using ::attune_plugin_init;
}  // namespace example_entry

namespace {

using attune::testing::Create;
using attune::testing::Evaluate;
using attune::testing::FakeHost;
using attune::testing::Instance;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr std::string_view kHistory =
    R"({"episode":{"clientId":"client-77","clinicianId":"clin-5","episodeId":"ep-9"},"events":[]})";

// A measureRecorded SessionEvent as the host's proto3 JSON printer writes it.
std::string Measure(std::string_view name, std::string_view items,
                    int session = 4) {
  return R"({"eventId":"ev-7","occurredAt":"2026-03-02T10:00:00Z",)"
         R"("episode":{"clientId":"client-77","clinicianId":"clin-5","episodeId":"ep-9"},)"
         R"("measureRecorded":{"sessionNumber":)" +
         std::to_string(session) +
         R"(,"instrument":"INSTRUMENT_CUSTOM","custom":{"name":")" +
         std::string(name) +
         R"(","construct":"CONSTRUCT_OUTCOME","itemCount":9,"itemMax":3,)"
         R"("totalMax":27},"rater":"RATER_CLIENT","items":)" +
         std::string(items) + R"(,"total":7,"hasTotal":true}})";
}

constexpr std::string_view kEndorsed = "[1,0,2,1,0,1,0,0,2]";
constexpr std::string_view kNotEndorsed = "[1,0,2,1,0,1,0,0,0]";

std::string Field(const std::string& json, const char* key) {
  attune_str value;
  if (attune_json_member(attune_str{json.data(), json.size()}, key, &value) !=
      1) {
    return "<missing>";
  }
  return std::string(value.data, value.size);
}

class SafetyItemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(example_entry::attune_plugin_init(FakeHost(), &registrar_),
              ATTUNE_OK);
    ASSERT_EQ(registrar_.modules.size(), 1u);
  }
  void TearDown() override {
    for (Instance& i : instances_) {
      if (i.handle != nullptr && i.def->destroy != nullptr) {
        i.def->destroy(i.handle);
      }
    }
  }

  // Creates an instance; returns the code and the reported error.
  attune_status Configure(std::string_view config, std::string* error,
                          Instance** made = nullptr) {
    instances_.emplace_back();
    attune_status status =
        Create(registrar_.modules[0], config, instances_.back(), error);
    if (made != nullptr) *made = &instances_.back();
    return status;
  }

  std::vector<std::string> Run(std::string_view config,
                               const std::string& trigger) {
    Instance* instance = nullptr;
    std::string error;
    EXPECT_EQ(Configure(config, &error, &instance), ATTUNE_OK) << error;
    attune_eval_output out;
    EXPECT_EQ(Evaluate(*instance, kHistory, trigger, out), ATTUNE_OK)
        << out.error;
    return out.prompts;
  }

  std::string ConfigError(std::string_view config) {
    std::string error;
    EXPECT_EQ(Configure(config, &error), ATTUNE_INVALID_ARGUMENT) << config;
    return error;
  }

  attune_registrar registrar_;
  std::deque<Instance> instances_;
};

constexpr std::string_view kConfig =
    R"({"instrument": "custom:acme.phq9", "item": 9, "min_score": 1})";

TEST(SafetyItemInfo, InfoBlockMatchesThisAbi) {
  const attune_plugin_manifest* info = example_entry::attune_plugin_info();
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->struct_size, sizeof(attune_plugin_manifest));
  EXPECT_EQ(info->abi_major, ATTUNE_PLUGIN_ABI_MAJOR);
  EXPECT_EQ(info->abi_minor, ATTUNE_PLUGIN_ABI_MINOR);
  EXPECT_NE(info->name, nullptr);
  EXPECT_STREQ(info->vendor, "Attune examples");
}

TEST_F(SafetyItemTest, RegistersItsModule) {
  EXPECT_STREQ(registrar_.modules[0].id, EXAMPLE_MODULE_ID);
  EXPECT_STREQ(registrar_.modules[0].version, "1.0.0");
}

TEST_F(SafetyItemTest, EndorsedRiskItemRaisesACriticalPrompt) {
  std::vector<std::string> prompts =
      Run(kConfig, Measure("acme.phq9", kEndorsed));
  ASSERT_EQ(prompts.size(), 1u);
  const std::string& p = prompts[0];
  EXPECT_EQ(Field(p, "kind"), "\"" EXAMPLE_MODULE_ID "/risk_item_endorsed\"");
  EXPECT_EQ(Field(p, "severity"), "\"SEVERITY_CRITICAL\"");
  EXPECT_EQ(Field(p, "scope"), "\"PROMPT_SCOPE_EPISODE\"");
  EXPECT_EQ(Field(p, "priority"), "100");
  std::string summary = Field(p, "summary");
  EXPECT_LT(summary.size() - 2, 140u);
  EXPECT_THAT(Field(p, "detail"),
              HasSubstr("Item 9 of acme.phq9 was scored 2 at session 4"));
  EXPECT_THAT(Field(p, "actions"), StartsWith("[{\"id\":\"review_safety\""));
  // No identifiers from the event or the history.
  EXPECT_THAT(p, Not(HasSubstr("client-77")));
  EXPECT_THAT(p, Not(HasSubstr("clin-5")));
  EXPECT_THAT(p, Not(HasSubstr("ep-9")));
}

TEST_F(SafetyItemTest, LongFormOfTheInstrumentWorksTheSame) {
  EXPECT_EQ(
      Run(R"({"instrument":"INSTRUMENT_CUSTOM","name":"acme.phq9","item":9})",
          Measure("acme.phq9", kEndorsed)),
      Run(kConfig, Measure("acme.phq9", kEndorsed)));
}

TEST_F(SafetyItemTest, ScoreAtTheThresholdCounts) {
  EXPECT_EQ(Run(R"({"instrument":"custom:acme.phq9","item":9,"min_score":2})",
                Measure("acme.phq9", kEndorsed))
                .size(),
            1u);
  EXPECT_TRUE(Run(R"({"instrument":"custom:acme.phq9","item":9,"min_score":3})",
                  Measure("acme.phq9", kEndorsed))
                  .empty());
}

TEST_F(SafetyItemTest, NothingWhenTheItemIsNotEndorsed) {
  EXPECT_TRUE(Run(kConfig, Measure("acme.phq9", kNotEndorsed)).empty());
}

TEST_F(SafetyItemTest, NothingForAnotherInstrument) {
  EXPECT_TRUE(Run(kConfig, Measure("acme.gad7", kEndorsed)).empty());
  EXPECT_TRUE(Run(kConfig, Measure("acme.phq9x", kEndorsed)).empty());
}

TEST_F(SafetyItemTest, NothingWhenTheMeasureHasFewerItems) {
  EXPECT_TRUE(Run(kConfig, Measure("acme.phq9", "[3,3,3]")).empty());
  EXPECT_TRUE(Run(kConfig, Measure("acme.phq9", "[]")).empty());
}

TEST_F(SafetyItemTest, NothingForOtherEvents) {
  EXPECT_TRUE(
      Run(kConfig,
          R"({"eventId":"ev-8","sessionHeld":{"sessionNumber":4,"modality":"MODALITY_VIDEO"}})")
          .empty());
  // A built-in instrument that happens to have a custom block is ignored.
  std::string srs = Measure("acme.phq9", kEndorsed);
  srs.replace(srs.find("INSTRUMENT_CUSTOM"), 17, "INSTRUMENT_SRS");
  EXPECT_TRUE(Run(kConfig, srs).empty());
}

TEST_F(SafetyItemTest, MalformedTriggerRaisesNothing) {
  std::string truncated = Measure("acme.phq9", kEndorsed);
  truncated.resize(truncated.size() - 30);
  EXPECT_TRUE(Run(kConfig, truncated).empty());
  EXPECT_TRUE(Run(kConfig, "").empty());
  EXPECT_TRUE(Run(kConfig, "[1,2]").empty());
}

TEST_F(SafetyItemTest, MinScoreDefaultsToOne) {
  EXPECT_EQ(Run(R"({"instrument":"custom:acme.phq9","item":9})",
                Measure("acme.phq9", "[0,0,0,0,0,0,0,0,1]"))
                .size(),
            1u);
}

TEST_F(SafetyItemTest, BadConfigurationNamesTheField) {
  EXPECT_THAT(ConfigError(R"({"item":9})"), StartsWith("instrument:"));
  EXPECT_THAT(ConfigError(R"({"instrument":"INSTRUMENT_SRS","item":9})"),
              StartsWith("instrument:"));
  EXPECT_THAT(ConfigError(R"({"instrument":7,"item":9})"),
              StartsWith("instrument:"));
  EXPECT_THAT(ConfigError(R"({"instrument":"INSTRUMENT_CUSTOM","item":9})"),
              StartsWith("name:"));
  EXPECT_THAT(ConfigError(R"({"instrument":"custom:ACME PHQ","item":9})"),
              StartsWith("name:"));
  EXPECT_THAT(ConfigError(R"({"instrument":"custom:acme.phq9"})"),
              StartsWith("item:"));
  EXPECT_THAT(ConfigError(R"({"instrument":"custom:acme.phq9","item":0})"),
              StartsWith("item:"));
  EXPECT_THAT(ConfigError(R"({"instrument":"custom:acme.phq9","item":1.5})"),
              StartsWith("item:"));
  EXPECT_THAT(ConfigError(R"({"instrument":"custom:acme.phq9","item":"x"})"),
              StartsWith("item:"));
  EXPECT_THAT(
      ConfigError(
          R"({"instrument":"custom:acme.phq9","item":9,"min_score":"high"})"),
      StartsWith("min_score:"));
  EXPECT_THAT(
      ConfigError(R"({"instrument":"custom:acme.phq9","item":9,"min_scor":1})"),
      HasSubstr("unknown field"));
  EXPECT_THAT(ConfigError("{}"), StartsWith("instrument:"));
  EXPECT_THAT(ConfigError("[]"), HasSubstr("JSON object"));
  EXPECT_THAT(ConfigError(R"({"instrument":"custom:acme.phq9","item":9)"),
              HasSubstr("well-formed"));
}

}  // namespace

namespace {

TEST(SafetyItemInit, RefusesAHostOfAnotherMajor) {
  attune_host_api host = *attune::testing::FakeHost();
  host.abi_major = ATTUNE_PLUGIN_ABI_MAJOR + 1;
  attune_registrar registrar;
  EXPECT_EQ(example_entry::attune_plugin_init(&host, &registrar),
            ATTUNE_FAILED_PRECONDITION);
  EXPECT_TRUE(registrar.modules.empty());
}

}  // namespace
