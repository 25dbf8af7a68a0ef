#include "service/server/module_reports.h"

#include <string>
#include <vector>

namespace attune::server {
namespace {

v1::ModuleSource ToProto(engine::ModuleSource source) {
  switch (source) {
    case engine::ModuleSource::kBuiltin:
      return v1::MODULE_SOURCE_BUILTIN;
    case engine::ModuleSource::kNative:
      return v1::MODULE_SOURCE_NATIVE;
    case engine::ModuleSource::kRemote:
      return v1::MODULE_SOURCE_REMOTE;
  }
  return v1::MODULE_SOURCE_UNSPECIFIED;
}

}  // namespace

v1::ModuleState ModuleStateOf(const engine::ModuleHealth& health) {
  // A module turned off is not failing, whatever its last run did.
  if (!health.enabled) return v1::MODULE_STATE_HEALTHY;
  if (!health.available) return v1::MODULE_STATE_CIRCUIT_OPEN;
  if (health.consecutive_failures > 0) return v1::MODULE_STATE_FAILING;
  return v1::MODULE_STATE_HEALTHY;
}

bool ModuleServing(v1::ModuleState state) {
  return state != v1::MODULE_STATE_CIRCUIT_OPEN &&
         state != v1::MODULE_STATE_FAILING;
}

std::string ModuleHealthServiceName(std::string_view module_id) {
  return "attune.module." + std::string(module_id);
}

absl::StatusOr<std::map<std::string, v1::FeedbackTally>> FeedbackTallies(
    store::Store& store, const std::string& tenant) {
  absl::StatusOr<std::vector<store::FeedbackCount>> counts =
      store.CountFeedback(tenant);
  if (!counts.ok()) return counts.status();
  std::map<std::string, v1::FeedbackTally> tallies;
  for (const store::FeedbackCount& c : *counts) {
    v1::FeedbackTally& t = tallies[c.module_id];
    switch (c.outcome) {
      case v1::PromptFeedback::OUTCOME_ACCEPTED:
        t.set_accepted(t.accepted() + c.count);
        break;
      case v1::PromptFeedback::OUTCOME_DISMISSED:
        t.set_dismissed(t.dismissed() + c.count);
        break;
      case v1::PromptFeedback::OUTCOME_SNOOZED:
        t.set_snoozed(t.snoozed() + c.count);
        break;
      default:
        break;
    }
  }
  return tallies;
}

void AddModuleReports(
    const engine::RuleSet& set, const std::string& tenant,
    const std::map<std::string, v1::FeedbackTally>& tallies,
    google::protobuf::RepeatedPtrField<v1::ModuleReport>* out) {
  for (const engine::ModuleHealth& h :
       set.pipeline().Health(set.RulesFor(tenant))) {
    v1::ModuleReport* m = out->Add();
    m->set_id(h.module_id);
    m->set_version(h.module_version);
    m->set_enabled(h.enabled);
    m->set_evaluations(h.evaluations);
    m->set_errors(h.errors);
    if (auto it = tallies.find(h.module_id); it != tallies.end()) {
      *m->mutable_feedback() = it->second;
    } else {
      m->mutable_feedback();  // all zero, present for JSON readers
    }
    m->set_source(ToProto(h.source));
    m->set_location(h.location);
    m->set_shadow(h.shadow);
    m->set_state(ModuleStateOf(h));
    m->set_timeouts(h.timeouts);
    m->set_skipped(h.skipped);
    m->set_consecutive_failures(h.consecutive_failures);
    m->set_last_error_code(h.last_error_code);
  }
}

}  // namespace attune::server
