// RuleAdminServiceImpl: attune.v1.RuleAdmin, how the rule modules behave.
#ifndef ATTUNE_SERVICE_SERVER_RULE_ADMIN_SERVICE_H_
#define ATTUNE_SERVICE_SERVER_RULE_ADMIN_SERVICE_H_

#include "attune/v1/rule_admin.grpc.pb.h"
#include "service/engine/alliance_engine.h"
#include "service/server/audit_trail.h"
#include "service/server/caller.h"
#include "service/server/reload.h"
#include "service/server/worker_pool.h"
#include "service/store/store.h"

namespace attune::server {

class RuleAdminServiceImpl final : public v1::RuleAdmin::CallbackService {
 public:
  // `reload` serves ReloadModules (AttuneServer::Reload); without one
  // ReloadModules is FAILED_PRECONDITION. `callers` decides each call's
  // tenant and whether it holds the admin role (caller.h); null means tenant
  // "default" with every role. `audit` gets one row per call, refused ones
  // included, on no object (audit_trail.h); null records nothing. Not
  // owned.
  RuleAdminServiceImpl(engine::AllianceEngine* engine, store::Store* store,
                       WorkerPool* pool, Reloader reload = nullptr,
                       const CallerResolver* callers = nullptr,
                       AuditTrail* audit = nullptr);

  grpc::ServerUnaryReactor* ListModules(grpc::CallbackServerContext* ctx,
                                        const v1::ListModulesRequest* req,
                                        v1::ListModulesResponse* resp) override;
  grpc::ServerUnaryReactor* ReloadModules(
      grpc::CallbackServerContext* ctx, const v1::ReloadModulesRequest* req,
      v1::ReloadModulesResponse* resp) override;
  grpc::ServerUnaryReactor* CompareShadow(
      grpc::CallbackServerContext* ctx, const v1::CompareShadowRequest* req,
      v1::CompareShadowResponse* resp) override;

 private:
  engine::AllianceEngine* engine_;
  store::Store* store_;
  WorkerPool* pool_;
  Reloader reload_;
  const CallerResolver* callers_;
  AuditTrail* audit_;
};

}  // namespace attune::server

#endif  // ATTUNE_SERVICE_SERVER_RULE_ADMIN_SERVICE_H_
