// attunectl modules: RuleAdmin.ListModules, as JSON or a table;
// `modules reload`: RuleAdmin.ReloadModules.
#include <iomanip>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "attune/v1/rule_admin.grpc.pb.h"
#include "service/ctl/commands.h"
#include "service/ctl/json_lines.h"

namespace attune::ctl {
namespace {

// "MODULE_SOURCE_NATIVE" -> "native".
std::string ShortName(const std::string& enum_name, const std::string& prefix) {
  std::string name = enum_name;
  if (absl::StartsWith(name, prefix)) name = name.substr(prefix.size());
  return absl::AsciiStrToLower(name);
}

int Reload(const CommandEnv& env) {
  const std::string format = env.line.Get("format", "text");
  if (format != "text" && format != "json") {
    return ReportUsageError(env,
                            absl::InvalidArgumentError(
                                "--format must be text or json with reload"));
  }
  auto stub = v1::RuleAdmin::NewStub(env.channel);
  grpc::ClientContext context;
  SetDeadline(env, &context);
  v1::ReloadModulesResponse response;
  const grpc::Status status =
      stub->ReloadModules(&context, v1::ReloadModulesRequest(), &response);
  if (!status.ok()) return ReportRpcError(env, status);
  if (format == "json") {
    if (absl::Status printed = WriteJson(response, /*pretty=*/false, env.out);
        !printed.ok()) {
      env.err << "attunectl: modules: " << printed.message() << "\n";
      return kExitFailed;
    }
    return kExitOk;
  }
  env.out << "generation: " << response.generation() << "\n"
          << "modules: " << response.modules_size() << "\n";
  for (const std::string& field : response.restart_required()) {
    env.out << "restart_required: " << field << "\n";
  }
  return kExitOk;
}

int List(const CommandEnv& env) {
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
          << std::setw(8) << "SOURCE" << std::setw(8) << "ENABLED"
          << std::setw(13) << "STATE" << std::right << std::setw(8) << "EVALS"
          << std::setw(7) << "ERRORS" << std::setw(9) << "ACCEPTED"
          << std::setw(10) << "DISMISSED" << std::setw(8) << "SNOOZED"
          << "\n";
  for (const v1::ModuleReport& m : response.modules()) {
    const std::string enabled =
        !m.enabled() ? "no" : (m.shadow() ? "shadow" : "yes");
    env.out << std::left << std::setw(28) << m.id() << std::setw(9)
            << m.version() << std::setw(8)
            << ShortName(v1::ModuleSource_Name(m.source()), "MODULE_SOURCE_")
            << std::setw(8) << enabled << std::setw(13)
            << ShortName(v1::ModuleState_Name(m.state()), "MODULE_STATE_")
            << std::right << std::setw(8) << m.evaluations() << std::setw(7)
            << m.errors() << std::setw(9) << m.feedback().accepted()
            << std::setw(10) << m.feedback().dismissed() << std::setw(8)
            << m.feedback().snoozed() << "\n";
  }
  return kExitOk;
}

}  // namespace

int RunModules(const CommandEnv& env) {
  if (env.line.arguments.empty()) return List(env);
  if (env.line.arguments[0] == "reload") return Reload(env);
  return ReportUsageError(env, absl::InvalidArgumentError(
                                   "unknown action '" + env.line.arguments[0] +
                                   "' (the only action is reload)"));
}

}  // namespace attune::ctl
