// attunectl assessment and attunectl prompts: the read-only unary calls.
#include <set>
#include <vector>

#include "attune/v1/alliance_service.grpc.pb.h"
#include "service/ctl/commands.h"
#include "service/ctl/flag_values.h"
#include "service/ctl/json_lines.h"
#include "service/ctl/prompt_table.h"

namespace attune::ctl {
namespace {

// A guard against a server that keeps handing out page tokens.
constexpr int kMaxPages = 10000;

int PrintOrFail(const CommandEnv& env, const google::protobuf::Message& message,
                bool pretty) {
  if (absl::Status printed = WriteJson(message, pretty, env.out);
      !printed.ok()) {
    env.err << "attunectl: " << env.line.command << ": " << printed.message()
            << "\n";
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace

int RunAssessment(const CommandEnv& env) {
  v1::GetAssessmentRequest request;
  request.set_episode_id(env.line.arguments.at(0));
  if (request.episode_id().empty()) {
    return ReportUsageError(
        env, absl::InvalidArgumentError("<episode_id> must not be empty"));
  }
  auto stub = v1::AllianceService::NewStub(env.channel);
  grpc::ClientContext context;
  SetDeadline(env, &context);
  v1::GetAssessmentResponse response;
  const grpc::Status status = stub->GetAssessment(&context, request, &response);
  if (!status.ok()) return ReportRpcError(env, status);
  return PrintOrFail(env, response, env.line.Has("pretty"));
}

int RunPrompts(const CommandEnv& env) {
  v1::ListPromptsRequest request;
  if (absl::Status chosen =
          EpisodeOrClinician(env.line, request.mutable_episode_id(),
                             request.mutable_clinician_id());
      !chosen.ok()) {
    return ReportUsageError(env, chosen);
  }
  if (env.line.Has("status")) {
    absl::StatusOr<std::vector<v1::PromptStatus>> statuses =
        ParsePromptStatuses("--status", env.line.Get("status"));
    if (!statuses.ok()) return ReportUsageError(env, statuses.status());
    std::set<v1::PromptStatus> seen;
    for (v1::PromptStatus status : *statuses) {
      if (seen.insert(status).second) request.add_statuses(status);
    }
  }
  if (env.line.Has("page-size")) {
    absl::StatusOr<int> size =
        ParseIntInRange("--page-size", env.line.Get("page-size"), 1, 500);
    if (!size.ok()) return ReportUsageError(env, size.status());
    request.set_page_size(*size);
  }
  request.set_page_token(env.line.Get("page-token"));
  const std::string format = env.line.Get("format", "json");
  if (format != "json" && format != "table") {
    return ReportUsageError(
        env, absl::InvalidArgumentError(
                 "--format: expected json or table, got '" + format + "'"));
  }
  const bool all_pages = env.line.Has("all-pages");

  auto stub = v1::AllianceService::NewStub(env.channel);
  std::vector<v1::Prompt> table_rows;
  std::set<std::string> tokens_seen;
  std::string next_page_token;
  for (int page = 0; page < kMaxPages; ++page) {
    grpc::ClientContext context;
    SetDeadline(env, &context);
    v1::ListPromptsResponse response;
    const grpc::Status status = stub->ListPrompts(&context, request, &response);
    if (!status.ok()) return ReportRpcError(env, status);
    for (const v1::Prompt& prompt : response.prompts()) {
      if (format == "table") {
        table_rows.push_back(prompt);
      } else if (int code = PrintOrFail(env, prompt, /*pretty=*/false);
                 code != kExitOk) {
        return code;
      }
    }
    env.out.flush();
    next_page_token = response.next_page_token();
    if (next_page_token.empty() || !all_pages) break;
    if (!tokens_seen.insert(next_page_token).second) {
      env.err << "attunectl: prompts: the server repeated a page token; "
                 "stopping\n";
      return kExitFailed;
    }
    request.set_page_token(next_page_token);
  }
  if (format == "table") env.out << FormatPromptTable(table_rows);
  if (!all_pages && !next_page_token.empty()) {
    env.err << "attunectl: prompts: more prompts follow; add --all-pages, or "
               "--page-token "
            << next_page_token << "\n";
  }
  return kExitOk;
}

}  // namespace attune::ctl
