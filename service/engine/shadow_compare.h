// CompareShadowPrompts: the pure half of RuleAdmin.CompareShadow. Groups a
// shadow module's would-be prompts and the live prompts by episode and sums
// them up (semantics in proto/attune/v1/rule_admin.proto: CompareShadowRequest,
// EpisodeComparison, ShadowSummary). AllianceEngine::CompareShadow gathers
// the prompts from the store and calls this.
//
// Pure: no I/O, no clock; the same prompts give the same response.
#ifndef ATTUNE_SERVICE_ENGINE_SHADOW_COMPARE_H_
#define ATTUNE_SERVICE_ENGINE_SHADOW_COMPARE_H_

#include <vector>

#include "attune/v1/prompt.pb.h"
#include "attune/v1/rule_admin.pb.h"

namespace attune::engine {

// `shadow`: the shadow module's prompts (prompt.shadow); `live`: the live
// prompts to compare them with, already narrowed to the live module when
// one was named; both any status, any order. Prompts are grouped by
// prompt.episode().episode_id().
//
// Episodes come sorted by episode_id and only the first `max_episodes`
// (>= 1) are listed; the summary covers every episode. Within an episode
// both lists are ordered by raised_at_session, then id. A shadow prompt is
// "agreeing" when some live prompt of the same episode was raised at the
// same session (raised_at_session).
v1::CompareShadowResponse CompareShadowPrompts(std::vector<v1::Prompt> shadow,
                                               std::vector<v1::Prompt> live,
                                               int max_episodes);

}  // namespace attune::engine

#endif  // ATTUNE_SERVICE_ENGINE_SHADOW_COMPARE_H_
