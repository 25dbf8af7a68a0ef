#include "service/engine/module_set.h"

#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "plugins/builtin/registry.h"
#include "service/common/log.h"
#include "service/engine/native_plugin.h"
#include "service/engine/remote_module.h"

namespace attune::engine {

absl::StatusOr<std::vector<std::unique_ptr<RuleModule>>> LoadRuleModules(
    const v1::ServerConfig& config) {
  std::vector<std::unique_ptr<RuleModule>> modules =
      builtin::MakeBuiltinModules();
  std::set<std::string> ids;
  for (const auto& m : modules) ids.emplace(m->id());
  for (const v1::NativePlugin& plugin : config.plugins()) {
    auto loaded = LoadNativePlugin(plugin.path(), plugin.config_json());
    if (!loaded.ok()) return loaded.status();
    for (auto& m : *loaded) {
      if (!ids.emplace(m->id()).second) {
        return absl::AlreadyExistsError(absl::StrCat(
            "plugin ", plugin.path(), ": module ", std::string(m->id()),
            " is already provided by a built-in module or an "
            "earlier plugin"));
      }
      ATTUNE_LOG(INFO) << "native rule module loaded"
                       << LogField("module", m->id())
                       << LogField("version", m->version())
                       << LogField("plugin", plugin.path());
      modules.push_back(std::move(m));
    }
  }
  for (const v1::RemoteModule& remote : config.remote_modules()) {
    auto loaded = LoadRemoteModules(remote);
    if (!loaded.ok()) return loaded.status();
    for (auto& m : *loaded) {
      if (!ids.emplace(m->id()).second) {
        return absl::AlreadyExistsError(absl::StrCat(
            "remote module ", remote.address(), ": module ",
            std::string(m->id()),
            " is already provided by a built-in module, a plugin or an "
            "earlier remote module"));
      }
      ATTUNE_LOG(INFO) << "remote rule module loaded"
                       << LogField("module", m->id())
                       << LogField("version", m->version())
                       << LogField("address", remote.address());
      modules.push_back(std::move(m));
    }
  }
  return modules;
}

absl::StatusOr<std::shared_ptr<const RuleSet>> LoadRuleSet(
    const v1::ServerConfig& config, const RuleSet* previous) {
  absl::StatusOr<std::vector<std::unique_ptr<RuleModule>>> modules =
      LoadRuleModules(config);
  if (!modules.ok()) return modules.status();
  return RuleSet::Create(config, *std::move(modules), previous);
}

}  // namespace attune::engine
