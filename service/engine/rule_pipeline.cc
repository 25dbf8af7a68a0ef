#include "service/engine/rule_pipeline.h"

#include <optional>

#include "service/common/log.h"
#include "service/engine/tenant_rules.h"

namespace attune::engine {

RulePipeline::RulePipeline(std::vector<std::unique_ptr<RuleModule>> modules,
                           const RulePipeline* previous) {
  for (auto& m : modules) {
    Entry entry;
    entry.module = std::move(m);
    if (previous != nullptr) {
      for (const Entry& old : previous->entries_) {
        if (old.module->id() == entry.module->id()) entry.stats = old.stats;
      }
    }
    if (entry.stats == nullptr) entry.stats = std::make_shared<ModuleStats>();
    entry.in_place = entry.module->WritesOnlyOnSuccess();
    entries_.push_back(std::move(entry));
  }
}

bool RulePipeline::IsEnabled(const RuleModule& module,
                             const v1::RulesConfig& rules) {
  ModuleSwitches switches = SwitchesFor(rules, module.id());
  return switches.enabled.has_value() ? *switches.enabled
                                      : module.Enabled(rules);
}

PipelineResult RulePipeline::Run(const RuleInput& input) const {
  PipelineResult result;
  // One cache per run, unless the caller brought its own.
  EvaluationCache cache;
  const RuleInput shared{input.history, input.trigger, input.config,
                         input.clinician_day,
                         input.cache != nullptr ? input.cache : &cache};
  for (const Entry& entry : entries_) {
    const RuleModule& module = *entry.module;
    ModuleStats& stats = *entry.stats;
    // IsEnabled(), with the switches looked up once.
    const ModuleSwitches switches = SwitchesFor(input.config, module.id());
    if (!(switches.enabled.has_value() ? *switches.enabled
                                       : module.Enabled(input.config))) {
      continue;
    }
    const bool shadow = switches.shadow;
    if (shadow) result.shadow_modules.emplace(module.id());
    if (!module.Available()) {
      stats.skipped.fetch_add(1, std::memory_order_relaxed);
      result.failed_modules.emplace_back(module.id());
      continue;
    }
    RuleOutput out;
    // A module that may fail after a write, or runs in shadow mode, writes
    // into a copy, so a failing module leaves no partial section behind and
    // a shadow module none at all. The others write in place.
    std::optional<v1::Assessment> scratch;
    if (shadow || !entry.in_place) {
      out.assessment = &scratch.emplace(result.assessment);
    } else {
      out.assessment = &result.assessment;
    }
    stats.evaluations.fetch_add(1, std::memory_order_relaxed);
    absl::Status status = module.Evaluate(shared, out);
    if (!status.ok()) {
      stats.errors.fetch_add(1, std::memory_order_relaxed);
      if (absl::IsDeadlineExceeded(status)) {
        stats.timeouts.fetch_add(1, std::memory_order_relaxed);
      }
      stats.consecutive_failures.fetch_add(1, std::memory_order_relaxed);
      stats.last_error_code.store(static_cast<int32_t>(status.code()),
                                  std::memory_order_relaxed);
      result.failed_modules.emplace_back(module.id());
      // Module error texts may quote plugin output: only the code is logged.
      ATTUNE_LOG(WARNING) << "rule module failed; skipped"
                          << LogField("module", module.id())
                          << LogField("code", static_cast<int>(status.code()));
      continue;
    }
    stats.consecutive_failures.store(0, std::memory_order_relaxed);
    if (!shadow && scratch.has_value()) {
      result.assessment = *std::move(scratch);
    }
    for (ProposedPrompt& p : out.prompts) {
      result.proposals.push_back(
          ModuleProposal{std::move(p), std::string(module.id()),
                         std::string(module.version()), shadow});
    }
  }
  return result;
}

std::vector<ModuleHealth> RulePipeline::Health(
    const v1::RulesConfig& rules) const {
  std::vector<ModuleHealth> out;
  for (const Entry& entry : entries_) {
    const RuleModule& m = *entry.module;
    const ModuleStats& s = *entry.stats;
    ModuleHealth h;
    h.module_id = std::string(m.id());
    h.module_version = std::string(m.version());
    h.source = m.source();
    h.location = m.location();
    h.enabled = IsEnabled(m, rules);
    h.shadow = SwitchesFor(rules, m.id()).shadow;
    h.available = m.Available();
    h.evaluations = s.evaluations.load();
    h.errors = s.errors.load();
    h.timeouts = s.timeouts.load();
    h.skipped = s.skipped.load();
    h.consecutive_failures = s.consecutive_failures.load();
    h.last_error_code = s.last_error_code.load();
    out.push_back(std::move(h));
  }
  return out;
}

const RuleModule* RulePipeline::Find(std::string_view id) const {
  for (const Entry& entry : entries_) {
    if (entry.module->id() == id) return entry.module.get();
  }
  return nullptr;
}

}  // namespace attune::engine
