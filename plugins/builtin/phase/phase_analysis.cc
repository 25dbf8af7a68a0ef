#include "plugins/builtin/phase/phase_analysis.h"

#include <algorithm>
#include <climits>
#include <string>

#include "absl/strings/str_cat.h"
#include "plugins/builtin/common/episode_facts.h"
#include "plugins/builtin/common/prompt_parts.h"

namespace attune::builtin {
namespace {

struct WindowCount {
  int ratings = 0;
  int at_cutoff = 0;
};

// The last `window` ratings up to and including `session`.
WindowCount CountWindow(const AllianceSeries& series, int window, int session) {
  WindowCount count;
  const auto& points = series.points();
  for (auto it = points.rbegin(); it != points.rend(); ++it) {
    if (it->session > session) continue;
    if (count.ratings == window) break;
    ++count.ratings;
    if (series.MeetsCutoff(it->total)) ++count.at_cutoff;
  }
  return count;
}

// Session of the first event with `payload`, placed by its time.
int SessionOfFirst(const engine::EpisodeHistory& history,
                   v1::SessionEvent::PayloadCase payload) {
  const v1::SessionEvent* e = history.FirstOf(payload);
  return e == nullptr
             ? 0
             : SessionAtTime(history, engine::ToTime(e->occurred_at()));
}

}  // namespace

PhaseAnalysis AnalysePhase(const engine::EpisodeHistory& history,
                           const AllianceSeries& series,
                           const v1::PhaseConfig& config) {
  PhaseAnalysis a;
  a.goals_session = GoalsAgreedSession(history);
  a.latest_held = LatestHeldSession(history);
  a.judgeable = !series.empty() && series.has_cutoff();
  const bool goals = a.goals_session >= 0;
  const int window = std::max(1, config.established_window());
  const int needed = std::max(1, config.established_min_at_cutoff());

  // Established at a session: the cut-off met in `needed` of the last
  // `window` ratings up to it, and goals agreed by then (CLINICAL.md,
  // module 1).
  auto established_at = [&](int session) {
    if (!a.judgeable || !goals || a.goals_session > session) return false;
    return CountWindow(series, window, session).at_cutoff >= needed;
  };

  v1::PhaseState& state = a.state;
  state.set_goals_agreed(goals);
  state.set_alliance_established(established_at(INT_MAX));
  WindowCount now = CountWindow(series, window, INT_MAX);
  a.window_ratings = now.ratings;
  a.window_at_cutoff = now.at_cutoff;

  // The challenges begin once the alliance holds, or when the clinician
  // reports challenging work after goals were agreed (the same session
  // counts: hosts tie the agreement to the session it was made in).
  state.set_phase(v1::PHASE_COMING_TOGETHER);
  for (const auto& [number, record] : history.sessions()) {
    bool challenging = record.is_held() &&
                       record.held->challenging_interventions() && goals &&
                       a.goals_session <= number;
    if (established_at(number) || challenging) {
      state.set_phase(v1::PHASE_CHALLENGE);
      state.set_since_session(number);
      if (!established_at(number)) a.challenge_by_interventions = number;
      break;
    }
  }

  // A closed episode is CLOSED whatever the reason (assessment.proto); an
  // announced planned ending before that is the ENDING phase.
  if (history.closed()) {
    state.set_phase(v1::PHASE_CLOSED);
    state.set_since_session(
        SessionOfFirst(history, v1::SessionEvent::kEpisodeClosed));
  } else if (history.ending_planned()) {
    state.set_phase(v1::PHASE_ENDING);
    state.set_since_session(
        SessionOfFirst(history, v1::SessionEvent::kEndingPlanned));
  }

  if (a.judgeable) {
    *state.add_evidence() = ThresholdEvidence(
        "ratings_at_cutoff_in_window", a.window_at_cutoff, ">=", needed, 0,
        absl::StrCat("of the last ", a.window_ratings, " rated sessions (",
                     series.label(), " cut-off ", Num(series.cutoff()), ")"));
  } else {
    *state.add_evidence() = ValueEvidence(
        "ratings_at_cutoff_in_window", 0, 0,
        series.empty()
            ? "no client-rated alliance measure yet"
            : absl::StrCat("no cut-off configured for ", series.label()));
  }
  if (goals) {
    *state.add_evidence() =
        ValueEvidence("goals_agreed_session", a.goals_session, a.goals_session,
                      "session in which goals were first agreed");
  }
  if (a.challenge_by_interventions > 0) {
    *state.add_evidence() = ValueEvidence(
        "challenging_interventions_session", a.challenge_by_interventions,
        a.challenge_by_interventions,
        "challenging interventions began after goals were agreed");
  }
  return a;
}

}  // namespace attune::builtin
