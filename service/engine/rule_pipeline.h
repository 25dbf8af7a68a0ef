// RulePipeline: runs the rule modules in order over one episode and collects
// the assessment and the prompts they propose.
//
// A module that fails is skipped and counted; the others still run, and the
// event is still stored. Which modules failed is reported so the engine can
// apply module policies and keep the failed modules' prompts.
//
// Each module's switches come from the rules in force for the tenant
// (RulesConfig.modules): a module can be turned off, or run in shadow mode,
// where its proposals are marked shadow and its writes to the assessment are
// discarded (what the clinician sees is as if it were not loaded).
#ifndef ATTUNE_SERVICE_ENGINE_RULE_PIPELINE_H_
#define ATTUNE_SERVICE_ENGINE_RULE_PIPELINE_H_

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "attune/v1/assessment.pb.h"
#include "service/engine/rule_module.h"

namespace attune::engine {

// A proposal with the module that made it.
struct ModuleProposal {
  ProposedPrompt proposal;
  std::string module_id;
  std::string module_version;
  // Raised by a module in shadow mode: recorded, never shown.
  bool shadow = false;
};

struct PipelineResult {
  v1::Assessment assessment;
  std::vector<ModuleProposal> proposals;
  // Ids of modules that failed (or were unavailable) for this evaluation.
  std::vector<std::string> failed_modules;
  // Ids of the modules that ran in shadow mode (failed or not).
  std::set<std::string> shadow_modules;
};

// Counters of one module id, kept across reloads (a new module set takes
// over the counters of the ids it shares with the old one). Safe to read
// while the pipeline runs.
struct ModuleStats {
  std::atomic<int64_t> evaluations{0};
  std::atomic<int64_t> errors{0};
  std::atomic<int64_t> timeouts{0};
  std::atomic<int64_t> skipped{0};
  std::atomic<int64_t> consecutive_failures{0};
  std::atomic<int32_t> last_error_code{0};
};

// A snapshot of one module for reports.
struct ModuleHealth {
  std::string module_id;
  std::string module_version;
  ModuleSource source = ModuleSource::kBuiltin;
  std::string location;
  bool enabled = false;
  bool shadow = false;
  bool available = true;
  int64_t evaluations = 0;
  int64_t errors = 0;
  int64_t timeouts = 0;
  int64_t skipped = 0;
  int64_t consecutive_failures = 0;
  int32_t last_error_code = 0;
};

class RulePipeline {
 public:
  // `previous`, when given, lends its counters to modules with the same id.
  explicit RulePipeline(std::vector<std::unique_ptr<RuleModule>> modules,
                        const RulePipeline* previous = nullptr);

  // Runs every enabled module in order. Never fails: module errors are
  // recorded in the result and the counters.
  PipelineResult Run(const RuleInput& input) const;

  // Every module, in run order, with its switches under `rules`.
  std::vector<ModuleHealth> Health(const v1::RulesConfig& rules) const;

  // The module with this id, or nullptr.
  const RuleModule* Find(std::string_view id) const;

  // Whether the module runs under `rules` (its switches, else its own
  // Enabled()).
  static bool IsEnabled(const RuleModule& module, const v1::RulesConfig& rules);

 private:
  struct Entry {
    std::unique_ptr<RuleModule> module;
    std::shared_ptr<ModuleStats> stats;
    // module->WritesOnlyOnSuccess(), asked once.
    bool in_place = false;
  };
  std::vector<Entry> entries_;
};

}  // namespace attune::engine

#endif  // ATTUNE_SERVICE_ENGINE_RULE_PIPELINE_H_
