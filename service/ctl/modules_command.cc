// attunectl modules: RuleAdmin.ListModules, as JSON or a table.
#include <iomanip>

#include "attune/v1/rule_admin.grpc.pb.h"
#include "service/ctl/commands.h"
#include "service/ctl/json_lines.h"

namespace attune::ctl {

int RunModules(const CommandEnv& env) {
  const std::string format = env.line.Get("format", "json");
  if (format != "json" && format != "table") {
    return ReportUsageError(
        env, absl::InvalidArgumentError("--format must be json or table"));
  }
  auto stub = v1::RuleAdmin::NewStub(env.channel);
  grpc::ClientContext context;
  SetDeadline(env, &context);
  v1::ListModulesResponse response;
  const grpc::Status status =
      stub->ListModules(&context, v1::ListModulesRequest(), &response);
  if (!status.ok()) return ReportRpcError(env, status);
  if (format == "json") {
    if (absl::Status printed = WriteJson(response, /*pretty=*/false, env.out);
        !printed.ok()) {
      env.err << "attunectl: modules: " << printed.message() << "\n";
      return kExitFailed;
    }
    return kExitOk;
  }
  env.out << std::left << std::setw(28) << "MODULE" << std::setw(9) << "VERSION"
          << std::setw(8) << "ENABLED" << std::right << std::setw(8) << "EVALS"
          << std::setw(7) << "ERRORS" << std::setw(9) << "ACCEPTED"
          << std::setw(10) << "DISMISSED" << std::setw(8) << "SNOOZED"
          << "\n";
  for (const v1::ModuleReport& m : response.modules()) {
    env.out << std::left << std::setw(28) << m.id() << std::setw(9)
            << m.version() << std::setw(8) << (m.enabled() ? "yes" : "no")
            << std::right << std::setw(8) << m.evaluations() << std::setw(7)
            << m.errors() << std::setw(9) << m.feedback().accepted()
            << std::setw(10) << m.feedback().dismissed() << std::setw(8)
            << m.feedback().snoozed() << "\n";
  }
  return kExitOk;
}

}  // namespace attune::ctl
