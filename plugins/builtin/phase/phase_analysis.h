// The therapy phase of an episode (CLINICAL.md, "Phase 1/Phase 2"):
// COMING_TOGETHER until the alliance is established or challenging work
// begins, then CHALLENGE; ENDING once a planned ending is announced; CLOSED.
#ifndef ATTUNE_PLUGINS_BUILTIN_PHASE_PHASE_ANALYSIS_H_
#define ATTUNE_PLUGINS_BUILTIN_PHASE_PHASE_ANALYSIS_H_

#include "attune/v1/assessment.pb.h"
#include "attune/v1/config.pb.h"
#include "plugins/builtin/common/alliance_series.h"
#include "service/engine/episode_history.h"

namespace attune::builtin {

struct PhaseAnalysis {
  // phase, alliance_established, goals_agreed, since_session, evidence.
  v1::PhaseState state;
  // GoalsAgreedSession(): -1 = never agreed.
  int goals_session = -1;
  // The "established" window as it stands now: ratings in it and how many
  // met the cut-off.
  int window_ratings = 0;
  int window_at_cutoff = 0;
  // Whether the alliance can be judged against a cut-off at all: there is a
  // client rating on an instrument with a cut-off.
  bool judgeable = false;
  // How CHALLENGE was entered: 0, or the session with challenging
  // interventions that began it.
  int challenge_by_interventions = 0;
  int latest_held = 0;
};

PhaseAnalysis AnalysePhase(const engine::EpisodeHistory& history,
                           const AllianceSeries& series,
                           const v1::PhaseConfig& config);

}  // namespace attune::builtin

#endif  // ATTUNE_PLUGINS_BUILTIN_PHASE_PHASE_ANALYSIS_H_
