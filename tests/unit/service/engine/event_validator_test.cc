#include "service/engine/event_validator.h"

#include <cmath>
#include <functional>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "attune/v1/config.pb.h"
#include "attune/v1/event.pb.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace attune::engine {
namespace {

using Event = v1::SessionEvent;
using Feedback = v1::PromptFeedback;

constexpr int64_t kNow = 1700000000;  // 2023-11-14T22:13:20Z
constexpr int64_t kOccurred = kNow - 3600;
constexpr int64_t kDay = 86400;

// SRS and WAI-SR as in the defaults; SAI deliberately left unconfigured.
constexpr char kRules[] = R"pb(
  instruments {
    instrument: INSTRUMENT_SRS
    construct: CONSTRUCT_ALLIANCE
    item_count: 4
    item_min: 0
    item_max: 10
    total_min: 0
    total_max: 40
    higher_is_better: true
  }
  instruments {
    instrument: INSTRUMENT_WAI_SR
    construct: CONSTRUCT_ALLIANCE
    item_count: 12
    item_min: 1
    item_max: 5
    total_min: 12
    total_max: 60
    higher_is_better: true
  }
)pb";

InstrumentRegistry Registry() {
  v1::RulesConfig rules;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(kRules, &rules));
  return InstrumentRegistry::Create(rules).value();
}

ValidationLimits Limits() {
  return {absl::FromUnixSeconds(kNow), absl::Hours(24), absl::Hours(24 * 90)};
}

Event Parse(const std::string& text) {
  Event e;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &e)) << text;
  return e;
}

// A valid event with the given payload (text format of its fields).
Event Valid(const std::string& payload) {
  return Parse(absl::StrCat(R"pb(
                              event_id: "evt-1"
                              occurred_at { seconds:)pb",
                            kOccurred, R"pb(}
                                            episode {
                                client_id: "c1"
                                clinician_id: "t1"
                                episode_id: "e1"
                              }
                            )pb",
                            payload));
}

Event Scheduled() {
  return Valid(absl::StrCat(
      "session_scheduled { session_number: 1 scheduled_start { seconds: ",
      kNow + kDay, " } planned_minutes: 50 }"));
}
Event Held() {
  return Valid(absl::StrCat(
      "session_held { session_number: 2 start { seconds: ", kOccurred - 3000,
      " } end { seconds: ", kOccurred, " } modality: MODALITY_VIDEO }"));
}
Event Cancelled() {
  return Valid(
      "session_cancelled { session_number: 3 cancelled_by: "
      "CANCELLED_BY_CLIENT late: true }");
}
Event NoShow() { return Valid("no_show { session_number: 3 }"); }
Event Measure() {
  return Valid(
      "measure_recorded { session_number: 2 instrument: INSTRUMENT_SRS "
      "rater: RATER_CLIENT items: [9, 8.5, 9, 9.5] total: 36 has_total: true "
      "}");
}
Event CustomMeasure() {
  return Valid(
      "measure_recorded { session_number: 2 instrument: INSTRUMENT_CUSTOM "
      "custom { name: \"acme.alliance4\" construct: CONSTRUCT_ALLIANCE "
      "item_count: 2 item_min: 1 item_max: 7 total_min: 2 total_max: 14 "
      "higher_is_better: true } rater: RATER_THERAPIST items: [3, 4] }");
}
Event Goals() {
  return Valid(
      "goals_agreed { goal_count: 2 tasks_agreed: true session_number: 1 }");
}
Event Rupture() {
  return Valid(
      "rupture_marker { session_number: 4 type: RUPTURE_TYPE_WITHDRAWAL }");
}
Event EndingPlanned() {
  return Valid("ending_planned { final_session_number: 12 }");
}
Event Closed() {
  return Valid("episode_closed { reason: ENDING_REASON_PLANNED }");
}
Event Accepted() {
  return Valid(
      "prompt_feedback { prompt_id: \"p-1\" outcome: OUTCOME_ACCEPTED }");
}
Event Dismissed() {
  return Valid(
      "prompt_feedback { prompt_id: \"p-1\" outcome: OUTCOME_DISMISSED "
      "reason: DISMISS_REASON_NOT_RELEVANT }");
}
Event Snoozed() {
  return Valid(absl::StrCat(
      "prompt_feedback { prompt_id: \"p-1\" outcome: OUTCOME_SNOOZED "
      "snooze_until { seconds: ",
      kOccurred + 7 * kDay, " } }"));
}

absl::Status Validate(const Event& e) {
  return ValidateEvent(e, Registry(), Limits());
}

// ---------------------------------------------------------------------------
// Valid events pass.

struct ValidCase {
  std::string name;
  std::function<Event()> make;
};

void PrintTo(const ValidCase& c, std::ostream* os) { *os << c.name; }

class ValidEventTest : public testing::TestWithParam<ValidCase> {};

TEST_P(ValidEventTest, Passes) {
  absl::Status status = Validate(GetParam().make());
  EXPECT_TRUE(status.ok()) << status;
}

template <typename F>
std::function<Event()> Modified(Event (*base)(), F change) {
  return [base, change] {
    Event e = base();
    change(e);
    return e;
  };
}

std::vector<ValidCase> ValidCases() {
  return {
      {"SessionScheduled", Scheduled},
      {"SessionHeld", Held},
      {"SessionCancelled", Cancelled},
      {"NoShow", NoShow},
      {"MeasureRecorded", Measure},
      {"MeasureCustom", CustomMeasure},
      {"GoalsAgreed", Goals},
      {"RuptureMarker", Rupture},
      {"EndingPlanned", EndingPlanned},
      {"EpisodeClosed", Closed},
      {"FeedbackAccepted", Accepted},
      {"FeedbackDismissed", Dismissed},
      {"FeedbackSnoozed", Snoozed},
      {"EventIdAllAllowedChars128", Modified(NoShow,
                                             [](Event& e) {
                                               std::string id = "Az09._:-";
                                               while (id.size() < 128)
                                                 id += "x";
                                               e.set_event_id(id);
                                             })},
      {"OccurredAtExactlyAtSkew",
       Modified(NoShow,
                [](Event& e) {
                  e.mutable_occurred_at()->set_seconds(kNow + kDay);
                })},
      {"OccurredAtEpoch",
       Modified(NoShow,
                [](Event& e) { e.mutable_occurred_at()->set_seconds(0); })},
      {"OccurredAtMaxNanos",
       Modified(
           NoShow,
           [](Event& e) { e.mutable_occurred_at()->set_nanos(999999999); })},
      {"ClientId128PrintableWithSpace",
       Modified(NoShow,
                [](Event& e) {
                  e.mutable_episode()->set_client_id(std::string(127, 'a') +
                                                     " ");
                })},
      {"ClinicianIdUtf8", Modified(NoShow,
                                   [](Event& e) {
                                     e.mutable_episode()->set_clinician_id(
                                         "dr-m\xc3\xbcller");
                                   })},
      {"SessionNumber1000",
       Modified(
           NoShow,
           [](Event& e) { e.mutable_no_show()->set_session_number(1000); })},
      {"PlannedMinutesUnknown",
       Modified(Scheduled,
                [](Event& e) {
                  e.mutable_session_scheduled()->set_planned_minutes(0);
                })},
      {"PlannedMinutes600",
       Modified(Scheduled,
                [](Event& e) {
                  e.mutable_session_scheduled()->set_planned_minutes(600);
                })},
      {"HeldExactly12h", Modified(Held,
                                  [](Event& e) {
                                    auto* h = e.mutable_session_held();
                                    h->mutable_end()->set_seconds(
                                        h->start().seconds() + 12 * 3600);
                                  })},
      {"HeldModalityUnspecified",
       Modified(Held,
                [](Event& e) { e.mutable_session_held()->clear_modality(); })},
      {"MeasureTotalOnly",
       Modified(Measure,
                [](Event& e) { e.mutable_measure_recorded()->clear_items(); })},
      {"MeasureItemsOnly",
       Modified(Measure,
                [](Event& e) {
                  e.mutable_measure_recorded()->set_has_total(false);
                })},
      {"MeasureTotalWithinTolerance",
       Modified(
           Measure,
           [](Event& e) { e.mutable_measure_recorded()->set_total(36.04); })},
      {"GoalsNotTiedToSession",
       Modified(
           Goals,
           [](Event& e) { e.mutable_goals_agreed()->set_session_number(0); })},
      {"EndingNotYetFixed",
       Modified(EndingPlanned,
                [](Event& e) {
                  e.mutable_ending_planned()->set_final_session_number(0);
                })},
      {"DismissedWithoutReason",
       Modified(Dismissed,
                [](Event& e) { e.mutable_prompt_feedback()->clear_reason(); })},
      {"SnoozeExactly90Days",
       Modified(
           Snoozed,
           [](Event& e) {
             e.mutable_prompt_feedback()->mutable_snooze_until()->set_seconds(
                 kOccurred + 90 * kDay);
           })},
  };
}

INSTANTIATE_TEST_SUITE_P(Events, ValidEventTest,
                         testing::ValuesIn(ValidCases()),
                         [](const testing::TestParamInfo<ValidCase>& info) {
                           return info.param.name;
                         });

// ---------------------------------------------------------------------------
// One case per rule: INVALID_ARGUMENT, message "<field>: <rule>".

struct RuleCase {
  std::string name;
  Event (*base)();
  std::function<void(Event&)> change;
  std::string field;
};

void PrintTo(const RuleCase& c, std::ostream* os) { *os << c.name; }

class EventRuleTest : public testing::TestWithParam<RuleCase> {};

TEST_P(EventRuleTest, FailsNamingTheField) {
  const RuleCase& c = GetParam();
  Event e = c.base();
  c.change(e);
  absl::Status status = Validate(e);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StartsWith(status.message(), c.field + ": "))
      << "message: " << status.message() << "\nexpected field: " << c.field;
}

auto* Sched(Event& e) { return e.mutable_session_scheduled(); }
auto* Hld(Event& e) { return e.mutable_session_held(); }
auto* Msr(Event& e) { return e.mutable_measure_recorded(); }
auto* Fb(Event& e) { return e.mutable_prompt_feedback(); }

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<RuleCase> EnvelopeCases() {
  return {
      {"EventIdMissing", NoShow, [](Event& e) { e.clear_event_id(); },
       "event_id"},
      {"EventIdTooLong", NoShow,
       [](Event& e) { e.set_event_id(std::string(129, 'a')); }, "event_id"},
      {"EventIdSpace", NoShow, [](Event& e) { e.set_event_id("a b"); },
       "event_id"},
      {"EventIdSlash", NoShow, [](Event& e) { e.set_event_id("a/b"); },
       "event_id"},
      {"OccurredAtMissing", NoShow, [](Event& e) { e.clear_occurred_at(); },
       "occurred_at"},
      {"OccurredAtNegativeNanos", NoShow,
       [](Event& e) { e.mutable_occurred_at()->set_nanos(-1); },
       "occurred_at.nanos"},
      {"OccurredAtNanosTooLarge", NoShow,
       [](Event& e) { e.mutable_occurred_at()->set_nanos(1000000000); },
       "occurred_at.nanos"},
      {"OccurredAtBeyondYear9999", NoShow,
       [](Event& e) { e.mutable_occurred_at()->set_seconds(253402300800); },
       "occurred_at.seconds"},
      {"OccurredAtBefore1970", NoShow,
       [](Event& e) { e.mutable_occurred_at()->set_seconds(-1); },
       "occurred_at"},
      {"OccurredAtBeyondSkew", NoShow,
       [](Event& e) { e.mutable_occurred_at()->set_seconds(kNow + kDay + 1); },
       "occurred_at"},
      {"OccurredAtBeyondSkewByNanos", NoShow,
       [](Event& e) {
         e.mutable_occurred_at()->set_seconds(kNow + kDay);
         e.mutable_occurred_at()->set_nanos(1);
       },
       "occurred_at"},
      {"EpisodeMissing", NoShow, [](Event& e) { e.clear_episode(); },
       "episode"},
      {"ClientIdMissing", NoShow,
       [](Event& e) { e.mutable_episode()->clear_client_id(); },
       "episode.client_id"},
      {"ClientIdTooLong", NoShow,
       [](Event& e) {
         e.mutable_episode()->set_client_id(std::string(129, 'c'));
       },
       "episode.client_id"},
      {"ClientIdControlChar", NoShow,
       [](Event& e) { e.mutable_episode()->set_client_id("c\n1"); },
       "episode.client_id"},
      {"ClientIdNonAscii", NoShow,
       [](Event& e) { e.mutable_episode()->set_client_id("m\xc3\xbcller"); },
       "episode.client_id"},
      {"ClinicianIdMissing", NoShow,
       [](Event& e) { e.mutable_episode()->clear_clinician_id(); },
       "episode.clinician_id"},
      {"ClinicianIdTooLong", NoShow,
       [](Event& e) {
         e.mutable_episode()->set_clinician_id(std::string(129, 't'));
       },
       "episode.clinician_id"},
      {"ClinicianIdControlChar", NoShow,
       [](Event& e) { e.mutable_episode()->set_clinician_id("t\x01"); },
       "episode.clinician_id"},
      {"EpisodeIdMissing", NoShow,
       [](Event& e) { e.mutable_episode()->clear_episode_id(); },
       "episode.episode_id"},
      {"EpisodeIdTooLong", NoShow,
       [](Event& e) {
         e.mutable_episode()->set_episode_id(std::string(129, 'e'));
       },
       "episode.episode_id"},
      {"EpisodeIdDelete", NoShow,
       [](Event& e) { e.mutable_episode()->set_episode_id("e\x7f"); },
       "episode.episode_id"},
      {"PayloadMissing", NoShow, [](Event& e) { e.clear_payload(); },
       "payload"},
  };
}

std::vector<RuleCase> SessionCases() {
  return {
      {"ScheduledSessionZero", Scheduled,
       [](Event& e) { Sched(e)->set_session_number(0); },
       "session_scheduled.session_number"},
      {"ScheduledSessionNegative", Scheduled,
       [](Event& e) { Sched(e)->set_session_number(-1); },
       "session_scheduled.session_number"},
      {"ScheduledSessionTooLarge", Scheduled,
       [](Event& e) { Sched(e)->set_session_number(1001); },
       "session_scheduled.session_number"},
      {"ScheduledStartMissing", Scheduled,
       [](Event& e) { Sched(e)->clear_scheduled_start(); },
       "session_scheduled.scheduled_start"},
      {"ScheduledStartBadNanos", Scheduled,
       [](Event& e) { Sched(e)->mutable_scheduled_start()->set_nanos(-5); },
       "session_scheduled.scheduled_start.nanos"},
      {"PlannedMinutesNegative", Scheduled,
       [](Event& e) { Sched(e)->set_planned_minutes(-1); },
       "session_scheduled.planned_minutes"},
      {"PlannedMinutesTooLarge", Scheduled,
       [](Event& e) { Sched(e)->set_planned_minutes(601); },
       "session_scheduled.planned_minutes"},
      {"HeldSessionZero", Held, [](Event& e) { Hld(e)->set_session_number(0); },
       "session_held.session_number"},
      {"HeldSessionTooLarge", Held,
       [](Event& e) { Hld(e)->set_session_number(1001); },
       "session_held.session_number"},
      {"HeldStartMissing", Held, [](Event& e) { Hld(e)->clear_start(); },
       "session_held.start"},
      {"HeldEndMissing", Held, [](Event& e) { Hld(e)->clear_end(); },
       "session_held.end"},
      {"HeldStartBadNanos", Held,
       [](Event& e) { Hld(e)->mutable_start()->set_nanos(1000000000); },
       "session_held.start.nanos"},
      {"HeldEndOutOfRange", Held,
       [](Event& e) { Hld(e)->mutable_end()->set_seconds(-62135596801); },
       "session_held.end.seconds"},
      {"HeldEndEqualsStart", Held,
       [](Event& e) { *Hld(e)->mutable_end() = Hld(e)->start(); },
       "session_held.end"},
      {"HeldEndBeforeStart", Held,
       [](Event& e) {
         Hld(e)->mutable_end()->set_seconds(Hld(e)->start().seconds() - 60);
       },
       "session_held.end"},
      {"HeldLongerThan12h", Held,
       [](Event& e) {
         Hld(e)->mutable_end()->set_seconds(Hld(e)->start().seconds() +
                                            12 * 3600 + 1);
       },
       "session_held.end"},
      {"HeldModalityUnknown", Held,
       [](Event& e) { Hld(e)->set_modality(static_cast<v1::Modality>(99)); },
       "session_held.modality"},
      {"CancelledSessionZero", Cancelled,
       [](Event& e) { e.mutable_session_cancelled()->set_session_number(0); },
       "session_cancelled.session_number"},
      {"CancelledByMissing", Cancelled,
       [](Event& e) { e.mutable_session_cancelled()->clear_cancelled_by(); },
       "session_cancelled.cancelled_by"},
      {"CancelledByUnknown", Cancelled,
       [](Event& e) {
         e.mutable_session_cancelled()->set_cancelled_by(
             static_cast<v1::CancelledBy>(9));
       },
       "session_cancelled.cancelled_by"},
      {"NoShowSessionZero", NoShow,
       [](Event& e) { e.mutable_no_show()->set_session_number(0); },
       "no_show.session_number"},
      {"NoShowSessionTooLarge", NoShow,
       [](Event& e) { e.mutable_no_show()->set_session_number(1001); },
       "no_show.session_number"},
  };
}

std::vector<RuleCase> MeasureCases() {
  return {
      {"MeasureSessionZero", Measure,
       [](Event& e) { Msr(e)->set_session_number(0); },
       "measure_recorded.session_number"},
      {"MeasureSessionTooLarge", Measure,
       [](Event& e) { Msr(e)->set_session_number(1001); },
       "measure_recorded.session_number"},
      {"MeasureInstrumentMissing", Measure,
       [](Event& e) { Msr(e)->clear_instrument(); },
       "measure_recorded.instrument"},
      {"MeasureInstrumentUnknown", Measure,
       [](Event& e) {
         Msr(e)->set_instrument(static_cast<v1::Instrument>(99));
       },
       "measure_recorded.instrument"},
      {"MeasureInstrumentNotConfigured", Measure,
       [](Event& e) {
         Msr(e)->set_instrument(v1::INSTRUMENT_SAI);
         Msr(e)->clear_items();
       },
       "measure_recorded.instrument"},
      {"MeasureRaterMissing", Measure, [](Event& e) { Msr(e)->clear_rater(); },
       "measure_recorded.rater"},
      {"MeasureRaterUnknown", Measure,
       [](Event& e) { Msr(e)->set_rater(static_cast<v1::Rater>(9)); },
       "measure_recorded.rater"},
      {"MeasureNoItemsNoTotal", Measure,
       [](Event& e) {
         Msr(e)->clear_items();
         Msr(e)->set_has_total(false);
       },
       "measure_recorded.items"},
      {"MeasureWrongItemCount", Measure, [](Event& e) { Msr(e)->add_items(9); },
       "measure_recorded.items"},
      {"MeasureItemOutOfRange", Measure,
       [](Event& e) {
         Msr(e)->set_items(2, 11);
         Msr(e)->set_has_total(false);
       },
       "measure_recorded.items[2]"},
      {"MeasureItemNaN", Measure, [](Event& e) { Msr(e)->set_items(1, kNaN); },
       "measure_recorded.items[1]"},
      {"MeasureTotalOutOfRange", Measure,
       [](Event& e) {
         Msr(e)->clear_items();
         Msr(e)->set_total(41);
       },
       "measure_recorded.total"},
      {"MeasureTotalNaNWithItems", Measure,
       [](Event& e) { Msr(e)->set_total(kNaN); }, "measure_recorded.total"},
      {"MeasureWrongItemCountAndTotal", Measure,
       [](Event& e) {
         Msr(e)->add_items(9);
         Msr(e)->set_total(45);
       },
       "measure_recorded.items"},
      {"MeasureTotalNotSum", Measure, [](Event& e) { Msr(e)->set_total(30); },
       "measure_recorded.total"},
      {"MeasureCustomWithBuiltin", Measure,
       [](Event& e) { Msr(e)->mutable_custom()->set_name("x"); },
       "measure_recorded.custom"},
      {"MeasureCustomMissing", CustomMeasure,
       [](Event& e) { Msr(e)->clear_custom(); }, "measure_recorded.custom"},
      {"MeasureCustomBadName", CustomMeasure,
       [](Event& e) { Msr(e)->mutable_custom()->set_name("Acme"); },
       "measure_recorded.custom.name"},
      {"MeasureCustomConstructMissing", CustomMeasure,
       [](Event& e) { Msr(e)->mutable_custom()->clear_construct(); },
       "measure_recorded.custom.construct"},
      {"MeasureCustomConstructUnknown", CustomMeasure,
       [](Event& e) {
         Msr(e)->mutable_custom()->set_construct(static_cast<v1::Construct>(9));
       },
       "measure_recorded.custom.construct"},
      {"MeasureCustomItemCountTooLarge", CustomMeasure,
       [](Event& e) { Msr(e)->mutable_custom()->set_item_count(101); },
       "measure_recorded.custom.item_count"},
      {"MeasureCustomItemRangeInverted", CustomMeasure,
       [](Event& e) { Msr(e)->mutable_custom()->set_item_min(8); },
       "measure_recorded.custom.item_min"},
      {"MeasureCustomItemMinNaN", CustomMeasure,
       [](Event& e) { Msr(e)->mutable_custom()->set_item_min(kNaN); },
       "measure_recorded.custom.item_min"},
      {"MeasureCustomTotalMaxInfinite", CustomMeasure,
       [](Event& e) { Msr(e)->mutable_custom()->set_total_max(kInf); },
       "measure_recorded.custom.total_max"},
      {"MeasureCustomTotalRangeMissing", CustomMeasure,
       [](Event& e) {
         Msr(e)->mutable_custom()->clear_total_min();
         Msr(e)->mutable_custom()->clear_total_max();
       },
       "measure_recorded.custom.total_min"},
  };
}

std::vector<RuleCase> OtherPayloadCases() {
  return {
      {"GoalCountZero", Goals,
       [](Event& e) { e.mutable_goals_agreed()->set_goal_count(0); },
       "goals_agreed.goal_count"},
      {"GoalsSessionNegative", Goals,
       [](Event& e) { e.mutable_goals_agreed()->set_session_number(-1); },
       "goals_agreed.session_number"},
      {"GoalsSessionTooLarge", Goals,
       [](Event& e) { e.mutable_goals_agreed()->set_session_number(1001); },
       "goals_agreed.session_number"},
      {"RuptureSessionZero", Rupture,
       [](Event& e) { e.mutable_rupture_marker()->set_session_number(0); },
       "rupture_marker.session_number"},
      {"RuptureTypeMissing", Rupture,
       [](Event& e) { e.mutable_rupture_marker()->clear_type(); },
       "rupture_marker.type"},
      {"RuptureTypeUnknown", Rupture,
       [](Event& e) {
         e.mutable_rupture_marker()->set_type(static_cast<v1::RuptureType>(7));
       },
       "rupture_marker.type"},
      {"EndingFinalNegative", EndingPlanned,
       [](Event& e) {
         e.mutable_ending_planned()->set_final_session_number(-1);
       },
       "ending_planned.final_session_number"},
      {"EndingFinalTooLarge", EndingPlanned,
       [](Event& e) {
         e.mutable_ending_planned()->set_final_session_number(1001);
       },
       "ending_planned.final_session_number"},
      {"ClosedReasonMissing", Closed,
       [](Event& e) { e.mutable_episode_closed()->clear_reason(); },
       "episode_closed.reason"},
      {"ClosedReasonUnknown", Closed,
       [](Event& e) {
         e.mutable_episode_closed()->set_reason(
             static_cast<v1::EndingReason>(9));
       },
       "episode_closed.reason"},
  };
}

std::vector<RuleCase> FeedbackCases() {
  return {
      {"FeedbackPromptIdMissing", Accepted,
       [](Event& e) { Fb(e)->clear_prompt_id(); }, "prompt_feedback.prompt_id"},
      {"FeedbackPromptIdTooLong", Accepted,
       [](Event& e) { Fb(e)->set_prompt_id(std::string(129, 'p')); },
       "prompt_feedback.prompt_id"},
      {"FeedbackPromptIdControlChar", Accepted,
       [](Event& e) { Fb(e)->set_prompt_id("p\t1"); },
       "prompt_feedback.prompt_id"},
      {"FeedbackOutcomeMissing", Accepted,
       [](Event& e) { Fb(e)->clear_outcome(); }, "prompt_feedback.outcome"},
      {"FeedbackOutcomeUnknown", Accepted,
       [](Event& e) { Fb(e)->set_outcome(static_cast<Feedback::Outcome>(9)); },
       "prompt_feedback.outcome"},
      {"FeedbackReasonUnknown", Dismissed,
       [](Event& e) {
         Fb(e)->set_reason(static_cast<Feedback::DismissReason>(99));
       },
       "prompt_feedback.reason"},
      {"FeedbackReasonWithAccepted", Accepted,
       [](Event& e) { Fb(e)->set_reason(Feedback::DISMISS_REASON_OTHER); },
       "prompt_feedback.reason"},
      {"FeedbackReasonWithSnoozed", Snoozed,
       [](Event& e) { Fb(e)->set_reason(Feedback::DISMISS_REASON_INCORRECT); },
       "prompt_feedback.reason"},
      {"SnoozeUntilMissing", Snoozed,
       [](Event& e) { Fb(e)->clear_snooze_until(); },
       "prompt_feedback.snooze_until"},
      {"SnoozeUntilAtOccurredAt", Snoozed,
       [](Event& e) { *Fb(e)->mutable_snooze_until() = e.occurred_at(); },
       "prompt_feedback.snooze_until"},
      {"SnoozeUntilBeforeOccurredAt", Snoozed,
       [](Event& e) {
         Fb(e)->mutable_snooze_until()->set_seconds(kOccurred - kDay);
       },
       "prompt_feedback.snooze_until"},
      {"SnoozeBeyondMax", Snoozed,
       [](Event& e) {
         Fb(e)->mutable_snooze_until()->set_seconds(kOccurred + 90 * kDay + 1);
       },
       "prompt_feedback.snooze_until"},
      {"SnoozeUntilBadNanos", Snoozed,
       [](Event& e) { Fb(e)->mutable_snooze_until()->set_nanos(-1); },
       "prompt_feedback.snooze_until.nanos"},
      {"SnoozeUntilBadNanosWithAccepted", Accepted,
       [](Event& e) { Fb(e)->mutable_snooze_until()->set_nanos(-1); },
       "prompt_feedback.snooze_until.nanos"},
  };
}

std::vector<RuleCase> AllRuleCases() {
  std::vector<RuleCase> all;
  for (auto* group : {EnvelopeCases, SessionCases, MeasureCases,
                      OtherPayloadCases, FeedbackCases}) {
    for (RuleCase& c : group()) all.push_back(std::move(c));
  }
  return all;
}

INSTANTIATE_TEST_SUITE_P(Rules, EventRuleTest,
                         testing::ValuesIn(AllRuleCases()),
                         [](const testing::TestParamInfo<RuleCase>& info) {
                           return info.param.name;
                         });

// ---------------------------------------------------------------------------
// Exact wording of the messages that embed a limit.

TEST(EventValidatorMessageTest, FutureSkewNamesTheLimit) {
  Event e = NoShow();
  e.mutable_occurred_at()->set_seconds(kNow + 2 * kDay);
  EXPECT_EQ(Validate(e).message(),
            "occurred_at: is more than 24h in the future");
}

TEST(EventValidatorMessageTest, SnoozeNamesTheLimitInDays) {
  Event e = Snoozed();
  e.mutable_prompt_feedback()->mutable_snooze_until()->set_seconds(kOccurred +
                                                                   91 * kDay);
  EXPECT_EQ(Validate(e).message(),
            "prompt_feedback.snooze_until: must be at most 90 days after "
            "occurred_at");
}

TEST(EventValidatorMessageTest, ItemRangeComesFromTheRegistry) {
  Event e = Measure();
  e.mutable_measure_recorded()->set_items(2, -1);
  e.mutable_measure_recorded()->set_has_total(false);
  EXPECT_EQ(Validate(e).message(),
            "measure_recorded.items[2]: SRS items must be within 0-10");
}

TEST(EventValidatorMessageTest, LimitsComeFromTheCaller) {
  Event e = NoShow();
  e.mutable_occurred_at()->set_seconds(kNow + 7200);
  ValidationLimits tight = Limits();
  tight.max_future_skew = absl::Hours(1);
  absl::Status status = ValidateEvent(e, Registry(), tight);
  EXPECT_EQ(status.message(), "occurred_at: is more than 1h in the future");
  tight.max_future_skew = absl::Hours(3);
  EXPECT_TRUE(ValidateEvent(e, Registry(), tight).ok());
}

// ---------------------------------------------------------------------------
// Privacy: no identifier or score sent by the host appears in any message.

constexpr char kSecret[] = "CLIENT-SECRET-123";

void ExpectNoSecret(const Event& e, const std::string& name) {
  absl::Status status = Validate(e);
  ASSERT_FALSE(status.ok()) << name;
  EXPECT_FALSE(absl::StrContains(status.message(), "SECRET"))
      << name << ": " << status.message();
}

// Every rule case again, with every identifier replaced by a secret-looking
// value that is itself valid.
TEST(EventValidatorPrivacyTest, RuleMessagesNeverEchoIdentifiers) {
  for (const RuleCase& c : AllRuleCases()) {
    Event e = c.base();
    e.set_event_id("EVT-SECRET-1");
    e.mutable_episode()->set_client_id(kSecret);
    e.mutable_episode()->set_clinician_id("CLINICIAN-SECRET-9");
    e.mutable_episode()->set_episode_id("EPISODE-SECRET-7");
    if (e.has_prompt_feedback()) {
      e.mutable_prompt_feedback()->set_prompt_id("PROMPT-SECRET-5");
    }
    c.change(e);
    ExpectNoSecret(e, c.name);
  }
}

// The invalid value itself contains the secret.
TEST(EventValidatorPrivacyTest, InvalidIdentifiersAreNotEchoed) {
  const std::string bad = absl::StrCat(kSecret, " \n");
  const std::string too_long = absl::StrCat(kSecret, std::string(128, 'x'));
  std::vector<std::pair<std::string, std::function<void(Event&)>>> cases = {
      {"event_id", [&](Event& e) { e.set_event_id(bad); }},
      {"event_id_long", [&](Event& e) { e.set_event_id(too_long); }},
      {"client_id", [&](Event& e) { e.mutable_episode()->set_client_id(bad); }},
      {"client_id_long",
       [&](Event& e) { e.mutable_episode()->set_client_id(too_long); }},
      {"clinician_id",
       [&](Event& e) { e.mutable_episode()->set_clinician_id(bad); }},
      {"episode_id",
       [&](Event& e) { e.mutable_episode()->set_episode_id(too_long); }},
  };
  for (auto& [name, change] : cases) {
    Event e = NoShow();
    change(e);
    ExpectNoSecret(e, name);
  }
  Event feedback = Accepted();
  feedback.mutable_prompt_feedback()->set_prompt_id(bad);
  ExpectNoSecret(feedback, "prompt_id");
  Event custom = CustomMeasure();
  custom.mutable_measure_recorded()->mutable_custom()->set_name(kSecret);
  ExpectNoSecret(custom, "custom.name");
}

TEST(EventValidatorPrivacyTest, ScoresAreNotEchoed) {
  Event e = Measure();
  auto* m = e.mutable_measure_recorded();
  for (int i = 0; i < 4; ++i) m->set_items(i, 7.25);  // sum 29
  m->set_total(33.125);
  absl::Status status = Validate(e);
  EXPECT_EQ(status.message(),
            "measure_recorded.total: must equal the sum of the items within "
            "0.05");
  EXPECT_FALSE(absl::StrContains(status.message(), "29"));
  EXPECT_FALSE(absl::StrContains(status.message(), "33"));
  EXPECT_FALSE(absl::StrContains(status.message(), "7.25"));
}

}  // namespace
}  // namespace attune::engine
