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
  // events() is in time order, so the first agreement found is the first.
  for (const v1::SessionEvent& e : history.events()) {
    if (!e.has_goals_agreed()) continue;
    if (e.goals_agreed().session_number() > 0) {
      return e.goals_agreed().session_number();
    }
    return SessionAtTime(history, engine::ToTime(e.occurred_at()));
  }
  return -1;
}

int LatestHeldSession(const engine::EpisodeHistory& history) {
  int latest = 0;
  for (const auto& [number, record] : history.sessions()) {
    if (record.is_held()) latest = number;
  }
  return latest;
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
