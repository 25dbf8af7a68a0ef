// Thresholds (all in config.phase(), defaults in defaults.textproto):
// - goals_expected_by_session = 3, established_expected_by_session = 5: the
//   alliance is mostly built in the first ~5 sessions, peaking around
//   session 3 (two phases after Ardito & Rabellino 2011, via CLINICAL.md).
//   Defaults, not truths: Stevens et al. 2007 found no fixed global shape.
// - established = cut-off met in 2 of the last 3 rated sessions and goals
//   agreed (CLINICAL.md, module 1); goals and tasks are two of Bordin's
//   (1979) three parts of the alliance.
#include "plugins/builtin/phase/phase_module.h"

#include <cstddef>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "plugins/builtin/common/alliance_series.h"
#include "plugins/builtin/common/prompt_parts.h"
#include "plugins/builtin/common/references.h"
#include "plugins/builtin/phase/phase_analysis.h"

namespace attune::builtin {
namespace {

// Priorities within the alert budget (higher shows first).
constexpr int kNotEstablishedPriority = 70;
constexpr int kAgreeGoalsPriority = 30;

engine::ProposedPrompt AgreeGoals(const PhaseAnalysis& a,
                                  const v1::PhaseConfig& config) {
  engine::ProposedPrompt p = NewPrompt(PhaseModule::kAgreeGoals,
                                       v1::SEVERITY_INFO, kAgreeGoalsPriority);
  v1::Prompt& prompt = p.prompt;
  SetSummary(prompt, absl::StrCat("No goals agreed yet after ", a.latest_held,
                                  " sessions: settle goals and tasks together "
                                  "with the client."));
  prompt.set_detail(absl::StrCat(
      "Session ", a.latest_held,
      " has been held and no agreement on goals has been recorded (expected "
      "by session ",
      config.goals_expected_by_session(),
      "). Shared goals and agreed tasks are two of the three parts of the "
      "alliance, and they are normally worked out while the alliance forms "
      "in the first sessions. The session number is a clinic setting: "
      "research does not fix one timetable for every therapy."));
  AddAction(prompt, "agree_goals", "Agree goals and tasks with the client");
  AddAction(prompt, "explore_hopes", "Ask what the client hopes will change");
  prompt.set_reflective_question(
      "Could you say, in the client's own words, what they want from "
      "coming here?");
  *prompt.add_evidence() =
      ThresholdEvidence("latest_held_session", a.latest_held,
                        ">=", config.goals_expected_by_session(), a.latest_held,
                        "held sessions without a goals agreement");
  AddReference(prompt, refs::kBordin1979);
  AddReference(prompt, refs::kArdito2011);
  AddReference(prompt, refs::kStevens2007);
  p.strength = a.latest_held - config.goals_expected_by_session() + 1;
  return p;
}

engine::ProposedPrompt NotEstablished(const PhaseAnalysis& a,
                                      const AllianceSeries& series,
                                      const v1::PhaseConfig& config) {
  engine::ProposedPrompt p =
      NewPrompt(PhaseModule::kNotEstablished, v1::SEVERITY_WARNING,
                kNotEstablishedPriority);
  v1::Prompt& prompt = p.prompt;
  SetSummary(
      prompt,
      absl::StrCat("Alliance still not established after ", a.latest_held,
                   " sessions: review the relationship, goals and tasks."));
  // The ratings in the window, oldest first.
  std::string ratings;
  const auto& points = series.points();
  for (std::size_t i = points.size() - a.window_ratings; i < points.size();
       ++i) {
    absl::StrAppend(&ratings, ratings.empty() ? "" : ", ", "session ",
                    points[i].session, ": ", Num(points[i].total));
  }
  std::string goals =
      a.goals_session < 0
          ? "no goals agreement has been recorded"
          : absl::StrCat("goals were agreed (session ", a.goals_session, ")");
  prompt.set_detail(absl::StrCat(
      "Established means the client's ", series.label(), " at or above ",
      Num(series.cutoff()), " in ", config.established_min_at_cutoff(),
      " of the last ", config.established_window(),
      " rated sessions, with goals agreed. Now ", a.window_at_cutoff,
      " of the last ", a.window_ratings, " ratings meet the cut-off (", ratings,
      ") and ", goals, ". Expected by session ",
      config.established_expected_by_session(), "; this is session ",
      a.latest_held, ". A weak early alliance predicts dropout (d = .55)."));
  AddAction(prompt, "discuss_alliance",
            "Ask the client how the work together feels");
  AddAction(prompt, "revisit_goals", "Revisit goals and tasks");
  AddAction(prompt, "seek_supervision", "Talk it through in supervision");
  prompt.set_reflective_question(
      "What might help the client feel that you are genuinely on their "
      "side?");
  const bool ratings_short =
      a.window_at_cutoff < config.established_min_at_cutoff();
  *prompt.add_evidence() = ThresholdEvidence(
      "ratings_at_cutoff_in_window", a.window_at_cutoff,
      ratings_short ? "<" : ">=", config.established_min_at_cutoff(),
      series.latest().session,
      absl::StrCat("of the last ", a.window_ratings, " rated sessions"));
  if (a.goals_session < 0) {
    *prompt.add_evidence() = ValueEvidence("goals_agreed", 0, a.latest_held,
                                           "no goals agreement recorded");
  }
  *prompt.add_evidence() =
      ThresholdEvidence("latest_held_session", a.latest_held, ">",
                        config.established_expected_by_session(), a.latest_held,
                        "sessions held without an established alliance");
  AddReference(prompt, refs::kArdito2011);
  AddReference(prompt, refs::kSharf2010);
  AddReference(prompt, refs::kFlueckiger2018);
  AddReference(prompt, refs::kStevens2007);
  p.strength = a.latest_held - config.established_expected_by_session();
  return p;
}

}  // namespace

absl::Status PhaseModule::Evaluate(const engine::RuleInput& input,
                                   engine::RuleOutput& output) const {
  const v1::PhaseConfig& config = input.config.phase();
  std::optional<AllianceSeries> storage;
  const AllianceSeries& series = AllianceSeries::For(input, storage);
  PhaseAnalysis a = AnalysePhase(input.history, series, config);

  // The nudges belong to the "coming together" phase only.
  if (a.state.phase() == v1::PHASE_COMING_TOGETHER) {
    if (!a.state.goals_agreed() && a.latest_held > 0 &&
        a.latest_held >= config.goals_expected_by_session()) {
      output.prompts.push_back(AgreeGoals(a, config));
    }
    // Without a rating on an instrument with a cut-off the alliance cannot
    // be judged; attune.feedback_adherence asks for the ratings instead.
    if (a.judgeable && !a.state.alliance_established() &&
        a.latest_held > config.established_expected_by_session()) {
      output.prompts.push_back(NotEstablished(a, series, config));
    }
  }
  // Last: the prompts above read the state this hands over.
  output.assessment->mutable_phase()->Swap(&a.state);
  return absl::OkStatus();
}

}  // namespace attune::builtin
