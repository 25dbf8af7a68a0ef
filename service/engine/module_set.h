// The rule modules of a configuration: the built-in modules, then each
// configured native plugin's, then each remote module server's, in order.
// Shared by attuned and `attunectl replay`, so an offline replay runs exactly
// the live module set.
#ifndef ATTUNE_SERVICE_ENGINE_MODULE_SET_H_
#define ATTUNE_SERVICE_ENGINE_MODULE_SET_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "attune/v1/config.pb.h"
#include "service/engine/rule_module.h"
#include "service/engine/rule_set.h"

namespace attune::engine {

// Any plugin or remote module that will not load, or brings a module id
// already taken, is an error (the plugin's path or the server's address is
// named). Blocks while remote modules are described (connect_timeout_ms
// each, at most).
absl::StatusOr<std::vector<std::unique_ptr<RuleModule>>> LoadRuleModules(
    const v1::ServerConfig& config);

// LoadRuleModules, then RuleSet::Create: the whole set a configuration
// describes, ready to serve (or to install over `previous` on reload).
absl::StatusOr<std::shared_ptr<const RuleSet>> LoadRuleSet(
    const v1::ServerConfig& config, const RuleSet* previous = nullptr);

}  // namespace attune::engine

#endif  // ATTUNE_SERVICE_ENGINE_MODULE_SET_H_
