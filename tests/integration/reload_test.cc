// Hot reload of the module set in a running attuned: the operator edits the
// configuration file and asks for a reload (RuleAdmin.ReloadModules or
// SIGHUP) while clients keep submitting. No call fails, the new settings
// show in ListModules, a broken file is refused naming the file and field
// while the old set keeps serving, and each module has a health service.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "attune/v1/rule_admin.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/attuned_process.h"
#include "tests/integration/episode_script.h"

namespace attune::testing {
namespace {

using HealthStatus = grpc::health::v1::HealthCheckResponse;

// Replaces the file in one step, as an editor or a config manager would, so
// a reload never reads half a file.
void WriteConfig(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp) << text;
  ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0);
}

// Polls `condition` until it holds or 10 s have passed.
bool Eventually(const std::function<bool()>& condition) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

const v1::ModuleReport* Find(const v1::ListModulesResponse& list,
                             const std::string& id) {
  for (const v1::ModuleReport& m : list.modules()) {
    if (m.id() == id) return &m;
  }
  return nullptr;
}

class ReloadTest : public ::testing::Test {
 protected:
  void StartServer(const std::string& name, const std::string& config) {
    dir_ = MakeTempDir(name);
    config_path_ = dir_ + "/attuned.textproto";
    WriteConfig(config_path_, config);
    server_ = std::make_unique<AttunedProcess>(
        dir_, std::vector<std::string>{"--config", config_path_});
    ASSERT_TRUE(server_->Start()) << server_->Log();
    admin_ = v1::RuleAdmin::NewStub(server_->channel());
    health_ = grpc::health::v1::Health::NewStub(server_->channel());
  }

  void TearDown() override {
    // Stubs hold the channel: drop them before attuned stops.
    admin_.reset();
    health_.reset();
    if (server_ != nullptr) {
      EXPECT_EQ(server_->Stop(), 0) << server_->Log();
    }
  }

  v1::ListModulesResponse List() {
    v1::ListModulesResponse list;
    grpc::Status status =
        admin_->ListModules(Context().get(), v1::ListModulesRequest(), &list);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return list;
  }

  int64_t Generation() { return List().generation(); }

  grpc::Status Reload(v1::ReloadModulesResponse* response) {
    return admin_->ReloadModules(Context().get(), v1::ReloadModulesRequest(),
                                 response);
  }

  // The module's health service status; SERVICE_UNKNOWN when the server does
  // not know the name.
  HealthStatus::ServingStatus ModuleHealth(const std::string& module_id) {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service("attune.module." + module_id);
    HealthStatus response;
    grpc::Status status = health_->Check(Context().get(), request, &response);
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
      return HealthStatus::SERVICE_UNKNOWN;
    }
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.status();
  }

  grpc::Status SubmitOne(const std::string& episode) {
    EpisodeScript script("client-" + episode, "clinician-x", episode);
    v1::SubmitEventRequest request;
    *request.mutable_event() = script.Held(1);
    v1::SubmitEventResponse response;
    return server_->stub()->SubmitEvent(Context().get(), request, &response);
  }

  std::string dir_;
  std::string config_path_;
  std::unique_ptr<AttunedProcess> server_;
  std::unique_ptr<v1::RuleAdmin::Stub> admin_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

// Clients submitting new episodes as fast as they can, counting failures.
class SubmitLoad {
 public:
  SubmitLoad(std::shared_ptr<grpc::Channel> channel, int threads) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, channel, t] { Run(channel, t); });
    }
  }
  ~SubmitLoad() { Stop(); }

  void Stop() {
    stop_.store(true);
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  int64_t submitted() const { return submitted_.load(); }
  int64_t failed() const { return failed_.load(); }
  std::string first_error() {
    std::lock_guard<std::mutex> lock(mu_);
    return first_error_;
  }

 private:
  void Run(std::shared_ptr<grpc::Channel> channel, int thread) {
    auto stub = v1::AllianceService::NewStub(channel);
    for (int i = 0; !stop_.load(); ++i) {
      const std::string episode = absl::StrCat("ep-", thread, "-", i);
      EpisodeScript script(absl::StrCat("client-", thread, "-", i),
                           absl::StrCat("clinician-", thread), episode);
      for (int session = 1; session <= 3 && !stop_.load(); ++session) {
        for (const v1::SessionEvent& event :
             script.Session(session, 30 + session)) {
          v1::SubmitEventRequest request;
          *request.mutable_event() = event;
          v1::SubmitEventResponse response;
          grpc::Status status =
              stub->SubmitEvent(Context().get(), request, &response);
          submitted_.fetch_add(1);
          if (!status.ok()) {
            failed_.fetch_add(1);
            std::lock_guard<std::mutex> lock(mu_);
            if (first_error_.empty()) {
              first_error_ = absl::StrCat(status.error_code(), ": ",
                                          status.error_message());
            }
          }
        }
      }
    }
  }

  std::atomic<bool> stop_{false};
  std::atomic<int64_t> submitted_{0};
  std::atomic<int64_t> failed_{0};
  std::mutex mu_;
  std::string first_error_;
  std::vector<std::thread> threads_;
};

constexpr char kFeedbackAdherenceOff[] =
    "rules { feedback_adherence { enabled: false } }\n";
constexpr char kRuptureInShadow[] =
    "rules { modules { module_id: \"attune.rupture\" shadow: true } }\n";
constexpr char kBoth[] =
    "rules {\n"
    "  feedback_adherence { enabled: false }\n"
    "  modules { module_id: \"attune.rupture\" shadow: true }\n"
    "}\n"
    "tenants {\n"
    "  tenant: \"default\"\n"
    "  rules { modules { module_id: \"attune.bordin\" enabled: false } }\n"
    "}\n";

TEST_F(ReloadTest, ReloadsUnderLoadFailNoCallAndApplyTheNewSettings) {
  StartServer("reload-load", "");
  ASSERT_EQ(Generation(), 1);
  {
    const v1::ListModulesResponse list = List();
    ASSERT_NE(Find(list, "attune.feedback_adherence"), nullptr);
    EXPECT_TRUE(Find(list, "attune.feedback_adherence")->enabled());
    EXPECT_FALSE(Find(list, "attune.rupture")->shadow());
  }

  SubmitLoad load(server_->channel(), 4);
  // Each reload waits for more submissions, so reloads and calls overlap.
  auto await_progress = [&] {
    const int64_t before = load.submitted();
    ASSERT_TRUE(Eventually([&] { return load.submitted() >= before + 10; }))
        << "clients made no progress: " << load.first_error();
  };
  const std::vector<std::string> configs = {kFeedbackAdherenceOff,
                                            kRuptureInShadow, "", kBoth};
  int64_t generation = 1;
  for (size_t i = 0; i < configs.size(); ++i) {
    await_progress();
    WriteConfig(config_path_, configs[i]);
    v1::ReloadModulesResponse response;
    grpc::Status status = Reload(&response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.generation(), ++generation);
    EXPECT_GT(response.modules_size(), 0);
    // --listen and --db are re-applied: nothing needs a restart.
    EXPECT_EQ(response.restart_required_size(), 0)
        << response.restart_required(0);
  }
  // SIGHUP reloads the same way.
  for (const char* text : {kRuptureInShadow, kBoth}) {
    await_progress();
    WriteConfig(config_path_, text);
    ASSERT_TRUE(server_->Signal(SIGHUP));
    ++generation;
    ASSERT_TRUE(Eventually([&] { return Generation() == generation; }))
        << server_->Log();
  }
  await_progress();
  load.Stop();

  EXPECT_EQ(load.failed(), 0) << load.first_error();
  EXPECT_GT(load.submitted(), 0);
  const v1::ListModulesResponse list = List();
  EXPECT_EQ(list.generation(), generation);
  EXPECT_TRUE(list.has_loaded_at());
  const v1::ModuleReport* adherence = Find(list, "attune.feedback_adherence");
  const v1::ModuleReport* rupture = Find(list, "attune.rupture");
  const v1::ModuleReport* bordin = Find(list, "attune.bordin");
  ASSERT_TRUE(adherence != nullptr && rupture != nullptr && bordin != nullptr);
  EXPECT_FALSE(adherence->enabled());
  EXPECT_TRUE(rupture->shadow());
  EXPECT_TRUE(rupture->enabled());
  EXPECT_FALSE(bordin->enabled());  // the tenant's own switch
  EXPECT_EQ(rupture->source(), v1::MODULE_SOURCE_BUILTIN);
  EXPECT_EQ(rupture->state(), v1::MODULE_STATE_HEALTHY);
  // Counters are kept across the reloads: every event ran the rupture rule.
  EXPECT_GE(rupture->evaluations(), load.submitted());
  EXPECT_NE(server_->Log().find("module set reloaded"), std::string::npos);
}

TEST_F(ReloadTest, BrokenConfigIsRefusedAndTheRunningSetKeepsServing) {
  StartServer("reload-broken", kFeedbackAdherenceOff);
  ASSERT_EQ(Generation(), 1);

  // An unknown field: the parser names the file, line and field.
  WriteConfig(config_path_, "rules {\n  no_such_rule { enabled: true }\n}\n");
  v1::ReloadModulesResponse response;
  grpc::Status status = Reload(&response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find(config_path_ + ":2:"),
            std::string::npos)
      << status.error_message();
  EXPECT_NE(status.error_message().find("no_such_rule"), std::string::npos)
      << status.error_message();
  EXPECT_EQ(Generation(), 1);

  // A plugin that is not there: the file and the plugin are named.
  const std::string missing = dir_ + "/libmissing.so";
  WriteConfig(config_path_,
              absl::StrCat("plugins { path: \"", missing, "\" }\n"));
  status = Reload(&response);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.error_message().find(config_path_), std::string::npos)
      << status.error_message();
  EXPECT_NE(status.error_message().find(missing), std::string::npos)
      << status.error_message();
  EXPECT_NE(status.error_message().find("plugins[0]"), std::string::npos)
      << status.error_message();
  EXPECT_EQ(Generation(), 1);

  // Settings naming a module that is not loaded.
  WriteConfig(config_path_,
              "tenants { tenant: \"default\"\n"
              "  rules { modules { module_id: \"acme.typo\" enabled: false } } "
              "}\n");
  status = Reload(&response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(
      status.error_message().find("tenants[0].rules.modules[0].module_id"),
      std::string::npos)
      << status.error_message();

  // An out-of-range threshold, through SIGHUP: refused and logged.
  WriteConfig(config_path_,
              "rules { budget { max_visible_per_episode: 0 } }\n");
  ASSERT_TRUE(server_->Signal(SIGHUP));
  ASSERT_TRUE(Eventually([&] {
    return server_->Log().find("rules.budget.max_visible_per_episode") !=
           std::string::npos;
  })) << server_->Log();
  EXPECT_NE(server_->Log().find("reload refused"), std::string::npos);

  // Still the first set: events are served by it.
  EXPECT_EQ(Generation(), 1);
  grpc::Status submitted = SubmitOne("ep-after-broken");
  EXPECT_TRUE(submitted.ok()) << submitted.error_message();
  const v1::ListModulesResponse list = List();
  ASSERT_NE(Find(list, "attune.feedback_adherence"), nullptr);
  EXPECT_FALSE(Find(list, "attune.feedback_adherence")->enabled());
  EXPECT_EQ(Find(list, "attune.rupture")->evaluations(), 1);
}

TEST_F(ReloadTest, SettingsThatNeedARestartAreListedAndTheRestApplies) {
  StartServer("reload-restart", "");
  WriteConfig(config_path_,
              "max_batch_events: 7\n"
              "store { group_commit_max_batch: 3 }\n"
              "rules { feedback_adherence { enabled: false } }\n");
  v1::ReloadModulesResponse response;
  grpc::Status status = Reload(&response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.generation(), 2);
  EXPECT_EQ(std::vector<std::string>(response.restart_required().begin(),
                                     response.restart_required().end()),
            (std::vector<std::string>{"max_batch_events",
                                      "store.group_commit_max_batch"}));
  const v1::ListModulesResponse modules = List();
  const v1::ModuleReport* adherence =
      Find(modules, "attune.feedback_adherence");
  ASSERT_NE(adherence, nullptr);
  EXPECT_FALSE(adherence->enabled());
  EXPECT_NE(server_->Log().find("max_batch_events"), std::string::npos);
}

TEST_F(ReloadTest, EachModuleHasAHealthServiceThatFollowsItsState) {
  StartServer("reload-health", "");
  EXPECT_EQ(ModuleHealth("attune.rupture"), HealthStatus::SERVING);
  EXPECT_EQ(ModuleHealth("attune.alliance"), HealthStatus::SERVING);
  EXPECT_EQ(ModuleHealth("acme.not_loaded"), HealthStatus::SERVICE_UNKNOWN);

  // A plugin whose module always fails: healthy until it first runs.
  WriteConfig(config_path_, absl::StrCat("plugins { path: \"",
                                         NATIVE_FIXTURE_EVAL_ERROR, "\" }\n"));
  v1::ReloadModulesResponse response;
  grpc::Status status = Reload(&response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(ModuleHealth("fixture.eval_error"), HealthStatus::SERVING);

  grpc::Status submitted = SubmitOne("ep-1");
  ASSERT_TRUE(submitted.ok()) << submitted.error_message();
  const v1::ListModulesResponse list = List();
  const v1::ModuleReport* failing = Find(list, "fixture.eval_error");
  ASSERT_NE(failing, nullptr);
  EXPECT_EQ(failing->source(), v1::MODULE_SOURCE_NATIVE);
  EXPECT_EQ(failing->location(), NATIVE_FIXTURE_EVAL_ERROR);
  EXPECT_EQ(failing->state(), v1::MODULE_STATE_FAILING);
  EXPECT_EQ(failing->consecutive_failures(), 1);
  EXPECT_EQ(failing->last_error_code(), 13);  // INTERNAL
  // The poller notices within its interval.
  EXPECT_TRUE(Eventually([&] {
    return ModuleHealth("fixture.eval_error") == HealthStatus::NOT_SERVING;
  }));
  EXPECT_EQ(ModuleHealth("attune.rupture"), HealthStatus::SERVING);

  // The plugin leaves the set: its service stays known, NOT_SERVING.
  WriteConfig(config_path_, "");
  status = Reload(&response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(Find(List(), "fixture.eval_error"), nullptr);
  EXPECT_EQ(ModuleHealth("fixture.eval_error"), HealthStatus::NOT_SERVING);
  EXPECT_EQ(ModuleHealth("attune.rupture"), HealthStatus::SERVING);
}

TEST(ReloadWithoutConfigTest, NothingToReloadIsAFailedPrecondition) {
  AttunedProcess server(MakeTempDir("reload-none"));
  ASSERT_TRUE(server.Start()) << server.Log();
  {
    auto admin = v1::RuleAdmin::NewStub(server.channel());
    v1::ReloadModulesResponse response;
    grpc::Status status = admin->ReloadModules(
        Context().get(), v1::ReloadModulesRequest(), &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_EQ(status.error_message(), "no configuration file to reload");
    // SIGHUP is refused the same way, and attuned keeps running.
    ASSERT_TRUE(server.Signal(SIGHUP));
    EXPECT_TRUE(Eventually([&] {
      return server.Log().find("reload refused") != std::string::npos;
    })) << server.Log();
    v1::ListModulesResponse list;
    ASSERT_TRUE(
        admin->ListModules(Context().get(), v1::ListModulesRequest(), &list)
            .ok());
    EXPECT_EQ(list.generation(), 1);
  }
  EXPECT_EQ(server.Stop(), 0) << server.Log();
}

struct CtlOutput {
  int code;
  std::string text;  // stdout and stderr
};

CtlOutput Ctl(const AttunedProcess& server, const std::string& args) {
  const std::string cmd = std::string(ATTUNE_BINARY_DIR) +
                          "/service/ctl/attunectl --server " +
                          server.address() + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  const int status = pclose(p);
  return {WEXITSTATUS(status), text};
}

TEST_F(ReloadTest, AttunectlReloadsAndShowsSourceAndState) {
  StartServer("reload-ctl", "");
  WriteConfig(config_path_,
              "max_batch_events: 7\n"
              "rules { modules { module_id: \"attune.rupture\" shadow: true } "
              "}\n");
  CtlOutput reload = Ctl(*server_, "modules reload");
  EXPECT_EQ(reload.code, 0) << reload.text;
  EXPECT_EQ(reload.text,
            absl::StrCat("generation: 2\nmodules: ", List().modules_size(),
                         "\nrestart_required: max_batch_events\n"));

  CtlOutput table = Ctl(*server_, "modules --format table");
  EXPECT_EQ(table.code, 0) << table.text;
  std::string rupture_line;
  for (size_t start = 0, end; start < table.text.size(); start = end + 1) {
    end = table.text.find('\n', start);
    if (end == std::string::npos) end = table.text.size();
    const std::string line = table.text.substr(start, end - start);
    if (line.rfind("attune.rupture ", 0) == 0) rupture_line = line;
  }
  EXPECT_NE(table.text.find("SOURCE"), std::string::npos) << table.text;
  EXPECT_NE(table.text.find("STATE"), std::string::npos) << table.text;
  EXPECT_NE(rupture_line.find(" builtin "), std::string::npos) << table.text;
  EXPECT_NE(rupture_line.find(" shadow "), std::string::npos) << table.text;
  EXPECT_NE(rupture_line.find(" healthy "), std::string::npos) << table.text;

  WriteConfig(config_path_, "rules { no_such_rule {} }\n");
  CtlOutput refused = Ctl(*server_, "modules reload");
  EXPECT_EQ(refused.code, 1) << refused.text;
  EXPECT_NE(refused.text.find("INVALID_ARGUMENT"), std::string::npos)
      << refused.text;
  EXPECT_NE(refused.text.find(config_path_ + ":1:"), std::string::npos)
      << refused.text;
  EXPECT_EQ(Generation(), 2);
}

}  // namespace
}  // namespace attune::testing
