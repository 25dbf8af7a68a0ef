// attunectl data erase-client: DataAdmin.EraseClient, deleting everything
// attuned stores about one client of the caller's tenant.
//
// The client id goes to the server only: it is never printed, not even in
// error messages (the server's own messages name the field, not the value).
#include <string>

#include "absl/status/status.h"
#include "attune/v1/data_admin.grpc.pb.h"
#include "service/ctl/commands.h"
#include "service/ctl/json_lines.h"

namespace attune::ctl {
namespace {

int EraseClient(const CommandEnv& env) {
  const std::string format = env.line.Get("format", "text");
  if (format != "text" && format != "json") {
    return ReportUsageError(
        env, absl::InvalidArgumentError("--format must be text or json"));
  }
  if (!env.line.Has("client-id") || env.line.Get("client-id").empty()) {
    return ReportUsageError(
        env, absl::InvalidArgumentError("erase-client needs --client-id ID"));
  }
  v1::EraseClientRequest request;
  request.set_client_id(env.line.Get("client-id"));
  auto stub = v1::DataAdmin::NewStub(env.channel);
  grpc::ClientContext context;
  SetDeadline(env, &context);
  v1::EraseClientResponse response;
  const grpc::Status status = stub->EraseClient(&context, request, &response);
  if (!status.ok()) return ReportRpcError(env, status);
  if (format == "json") {
    if (absl::Status printed = WriteJson(response, /*pretty=*/false, env.out);
        !printed.ok()) {
      env.err << "attunectl: data: " << printed.message() << "\n";
      return kExitFailed;
    }
    return kExitOk;
  }
  env.out << "episodes_erased: " << response.episodes_erased() << "\n"
          << "events_erased: " << response.events_erased() << "\n"
          << "prompts_erased: " << response.prompts_erased() << "\n";
  return kExitOk;
}

}  // namespace

int RunData(const CommandEnv& env) {
  if (env.line.arguments[0] == "erase-client") return EraseClient(env);
  return ReportUsageError(env, absl::InvalidArgumentError(
                                   "unknown action '" + env.line.arguments[0] +
                                   "' (the only action is erase-client)"));
}

}  // namespace attune::ctl
