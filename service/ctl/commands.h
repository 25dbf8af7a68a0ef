// The subcommands of attunectl. Each takes the parsed command line and a
// channel, talks to AllianceService (or grpc.health.v1.Health) and writes
// JSON lines to `out`, errors to `err`, and returns the process exit code.
//
// Every call but `watch` carries the `--timeout` deadline.
#ifndef ATTUNE_SERVICE_CTL_COMMANDS_H_
#define ATTUNE_SERVICE_CTL_COMMANDS_H_

#include <istream>
#include <memory>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"
#include "service/ctl/command_line.h"

namespace attune::ctl {

// Exit codes.
inline constexpr int kExitOk = 0;
// An RPC failed, an event was rejected, or the server is not SERVING.
inline constexpr int kExitFailed = 1;
// A bad command line or an unreadable or malformed input file; nothing sent.
inline constexpr int kExitUsage = 2;

struct CommandEnv {
  const CommandLine& line;
  std::shared_ptr<grpc::Channel> channel;
  // host:port, for hints in error messages.
  std::string server;
  absl::Duration timeout;
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
  // The text of ATTUNE_STORAGE_KEYS (empty when unset): the storage keys of
  // commands that read a database file when --key-file is not given.
  std::string storage_keys_env = "";
};

int RunSubmit(const CommandEnv& env);
int RunAssessment(const CommandEnv& env);
int RunPrompts(const CommandEnv& env);
int RunWatch(const CommandEnv& env);
int RunFeedback(const CommandEnv& env);
int RunHealth(const CommandEnv& env);
int RunModules(const CommandEnv& env);
// Loads a plugin locally; uses no channel.
int RunPlugin(const CommandEnv& env);
// Replays an event log offline through the real engine; uses no channel.
int RunReplay(const CommandEnv& env);
// Writes a database file's events as JSON lines; uses no channel.
int RunExport(const CommandEnv& env);
// Loads an event log into a SQLite or PostgreSQL store through the engine;
// uses no channel.
int RunImport(const CommandEnv& env);
// Generates and rotates storage key files; uses no channel.
int RunKeys(const CommandEnv& env);
// Verifies a database file's audit chain ("audit verify"); uses no channel.
int RunAudit(const CommandEnv& env);
// RuleAdmin.CompareShadow ("shadow compare").
int RunShadow(const CommandEnv& env);
// DataAdmin.EraseClient ("data erase-client").
int RunData(const CommandEnv& env);

// --- Shared by the commands -------------------------------------------------

// Sets the `--timeout` deadline on `context`.
void SetDeadline(const CommandEnv& env, grpc::ClientContext* context);

// "CODE: message" on one line, e.g. "INVALID_ARGUMENT: measure_recorded...".
// `code` is a google.rpc.Code.
std::string DescribeError(int code, const std::string& message);
std::string DescribeError(const grpc::Status& status);

// Prints "attunectl: <command>: CODE: message", with a hint for codes that
// usually mean a wrong --server or a short --timeout. Returns kExitFailed.
int ReportRpcError(const CommandEnv& env, const grpc::Status& status);

// Prints "attunectl: <command>: <message> (see attunectl <command> --help)".
// Returns kExitUsage.
int ReportUsageError(const CommandEnv& env, const absl::Status& status);

// Exactly one of --episode and --clinician: fills the matching request
// fields. INVALID_ARGUMENT naming both flags otherwise.
absl::Status EpisodeOrClinician(const CommandLine& line,
                                std::string* episode_id,
                                std::string* clinician_id);

}  // namespace attune::ctl

#endif  // ATTUNE_SERVICE_CTL_COMMANDS_H_
