#include "tests/unit/plugins/builtin/episode_builder.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "plugins/builtin/registry.h"
#include "service/engine/episode_history.h"
#include "service/engine/instrument_registry.h"

namespace attune::builtin::test_support {
namespace {

constexpr absl::Duration kSessionLength = absl::Minutes(50);

v1::RulesConfig LoadDefaults() {
  std::string path =
      absl::StrCat(ATTUNE_SOURCE_DIR, "/service/config/defaults.textproto");
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  v1::ServerConfig config;
  if (!google::protobuf::TextFormat::ParseFromString(text.str(), &config)) {
    ADD_FAILURE() << "cannot parse " << path;
  }
  return config.rules();
}

void ExpectWellFormed(const engine::ProposedPrompt& p) {
  const v1::Prompt& prompt = p.prompt;
  SCOPED_TRACE(prompt.kind());
  EXPECT_TRUE(absl::StartsWith(prompt.kind(), "attune."));
  EXPECT_FALSE(prompt.summary().empty());
  EXPECT_LT(prompt.summary().size(), 140u) << prompt.summary();
  EXPECT_NE(prompt.severity(), v1::SEVERITY_UNSPECIFIED);
  EXPECT_NE(prompt.severity(), v1::SEVERITY_CRITICAL);
  EXPECT_FALSE(prompt.detail().empty());
  EXPECT_FALSE(prompt.actions().empty());
  for (const auto& action : prompt.actions()) {
    EXPECT_FALSE(action.id().empty());
    EXPECT_FALSE(action.label().empty());
  }
  EXPECT_FALSE(prompt.references().empty());
  EXPECT_FALSE(prompt.evidence().empty());
  EXPECT_GT(prompt.priority(), 0);
  EXPECT_NE(prompt.scope(), v1::PROMPT_SCOPE_UNSPECIFIED);
  EXPECT_GE(p.strength, 0);
}

}  // namespace

const v1::RulesConfig& DefaultRules() {
  static const v1::RulesConfig* rules = new v1::RulesConfig(LoadDefaults());
  return *rules;
}

absl::Time SessionStart(int session) {
  return absl::FromCivil(absl::CivilMinute(2024, 1, 1, 10, 0),
                         absl::UTCTimeZone()) +
         absl::Hours(24 * 7 * (session - 1));
}

v1::SessionEvent& EpisodeBuilder::Add(int session) {
  v1::SessionEvent& e = events_.emplace_back();
  e.set_event_id(absl::StrCat("e", events_.size()));
  // Later events about the same session occur a second later each, so the
  // fold sees them in the order they were added.
  absl::Time at = has_time_override_ ? time_override_
                                     : SessionStart(session) + kSessionLength +
                                           absl::Seconds(events_.size());
  has_time_override_ = false;
  *e.mutable_occurred_at() = engine::ToProto(at);
  e.mutable_episode()->set_client_id("client-1");
  e.mutable_episode()->set_clinician_id("clinician-1");
  e.mutable_episode()->set_episode_id("episode-1");
  last_session_ = std::max(last_session_, session);
  return e;
}

EpisodeBuilder& EpisodeBuilder::At(absl::Time t) {
  has_time_override_ = true;
  time_override_ = t;
  return *this;
}

EpisodeBuilder& EpisodeBuilder::Scheduled(int session) {
  v1::SessionScheduled* s = Add(session).mutable_session_scheduled();
  s->set_session_number(session);
  *s->mutable_scheduled_start() = engine::ToProto(SessionStart(session));
  s->set_planned_minutes(50);
  return *this;
}

EpisodeBuilder& EpisodeBuilder::Held(int session, bool challenging) {
  v1::SessionHeld* h = Add(session).mutable_session_held();
  h->set_session_number(session);
  *h->mutable_start() = engine::ToProto(SessionStart(session));
  *h->mutable_end() = engine::ToProto(SessionStart(session) + kSessionLength);
  h->set_modality(v1::MODALITY_IN_PERSON);
  h->set_challenging_interventions(challenging);
  return *this;
}

EpisodeBuilder& EpisodeBuilder::Total(int session, v1::Instrument instrument,
                                      double total, v1::Rater rater) {
  v1::MeasureRecorded* m = Add(session).mutable_measure_recorded();
  m->set_session_number(session);
  m->set_instrument(instrument);
  m->set_rater(rater);
  m->set_total(total);
  m->set_has_total(true);
  return *this;
}

EpisodeBuilder& EpisodeBuilder::Custom(int session,
                                       const v1::CustomInstrument& custom,
                                       double total, v1::Rater rater) {
  Total(session, v1::INSTRUMENT_CUSTOM, total, rater);
  *events_.back().mutable_measure_recorded()->mutable_custom() = custom;
  return *this;
}

EpisodeBuilder& EpisodeBuilder::Srs(int session, double total,
                                    v1::Rater rater) {
  return Total(session, v1::INSTRUMENT_SRS, total, rater);
}

EpisodeBuilder& EpisodeBuilder::HeldSrs(int session, double total) {
  return Held(session).Srs(session, total);
}

EpisodeBuilder& EpisodeBuilder::Measure(int session, v1::Instrument instrument,
                                        std::vector<double> items,
                                        v1::Rater rater) {
  v1::MeasureRecorded* m = Add(session).mutable_measure_recorded();
  m->set_session_number(session);
  m->set_instrument(instrument);
  m->set_rater(rater);
  for (double item : items) m->add_items(item);
  return *this;
}

EpisodeBuilder& EpisodeBuilder::Goals(int session) {
  v1::GoalsAgreed* g = Add(session).mutable_goals_agreed();
  g->set_goal_count(2);
  g->set_tasks_agreed(true);
  g->set_session_number(session);
  return *this;
}

EpisodeBuilder& EpisodeBuilder::Marker(int session, v1::RuptureType type,
                                       bool addressed) {
  v1::RuptureMarker* m = Add(session).mutable_rupture_marker();
  m->set_session_number(session);
  m->set_type(type);
  m->set_addressed_in_session(addressed);
  return *this;
}

EpisodeBuilder& EpisodeBuilder::Cancelled(int session, v1::CancelledBy by,
                                          bool late) {
  v1::SessionCancelled* c = Add(session).mutable_session_cancelled();
  c->set_session_number(session);
  c->set_cancelled_by(by);
  c->set_late(late);
  return *this;
}

EpisodeBuilder& EpisodeBuilder::NoShow(int session) {
  Add(session).mutable_no_show()->set_session_number(session);
  return *this;
}

EpisodeBuilder& EpisodeBuilder::EndingPlanned(int final_session) {
  Add(last_session_)
      .mutable_ending_planned()
      ->set_final_session_number(final_session);
  return *this;
}

EpisodeBuilder& EpisodeBuilder::Closed(v1::EndingReason reason) {
  Add(last_session_).mutable_episode_closed()->set_reason(reason);
  return *this;
}

const engine::ProposedPrompt* Evaluation::Find(std::string_view kind) const {
  for (const engine::ProposedPrompt& p : prompts) {
    if (p.prompt.kind() == kind) return &p;
  }
  return nullptr;
}

std::vector<std::string> Evaluation::Kinds() const {
  std::vector<std::string> kinds;
  for (const engine::ProposedPrompt& p : prompts) {
    kinds.push_back(p.prompt.kind());
  }
  return kinds;
}

engine::EpisodeHistory FoldEvents(const std::vector<v1::SessionEvent>& events,
                                  const v1::RulesConfig& rules) {
  auto registry = engine::InstrumentRegistry::Create(rules);
  EXPECT_TRUE(registry.ok()) << registry.status();
  if (!registry.ok()) return engine::EpisodeHistory();
  return engine::EpisodeHistory::Fold(events, *registry);
}

Evaluation Evaluate(const std::vector<v1::SessionEvent>& events,
                    const v1::RulesConfig& rules,
                    const v1::SessionEvent* trigger,
                    const engine::ClinicianDay& day) {
  Evaluation result;
  engine::EpisodeHistory history = FoldEvents(events, rules);
  v1::SessionEvent none;
  const v1::SessionEvent& trig =
      trigger != nullptr ? *trigger : (events.empty() ? none : events.back());
  engine::RuleInput input{history, trig, rules, day};
  engine::RuleOutput output;
  output.assessment = &result.assessment;
  for (const auto& module : MakeBuiltinModules()) {
    if (!module->Enabled(rules)) continue;
    absl::Status status = module->Evaluate(input, output);
    EXPECT_TRUE(status.ok()) << module->id() << ": " << status;
  }
  result.prompts = std::move(output.prompts);
  for (const engine::ProposedPrompt& p : result.prompts) ExpectWellFormed(p);
  return result;
}

}  // namespace attune::builtin::test_support
