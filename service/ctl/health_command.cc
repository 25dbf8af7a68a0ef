// attunectl health: grpc.health.v1.Health/Check. Prints the serving status
// and exits 0 only for SERVING, so scripts and probes can use it directly.
#include "grpc/health/v1/health.grpc.pb.h"
#include "service/ctl/commands.h"

namespace attune::ctl {

int RunHealth(const CommandEnv& env) {
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(env.line.Get("service"));
  auto stub = grpc::health::v1::Health::NewStub(env.channel);
  grpc::ClientContext context;
  SetDeadline(env, &context);
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) {
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
      env.out << "SERVICE_UNKNOWN\n";
    }
    return ReportRpcError(env, status);
  }
  env.out << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
                 response.status())
          << "\n";
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING
             ? kExitOk
             : kExitFailed;
}

}  // namespace attune::ctl
