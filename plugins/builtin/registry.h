// The built-in rule modules, in the order the engine runs them.
//
// The order matters: each module may read the assessment sections filled by
// the modules before it (alliance -> phase -> rupture -> repair, dropout
// risk). Adding a module: add a folder beside the others and one line to
// MakeBuiltinModules(). The list is explicit on purpose: static
// self-registration vanishes from static libraries.
#ifndef ATTUNE_PLUGINS_BUILTIN_REGISTRY_H_
#define ATTUNE_PLUGINS_BUILTIN_REGISTRY_H_

#include <memory>
#include <vector>

#include "service/engine/rule_module.h"

namespace attune::builtin {

// A fresh set of the built-in modules in run order. Modules are stateless;
// one set can serve every request.
std::vector<std::unique_ptr<engine::RuleModule>> MakeBuiltinModules();

}  // namespace attune::builtin

#endif  // ATTUNE_PLUGINS_BUILTIN_REGISTRY_H_
