#include "service/engine/episode_history.h"

#include <algorithm>
#include <cstddef>
#include <numeric>
#include <utility>

namespace attune::engine {
namespace {

// Room made for a session's measures at its first (ORS and SRS each
// session, a WAI-SR or SAI now and then).
constexpr std::size_t kMeasuresPerSession = 4;

// No event is being added (Fold): the prior is the whole history.
constexpr std::size_t kNone = static_cast<std::size_t>(-1);

}  // namespace

absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp ts;
  int64_t secs = absl::ToUnixSeconds(t);
  absl::Duration rem = t - absl::FromUnixSeconds(secs);
  if (rem < absl::ZeroDuration()) {
    --secs;
    rem += absl::Seconds(1);
  }
  ts.set_seconds(secs);
  ts.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(rem)));
  return ts;
}

int SessionOfEvent(const v1::SessionEvent& e) {
  switch (e.payload_case()) {
    case v1::SessionEvent::kSessionHeld:
      return e.session_held().session_number();
    case v1::SessionEvent::kSessionCancelled:
      return e.session_cancelled().session_number();
    case v1::SessionEvent::kNoShow:
      return e.no_show().session_number();
    case v1::SessionEvent::kMeasureRecorded:
      return e.measure_recorded().session_number();
    case v1::SessionEvent::kRuptureMarker:
      return e.rupture_marker().session_number();
    default:
      return 0;
  }
}

EpisodeHistory EpisodeHistory::Fold(std::vector<v1::SessionEvent> events,
                                    const InstrumentRegistry& instruments) {
  return FoldImpl(std::move(events), instruments, kNone);
}

EpisodeHistory EpisodeHistory::FoldWithNew(
    std::vector<v1::SessionEvent> events,
    const InstrumentRegistry& instruments) {
  const std::size_t added = events.empty() ? kNone : events.size() - 1;
  return FoldImpl(std::move(events), instruments, added);
}

std::vector<v1::SessionEvent> EpisodeHistory::ReleaseEvents() && {
  std::vector<v1::SessionEvent> events = std::move(events_);
  *this = EpisodeHistory();
  return events;
}

EpisodeHistory EpisodeHistory::FoldImpl(std::vector<v1::SessionEvent> events,
                                        const InstrumentRegistry& instruments,
                                        std::size_t added) {
  EpisodeHistory h;
  // Order by occurred_at then event_id, stably. Each time is converted once,
  // and events usually arrive in order already: then nothing moves.
  std::vector<absl::Time> times;
  times.reserve(events.size());
  for (const v1::SessionEvent& e : events) {
    times.push_back(ToTime(e.occurred_at()));
  }
  auto before = [&events, &times](std::size_t a, std::size_t b) {
    if (times[a] != times[b]) return times[a] < times[b];
    return events[a].event_id() < events[b].event_id();
  };
  bool in_order = true;
  for (std::size_t i = 1; i < events.size() && in_order; ++i) {
    in_order = !before(i, i - 1);
  }
  if (!in_order) {
    std::vector<std::size_t> order(events.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), before);
    std::vector<v1::SessionEvent> sorted;
    std::vector<absl::Time> sorted_times;
    sorted.reserve(events.size());
    sorted_times.reserve(events.size());
    std::size_t added_at = kNone;
    for (std::size_t i : order) {
      if (i == added) added_at = sorted.size();
      sorted.push_back(std::move(events[i]));
      sorted_times.push_back(times[i]);
    }
    added = added_at;
    events = std::move(sorted);
    times = std::move(sorted_times);
  }
  h.events_ = std::move(events);

  // Whether the event being folded is one of the prior ones (not `added`).
  bool in_prior = true;
  auto session = [&h, &in_prior](int n) -> SessionRecord& {
    h.latest_session_ = std::max(h.latest_session_, n);
    if (in_prior) {
      h.prior_.latest_session = std::max(h.prior_.latest_session, n);
    }
    Sessions& s = h.sessions_;
    // Events in time order mostly name the latest session.
    auto it = s.end();
    if (s.empty() || s.back().first < n) {
      it = s.end();
    } else if (s.back().first == n) {
      it = s.end() - 1;
    } else {
      it = std::lower_bound(s.begin(), s.end(), n,
                            [](const std::pair<int, SessionRecord>& r, int k) {
                              return r.first < k;
                            });
    }
    if (it == s.end() || it->first != n) {
      it = s.emplace(it, n, SessionRecord());
      it->second.number = n;
    }
    return it->second;
  };
  // The event whose episode reference is the episode's (copied once).
  const v1::SessionEvent* reference = nullptr;
  // The same without the added event (Prior).
  const v1::SessionEvent* prior_reference = nullptr;
  for (std::size_t i = 0; i < h.events_.size(); ++i) {
    const v1::SessionEvent& e = h.events_[i];
    in_prior = i != added;
    // Feedback events copy a prompt's reference, which may predate a
    // transfer: only clinical events say who the episode belongs to now.
    auto refers = [&e](const v1::SessionEvent* current) {
      return !e.has_prompt_feedback() || current == nullptr ||
             current->episode().episode_id().empty();
    };
    if (refers(reference)) reference = &e;
    if (in_prior && refers(prior_reference)) prior_reference = &e;
    const int payload = static_cast<int>(e.payload_case());
    if (payload < kFirstOfSlots && h.first_of_[payload] == nullptr) {
      h.first_of_[payload] = &e;
    }
    h.latest_time_ = std::max(h.latest_time_, times[i]);
    if (!e.has_prompt_feedback()) {
      h.latest_clinical_time_ = std::max(h.latest_clinical_time_, times[i]);
    }
    switch (e.payload_case()) {
      case v1::SessionEvent::kSessionScheduled:
        session(e.session_scheduled().session_number()).scheduled =
            &e.session_scheduled();
        break;
      case v1::SessionEvent::kSessionHeld: {
        SessionRecord& r = session(e.session_held().session_number());
        r.held = &e.session_held();
        // A session reported held after a cancel/no-show was rescheduled.
        r.cancelled = nullptr;
        r.no_show = false;
        break;
      }
      case v1::SessionEvent::kSessionCancelled: {
        SessionRecord& r = session(e.session_cancelled().session_number());
        if (!r.held) r.cancelled = &e.session_cancelled();
        break;
      }
      case v1::SessionEvent::kNoShow: {
        SessionRecord& r = session(e.no_show().session_number());
        if (!r.held) r.no_show = true;
        break;
      }
      case v1::SessionEvent::kMeasureRecorded: {
        ScoredMeasure scored;
        if (!instruments.ScoreInto(e.measure_recorded(), "measure", scored)
                 .ok()) {
          break;
        }
        scored.event_id = e.event_id();
        std::vector<ScoredMeasure>& measures =
            session(e.measure_recorded().session_number()).measures;
        // A held session usually has a few: grow once, not 1, 2, 4.
        if (measures.empty()) measures.reserve(kMeasuresPerSession);
        measures.push_back(std::move(scored));
        break;
      }
      case v1::SessionEvent::kGoalsAgreed:
        h.goals_ = e.goals_agreed();
        if (h.goals_first_session_ == 0 &&
            e.goals_agreed().session_number() > 0) {
          h.goals_first_session_ = e.goals_agreed().session_number();
        }
        if (e.goals_agreed().session_number() > 0) {
          session(e.goals_agreed().session_number());
        }
        break;
      case v1::SessionEvent::kRuptureMarker:
        session(e.rupture_marker().session_number())
            .markers.push_back(e.rupture_marker());
        break;
      case v1::SessionEvent::kEndingPlanned:
        h.ending_planned_ = e.ending_planned();
        break;
      case v1::SessionEvent::kEpisodeClosed:
        h.closed_ = e.episode_closed();
        if (in_prior) h.prior_.closed = true;
        break;
      case v1::SessionEvent::kPromptFeedback:
        h.feedback_.push_back(&e);
        break;
      case v1::SessionEvent::PAYLOAD_NOT_SET:
        break;
    }
  }
  if (reference != nullptr) h.episode_ = reference->episode();
  if (prior_reference != nullptr) {
    h.prior_.episode = &prior_reference->episode();
  }
  for (const auto& [n, r] : h.sessions_) {
    if (r.held) {
      ++h.sessions_held_;
      h.latest_held_session_ = n;
    }
  }
  return h;
}

const v1::SessionEvent* EpisodeHistory::FirstOf(
    v1::SessionEvent::PayloadCase payload) const {
  if (static_cast<int>(payload) < kFirstOfSlots) {
    return first_of_[static_cast<int>(payload)];
  }
  for (const v1::SessionEvent& e : events_) {
    if (e.payload_case() == payload) return &e;
  }
  return nullptr;
}

std::vector<const SessionRecord*> EpisodeHistory::HeldSessions() const {
  std::vector<const SessionRecord*> out;
  out.reserve(static_cast<std::size_t>(sessions_held_));
  for (const auto& [n, r] : sessions_) {
    if (r.held) out.push_back(&r);
  }
  return out;
}

const SessionRecord* EpisodeHistory::session(int number) const {
  auto it = std::lower_bound(sessions_.begin(), sessions_.end(), number,
                             [](const std::pair<int, SessionRecord>& r, int k) {
                               return r.first < k;
                             });
  return it == sessions_.end() || it->first != number ? nullptr : &it->second;
}

}  // namespace attune::engine
