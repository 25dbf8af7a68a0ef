// RulePipeline: runs the rule modules in order over one episode and collects
// the assessment and the prompts they propose.
//
// A module that fails is skipped and counted; the others still run, and the
// event is still stored. Which modules failed is reported so the server can
// expose module health.
#ifndef ATTUNE_SERVICE_ENGINE_RULE_PIPELINE_H_
#define ATTUNE_SERVICE_ENGINE_RULE_PIPELINE_H_

#include <atomic>
#include <memory>
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
};

struct PipelineResult {
  v1::Assessment assessment;
  std::vector<ModuleProposal> proposals;
  // Ids of modules that returned an error for this evaluation.
  std::vector<std::string> failed_modules;
};

// Per-module counters, safe to read while the pipeline runs.
struct ModuleHealth {
  std::string module_id;
  std::string module_version;
  bool enabled = false;
  int64_t evaluations = 0;
  int64_t errors = 0;
};

class RulePipeline {
 public:
  explicit RulePipeline(std::vector<std::unique_ptr<RuleModule>> modules);

  // Runs every enabled module in order. Never fails: module errors are
  // recorded in the result and the counters.
  PipelineResult Run(const RuleInput& input) const;

  std::vector<ModuleHealth> Health(const v1::RulesConfig& config) const;

  // The module with this id, or nullptr.
  const RuleModule* Find(std::string_view id) const;

 private:
  struct Entry {
    std::unique_ptr<RuleModule> module;
    mutable std::atomic<int64_t> evaluations{0};
    mutable std::atomic<int64_t> errors{0};
  };
  std::vector<std::unique_ptr<Entry>> entries_;
};

}  // namespace attune::engine

#endif  // ATTUNE_SERVICE_ENGINE_RULE_PIPELINE_H_
