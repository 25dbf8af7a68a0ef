// attuned with a native plugin: its prompts reach SubmitEvent's response,
// its modules are listed after the built-ins, and a plugin that will not
// load stops start-up naming the file.
#include <filesystem>
#include <fstream>
#include <string>

#include "attune/v1/rule_admin.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/integration/attuned_process.h"

namespace attune::testing {
namespace {

std::string WriteConfig(const std::string& dir, const std::string& plugin) {
  const std::string path = dir + "/attuned.textproto";
  std::ofstream(path) << "plugins {\n  path: \"" << plugin
                      << "\"\n  config_json: '{\"mode\": \"quiet\"}'\n}\n";
  return path;
}

v1::SessionEvent HeldSession() {
  v1::SessionEvent event;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(
                  R"({"eventId": "e1", "occurredAt": "2026-11-20T10:00:00Z",
                      "episode": {"clientId": "c-1", "clinicianId": "t-1",
                                  "episodeId": "ep-1"},
                      "sessionHeld": {"sessionNumber": 1,
                                      "start": "2026-11-20T09:00:00Z",
                                      "end": "2026-11-20T09:50:00Z"}})",
                  &event)
                  .ok());
  return event;
}

TEST(NativePluginTest, PluginPromptsAppearAndModulesAreListedLast) {
  const std::string dir = MakeTempDir("plugin");
  AttunedProcess server(dir,
                        {"--config", WriteConfig(dir, NATIVE_FIXTURE_GOOD)});
  ASSERT_TRUE(server.Start()) << server.Log();

  v1::SubmitEventRequest request;
  *request.mutable_event() = HeldSession();
  v1::SubmitEventResponse response;
  ASSERT_TRUE(
      server.stub()->SubmitEvent(Context().get(), request, &response).ok());
  bool found = false;
  for (const v1::Prompt& p : response.prompts()) {
    if (p.kind() != "fixture.always/every_event") continue;
    found = true;
    EXPECT_EQ(p.module_id(), "fixture.always");
    EXPECT_EQ(p.module_version(), "1.0.0");
    EXPECT_EQ(p.severity(), v1::SEVERITY_WARNING);
    EXPECT_EQ(p.status(), v1::PROMPT_STATUS_ACTIVE);
    EXPECT_DOUBLE_EQ(p.strength(), 2.5);
  }
  EXPECT_TRUE(found) << response.DebugString();

  auto admin = v1::RuleAdmin::NewStub(server.channel());
  v1::ListModulesResponse modules;
  ASSERT_TRUE(
      admin->ListModules(Context().get(), v1::ListModulesRequest(), &modules)
          .ok());
  const int n = modules.modules_size();
  ASSERT_GE(n, 3);
  EXPECT_EQ(modules.modules(0).id(), "attune.alliance");
  EXPECT_EQ(modules.modules(n - 2).id(), "fixture.always");
  EXPECT_EQ(modules.modules(n - 1).id(), "fixture.count");
  EXPECT_EQ(modules.modules(n - 1).version(), "2.1.0");
  EXPECT_EQ(modules.modules(n - 2).evaluations(), 1);
  EXPECT_EQ(modules.modules(n - 2).errors(), 0);
  for (int i = 0; i < n - 2; ++i) {
    EXPECT_EQ(modules.modules(i).id().rfind("attune.", 0), 0u)
        << modules.modules(i).id();
  }
  admin.reset();
  EXPECT_EQ(server.Stop(), 0);
}

TEST(NativePluginTest, MissingPluginStopsStartupNamingTheFile) {
  const std::string dir = MakeTempDir("plugin-missing");
  const std::string missing = dir + "/libnot_there.so";
  AttunedProcess server(dir, {"--config", WriteConfig(dir, missing)});
  EXPECT_FALSE(server.Start());
  EXPECT_EQ(server.Stop(), 1);
  EXPECT_NE(server.Log().find("plugin " + missing + ": No such file"),
            std::string::npos)
      << server.Log();
}

TEST(NativePluginTest, RefusedPluginStopsStartupWithTheReason) {
  const std::string dir = MakeTempDir("plugin-major");
  AttunedProcess server(
      dir, {"--config", WriteConfig(dir, NATIVE_FIXTURE_WRONG_MAJOR)});
  EXPECT_FALSE(server.Start());
  EXPECT_EQ(server.Stop(), 1);
  EXPECT_NE(
      server.Log().find(std::string("plugin ") + NATIVE_FIXTURE_WRONG_MAJOR +
                        ": built for plugin ABI 2.0"),
      std::string::npos)
      << server.Log();
}

TEST(NativePluginTest, ModuleIdTakenTwiceStopsStartup) {
  const std::string dir = MakeTempDir("plugin-twice");
  const std::string copy = dir + "/copy_of_good.so";
  std::filesystem::copy_file(NATIVE_FIXTURE_GOOD, copy);
  const std::string config = dir + "/attuned.textproto";
  std::ofstream(config) << "plugins { path: \"" << NATIVE_FIXTURE_GOOD
                        << "\" }\nplugins { path: \"" << copy << "\" }\n";
  AttunedProcess server(dir, {"--config", config});
  EXPECT_FALSE(server.Start());
  EXPECT_EQ(server.Stop(), 1);
  EXPECT_NE(server.Log().find("plugin " + copy +
                              ": module fixture.always is already provided"),
            std::string::npos)
      << server.Log();
}

}  // namespace
}  // namespace attune::testing
