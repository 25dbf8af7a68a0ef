#include "service/server/data_admin_service.h"

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "service/common/log.h"
#include "service/ops/request_id.h"
#include "service/server/alliance_service.h"
#include "service/server/status_conversion.h"

namespace attune::server {
namespace {

absl::Status ValidateClientId(const std::string& client_id) {
  if (client_id.empty()) {
    return absl::InvalidArgumentError("client_id: must not be empty");
  }
  if (client_id.size() > kMaxClientIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("client_id: at most ", kMaxClientIdBytes, " bytes"));
  }
  return absl::OkStatus();
}

}  // namespace

DataAdminServiceImpl::DataAdminServiceImpl(store::Store* store,
                                           WorkerPool* pool,
                                           const CallerResolver* callers,
                                           AuditTrail* audit,
                                           std::function<void()> erased)
    : store_(store),
      pool_(pool),
      callers_(callers),
      audit_(audit),
      erased_(std::move(erased)) {}

grpc::ServerUnaryReactor* DataAdminServiceImpl::EraseClient(
    grpc::CallbackServerContext* ctx, const v1::EraseClientRequest* req,
    v1::EraseClientResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  // Every way the call ends leaves its audit row, before the caller hears.
  absl::StatusOr<Caller> caller;
  const CallAudit audit =
      AuditCaller(audit_, callers_, ctx, Rpc::kEraseClient, &caller);
  const std::string object = audit.Object("client", req->client_id());
  auto finish = [reactor, audit, object](const absl::Status& status) {
    audit.Record(object, status.code());
    reactor->Finish(ToGrpcStatus(status));
  };
  if (!caller.ok()) {
    finish(caller.status());
    return reactor;
  }
  if (absl::Status valid = ValidateClientId(req->client_id()); !valid.ok()) {
    finish(valid);
    return reactor;
  }
  std::string tenant = caller->tenant;
  const std::string request_id = ops::RequestIdOf(*ctx);
  // Deleting a long course takes a write transaction and a checkpoint: off
  // the gRPC callback thread.
  pool_->Run([this, tenant, req, resp, finish, request_id] {
    absl::StatusOr<store::EraseCounts> erased =
        store_->EraseClient(tenant, req->client_id());
    if (!erased.ok()) {
      ATTUNE_LOG(WARNING) << "client erase failed"
                          << LogField("code", absl::StatusCodeToString(
                                                  erased.status().code()))
                          << LogField("request_id", request_id);
      finish(erased.status());
      return;
    }
    if (erased->episodes > 0 && erased_) erased_();
    resp->set_episodes_erased(erased->episodes);
    resp->set_events_erased(erased->events);
    resp->set_prompts_erased(erased->prompts);
    ATTUNE_LOG(INFO) << "client erased"
                     << LogField("episodes", erased->episodes)
                     << LogField("events", erased->events)
                     << LogField("prompts", erased->prompts)
                     << LogField("request_id", request_id);
    finish(absl::OkStatus());
  });
  return reactor;
}

}  // namespace attune::server
