#include "tests/integration/episode_script.h"

#include "absl/strings/str_cat.h"
#include "service/engine/episode_history.h"

namespace attune::testing {

using engine::ToProto;

EpisodeScript::EpisodeScript(std::string client_id, std::string clinician_id,
                             std::string episode_id, absl::Time first_session)
    : first_(absl::FromUnixSeconds(absl::ToUnixSeconds(first_session))) {
  ref_.set_client_id(std::move(client_id));
  ref_.set_clinician_id(std::move(clinician_id));
  ref_.set_episode_id(std::move(episode_id));
}

absl::Time EpisodeScript::SessionStart(int n) const {
  return first_ + absl::Hours(24 * 7) * (n - 1);
}

v1::SessionEvent EpisodeScript::Base(absl::Time at) {
  v1::SessionEvent e;
  e.set_event_id(absl::StrCat(ref_.episode_id(), "-ev-", ++counter_));
  *e.mutable_occurred_at() = ToProto(at);
  *e.mutable_episode() = ref_;
  return e;
}

v1::SessionEvent EpisodeScript::Held(int n, bool challenging) {
  v1::SessionEvent e = Base(SessionStart(n) + absl::Minutes(50));
  auto* h = e.mutable_session_held();
  h->set_session_number(n);
  *h->mutable_start() = ToProto(SessionStart(n));
  *h->mutable_end() = ToProto(SessionStart(n) + absl::Minutes(50));
  h->set_modality(v1::MODALITY_IN_PERSON);
  h->set_challenging_interventions(challenging);
  return e;
}

v1::SessionEvent EpisodeScript::Srs(int n, double total, v1::Rater rater) {
  v1::SessionEvent e = Base(SessionStart(n) + absl::Minutes(51));
  auto* m = e.mutable_measure_recorded();
  m->set_session_number(n);
  m->set_instrument(v1::INSTRUMENT_SRS);
  m->set_rater(rater);
  for (int i = 0; i < 4; ++i) m->add_items(total / 4);
  m->set_total(total);
  m->set_has_total(true);
  return e;
}

v1::SessionEvent EpisodeScript::Wai(int n, const std::vector<double>& items,
                                    v1::Rater rater) {
  v1::SessionEvent e = Base(SessionStart(n) + absl::Minutes(52));
  auto* m = e.mutable_measure_recorded();
  m->set_session_number(n);
  m->set_instrument(v1::INSTRUMENT_WAI_SR);
  m->set_rater(rater);
  for (double v : items) m->add_items(v);
  return e;
}

v1::SessionEvent EpisodeScript::Goals(int n) {
  v1::SessionEvent e = Base(SessionStart(n) + absl::Minutes(49));
  auto* g = e.mutable_goals_agreed();
  g->set_goal_count(2);
  g->set_tasks_agreed(true);
  g->set_session_number(n);
  return e;
}

v1::SessionEvent EpisodeScript::LateCancel(int n) {
  v1::SessionEvent e = Base(SessionStart(n) - absl::Hours(2));
  auto* c = e.mutable_session_cancelled();
  c->set_session_number(n);
  c->set_cancelled_by(v1::CANCELLED_BY_CLIENT);
  c->set_late(true);
  return e;
}

v1::SessionEvent EpisodeScript::NoShow(int n) {
  v1::SessionEvent e = Base(SessionStart(n) + absl::Minutes(20));
  e.mutable_no_show()->set_session_number(n);
  return e;
}

v1::SessionEvent EpisodeScript::Marker(int n, v1::RuptureType type) {
  v1::SessionEvent e = Base(SessionStart(n) + absl::Minutes(53));
  auto* m = e.mutable_rupture_marker();
  m->set_session_number(n);
  m->set_type(type);
  return e;
}

v1::SessionEvent EpisodeScript::Closed(int after_session,
                                       v1::EndingReason reason) {
  v1::SessionEvent e = Base(SessionStart(after_session) + absl::Hours(2));
  e.mutable_episode_closed()->set_reason(reason);
  return e;
}

std::vector<v1::SessionEvent> EpisodeScript::Session(int n, double srs,
                                                     bool challenging) {
  return {Held(n, challenging), Srs(n, srs)};
}

}  // namespace attune::testing
