// How the rule modules are reported: RuleAdmin's ModuleReport (ListModules
// and ReloadModules share it) and the module health states behind the
// per-module grpc.health.v1 services. Pure functions; thread-safe.
#ifndef ATTUNE_SERVICE_SERVER_MODULE_REPORTS_H_
#define ATTUNE_SERVICE_SERVER_MODULE_REPORTS_H_

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "attune/v1/rule_admin.pb.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "service/engine/rule_pipeline.h"
#include "service/engine/rule_set.h"
#include "service/store/store.h"

namespace attune::server {

// CIRCUIT_OPEN while the module is not available (a remote module's circuit
// breaker), FAILING while its last evaluation failed, else HEALTHY.
v1::ModuleState ModuleStateOf(const engine::ModuleHealth& health);

// Whether the module's grpc.health.v1 service reports SERVING: a module that
// is failing or whose circuit is open is NOT_SERVING, so an orchestrator's
// probe notices a broken module even though the server keeps answering.
bool ModuleServing(v1::ModuleState state);

// The module's grpc.health.v1 service name: "attune.module.<id>".
std::string ModuleHealthServiceName(std::string_view module_id);

// Feedback stored for `tenant`, by module id. Errors are the store's.
absl::StatusOr<std::map<std::string, v1::FeedbackTally>> FeedbackTallies(
    store::Store& store, const std::string& tenant);

// One report per module of `set`, in run order, with its switches for
// `tenant` and its feedback from `tallies` (none when absent).
void AddModuleReports(
    const engine::RuleSet& set, const std::string& tenant,
    const std::map<std::string, v1::FeedbackTally>& tallies,
    google::protobuf::RepeatedPtrField<v1::ModuleReport>* out);

}  // namespace attune::server

#endif  // ATTUNE_SERVICE_SERVER_MODULE_REPORTS_H_
