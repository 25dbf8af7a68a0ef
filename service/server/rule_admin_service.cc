#include "service/server/rule_admin_service.h"

#include <map>
#include <string>

#include "service/engine/rule_set.h"
#include "service/server/alliance_service.h"
#include "service/server/status_conversion.h"

namespace attune::server {

RuleAdminServiceImpl::RuleAdminServiceImpl(engine::AllianceEngine* engine,
                                           store::Store* store,
                                           WorkerPool* pool)
    : engine_(engine), store_(store), pool_(pool) {}

grpc::ServerUnaryReactor* RuleAdminServiceImpl::ListModules(
    grpc::CallbackServerContext* ctx, const v1::ListModulesRequest*,
    v1::ListModulesResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  std::string tenant = TenantOf(ctx);
  pool_->Run([this, tenant, resp, reactor] {
    absl::StatusOr<std::vector<store::FeedbackCount>> counts =
        store_->CountFeedback(tenant);
    if (!counts.ok()) {
      reactor->Finish(ToGrpcStatus(counts.status()));
      return;
    }
    std::map<std::string, v1::FeedbackTally> tallies;
    for (const store::FeedbackCount& c : *counts) {
      v1::FeedbackTally& t = tallies[c.module_id];
      switch (c.outcome) {
        case v1::PromptFeedback::OUTCOME_ACCEPTED:
          t.set_accepted(t.accepted() + c.count);
          break;
        case v1::PromptFeedback::OUTCOME_DISMISSED:
          t.set_dismissed(t.dismissed() + c.count);
          break;
        case v1::PromptFeedback::OUTCOME_SNOOZED:
          t.set_snoozed(t.snoozed() + c.count);
          break;
        default:
          break;
      }
    }
    std::shared_ptr<const engine::RuleSet> set = engine_->rules();
    for (const engine::ModuleHealth& h :
         set->pipeline().Health(set->RulesFor(tenant))) {
      v1::ModuleReport* m = resp->add_modules();
      m->set_id(h.module_id);
      m->set_version(h.module_version);
      m->set_enabled(h.enabled);
      m->set_evaluations(h.evaluations);
      m->set_errors(h.errors);
      *m->mutable_feedback() = tallies[h.module_id];
    }
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* RuleAdminServiceImpl::ReloadModules(
    grpc::CallbackServerContext* ctx, const v1::ReloadModulesRequest*,
    v1::ReloadModulesResponse*) {
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                               "ReloadModules: not implemented yet"));
  return reactor;
}

grpc::ServerUnaryReactor* RuleAdminServiceImpl::CompareShadow(
    grpc::CallbackServerContext* ctx, const v1::CompareShadowRequest*,
    v1::CompareShadowResponse*) {
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                               "CompareShadow: not implemented yet"));
  return reactor;
}

}  // namespace attune::server
