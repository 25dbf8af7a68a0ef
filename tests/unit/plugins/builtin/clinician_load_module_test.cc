#include "plugins/builtin/clinician_load/clinician_load_module.h"

#include <initializer_list>
#include <utility>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/unit/plugins/builtin/episode_builder.h"

namespace attune::builtin {
namespace {

using test_support::DefaultRules;
using test_support::EpisodeBuilder;
using test_support::Evaluate;
using test_support::Evaluation;

// Sessions as (start minute of the day, length in minutes).
engine::ClinicianDay Day(std::initializer_list<std::pair<int, int>> sessions) {
  engine::ClinicianDay day;
  const absl::Time midnight =
      absl::FromCivil(absl::CivilDay(2024, 1, 1), absl::UTCTimeZone());
  for (auto [start, minutes] : sessions) {
    absl::Time s = midnight + absl::Minutes(start);
    day.sessions.push_back({s, s + absl::Minutes(minutes)});
  }
  return day;
}

// `count` sessions of 50 minutes from 08:00, `gap` minutes apart.
engine::ClinicianDay Regular(int count, int gap) {
  engine::ClinicianDay day;
  const absl::Time eight =
      absl::FromCivil(absl::CivilMinute(2024, 1, 1, 8, 0), absl::UTCTimeZone());
  for (int i = 0; i < count; ++i) {
    absl::Time s = eight + absl::Minutes(i * (50 + gap));
    day.sessions.push_back({s, s + absl::Minutes(50)});
  }
  return day;
}

Evaluation AfterHeldSession(const engine::ClinicianDay& day,
                            const v1::RulesConfig& rules = DefaultRules()) {
  EpisodeBuilder b;
  b.Held(1).Srs(1, 38).Held(2);
  const v1::SessionEvent& trigger = b.events().back();
  return Evaluate(b.events(), rules, &trigger, day);
}

const engine::ProposedPrompt* HeavyDay(const Evaluation& r) {
  return r.Find(ClinicianLoadModule::kHeavyDay);
}

TEST(ClinicianLoadModuleTest, ManySessionsIsAHeavyDay) {
  Evaluation r = AfterHeldSession(Regular(9, 10));
  const engine::ProposedPrompt* p = HeavyDay(r);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->prompt.scope(), v1::PROMPT_SCOPE_CLINICIAN);
  EXPECT_EQ(p->prompt.severity(), v1::SEVERITY_INFO);
  EXPECT_EQ(p->prompt.priority(), 10);
  EXPECT_EQ(p->strength, 9);
  EXPECT_TRUE(absl::StrContains(p->prompt.summary(), "9 sessions"))
      << p->prompt.summary();
  // Addressed to the clinician: nothing about any client.
  for (const std::string& text : {p->prompt.summary(), p->prompt.detail(),
                                  p->prompt.reflective_question()}) {
    EXPECT_FALSE(absl::StrContains(text, "client-1"));
    EXPECT_FALSE(absl::StrContains(text, "episode-1"));
    EXPECT_FALSE(absl::StrContains(text, "SRS"));
  }
}

TEST(ClinicianLoadModuleTest, NormalDayIsQuiet) {
  EXPECT_EQ(HeavyDay(AfterHeldSession(Regular(6, 10))), nullptr);
  EXPECT_EQ(HeavyDay(AfterHeldSession(Regular(8, 10))), nullptr);  // at max
}

TEST(ClinicianLoadModuleTest, LongBackToBackRun) {
  // Five sessions with 5-minute gaps: a run of 5 > 4.
  Evaluation r = AfterHeldSession(Regular(5, 5));
  const engine::ProposedPrompt* p = HeavyDay(r);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(absl::StrContains(p->prompt.summary(), "5 back to back"))
      << p->prompt.summary();
  EXPECT_EQ(HeavyDay(AfterHeldSession(Regular(4, 5))), nullptr);
}

TEST(ClinicianLoadModuleTest, GapOfExactlyTheLimitIsNotBackToBack) {
  // 10-minute gaps are not "less than 10 minutes".
  EXPECT_EQ(HeavyDay(AfterHeldSession(Regular(6, 10))), nullptr);
  EXPECT_NE(HeavyDay(AfterHeldSession(Regular(6, 9))), nullptr);
}

TEST(ClinicianLoadModuleTest, LongDaySpan) {
  // 08:00 to 18:50 in three sessions: 10.8 hours.
  Evaluation r =
      AfterHeldSession(Day({{8 * 60, 50}, {13 * 60, 50}, {18 * 60, 50}}));
  const engine::ProposedPrompt* p = HeavyDay(r);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(absl::StrContains(p->prompt.summary(), "10.8 hours"))
      << p->prompt.summary();
  EXPECT_EQ(HeavyDay(AfterHeldSession(Day({{8 * 60, 50}, {17 * 60, 50}}))),
            nullptr);
}

TEST(ClinicianLoadModuleTest, OnlyOnSessionHeldEvents) {
  EpisodeBuilder b;
  b.Held(1).Srs(1, 38);  // the trigger is the measure
  Evaluation r = Evaluate(b.events(), DefaultRules(), nullptr, Regular(9, 10));
  EXPECT_EQ(HeavyDay(r), nullptr);
}

TEST(ClinicianLoadModuleTest, DisabledModuleDoesNothing) {
  v1::RulesConfig rules = DefaultRules();
  rules.mutable_clinician_load()->set_enabled(false);
  EXPECT_EQ(HeavyDay(AfterHeldSession(Regular(9, 10), rules)), nullptr);
}

}  // namespace
}  // namespace attune::builtin
