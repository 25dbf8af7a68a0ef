#include "plugins/builtin/common/episode_facts.h"

namespace attune::builtin {

int SessionAtTime(const engine::EpisodeHistory& history, absl::Time t) {
  int best = 0;
  for (const auto& [number, record] : history.sessions()) {
    if (record.is_held() && engine::ToTime(record.held->start()) <= t) {
      best = number;
    }
  }
  return best;
}

int GoalsAgreedSession(const engine::EpisodeHistory& history) {
  // events() is in time order, so this is the first agreement.
  const v1::SessionEvent* e = history.FirstOf(v1::SessionEvent::kGoalsAgreed);
  if (e == nullptr) return -1;
  if (e->goals_agreed().session_number() > 0) {
    return e->goals_agreed().session_number();
  }
  return SessionAtTime(history, engine::ToTime(e->occurred_at()));
}

int LatestHeldSession(const engine::EpisodeHistory& history) {
  return history.latest_held_session();
}

int HeldSessionsAfter(const engine::EpisodeHistory& history, int session) {
  int count = 0;
  for (const auto& [number, record] : history.sessions()) {
    if (number > session && record.is_held()) ++count;
  }
  return count;
}

int ChallengingSessionBefore(const engine::EpisodeHistory& history,
                             int session) {
  const engine::SessionRecord* same = history.session(session);
  if (same != nullptr && same->is_held() &&
      same->held->challenging_interventions()) {
    return session;
  }
  const engine::SessionRecord* previous = nullptr;
  for (const auto& [number, record] : history.sessions()) {
    if (number >= session) break;
    if (record.is_held()) previous = &record;
  }
  if (previous != nullptr && previous->held->challenging_interventions()) {
    return previous->number;
  }
  return 0;
}

}  // namespace attune::builtin
