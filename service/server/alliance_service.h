// AllianceServiceImpl: the gRPC adapter of attune.v1.AllianceService
// (callback API). It parses nothing itself: every call goes to the engine on
// a worker thread, and every error passes through ToGrpcStatus.
#ifndef ATTUNE_SERVICE_SERVER_ALLIANCE_SERVICE_H_
#define ATTUNE_SERVICE_SERVER_ALLIANCE_SERVICE_H_

#include <string>

#include "attune/v1/alliance_service.grpc.pb.h"
#include "service/engine/alliance_engine.h"
#include "service/server/audit_trail.h"
#include "service/server/caller.h"
#include "service/server/worker_pool.h"

namespace attune::server {

class AllianceServiceImpl final : public v1::AllianceService::CallbackService {
 public:
  // `callers` decides each call's tenant and role (caller.h); null means
  // tenant "default" with every role. `audit` gets one row per call (per
  // event for SubmitEvents; at open and at close for WatchPrompts), refused
  // calls included (audit_trail.h); null records nothing. Not owned;
  // outlive the service.
  AllianceServiceImpl(engine::AllianceEngine* engine, WorkerPool* pool,
                      const CallerResolver* callers = nullptr,
                      AuditTrail* audit = nullptr);

  grpc::ServerUnaryReactor* SubmitEvent(grpc::CallbackServerContext* ctx,
                                        const v1::SubmitEventRequest* req,
                                        v1::SubmitEventResponse* resp) override;
  grpc::ServerUnaryReactor* SubmitEvents(
      grpc::CallbackServerContext* ctx, const v1::SubmitEventsRequest* req,
      v1::SubmitEventsResponse* resp) override;
  grpc::ServerUnaryReactor* GetAssessment(
      grpc::CallbackServerContext* ctx, const v1::GetAssessmentRequest* req,
      v1::GetAssessmentResponse* resp) override;
  grpc::ServerUnaryReactor* ListPrompts(grpc::CallbackServerContext* ctx,
                                        const v1::ListPromptsRequest* req,
                                        v1::ListPromptsResponse* resp) override;
  grpc::ServerWriteReactor<v1::PromptUpdate>* WatchPrompts(
      grpc::CallbackServerContext* ctx,
      const v1::WatchPromptsRequest* req) override;
  grpc::ServerUnaryReactor* RecordPromptFeedback(
      grpc::CallbackServerContext* ctx,
      const v1::RecordPromptFeedbackRequest* req,
      v1::RecordPromptFeedbackResponse* resp) override;

 private:
  engine::AllianceEngine* engine_;
  WorkerPool* pool_;
  const CallerResolver* callers_;
  AuditTrail* audit_;
};

// The caller of one call of `rpc` (CallerResolver::Resolve, `identified`
// as there); with no resolver, tenant "default" and every role.
absl::StatusOr<Caller> ResolveCaller(const CallerResolver* callers,
                                     const grpc::CallbackServerContext* ctx,
                                     Rpc rpc, Caller* identified = nullptr);

// ResolveCaller into `*caller`, and the call's audit row(s) under whoever
// it turned out to be (CallAudit; `trail` may be null). Every RPC handler
// of AllianceService, RuleAdmin and DataAdmin starts with it and records
// each way the call ends, refusals included.
CallAudit AuditCaller(AuditTrail* trail, const CallerResolver* callers,
                      const grpc::CallbackServerContext* ctx, Rpc rpc,
                      absl::StatusOr<Caller>* caller);

}  // namespace attune::server

#endif  // ATTUNE_SERVICE_SERVER_ALLIANCE_SERVICE_H_
