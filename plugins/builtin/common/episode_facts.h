// Small facts about an episode that several modules need: where an event
// falls in the session sequence, when goals were agreed, how many sessions
// were held after a point.
#ifndef ATTUNE_PLUGINS_BUILTIN_COMMON_EPISODE_FACTS_H_
#define ATTUNE_PLUGINS_BUILTIN_COMMON_EPISODE_FACTS_H_

#include "absl/time/time.h"
#include "service/engine/episode_history.h"

namespace attune::builtin {

// The highest held session that started at or before `t`; 0 when none.
// Places events that are not tied to a session (an untied goals agreement,
// an ending) in the session sequence.
int SessionAtTime(const engine::EpisodeHistory& history, absl::Time t);

// Session at which goals were first agreed: the agreement's own
// session_number, or else the session held when it was recorded (0 = before
// the first session). -1 when goals were never agreed.
int GoalsAgreedSession(const engine::EpisodeHistory& history);

// Number of the latest held session; 0 when none.
int LatestHeldSession(const engine::EpisodeHistory& history);

// Held sessions with a number greater than `session`.
int HeldSessionsAfter(const engine::EpisodeHistory& history, int session);

// The session with challenging interventions that precedes `session`: that
// session itself if held with them, else the held session just before it if
// it had them. 0 when neither.
int ChallengingSessionBefore(const engine::EpisodeHistory& history,
                             int session);

}  // namespace attune::builtin

#endif  // ATTUNE_PLUGINS_BUILTIN_COMMON_EPISODE_FACTS_H_
