// What the AllianceEngine tests share: two small rule modules whose prompts
// pin the engine's own guarantees apart from the clinical rules, and
// builders of a weekly course's events (clinician "clinician-1", client
// "client-<episode>").
#ifndef ATTUNE_TESTS_UNIT_SERVICE_ENGINE_ENGINE_TEST_EVENTS_H_
#define ATTUNE_TESTS_UNIT_SERVICE_ENGINE_ENGINE_TEST_EVENTS_H_

#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "attune/v1/event.pb.h"
#include "service/engine/episode_history.h"
#include "service/engine/rule_module.h"

namespace attune::engine::test_events {

// Session 0's day: twenty weeks ago, so that every session is in the past.
inline const absl::Time kStart = absl::Now() - absl::Hours(24 * 7 * 20);

// Proposes a warning while the latest client SRS is below 36.
class LowSrsModule : public RuleModule {
 public:
  std::string_view id() const override { return "test.low_srs"; }
  std::string_view version() const override { return "1.0.0"; }
  bool Enabled(const v1::RulesConfig&) const override { return true; }
  absl::Status Evaluate(const RuleInput& in, RuleOutput& out) const override {
    double latest = -1;
    for (const auto& [n, s] : in.history.sessions()) {
      for (const auto& m : s.measures) latest = m.total;
    }
    if (latest >= 0 && latest < 36) {
      ProposedPrompt p;
      p.prompt.set_kind("test.low_srs/low");
      p.prompt.set_severity(v1::SEVERITY_WARNING);
      p.prompt.set_summary("low");
      p.strength = 36 - latest;
      out.prompts.push_back(p);
    }
    return absl::OkStatus();
  }
};

// On every held session, a clinician-scoped prompt counting the clinician's
// sessions that day (across all episodes).
class ClinicianDayModule : public RuleModule {
 public:
  std::string_view id() const override { return "test.clinician"; }
  std::string_view version() const override { return "1.0.0"; }
  bool Enabled(const v1::RulesConfig&) const override { return true; }
  absl::Status Evaluate(const RuleInput& in, RuleOutput& out) const override {
    if (!in.trigger.has_session_held()) return absl::OkStatus();
    ProposedPrompt p;
    p.prompt.set_kind("test.clinician/day");
    p.prompt.set_severity(v1::SEVERITY_INFO);
    p.prompt.set_scope(v1::PROMPT_SCOPE_CLINICIAN);
    p.prompt.set_summary(
        absl::StrCat(in.clinician_day.sessions.size(), " sessions today"));
    out.prompts.push_back(p);
    return absl::OkStatus();
  }
};

// An event of `episode` at the end of week `session`'s session.
inline v1::SessionEvent Event(const std::string& episode, const std::string& id,
                              int session) {
  v1::SessionEvent e;
  e.set_event_id(id);
  *e.mutable_occurred_at() =
      ToProto(kStart + absl::Hours(24 * 7) * session + absl::Minutes(50));
  e.mutable_episode()->set_client_id("client-" + episode);
  e.mutable_episode()->set_clinician_id("clinician-1");
  e.mutable_episode()->set_episode_id(episode);
  return e;
}

// Session `session` held (50 minutes).
inline v1::SessionEvent Held(const std::string& episode, int session) {
  v1::SessionEvent e =
      Event(episode, absl::StrCat(episode, "-held-", session), session);
  auto* h = e.mutable_session_held();
  h->set_session_number(session);
  *h->mutable_start() = ToProto(kStart + absl::Hours(24 * 7) * session);
  *h->mutable_end() =
      ToProto(kStart + absl::Hours(24 * 7) * session + absl::Minutes(50));
  return e;
}

// The client's SRS total for session `session`.
inline v1::SessionEvent Srs(const std::string& episode, int session,
                            double total, const std::string& suffix = "") {
  v1::SessionEvent e =
      Event(episode, absl::StrCat(episode, "-srs-", session, suffix), session);
  auto* m = e.mutable_measure_recorded();
  m->set_session_number(session);
  m->set_instrument(v1::INSTRUMENT_SRS);
  m->set_rater(v1::RATER_CLIENT);
  m->set_total(total);
  m->set_has_total(true);
  return e;
}

}  // namespace attune::engine::test_events

#endif  // ATTUNE_TESTS_UNIT_SERVICE_ENGINE_ENGINE_TEST_EVENTS_H_
