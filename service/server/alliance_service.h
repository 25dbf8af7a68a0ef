// AllianceServiceImpl: the gRPC adapter of attune.v1.AllianceService
// (callback API). It parses nothing itself: every call goes to the engine on
// a worker thread, and every error passes through ToGrpcStatus.
#ifndef ATTUNE_SERVICE_SERVER_ALLIANCE_SERVICE_H_
#define ATTUNE_SERVICE_SERVER_ALLIANCE_SERVICE_H_

#include <string>

#include "attune/v1/alliance_service.grpc.pb.h"
#include "service/engine/alliance_engine.h"
#include "service/server/caller.h"
#include "service/server/worker_pool.h"

namespace attune::server {

class AllianceServiceImpl final : public v1::AllianceService::CallbackService {
 public:
  // `callers` decides each call's tenant and role (caller.h); null means
  // tenant "default" with every role. Not owned; outlives the service.
  AllianceServiceImpl(engine::AllianceEngine* engine, WorkerPool* pool,
                      const CallerResolver* callers = nullptr);

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
};

// The caller of one call of `rpc` (CallerResolver::Resolve); with no
// resolver, tenant "default" and every role.
absl::StatusOr<Caller> ResolveCaller(const CallerResolver* callers,
                                     const grpc::CallbackServerContext* ctx,
                                     Rpc rpc);

}  // namespace attune::server

#endif  // ATTUNE_SERVICE_SERVER_ALLIANCE_SERVICE_H_
