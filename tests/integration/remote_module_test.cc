// attuned with a remote module: the example server
// (plugins/examples/remote_cpp) runs as a child process, its prompt reaches
// SubmitEvent's response; once it is killed, events still succeed with the
// built-in prompts, promptly, and ListModules shows what happened.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "attune/v1/rule_admin.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/attuned_process.h"
#include "tests/integration/episode_script.h"

extern char** environ;

namespace attune::testing {
namespace {

constexpr char kLongGap[] = "example.long_gap/long_gap";
constexpr int kDeadlineMs = 4000;

// The example remote module on 127.0.0.1:0.
class RemoteModuleProcess {
 public:
  explicit RemoteModuleProcess(std::string dir) : dir_(std::move(dir)) {}
  ~RemoteModuleProcess() { Kill(); }

  // Starts it and waits for "listening on HOST:PORT". False on failure.
  bool Start() {
    int out[2];
    if (pipe(out) != 0) return false;
    std::vector<std::string> args = {REMOTE_MODULE_BINARY, "--listen",
                                     "127.0.0.1:0"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string log = dir_ + "/remote_module.log";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int rc = posix_spawn(&pid_, REMOTE_MODULE_BINARY, &actions, nullptr,
                               argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    if (rc != 0) {
      close(out[0]);
      pid_ = -1;
      return false;
    }
    FILE* f = fdopen(out[0], "r");
    char line[256] = {0};
    const bool ok = fgets(line, sizeof line, f) != nullptr;
    fclose(f);
    const std::string prefix = "listening on ";
    std::string s(line);
    if (!ok || s.rfind(prefix, 0) != 0) return false;
    address_ = s.substr(prefix.size());
    while (!address_.empty() && address_.back() == '\n') address_.pop_back();
    return true;
  }

  // SIGKILL: no goodbye to its clients.
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  const std::string& address() const { return address_; }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  std::string address_;
};

std::string WriteConfig(const std::string& dir, const std::string& address) {
  const std::string path = dir + "/attuned.textproto";
  std::ofstream(path) << "remote_modules {\n  address: \"" << address
                      << "\"\n  config_json: '{\"max_gap_days\": 21}'\n"
                      << "  deadline_ms: " << kDeadlineMs
                      << "\n  failure_threshold: 2\n"
                      << "  retry_after_ms: 600000\n}\n";
  return path;
}

const v1::Prompt* Find(const v1::SubmitEventResponse& r,
                       const std::string& kind) {
  for (const v1::Prompt& p : r.prompts()) {
    if (p.kind() == kind) return &p;
  }
  return nullptr;
}

const v1::ModuleReport* Report(const v1::ListModulesResponse& modules,
                               const std::string& id) {
  for (const v1::ModuleReport& m : modules.modules()) {
    if (m.id() == id) return &m;
  }
  return nullptr;
}

TEST(RemoteModuleIntegrationTest, PromptsFlowAndAKilledModuleIsSkipped) {
  const std::string dir = MakeTempDir("remote");
  RemoteModuleProcess remote(dir);
  ASSERT_TRUE(remote.Start());
  AttunedProcess server(dir, {"--config", WriteConfig(dir, remote.address())});
  ASSERT_TRUE(server.Start()) << server.Log();
  auto stub = server.stub();
  auto submit = [&](const v1::SessionEvent& event,
                    v1::SubmitEventResponse* response) {
    v1::SubmitEventRequest request;
    *request.mutable_event() = event;
    return stub->SubmitEvent(Context().get(), request, response);
  };

  // Two weekly sessions with goals agreed, then four weeks without one.
  EpisodeScript s("client-gap", "clin-1", "ep-gap");
  v1::SubmitEventResponse response;
  for (const v1::SessionEvent& e : s.Session(1, 38)) {
    ASSERT_TRUE(submit(e, &response).ok()) << e.event_id();
  }
  for (const v1::SessionEvent& e : s.Session(2, 38.5)) {
    ASSERT_TRUE(submit(e, &response).ok()) << e.event_id();
  }
  ASSERT_TRUE(submit(s.Goals(2), &response).ok());
  EXPECT_EQ(Find(response, kLongGap), nullptr);
  ASSERT_TRUE(submit(s.Held(6), &response).ok());
  const v1::Prompt* gap = Find(response, kLongGap);
  ASSERT_NE(gap, nullptr) << response.DebugString();
  EXPECT_EQ(gap->module_id(), "example.long_gap");
  EXPECT_EQ(gap->module_version(), "1.0.0");
  EXPECT_EQ(gap->severity(), v1::SEVERITY_INFO);
  EXPECT_EQ(gap->summary(), "Long break before the latest session (28 days)");
  EXPECT_EQ(gap->status(), v1::PROMPT_STATUS_ACTIVE);
  EXPECT_DOUBLE_EQ(gap->strength(), 28);

  // The module dies. Events still succeed: the built-in modules raise their
  // prompts, and the remote module's prompt stays as it was.
  remote.Kill();
  std::vector<std::chrono::steady_clock::duration> latencies;
  const std::vector<v1::SessionEvent> events = {
      s.Srs(6, 30), s.Held(7), s.Srs(7, 30), s.Held(8), s.Srs(8, 31)};
  for (const v1::SessionEvent& e : events) {
    const auto start = std::chrono::steady_clock::now();
    grpc::Status status = submit(e, &response);
    latencies.push_back(std::chrono::steady_clock::now() - start);
    ASSERT_TRUE(status.ok()) << e.event_id() << ": " << status.error_message();
    EXPECT_NE(Find(response, kLongGap), nullptr) << e.event_id();
  }
  EXPECT_NE(Find(response, "attune.rupture/check_rupture"), nullptr)
      << response.DebugString();
  EXPECT_EQ(response.assessment().sessions_held(), 5);
  // Once the circuit is open (two failures), nothing waits for the module.
  for (std::size_t i = 2; i < latencies.size(); ++i) {
    EXPECT_LT(latencies[i], std::chrono::milliseconds(kDeadlineMs / 2)) << i;
  }

  auto admin = v1::RuleAdmin::NewStub(server.channel());
  v1::ListModulesResponse modules;
  ASSERT_TRUE(
      admin->ListModules(Context().get(), v1::ListModulesRequest(), &modules)
          .ok());
  const v1::ModuleReport* report = Report(modules, "example.long_gap");
  ASSERT_NE(report, nullptr) << modules.DebugString();
  EXPECT_EQ(modules.modules(modules.modules_size() - 1).id(),
            "example.long_gap");
  EXPECT_EQ(report->source(), v1::MODULE_SOURCE_REMOTE);
  EXPECT_EQ(report->location(), remote.address());
  EXPECT_EQ(report->state(), v1::MODULE_STATE_CIRCUIT_OPEN);
  EXPECT_EQ(report->errors(), 2);
  EXPECT_EQ(report->skipped(), 3);
  EXPECT_EQ(report->consecutive_failures(), 2);
  EXPECT_EQ(report->last_error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(report->evaluations(), 8);
  admin.reset();
  stub.reset();
  EXPECT_EQ(server.Stop(), 0) << server.Log();
}

TEST(RemoteModuleIntegrationTest, UnreachableModuleStopsStartupNamingIt) {
  const std::string dir = MakeTempDir("remote-gone");
  RemoteModuleProcess remote(dir);
  ASSERT_TRUE(remote.Start());
  const std::string address = remote.address();
  remote.Kill();
  std::ofstream(dir + "/attuned.textproto")
      << "remote_modules { address: \"" << address
      << "\" connect_timeout_ms: 300 }\n";
  AttunedProcess server(dir, {"--config", dir + "/attuned.textproto"});
  EXPECT_FALSE(server.Start());
  EXPECT_EQ(server.Stop(), 1);
  EXPECT_NE(server.Log().find("remote module " + address + ": unreachable"),
            std::string::npos)
      << server.Log();
}

}  // namespace
}  // namespace attune::testing
