// EpisodeHistory: one episode's events folded into a per-session view.
//
// Events are the source of truth; this is derived from them and rebuilt
// whenever an event arrives, so a late measure for session 3 lands in session
// 3 whatever order the events came in. Fold() assumes every event was
// validated (see event_validator.h) and never fails on a valid event.
#ifndef ATTUNE_SERVICE_ENGINE_EPISODE_HISTORY_H_
#define ATTUNE_SERVICE_ENGINE_EPISODE_HISTORY_H_

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attune/v1/event.pb.h"
#include "service/engine/instrument_registry.h"

namespace attune::engine {

// Everything known about one session of the episode. The session's events
// are pointed at, not copied: the pointers are into the history's events()
// and live as long as the history.
struct SessionRecord {
  int number = 0;
  // The latest of each, or nullptr.
  const v1::SessionScheduled* scheduled = nullptr;
  const v1::SessionHeld* held = nullptr;
  // Cleared when the session is reported held after all.
  const v1::SessionCancelled* cancelled = nullptr;
  bool no_show = false;
  // Measures for this session, in event order.
  std::vector<ScoredMeasure> measures;
  std::vector<v1::RuptureMarker> markers;

  bool is_held() const { return held != nullptr; }
};

class EpisodeHistory {
 public:
  // (session number, record), ascending by number, numbers unique.
  using Sessions = std::vector<std::pair<int, SessionRecord>>;

  EpisodeHistory() = default;
  // Move-only: feedback() and the session records point into events().
  EpisodeHistory(EpisodeHistory&&) = default;
  EpisodeHistory& operator=(EpisodeHistory&&) = default;
  EpisodeHistory(const EpisodeHistory&) = delete;
  EpisodeHistory& operator=(const EpisodeHistory&) = delete;

  // The episode as it was without the event being added (FoldWithNew):
  // exactly what Fold() of the other events would report as episode(),
  // closed().has_value() and latest_session(). What the engine checks a new
  // event against, without folding the episode twice. The pointer is into
  // the history's events() and lives as long as the history.
  struct Prior {
    // episode() without the new event (empty when it is the only event).
    const v1::EpisodeRef* episode = &v1::EpisodeRef::default_instance();
    bool closed = false;
    int latest_session = 0;
  };

  // Folds `events` (any order; each already validated) into a history.
  // Measures are scored with `instruments`; an event that no longer scores
  // (configuration changed) is kept in events() but left out of sessions().
  // prior() then describes all of them.
  static EpisodeHistory Fold(std::vector<v1::SessionEvent> events,
                             const InstrumentRegistry& instruments);
  // The same, where events.back() is the event being added: prior()
  // describes the history without it. `events` must not be empty.
  static EpisodeHistory FoldWithNew(std::vector<v1::SessionEvent> events,
                                    const InstrumentRegistry& instruments);

  // Gives the events back (ordered as events()) and leaves the history
  // empty, so that a caller can add one and fold again without copying the
  // vector. Every pointer into the history is invalid afterwards.
  std::vector<v1::SessionEvent> ReleaseEvents() &&;

  // The episode reference of the latest event (clinician may change on
  // transfer).
  const v1::EpisodeRef& episode() const { return episode_; }
  // All events, ordered by occurred_at then event_id.
  const std::vector<v1::SessionEvent>& events() const { return events_; }
  // Sessions by number, ascending.
  const Sessions& sessions() const { return sessions_; }
  // Held sessions in session order.
  std::vector<const SessionRecord*> HeldSessions() const;
  // nullptr when the session is unknown.
  const SessionRecord* session(int number) const;

  // Highest session number seen in any event; 0 when none.
  int latest_session() const { return latest_session_; }
  int sessions_held() const { return sessions_held_; }
  // Number of the latest held session; 0 when none.
  int latest_held_session() const { return latest_held_session_; }

  // The latest goals agreement (by time), if any.
  const std::optional<v1::GoalsAgreed>& goals() const { return goals_; }
  // Session at which goals were first agreed (0 = unknown/not tied).
  int goals_first_session() const { return goals_first_session_; }
  const std::optional<v1::EndingPlanned>& ending_planned() const {
    return ending_planned_;
  }
  const std::optional<v1::EpisodeClosed>& closed() const { return closed_; }
  // The first event in events() with this payload, or nullptr.
  const v1::SessionEvent* FirstOf(v1::SessionEvent::PayloadCase payload) const;
  // Prompt feedback events, in time order.
  const std::vector<const v1::SessionEvent*>& feedback() const {
    return feedback_;
  }
  // occurred_at of the latest event (InfinitePast when empty).
  absl::Time latest_time() const { return latest_time_; }
  // occurred_at of the latest event other than prompt feedback: the
  // episode's clinical clock. Feedback given weeks later must not age the
  // episode's prompts.
  absl::Time latest_clinical_time() const { return latest_clinical_time_; }
  // See Prior.
  const Prior& prior() const { return prior_; }

 private:
  // `added`: index into `events` of the event being added, or npos.
  static EpisodeHistory FoldImpl(std::vector<v1::SessionEvent> events,
                                 const InstrumentRegistry& instruments,
                                 std::size_t added);

  v1::EpisodeRef episode_;
  std::vector<v1::SessionEvent> events_;
  Sessions sessions_;
  int latest_session_ = 0;
  int sessions_held_ = 0;
  int latest_held_session_ = 0;
  std::optional<v1::GoalsAgreed> goals_;
  int goals_first_session_ = 0;
  std::optional<v1::EndingPlanned> ending_planned_;
  std::optional<v1::EpisodeClosed> closed_;
  std::vector<const v1::SessionEvent*> feedback_;
  // FirstOf() by payload case (the oneof's field numbers are below this).
  static constexpr int kFirstOfSlots = 32;
  std::array<const v1::SessionEvent*, kFirstOfSlots> first_of_{};
  absl::Time latest_time_ = absl::InfinitePast();
  absl::Time latest_clinical_time_ = absl::InfinitePast();
  Prior prior_;
};

// Time helpers shared by the engine and the modules.
absl::Time ToTime(const google::protobuf::Timestamp& ts);
google::protobuf::Timestamp ToProto(absl::Time t);

// The session an event names (held, cancelled, no show, a rating, a rupture
// marker); 0 for events about no one session (scheduling, goals, endings,
// feedback).
int SessionOfEvent(const v1::SessionEvent& e);

}  // namespace attune::engine

#endif  // ATTUNE_SERVICE_ENGINE_EPISODE_HISTORY_H_
