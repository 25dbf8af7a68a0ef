// PromptReconciler: applies the alert budget (CLINICAL.md) to what the rule
// modules propose, given the prompts already raised for the episode.
//
//  - one open prompt per (episode, kind): a repeat updates it;
//  - a dismissed prompt stays quiet for `dismiss_cooldown_sessions` unless
//    the new evidence is stronger; a snoozed one until its time is up;
//  - a prompt whose condition cleared resolves itself; one past its
//    `expires_at` expires;
//  - at most `max_visible_per_episode` ask for attention (ACTIVE) by
//    priority; the rest are QUEUED until a slot frees. Acknowledged prompts
//    stay visible without taking a slot: they no longer ask for anything.
//
// Pure: time and session come in as arguments, so replaying a log gives the
// same prompts.
#ifndef ATTUNE_SERVICE_ENGINE_PROMPT_RECONCILER_H_
#define ATTUNE_SERVICE_ENGINE_PROMPT_RECONCILER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "attune/v1/config.pb.h"
#include "attune/v1/event.pb.h"
#include "attune/v1/prompt.pb.h"
#include "service/engine/rule_pipeline.h"

namespace attune::engine {

struct ReconcileInput {
  std::string tenant;
  v1::EpisodeRef episode;
  // Every prompt raised for the episode so far, any status.
  std::vector<v1::Prompt> existing;
  // Episode-scoped proposals of this evaluation.
  std::vector<ModuleProposal> proposals;
  // Logical time (the episode's clinical clock) and the number of its latest
  // held session (cool-downs count held sessions, not bookings).
  absl::Time now;
  int session = 0;
  // The session a new prompt is reported as raised at: the latest session
  // the episode has reached, counting the triggering event's own session
  // (an SRS for session 6 may arrive before session 6 is reported held).
  // 0 means `session`.
  int raised_session = 0;
  v1::AlertBudgetConfig budget;
  // Modules that failed in this evaluation: their prompts are left as they
  // are rather than resolved for want of a proposal.
  std::vector<std::string> failed_modules;
  // Reconciling the would-be prompts of shadow modules (existing and
  // proposals are all shadow): new prompts are marked shadow and get ids
  // distinct from live ones.
  bool shadow = false;
};

struct ReconcileResult {
  // All prompts of the episode after reconciliation.
  std::vector<v1::Prompt> prompts;
  // The subset that was created or changed (to store and to notify).
  std::vector<v1::Prompt> changed;
};

// Takes `input` by value and consumes it: move it in (an lvalue costs a copy
// of every prompt, which is most of what a reconciliation costs). Existing
// prompts are updated in place, never copied whole; `changed` holds copies.
ReconcileResult Reconcile(ReconcileInput input);

// Applies a clinician's feedback to the prompt it names, in place.
// NOT_FOUND when no prompt of `prompts` has that id; FAILED_PRECONDITION when
// the prompt is already resolved or expired.
absl::Status ApplyFeedback(const v1::PromptFeedback& feedback, absl::Time at,
                           int session, std::vector<v1::Prompt>& prompts,
                           v1::Prompt* changed);

// Visible prompts (ACTIVE, ACKNOWLEDGED) of `prompts`, highest priority first.
std::vector<v1::Prompt> VisiblePrompts(const std::vector<v1::Prompt>& prompts);

// Deterministic id: the same log always yields the same ids.
std::string MakePromptId(const std::string& tenant,
                         const std::string& scope_key, const std::string& kind,
                         int ordinal);

// The scope key of a clinician-scoped prompt: one per clinician and UTC day.
std::string ClinicianPromptScope(const std::string& clinician_id,
                                 absl::CivilDay utc_day);

// True for RESOLVED and EXPIRED.
bool IsTerminal(v1::PromptStatus status);

// Sort order of the alert budget: severity, then priority, then age.
bool HigherPriority(const v1::Prompt& a, const v1::Prompt& b);

}  // namespace attune::engine

#endif  // ATTUNE_SERVICE_ENGINE_PROMPT_RECONCILER_H_
