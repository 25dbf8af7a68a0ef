// Test support for the built-in modules: build an episode's events in a few
// lines, fold them with the default instruments and run the built-in
// modules in order, the way the engine does.
//
//   EpisodeBuilder b;
//   b.HeldSrs(1, 38).HeldSrs(2, 30);
//   Evaluation r = Evaluate(b.events(), DefaultRules());
//   EXPECT_NE(r.Find("attune.rupture/check_rupture"), nullptr);
#ifndef ATTUNE_TESTS_UNIT_PLUGINS_BUILTIN_EPISODE_BUILDER_H_
#define ATTUNE_TESTS_UNIT_PLUGINS_BUILTIN_EPISODE_BUILDER_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "attune/v1/assessment.pb.h"
#include "attune/v1/config.pb.h"
#include "attune/v1/event.pb.h"
#include "service/engine/episode_history.h"
#include "service/engine/rule_module.h"

namespace attune::builtin::test_support {

// The rules of service/config/defaults.textproto (loaded once).
const v1::RulesConfig& DefaultRules();

// Session n starts at 10:00 UTC on day 7 * (n - 1) after 2024-01-01 and
// lasts 50 minutes; an event about a session occurs at its end, so the
// events of one episode are time-ordered by session whatever order they
// are added in.
absl::Time SessionStart(int session);

class EpisodeBuilder {
 public:
  EpisodeBuilder& Scheduled(int session);
  EpisodeBuilder& Held(int session, bool challenging = false);
  EpisodeBuilder& Srs(int session, double total,
                      v1::Rater rater = v1::RATER_CLIENT);
  // A total-only measure on any configured instrument.
  EpisodeBuilder& Total(int session, v1::Instrument instrument, double total,
                        v1::Rater rater = v1::RATER_CLIENT);
  // A total-only measure on a host-declared instrument.
  EpisodeBuilder& Custom(int session, const v1::CustomInstrument& custom,
                         double total, v1::Rater rater = v1::RATER_CLIENT);
  // Held(session) then a client SRS for it.
  EpisodeBuilder& HeldSrs(int session, double total);
  EpisodeBuilder& Measure(int session, v1::Instrument instrument,
                          std::vector<double> items,
                          v1::Rater rater = v1::RATER_CLIENT);
  EpisodeBuilder& Goals(int session);
  EpisodeBuilder& Marker(int session, v1::RuptureType type,
                         bool addressed = false);
  EpisodeBuilder& Cancelled(int session, v1::CancelledBy by, bool late);
  EpisodeBuilder& NoShow(int session);
  EpisodeBuilder& EndingPlanned(int final_session);
  EpisodeBuilder& Closed(v1::EndingReason reason);

  // The next event occurs at `t` instead of its session's end (a measure
  // entered late, say).
  EpisodeBuilder& At(absl::Time t);

  const std::vector<v1::SessionEvent>& events() const { return events_; }

 private:
  v1::SessionEvent& Add(int session);

  std::vector<v1::SessionEvent> events_;
  int last_session_ = 0;
  bool has_time_override_ = false;
  absl::Time time_override_;
};

// Folds `events` with the instruments of `rules`.
engine::EpisodeHistory FoldEvents(const std::vector<v1::SessionEvent>& events,
                                  const v1::RulesConfig& rules);

// What the modules concluded.
struct Evaluation {
  v1::Assessment assessment;
  std::vector<engine::ProposedPrompt> prompts;

  // The proposal of this kind, or nullptr.
  const engine::ProposedPrompt* Find(std::string_view kind) const;
  std::vector<std::string> Kinds() const;
};

// Folds `events` with instruments from `rules`, then runs every enabled
// built-in module in registry order. The trigger is `trigger` when given,
// else the last event added. Every proposed prompt is checked for the
// house rules (summary under 140 characters, never CRITICAL, actions,
// references, evidence, priority, scope).
Evaluation Evaluate(const std::vector<v1::SessionEvent>& events,
                    const v1::RulesConfig& rules,
                    const v1::SessionEvent* trigger = nullptr,
                    const engine::ClinicianDay& day = {});

}  // namespace attune::builtin::test_support

#endif  // ATTUNE_TESTS_UNIT_PLUGINS_BUILTIN_EPISODE_BUILDER_H_
