#include "service/engine/tenant_rules.h"

namespace attune::engine {

v1::RulesConfig MergeTenantRules(const v1::RulesConfig& server,
                                 const v1::RulesConfig& tenant) {
  v1::RulesConfig merged = server;
  v1::RulesConfig overlay = tenant;
  // Policies: one per module, the tenant's replacing the server's.
  for (const v1::ModulePolicy& p : overlay.module_policies()) {
    auto* policies = merged.mutable_module_policies();
    for (int i = policies->size() - 1; i >= 0; --i) {
      if (policies->Get(i).module_id() == p.module_id()) {
        policies->DeleteSubrange(i, 1);
      }
    }
  }
  merged.MergeFrom(overlay);
  return merged;
}

ModuleSwitches SwitchesFor(const v1::RulesConfig& rules,
                           std::string_view module_id) {
  ModuleSwitches out;
  for (const v1::ModuleSettings& s : rules.modules()) {
    if (s.module_id() != module_id) continue;
    if (s.has_enabled()) out.enabled = s.enabled();
    if (s.has_shadow()) out.shadow = s.shadow();
  }
  return out;
}

}  // namespace attune::engine
