#include "service/engine/rule_set.h"

#include "absl/strings/str_cat.h"
#include "service/common/status_macros.h"
#include "service/engine/tenant_rules.h"

namespace attune::engine {
namespace {

// Settings and policies may only name loaded modules: a typo would
// otherwise silently leave a module on (or live instead of shadow).
absl::Status CheckModuleRefs(const v1::RulesConfig& rules,
                             const RulePipeline& pipeline,
                             const std::string& where) {
  for (int i = 0; i < rules.modules_size(); ++i) {
    const std::string& id = rules.modules(i).module_id();
    if (pipeline.Find(id) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ".modules[", i, "].module_id: no module ", id, " is loaded"));
    }
  }
  for (int i = 0; i < rules.module_policies_size(); ++i) {
    const std::string& id = rules.module_policies(i).module_id();
    if (pipeline.Find(id) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".module_policies[", i, "].module_id: no module ",
                       id, " is loaded"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<const RuleSet>> RuleSet::Create(
    v1::ServerConfig config, std::vector<std::unique_ptr<RuleModule>> modules,
    const RuleSet* previous, absl::Time loaded_at) {
  ATTUNE_ASSIGN_OR_RETURN(InstrumentRegistry instruments,
                          InstrumentRegistry::Create(config.rules()));
  std::shared_ptr<RuleSet> set(
      new RuleSet(std::move(config), std::move(instruments), std::move(modules),
                  previous, loaded_at));
  ATTUNE_RETURN_IF_ERROR(
      CheckModuleRefs(set->config_.rules(), set->pipeline_, "rules"));
  for (int i = 0; i < set->config_.tenants_size(); ++i) {
    const v1::TenantRules& t = set->config_.tenants(i);
    ATTUNE_RETURN_IF_ERROR(CheckModuleRefs(
        t.rules(), set->pipeline_, absl::StrCat("tenants[", i, "].rules")));
    set->tenant_rules_[t.tenant()] =
        MergeTenantRules(set->config_.rules(), t.rules());
  }
  return std::shared_ptr<const RuleSet>(std::move(set));
}

RuleSet::RuleSet(v1::ServerConfig config, InstrumentRegistry instruments,
                 std::vector<std::unique_ptr<RuleModule>> modules,
                 const RuleSet* previous, absl::Time loaded_at)
    : config_(std::move(config)),
      instruments_(std::move(instruments)),
      pipeline_(std::move(modules),
                previous != nullptr ? &previous->pipeline_ : nullptr),
      generation_(previous != nullptr ? previous->generation_ + 1 : 1),
      loaded_at_(loaded_at) {}

const v1::RulesConfig& RuleSet::RulesFor(const std::string& tenant) const {
  auto it = tenant_rules_.find(tenant);
  return it == tenant_rules_.end() ? config_.rules() : it->second;
}

}  // namespace attune::engine
