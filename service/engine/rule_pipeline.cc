#include "service/engine/rule_pipeline.h"

#include "service/common/log.h"

namespace attune::engine {

RulePipeline::RulePipeline(std::vector<std::unique_ptr<RuleModule>> modules) {
  for (auto& m : modules) {
    auto entry = std::make_unique<Entry>();
    entry->module = std::move(m);
    entries_.push_back(std::move(entry));
  }
}

PipelineResult RulePipeline::Run(const RuleInput& input) const {
  PipelineResult result;
  for (const auto& entry : entries_) {
    const RuleModule& module = *entry->module;
    if (!module.Enabled(input.config)) continue;
    RuleOutput out;
    // Each module writes into a copy, so a failing module leaves no partial
    // section behind.
    v1::Assessment scratch = result.assessment;
    out.assessment = &scratch;
    entry->evaluations.fetch_add(1, std::memory_order_relaxed);
    absl::Status status = module.Evaluate(input, out);
    if (!status.ok()) {
      entry->errors.fetch_add(1, std::memory_order_relaxed);
      result.failed_modules.emplace_back(module.id());
      // The status text comes from our own modules and names no client data.
      ATTUNE_LOG(WARNING) << "rule module failed; skipped"
                          << LogField("module", module.id())
                          << LogField("code", static_cast<int>(status.code()));
      continue;
    }
    result.assessment = std::move(scratch);
    for (ProposedPrompt& p : out.prompts) {
      result.proposals.push_back(ModuleProposal{std::move(p),
                                                std::string(module.id()),
                                                std::string(module.version())});
    }
  }
  return result;
}

std::vector<ModuleHealth> RulePipeline::Health(
    const v1::RulesConfig& config) const {
  std::vector<ModuleHealth> out;
  for (const auto& entry : entries_) {
    out.push_back(ModuleHealth{
        std::string(entry->module->id()), std::string(entry->module->version()),
        entry->module->Enabled(config), entry->evaluations.load(),
        entry->errors.load()});
  }
  return out;
}

const RuleModule* RulePipeline::Find(std::string_view id) const {
  for (const auto& entry : entries_) {
    if (entry->module->id() == id) return entry->module.get();
  }
  return nullptr;
}

}  // namespace attune::engine
