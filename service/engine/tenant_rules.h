// Per-tenant rule settings: merging a tenant's override over the server's
// rules, and reading a module's switches (enabled, shadow) from a rules
// configuration.
#ifndef ATTUNE_SERVICE_ENGINE_TENANT_RULES_H_
#define ATTUNE_SERVICE_ENGINE_TENANT_RULES_H_

#include <optional>
#include <string_view>

#include "attune/v1/config.pb.h"

namespace attune::engine {

// `tenant` over `server`: scalars and messages as protobuf MergeFrom (a field
// set in the tenant's rules wins, including an explicit false or 0); a
// tenant's module policy replaces the server's policy for the same module;
// module settings are appended (the last entry for a module wins).
// Instruments and alliance_preference are server-wide: the caller refuses a
// tenant override that sets them (config validation does).
v1::RulesConfig MergeTenantRules(const v1::RulesConfig& server,
                                 const v1::RulesConfig& tenant);

// A module's switches under `rules` (the last ModuleSettings entry for the
// module wins, field by field).
struct ModuleSwitches {
  // Unset: the module's own Enabled() decides.
  std::optional<bool> enabled;
  bool shadow = false;
};
ModuleSwitches SwitchesFor(const v1::RulesConfig& rules,
                           std::string_view module_id);

}  // namespace attune::engine

#endif  // ATTUNE_SERVICE_ENGINE_TENANT_RULES_H_
