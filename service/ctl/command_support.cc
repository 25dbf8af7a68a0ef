// Helpers every command uses: deadlines, error lines, the
// --episode/--clinician choice.
#include <chrono>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "service/ctl/commands.h"

namespace attune::ctl {

void SetDeadline(const CommandEnv& env, grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() +
                        absl::ToChronoNanoseconds(env.timeout));
}

std::string DescribeError(int code, const std::string& message) {
  // google.rpc.Code, absl::StatusCode and grpc::StatusCode share numbers.
  std::string line = absl::StrCat(
      absl::StatusCodeToString(static_cast<absl::StatusCode>(code)), ": ",
      message.empty() ? "(no message)" : message);
  absl::StrReplaceAll({{"\r\n", " "}, {"\n", " "}, {"\r", " "}}, &line);
  return line;
}

std::string DescribeError(const grpc::Status& status) {
  return DescribeError(static_cast<int>(status.error_code()),
                       status.error_message());
}

int ReportRpcError(const CommandEnv& env, const grpc::Status& status) {
  env.err << "attunectl: " << env.line.command << ": " << DescribeError(status);
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      env.err << " (is the server running at " << env.server
              << "? set --server or ATTUNE_SERVER)";
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      env.err << " (no answer within --timeout "
              << absl::FormatDuration(env.timeout) << ")";
      break;
    default:
      break;
  }
  env.err << "\n";
  return kExitFailed;
}

int ReportUsageError(const CommandEnv& env, const absl::Status& status) {
  env.err << "attunectl: " << env.line.command << ": " << status.message()
          << " (see attunectl " << env.line.command << " --help)\n";
  return kExitUsage;
}

absl::Status EpisodeOrClinician(const CommandLine& line,
                                std::string* episode_id,
                                std::string* clinician_id) {
  const bool episode = line.Has("episode");
  const bool clinician = line.Has("clinician");
  if (episode == clinician) {
    return absl::InvalidArgumentError(
        episode ? "give --episode or --clinician, not both"
                : "give --episode ID or --clinician ID");
  }
  if (episode) {
    *episode_id = line.Get("episode");
    if (episode_id->empty()) {
      return absl::InvalidArgumentError("--episode: must not be empty");
    }
  } else {
    *clinician_id = line.Get("clinician");
    if (clinician_id->empty()) {
      return absl::InvalidArgumentError("--clinician: must not be empty");
    }
  }
  return absl::OkStatus();
}

}  // namespace attune::ctl
