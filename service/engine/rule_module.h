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
#include <utility>
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

// Values derived from the inputs of one evaluation that several modules
// need (the built-in modules' alliance series), made once by the first
// module that asks and shared by the others. RulePipeline::Run gives each
// run its own; a module called without one (tests, tools) makes its own
// values. A value must depend only on the RuleInput, never on what earlier
// modules wrote. Not thread-safe: one evaluation, one thread.
class EvaluationCache {
 public:
  EvaluationCache() = default;
  EvaluationCache(const EvaluationCache&) = delete;
  EvaluationCache& operator=(const EvaluationCache&) = delete;

  // The value of type T of this evaluation, made by `make()` (returning a
  // T) on first use. The reference lives as long as the cache.
  template <typename T, typename Make>
  const T& GetOrMake(Make&& make) {
    for (const Slot& slot : slots_) {
      if (slot.tag == &kTag<T>) {
        return static_cast<const Holder<T>&>(*slot.value).value;
      }
    }
    auto holder = std::make_unique<Holder<T>>(std::forward<Make>(make)());
    const T& value = holder->value;
    slots_.push_back(Slot{&kTag<T>, std::move(holder)});
    return value;
  }

 private:
  struct HolderBase {
    virtual ~HolderBase() = default;
  };
  template <typename T>
  struct Holder final : HolderBase {
    explicit Holder(T v) : value(std::move(v)) {}
    T value;
  };
  // One address per type: the key of its slot.
  template <typename T>
  static constexpr char kTag = 0;
  struct Slot {
    const void* tag;
    std::unique_ptr<HolderBase> value;
  };
  std::vector<Slot> slots_;
};

struct RuleInput {
  const EpisodeHistory& history;
  const v1::SessionEvent& trigger;
  const v1::RulesConfig& config;
  const ClinicianDay& clinician_day;
  // Shared derived values of this evaluation; nullptr outside a pipeline.
  EvaluationCache* cache = nullptr;
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
  // True when Evaluate never leaves a partial write behind: when it returns
  // an error, output.assessment is as it found it. The pipeline then lets
  // the module write into the assessment in place instead of into a copy
  // (a copy per module is most of the built-in pipeline's cost). Plugins
  // keep the default, false: their adapters cannot promise it.
  virtual bool WritesOnlyOnSuccess() const { return false; }

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
