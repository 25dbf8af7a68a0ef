#include "service/server/rule_admin_service.h"

#include <map>
#include <string>
#include <utility>

#include "service/engine/episode_history.h"
#include "service/engine/rule_set.h"
#include "service/server/alliance_service.h"
#include "service/server/module_reports.h"
#include "service/server/status_conversion.h"

namespace attune::server {
namespace {

// Records the call's row (on no object: module sets and comparisons are
// tenant-wide), then finishes it.
void Finish(grpc::ServerUnaryReactor* reactor, const CallAudit& audit,
            const grpc::Status& status) {
  audit.Record("", static_cast<absl::StatusCode>(status.error_code()));
  reactor->Finish(status);
}

}  // namespace

RuleAdminServiceImpl::RuleAdminServiceImpl(engine::AllianceEngine* engine,
                                           store::Store* store,
                                           WorkerPool* pool, Reloader reload,
                                           const CallerResolver* callers,
                                           AuditTrail* audit)
    : engine_(engine),
      store_(store),
      pool_(pool),
      reload_(std::move(reload)),
      callers_(callers),
      audit_(audit) {}

grpc::ServerUnaryReactor* RuleAdminServiceImpl::ListModules(
    grpc::CallbackServerContext* ctx, const v1::ListModulesRequest*,
    v1::ListModulesResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  absl::StatusOr<Caller> caller;
  const CallAudit audit =
      AuditCaller(audit_, callers_, ctx, Rpc::kListModules, &caller);
  if (!caller.ok()) {
    Finish(reactor, audit, ToGrpcStatus(caller.status()));
    return reactor;
  }
  std::string tenant = caller->tenant;
  pool_->Run([this, tenant, resp, reactor, audit] {
    absl::StatusOr<std::map<std::string, v1::FeedbackTally>> tallies =
        FeedbackTallies(*store_, tenant);
    if (!tallies.ok()) {
      Finish(reactor, audit, ToGrpcStatus(tallies.status()));
      return;
    }
    std::shared_ptr<const engine::RuleSet> set = engine_->rules();
    AddModuleReports(*set, tenant, *tallies, resp->mutable_modules());
    resp->set_generation(set->generation());
    *resp->mutable_loaded_at() = engine::ToProto(set->loaded_at());
    Finish(reactor, audit, grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* RuleAdminServiceImpl::ReloadModules(
    grpc::CallbackServerContext* ctx, const v1::ReloadModulesRequest*,
    v1::ReloadModulesResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  absl::StatusOr<Caller> caller;
  const CallAudit audit =
      AuditCaller(audit_, callers_, ctx, Rpc::kReloadModules, &caller);
  if (!caller.ok()) {
    Finish(reactor, audit, ToGrpcStatus(caller.status()));
    return reactor;
  }
  if (!reload_) {
    Finish(reactor, audit,
           grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "no configuration file to reload"));
    return reactor;
  }
  std::string tenant = caller->tenant;
  // Loading plugins and describing remote modules can take seconds: never on
  // a gRPC callback thread.
  pool_->Run([this, tenant, resp, reactor, audit] {
    absl::StatusOr<ReloadOutcome> outcome = reload_();
    if (!outcome.ok()) {
      Finish(reactor, audit, ToGrpcStatus(outcome.status()));
      return;
    }
    // The new set serves already: a store hiccup here must not report the
    // reload as failed, so the feedback is then left out.
    absl::StatusOr<std::map<std::string, v1::FeedbackTally>> tallies =
        FeedbackTallies(*store_, tenant);
    resp->set_generation(outcome->rules->generation());
    AddModuleReports(
        *outcome->rules, tenant,
        tallies.value_or(std::map<std::string, v1::FeedbackTally>()),
        resp->mutable_modules());
    for (const std::string& field : outcome->restart_required) {
      resp->add_restart_required(field);
    }
    Finish(reactor, audit, grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* RuleAdminServiceImpl::CompareShadow(
    grpc::CallbackServerContext* ctx, const v1::CompareShadowRequest* req,
    v1::CompareShadowResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  absl::StatusOr<Caller> caller;
  const CallAudit audit =
      AuditCaller(audit_, callers_, ctx, Rpc::kCompareShadow, &caller);
  if (!caller.ok()) {
    Finish(reactor, audit, ToGrpcStatus(caller.status()));
    return reactor;
  }
  std::string tenant = caller->tenant;
  // Store reads: off the gRPC callback thread.
  pool_->Run([this, tenant, req, resp, reactor, audit] {
    absl::StatusOr<v1::CompareShadowResponse> compared =
        engine_->CompareShadow(tenant, *req);
    if (!compared.ok()) {
      Finish(reactor, audit, ToGrpcStatus(compared.status()));
      return;
    }
    *resp = *std::move(compared);
    Finish(reactor, audit, grpc::Status::OK);
  });
  return reactor;
}

}  // namespace attune::server
