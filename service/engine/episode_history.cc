#include "service/engine/episode_history.h"

#include <algorithm>

namespace attune::engine {

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

EpisodeHistory EpisodeHistory::Fold(std::vector<v1::SessionEvent> events,
                                    const InstrumentRegistry& instruments) {
  EpisodeHistory h;
  std::stable_sort(events.begin(), events.end(),
                   [](const v1::SessionEvent& a, const v1::SessionEvent& b) {
                     absl::Time ta = ToTime(a.occurred_at());
                     absl::Time tb = ToTime(b.occurred_at());
                     if (ta != tb) return ta < tb;
                     return a.event_id() < b.event_id();
                   });
  h.events_ = std::move(events);
  auto session = [&h](int n) -> SessionRecord& {
    SessionRecord& r = h.sessions_[n];
    r.number = n;
    h.latest_session_ = std::max(h.latest_session_, n);
    return r;
  };
  for (const v1::SessionEvent& e : h.events_) {
    // Feedback events copy a prompt's reference, which may predate a
    // transfer: only clinical events say who the episode belongs to now.
    if (!e.has_prompt_feedback() || h.episode_.episode_id().empty()) {
      h.episode_ = e.episode();
    }
    h.latest_time_ = std::max(h.latest_time_, ToTime(e.occurred_at()));
    if (!e.has_prompt_feedback()) {
      h.latest_clinical_time_ =
          std::max(h.latest_clinical_time_, ToTime(e.occurred_at()));
    }
    switch (e.payload_case()) {
      case v1::SessionEvent::kSessionScheduled:
        session(e.session_scheduled().session_number()).scheduled =
            e.session_scheduled();
        break;
      case v1::SessionEvent::kSessionHeld: {
        SessionRecord& r = session(e.session_held().session_number());
        r.held = e.session_held();
        // A session reported held after a cancel/no-show was rescheduled.
        r.cancelled.reset();
        r.no_show = false;
        break;
      }
      case v1::SessionEvent::kSessionCancelled: {
        SessionRecord& r = session(e.session_cancelled().session_number());
        if (!r.held) r.cancelled = e.session_cancelled();
        break;
      }
      case v1::SessionEvent::kNoShow: {
        SessionRecord& r = session(e.no_show().session_number());
        if (!r.held) r.no_show = true;
        break;
      }
      case v1::SessionEvent::kMeasureRecorded: {
        auto scored = instruments.Score(e.measure_recorded(), "measure");
        if (!scored.ok()) break;
        scored->event_id = e.event_id();
        session(e.measure_recorded().session_number())
            .measures.push_back(*std::move(scored));
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
        break;
      case v1::SessionEvent::kPromptFeedback:
        h.feedback_.push_back(&e);
        break;
      case v1::SessionEvent::PAYLOAD_NOT_SET:
        break;
    }
  }
  for (const auto& [n, r] : h.sessions_) {
    if (r.held) ++h.sessions_held_;
  }
  return h;
}

std::vector<const SessionRecord*> EpisodeHistory::HeldSessions() const {
  std::vector<const SessionRecord*> out;
  for (const auto& [n, r] : sessions_) {
    if (r.held) out.push_back(&r);
  }
  return out;
}

const SessionRecord* EpisodeHistory::session(int number) const {
  auto it = sessions_.find(number);
  return it == sessions_.end() ? nullptr : &it->second;
}

}  // namespace attune::engine
