// Shadow mode through the real attuned: with attune.rupture switched to
// shadow in the configuration file, the demo episode's rupture never reaches
// a clinician (SubmitEvent responses, a WatchPrompts stream open throughout,
// ListPrompts), yet RuleAdmin.CompareShadow and `attunectl shadow compare`
// report the check_rupture prompt the module would have raised.
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "attune/v1/rule_admin.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/integration/attuned_process.h"
#include "tests/integration/episode_script.h"

namespace attune::testing {
namespace {

constexpr char kCheckRupture[] = "attune.rupture/check_rupture";
constexpr char kCollectFeedback[] = "attune.feedback_adherence/";

std::vector<v1::SessionEvent> DemoEpisode() {
  std::ifstream in(std::string(ATTUNE_SOURCE_DIR) +
                   "/deploy/local/demo/episode.jsonl");
  EXPECT_TRUE(in.good());
  std::vector<v1::SessionEvent> events;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    v1::SessionEvent event;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &event).ok());
    events.push_back(event);
  }
  return events;
}

struct Output {
  int code;
  std::string text;  // stdout and stderr
};

Output Ctl(const AttunedProcess& server, const std::string& args) {
  std::string cmd = std::string(ATTUNE_BINARY_DIR) +
                    "/service/ctl/attunectl --server " + server.address() +
                    " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  int status = pclose(p);
  return {WEXITSTATUS(status), text};
}

bool IsShadowOrRupture(const v1::Prompt& p) {
  return p.shadow() || p.module_id() == "attune.rupture";
}

TEST(ShadowIntegrationTest, ShadowModuleIsComparedButNeverShown) {
  const std::string dir = MakeTempDir("shadow");
  const std::string config = dir + "/attuned.textproto";
  std::ofstream(config)
      << "rules {\n  modules { module_id: \"attune.rupture\" shadow: true }\n"
         "}\n";
  AttunedProcess server(dir, {"--config", config});
  ASSERT_TRUE(server.Start()) << server.Log();
  auto stub = server.stub();

  auto submit = [&](const v1::SessionEvent& event) {
    v1::SubmitEventRequest request;
    *request.mutable_event() = event;
    v1::SubmitEventResponse response;
    grpc::Status status =
        stub->SubmitEvent(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  };

  // Watch the demo clinician's caseload for the whole submission. Another
  // episode of the same clinician brackets it: its live prompt arriving
  // before proves the stream is subscribed, its update arriving after
  // proves every change published in between has been delivered (updates
  // of one stream keep their order).
  const std::vector<v1::SessionEvent> demo = DemoEpisode();
  ASSERT_FALSE(demo.empty());
  const std::string clinician = demo[0].episode().clinician_id();
  EpisodeScript sentinel("sentinel-client", clinician, "sentinel-episode");
  {  // The stream holds the channel: it must be gone before Stop().
    grpc::ClientContext watch_context;
    watch_context.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::seconds(60));
    v1::WatchPromptsRequest watch;
    watch.set_clinician_id(clinician);
    auto reader = stub->WatchPrompts(&watch_context, watch);
    // Two held sessions without a client rating: feedback_adherence prompts.
    submit(sentinel.Held(1));
    submit(sentinel.Held(2));
    v1::PromptUpdate update;
    bool subscribed = false;
    while (!subscribed && reader->Read(&update)) {
      subscribed = update.prompt().kind().rfind(kCollectFeedback, 0) == 0;
    }
    ASSERT_TRUE(subscribed);

    for (const v1::SessionEvent& event : demo) {
      v1::SubmitEventResponse response = submit(event);
      for (const v1::Prompt& p : response.prompts()) {
        EXPECT_FALSE(IsShadowOrRupture(p)) << p.kind();
      }
      for (const v1::Prompt& p : response.changed()) {
        EXPECT_FALSE(IsShadowOrRupture(p)) << p.kind();
      }
    }

    // A third session without a rating updates the sentinel prompt.
    submit(sentinel.Held(3));
    std::vector<v1::Prompt> streamed;
    bool closed_bracket = false;
    while (!closed_bracket && reader->Read(&update)) {
      streamed.push_back(update.prompt());
      closed_bracket =
          update.prompt().episode().episode_id() == "sentinel-episode" &&
          update.prompt().summary().find(" 3 ") != std::string::npos;
    }
    ASSERT_TRUE(closed_bracket);
    for (const v1::Prompt& p : streamed) {
      EXPECT_FALSE(IsShadowOrRupture(p)) << p.kind();
    }
    watch_context.TryCancel();
    reader->Finish();
  }

  // Nor does ListPrompts show it, in any status.
  v1::ListPromptsRequest list;
  list.set_episode_id(demo[0].episode().episode_id());
  for (int s = v1::PromptStatus_MIN; s <= v1::PromptStatus_MAX; ++s) {
    if (s != v1::PROMPT_STATUS_UNSPECIFIED && v1::PromptStatus_IsValid(s)) {
      list.add_statuses(static_cast<v1::PromptStatus>(s));
    }
  }
  list.set_page_size(500);
  v1::ListPromptsResponse listed;
  ASSERT_TRUE(stub->ListPrompts(Context().get(), list, &listed).ok());
  for (const v1::Prompt& p : listed.prompts()) {
    EXPECT_FALSE(IsShadowOrRupture(p)) << p.kind();
  }

  // The comparison has it: the would-be check_rupture of the demo episode.
  auto admin = v1::RuleAdmin::NewStub(server.channel());
  v1::CompareShadowRequest compare;
  compare.set_shadow_module_id("attune.rupture");
  v1::CompareShadowResponse compared;
  grpc::Status status =
      admin->CompareShadow(Context().get(), compare, &compared);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_GE(compared.summary().shadow_prompts(), 1);
  EXPECT_EQ(compared.summary().episodes_with_shadow(), 1);
  ASSERT_EQ(compared.episodes_size(), 1);
  EXPECT_EQ(compared.episodes(0).episode_id(), demo[0].episode().episode_id());
  bool would_check = false;
  for (const v1::Prompt& p : compared.episodes(0).shadow_prompts()) {
    EXPECT_TRUE(p.shadow());
    would_check = would_check || (p.kind() == kCheckRupture &&
                                  p.severity() == v1::SEVERITY_WARNING &&
                                  p.raised_at_session() > 0);
  }
  EXPECT_TRUE(would_check) << compared.DebugString();

  // A module that is not loaded is named back.
  compare.set_shadow_module_id("acme.nope");
  status = admin->CompareShadow(Context().get(), compare, &compared);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(),
            "shadow_module_id: no module acme.nope is loaded");

  // attunectl's table: the counts, episodes by number, no identifiers.
  Output table = Ctl(server, "shadow compare --module attune.rupture");
  EXPECT_EQ(table.code, 0) << table.text;
  EXPECT_NE(table.text.find("shadow module   attune.rupture"),
            std::string::npos)
      << table.text;
  EXPECT_NE(table.text.find("episode 1 "), std::string::npos) << table.text;
  EXPECT_EQ(table.text.find(demo[0].episode().episode_id()), std::string::npos)
      << table.text;
  Output with_ids =
      Ctl(server, "shadow compare --module attune.rupture --show-ids");
  EXPECT_EQ(with_ids.code, 0) << with_ids.text;
  EXPECT_NE(with_ids.text.find(demo[0].episode().episode_id()),
            std::string::npos)
      << with_ids.text;
  Output json =
      Ctl(server, "shadow compare --module attune.rupture --format json");
  EXPECT_EQ(json.code, 0) << json.text;
  EXPECT_NE(json.text.find(kCheckRupture), std::string::npos) << json.text;
  Output unknown = Ctl(server, "shadow compare --module acme.nope");
  EXPECT_EQ(unknown.code, 1) << unknown.text;
  EXPECT_NE(unknown.text.find("NOT_FOUND"), std::string::npos) << unknown.text;

  admin.reset();
  stub.reset();
  EXPECT_EQ(server.Stop(), 0);
  // The demo's identifiers never reach the server's log.
  for (const std::string& id :
       {demo[0].episode().client_id(), demo[0].episode().clinician_id(),
        demo[0].episode().episode_id()}) {
    EXPECT_EQ(server.Log().find(id), std::string::npos) << id;
  }
}

}  // namespace
}  // namespace attune::testing
