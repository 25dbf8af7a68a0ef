// RuleModule: the one interface through which the engine runs every rule,
// built-in or (later) loaded from a plugin.
//
// A module is a pure function of (episode history, triggering event, rules
// configuration, what earlier modules concluded): no I/O, no clock, no
// randomness. The same inputs give the same outputs, which is what makes
// replay and backtests possible.
//
// Modules run in a fixed order (see plugins/builtin/registry.h). Each may
// fill its own section of the Assessment (alliance, phase, rupture) and
// read the sections filled before it; each may propose prompts. The engine
// reconciles proposals with the prompts already on screen (alert budget).
#ifndef ATTUNE_SERVICE_ENGINE_RULE_MODULE_H_
#define ATTUNE_SERVICE_ENGINE_RULE_MODULE_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "attune/v1/assessment.pb.h"
#include "attune/v1/config.pb.h"
#include "attune/v1/event.pb.h"
#include "attune/v1/prompt.pb.h"
#include "service/engine/episode_history.h"

namespace attune::engine {

// One held session of the clinician, from any of their episodes.
struct ClinicianSession {
  absl::Time start;
  absl::Time end;
};

// The clinician's held sessions on the UTC day of the triggering event's
// session, across all their episodes (including this one), sorted by start.
struct ClinicianDay {
  std::vector<ClinicianSession> sessions;
};

struct RuleInput {
  const EpisodeHistory& history;
  const v1::SessionEvent& trigger;
  const v1::RulesConfig& config;
  const ClinicianDay& clinician_day;
};

// A prompt a module wants on screen now. The module fills kind (its own
// "<module id>/<name>"), severity, summary, detail, actions, reflective
// question, evidence, references and scope; the engine fills id, status,
// module id/version, episode, times and session numbers.
struct ProposedPrompt {
  v1::Prompt prompt;
  // How strong the evidence is, in the module's own unit (e.g. points
  // dropped). A dismissed prompt comes back before its cool-down ends only
  // when a proposal is stronger than the one dismissed.
  double strength = 0;
};

struct RuleOutput {
  // The assessment so far; a module writes only its own section.
  v1::Assessment* assessment = nullptr;
  std::vector<ProposedPrompt> prompts;
};

// Where a module comes from (RuleAdmin.ListModules reports it).
enum class ModuleSource { kBuiltin, kNative, kRemote };

class RuleModule {
 public:
  virtual ~RuleModule() = default;
  // Dotted, vendor first: "attune.rupture".
  virtual std::string_view id() const = 0;
  // Semantic version of the module's logic: "1.0.0".
  virtual std::string_view version() const = 0;
  // Whether the module runs under this configuration.
  virtual bool Enabled(const v1::RulesConfig& config) const = 0;
  // Evaluates the rule. An error means the module could not run (it is
  // skipped and counted); it never means "no prompt".
  virtual absl::Status Evaluate(const RuleInput& input,
                                RuleOutput& output) const = 0;

  virtual ModuleSource source() const { return ModuleSource::kBuiltin; }
  // The plugin's path or the remote module's address; empty for built-ins.
  virtual std::string location() const { return {}; }
  // False while the module should not be called (a remote module's circuit
  // breaker is open). The pipeline then skips it as failed without calling
  // Evaluate, and counts it as skipped rather than as an error.
  virtual bool Available() const { return true; }
};

}  // namespace attune::engine

#endif  // ATTUNE_SERVICE_ENGINE_RULE_MODULE_H_
