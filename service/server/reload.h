// What a reload of the module set returns (AttuneServer::Reload), and the
// hook through which RuleAdmin.ReloadModules asks for one.
#ifndef ATTUNE_SERVICE_SERVER_RELOAD_H_
#define ATTUNE_SERVICE_SERVER_RELOAD_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "service/engine/rule_set.h"

namespace attune::server {

// A reload that succeeded.
struct ReloadOutcome {
  // The set now serving (a later reload may already have replaced it).
  std::shared_ptr<const engine::RuleSet> rules;
  // Settings of the file that differ from the running ones but only take
  // effect on restart, by field path ("listen_address", "store.sqlite_path").
  std::vector<std::string> restart_required;
};

// Reloads the module set; blocks until done. Errors as AttuneServer::Reload.
using Reloader = std::function<absl::StatusOr<ReloadOutcome>()>;

}  // namespace attune::server

#endif  // ATTUNE_SERVICE_SERVER_RELOAD_H_
