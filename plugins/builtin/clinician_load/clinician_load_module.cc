// Source: CLINICAL.md module 8 names the concern — the burned-out, fatigued
// therapist of the opening vignette of Mental Health Academy's "Essential
// Qualities in the Therapeutic Alliance" — but no numbers. The limits are
// local defaults (defaults.textproto): eight client sessions a day, four in
// a row with under 10 minutes between them, a ten-hour day.
#include "plugins/builtin/clinician_load/clinician_load_module.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "plugins/builtin/common/prompt_parts.h"
#include "plugins/builtin/common/references.h"

namespace attune::builtin {
namespace {

constexpr int kPriority = 10;

struct DayLoad {
  int sessions = 0;
  int longest_run = 0;
  double span_hours = 0;
};

DayLoad Measure(const engine::ClinicianDay& day, absl::Duration gap_limit) {
  DayLoad load;
  const auto& s = day.sessions;
  load.sessions = static_cast<int>(s.size());
  if (s.empty()) return load;
  int run = 1;
  load.longest_run = 1;
  absl::Time last_end = s.front().end;
  for (std::size_t i = 1; i < s.size(); ++i) {
    run = (s[i].start - s[i - 1].end) < gap_limit ? run + 1 : 1;
    load.longest_run = std::max(load.longest_run, run);
    last_end = std::max(last_end, s[i].end);
  }
  load.span_hours = absl::ToDoubleHours(last_end - s.front().start);
  return load;
}

}  // namespace

absl::Status ClinicianLoadModule::Evaluate(const engine::RuleInput& input,
                                           engine::RuleOutput& output) const {
  if (!input.trigger.has_session_held()) return absl::OkStatus();
  const v1::ClinicianLoadConfig& config = input.config.clinician_load();
  const DayLoad load = Measure(
      input.clinician_day, absl::Minutes(config.back_to_back_gap_minutes()));
  if (load.sessions == 0) return absl::OkStatus();

  const bool too_many = config.max_sessions_per_day() > 0 &&
                        load.sessions > config.max_sessions_per_day();
  const bool too_long_run = config.max_back_to_back() > 0 &&
                            load.longest_run > config.max_back_to_back();
  const bool too_long_day = config.max_day_span_hours() > 0 &&
                            load.span_hours > config.max_day_span_hours();
  if (!too_many && !too_long_run && !too_long_day) return absl::OkStatus();

  std::vector<std::string> over;
  if (too_many)
    absl::StrAppend(&over.emplace_back(), load.sessions, " sessions");
  if (too_long_run) {
    absl::StrAppend(&over.emplace_back(), load.longest_run, " back to back");
  }
  if (too_long_day) {
    absl::StrAppend(&over.emplace_back(), Num(load.span_hours), " hours");
  }
  engine::ProposedPrompt p = NewPrompt(kHeavyDay, v1::SEVERITY_INFO, kPriority,
                                       v1::PROMPT_SCOPE_CLINICIAN);
  v1::Prompt& prompt = p.prompt;
  SetSummary(prompt,
             absl::StrCat("A heavy day for you (", absl::StrJoin(over, ", "),
                          "): plan a real break before you go on."));
  prompt.set_detail(absl::StrCat(
      "Your held sessions today: ", load.sessions, " (limit ",
      config.max_sessions_per_day(), "); longest run with under ",
      config.back_to_back_gap_minutes(), " minutes between sessions: ",
      load.longest_run, " (limit ", config.max_back_to_back(),
      "); first start to last end: ", Num(load.span_hours), " hours (limit ",
      Num(config.max_day_span_hours()),
      "). Staying attuned to each client takes energy; a tired clinician "
      "notices less. The limits are clinic settings."));
  AddAction(prompt, "take_break", "Block a break before your next session");
  AddAction(prompt, "review_schedule", "Review the rest of this week's load");
  prompt.set_reflective_question(
      "What do you need right now to meet your next client with full "
      "attention?");
  *prompt.add_evidence() =
      ThresholdEvidence("sessions_today", load.sessions,
                        too_many ? ">" : "<=", config.max_sessions_per_day(), 0,
                        "held sessions today");
  *prompt.add_evidence() = ThresholdEvidence(
      "longest_back_to_back_run", load.longest_run,
      too_long_run ? ">" : "<=", config.max_back_to_back(), 0,
      absl::StrCat("gaps under ", config.back_to_back_gap_minutes(),
                   " minutes"));
  *prompt.add_evidence() =
      ThresholdEvidence("day_span_hours", load.span_hours,
                        too_long_day ? ">" : "<=", config.max_day_span_hours(),
                        0, "first start to last end");
  AddReference(prompt, refs::kMhaAllianceQualities);
  // A fuller day is stronger evidence.
  p.strength = load.sessions;
  output.prompts.push_back(std::move(p));
  return absl::OkStatus();
}

}  // namespace attune::builtin
