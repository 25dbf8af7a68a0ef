// Rupture and repair in the client-rated alliance series (CLINICAL.md,
// modules 2 and 3).
//
// The series is walked in session order together with clinician-coded
// rupture markers. A signal opens a rupture (SUSPECTED) and records the level
// before the drop; later ratings move it to REPAIRING (rising, not yet back)
// or REPAIRED (back to low + return_fraction x (pre-drop - low)). A new
// signal after a repair opens a new rupture. The walk depends only on the
// sessions' contents, so events arriving out of order give the same result.
#ifndef ATTUNE_PLUGINS_BUILTIN_RUPTURE_RUPTURE_ANALYSIS_H_
#define ATTUNE_PLUGINS_BUILTIN_RUPTURE_RUPTURE_ANALYSIS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "attune/v1/assessment.pb.h"
#include "attune/v1/config.pb.h"
#include "plugins/builtin/common/alliance_series.h"
#include "service/engine/episode_history.h"

namespace attune::builtin {

// One signal that fired at one session. Its evidence is in the state (see
// RuptureAnalysis); its phrase for prompt text is made on demand
// (HitPhrase), since most evaluations never show it.
struct RuptureHit {
  v1::RuptureSignal signal = v1::RUPTURE_SIGNAL_UNSPECIFIED;
  int session = 0;
  // What raised it: a rating (its index in the series) or, for
  // RUPTURE_SIGNAL_CLINICIAN_MARKER, the marker (points into the history).
  std::size_t point = 0;
  const v1::RuptureMarker* marker = nullptr;
};

struct RuptureAnalysis {
  // The current or latest rupture (status NONE when there was none). Its
  // evidence: one entry per hit, in order, then the repair's.
  v1::RuptureState state;
  // The signals of that rupture, in session order. Valid while the history
  // and series analysed are.
  std::vector<RuptureHit> hits;
  // Whether state.pre_drop_level is known (a marker before any rating, on
  // an instrument without a cut-off, has no level to return to yet).
  bool has_baseline = false;
  // The worst total since detection, and the session it was rated in
  // (0 when it is the baseline itself, not a rating).
  bool has_low = false;
  double low = 0;
  int low_session = 0;
  // The repair threshold: low + return_fraction x (pre-drop - low).
  double repair_target = 0;
  // Session of the last signal of the rupture.
  int last_signal_session = 0;
  // The held session with challenging interventions that preceded the
  // detection (0 = none).
  int challenging_session = 0;
};

RuptureAnalysis AnalyseRuptures(const engine::EpisodeHistory& history,
                                const AllianceSeries& series,
                                const v1::RulesConfig& config);

// A phrase for prompt text about a hit of AnalyseRuptures(history, series,
// config), e.g. "fell below the cut-off of 36 (38 in session 3, 33 in
// session 4)".
std::string HitPhrase(const RuptureHit& hit, const AllianceSeries& series,
                      const v1::RulesConfig& config);

// The fraction of the way back to the pre-drop level that counts as repair:
// config.repair().return_fraction(), 1.0 (fully back) when unset.
double ReturnFraction(const v1::RulesConfig& config);

// "withdrawal", "confrontation" or "rupture".
const char* MarkerTypeName(v1::RuptureType type);

}  // namespace attune::builtin

#endif  // ATTUNE_PLUGINS_BUILTIN_RUPTURE_RUPTURE_ANALYSIS_H_
