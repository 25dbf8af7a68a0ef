// Prompt timing: prompt_for_sessions (default 3, a local default in
// defaults.textproto) held sessions without a new rating end the prompt;
// the state stays SUSPECTED and attune.feedback_adherence asks for ratings.
// Why prompt at all: therapists often miss ruptures, and unaddressed ones are
// linked to dropout (Eubanks-Carter, Muran & Safran 2015); repair goes with
// better outcome (Safran, Muran & Eubanks-Carter 2011, r = .24).
#include "plugins/builtin/rupture/rupture_module.h"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "plugins/builtin/common/alliance_series.h"
#include "plugins/builtin/common/episode_facts.h"
#include "plugins/builtin/common/prompt_parts.h"
#include "plugins/builtin/common/references.h"
#include "plugins/builtin/rupture/rupture_analysis.h"

namespace attune::builtin {
namespace {

constexpr int kPriority = 90;
// Signal phrases listed in the detail, latest last: enough to explain,
// short enough to read.
constexpr std::size_t kMaxHitsInDetail = 4;

bool HasSignal(const v1::RuptureState& state, v1::RuptureSignal signal) {
  const auto& s = state.signals();
  return std::find(s.begin(), s.end(), signal) != s.end();
}

std::string Summary(const RuptureAnalysis& a, const AllianceSeries& series) {
  const v1::RuptureState& state = a.state;
  if (state.status() == v1::RUPTURE_STATUS_REPAIRING) {
    return absl::StrCat("Alliance rising again but not yet back (",
                        series.label(), " ", Num(series.latest().total),
                        ", was ", Num(state.pre_drop_level()),
                        "): keep checking in about the rupture.");
  }
  if (a.has_baseline && a.has_low && a.low_session > 0 &&
      series.Drop(state.pre_drop_level(), a.low) > 0) {
    return absl::StrCat("Possible alliance rupture: ", series.label(),
                        " fell from ", Num(state.pre_drop_level()), " to ",
                        Num(a.low), " by session ", a.low_session,
                        ". Check in with the client.");
  }
  return absl::StrCat(
      "Possible alliance rupture: ", MarkerTypeName(state.marker_type()),
      " marker in session ", state.detected_session(),
      ". Check in with the client.");
}

std::string Detail(const RuptureAnalysis& a, const AllianceSeries& series,
                   const v1::RulesConfig& config) {
  const v1::RuptureState& state = a.state;
  std::vector<std::string> phrases;
  std::size_t first =
      a.hits.size() > kMaxHitsInDetail ? a.hits.size() - kMaxHitsInDetail : 0;
  for (std::size_t i = first; i < a.hits.size(); ++i) {
    phrases.push_back(HitPhrase(a.hits[i], series, config));
  }
  std::string detail =
      absl::StrCat("Rupture signals since session ", state.detected_session(),
                   ": ", absl::StrJoin(phrases, "; "), ".");
  if (a.has_baseline) {
    absl::StrAppend(&detail,
                    " Level before the rupture: ", Num(state.pre_drop_level()));
    if (a.has_low && a.low_session > 0) {
      absl::StrAppend(&detail, "; lowest since: ", Num(a.low), " (session ",
                      a.low_session, ")");
    }
    absl::StrAppend(&detail, "; the alliance counts as repaired at ",
                    Num(a.repair_target), " (",
                    Pct(100 * ReturnFraction(config)), " of the way back).");
  }
  if (!series.empty() && series.latest().session > state.detected_session()) {
    absl::StrAppend(&detail, " Latest ", series.label(), ": ",
                    Num(series.latest().total), " (session ",
                    series.latest().session, ").");
  }
  if (state.after_challenging_session()) {
    absl::StrAppend(&detail,
                    " Challenging interventions were reported in "
                    "session ",
                    a.challenging_session, ", just before the rupture.");
  }
  absl::StrAppend(&detail,
                  " A rupture that is noticed and talked about can often be "
                  "repaired, and repair goes with better outcome; one that "
                  "goes unnoticed is linked to dropout.");
  return detail;
}

engine::ProposedPrompt CheckRupture(const RuptureAnalysis& a,
                                    const AllianceSeries& series,
                                    const v1::RulesConfig& config) {
  engine::ProposedPrompt p =
      NewPrompt(RuptureModule::kCheckRupture, v1::SEVERITY_WARNING, kPriority);
  v1::Prompt& prompt = p.prompt;
  SetSummary(prompt, Summary(a, series));
  prompt.set_detail(Detail(a, series, config));
  AddAction(prompt, "discuss_alliance",
            "Ask openly how the recent sessions have felt");
  AddAction(prompt, "acknowledge_part",
            "Acknowledge your share of any misunderstanding");
  AddAction(prompt, "record_marker",
            "Record whether you saw withdrawal or confrontation");
  prompt.set_reflective_question(
      a.state.after_challenging_session()
          ? "When you challenged the client, how might it have felt to them, "
            "and how can you show that your regard for them is unchanged?"
          : "Picturing the last session from the client's chair, what might "
            "have gone unheard?");
  *prompt.mutable_evidence() = a.state.evidence();
  AddReference(prompt, refs::kEubanksCarter2015);
  AddReference(prompt, refs::kSafran2011);
  if (HasSignal(a.state, v1::RUPTURE_SIGNAL_SD_DROP)) {
    AddReference(prompt, refs::kGumz2012);
  }
  if (HasSignal(a.state, v1::RUPTURE_SIGNAL_CLINICIAN_MARKER)) {
    AddReference(prompt, refs::kSafranMuranMarkers);
  }
  AddReference(prompt, refs::kFlueckiger2018);
  // Points dropped from the pre-drop level to the low point: a deeper drop
  // is stronger evidence. A marker without a drop is 0.
  if (a.has_baseline && a.has_low) {
    p.strength = std::max(0.0, series.Drop(a.state.pre_drop_level(), a.low));
  }
  return p;
}

}  // namespace

absl::Status RuptureModule::Evaluate(const engine::RuleInput& input,
                                     engine::RuleOutput& output) const {
  std::optional<AllianceSeries> storage;
  const AllianceSeries& series = AllianceSeries::For(input, storage);
  RuptureAnalysis a = AnalyseRuptures(input.history, series, input.config);
  const v1::RuptureStatus status = a.state.status();
  const bool open = status == v1::RUPTURE_STATUS_SUSPECTED ||
                    status == v1::RUPTURE_STATUS_REPAIRING;
  if (open) {
    output.assessment->mutable_alliance()->set_band(v1::ALLIANCE_BAND_RUPTURED);
  }
  // Prompt while the suspicion is fresh: fewer than prompt_for_sessions held
  // sessions since the last signal or the last rating.
  if (open && !input.history.closed()) {
    int anchor = a.last_signal_session;
    if (!series.empty()) anchor = std::max(anchor, series.latest().session);
    if (HeldSessionsAfter(input.history, anchor) <
        input.config.rupture().prompt_for_sessions()) {
      output.prompts.push_back(CheckRupture(a, series, input.config));
    }
  }
  // Last: the prompt above reads the state this hands over.
  output.assessment->mutable_rupture()->Swap(&a.state);
  return absl::OkStatus();
}

}  // namespace attune::builtin
