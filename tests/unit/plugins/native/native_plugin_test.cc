// LoadNativePlugin and the plugin-backed RuleModule, against the fixture
// plugins in fixtures/ (one per way a plugin can succeed or fail).
#include "service/engine/native_plugin.h"

#include <dlfcn.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "service/config/config_loader.h"
#include "service/engine/instrument_registry.h"
#include "service/engine/rule_pipeline.h"

namespace attune::engine {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

std::string Fixture(const std::string& name) {
  return std::string(NATIVE_FIXTURE_DIR) + "/native_fixture_" + name + ".so";
}

v1::SessionEvent Event(const std::string& json) {
  v1::SessionEvent event;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &event).ok())
      << json;
  return event;
}

// Two sessions of one episode: scheduled, then held.
std::vector<v1::SessionEvent> Events() {
  const std::string episode =
      R"("episode": {"clientId": "c-1", "clinicianId": "t-1",
                     "episodeId": "ep-1"})";
  return {
      Event(R"({"eventId": "e1", "occurredAt": "2026-11-02T09:00:00Z", )" +
            episode +
            R"(, "sessionScheduled": {"sessionNumber": 1,
                 "scheduledStart": "2026-11-03T09:00:00Z"}})"),
      Event(R"({"eventId": "e2", "occurredAt": "2026-11-03T10:00:00Z", )" +
            episode +
            R"(, "sessionHeld": {"sessionNumber": 1,
                 "start": "2026-11-03T09:00:00Z",
                 "end": "2026-11-03T09:50:00Z"}})"),
  };
}

// Runs `modules` through the real pipeline over Events(), the last one as
// trigger.
class PipelineRun {
 public:
  explicit PipelineRun(std::vector<std::unique_ptr<RuleModule>> modules)
      : pipeline_(std::move(modules)) {
    absl::StatusOr<v1::ServerConfig> config = config::DefaultConfig();
    EXPECT_TRUE(config.ok()) << config.status();
    rules_ = config->rules();
    absl::StatusOr<InstrumentRegistry> registry =
        InstrumentRegistry::Create(rules_);
    EXPECT_TRUE(registry.ok()) << registry.status();
    std::vector<v1::SessionEvent> events = Events();
    trigger_ = events.back();
    history_ = EpisodeHistory::Fold(std::move(events), *registry);
  }

  PipelineResult Run() const {
    return pipeline_.Run(RuleInput{history_, trigger_, rules_, day_});
  }
  const RulePipeline& pipeline() const { return pipeline_; }
  const v1::RulesConfig& rules() const { return rules_; }

 private:
  RulePipeline pipeline_;
  v1::RulesConfig rules_;
  EpisodeHistory history_;
  v1::SessionEvent trigger_;
  ClinicianDay day_;
};

// Evaluates module `index` of the fixture once over Events().
absl::Status EvaluateOnce(const std::string& fixture, std::size_t index = 0) {
  auto modules = LoadNativePlugin(Fixture(fixture), "");
  EXPECT_TRUE(modules.ok()) << modules.status();
  if (!modules.ok()) return modules.status();
  absl::StatusOr<v1::ServerConfig> config = config::DefaultConfig();
  absl::StatusOr<InstrumentRegistry> registry =
      InstrumentRegistry::Create(config->rules());
  std::vector<v1::SessionEvent> events = Events();
  v1::SessionEvent trigger = events.back();
  EpisodeHistory history = EpisodeHistory::Fold(std::move(events), *registry);
  ClinicianDay day;
  RuleOutput out;
  v1::Assessment assessment;
  out.assessment = &assessment;
  return (*modules)[index]->Evaluate(
      RuleInput{history, trigger, config->rules(), day}, out);
}

// --- The JSON a plugin receives ---------------------------------------------

TEST(NativePluginTest, HistoryJsonIsTheEpisodeThenEveryEventInClinicalOrder) {
  absl::StatusOr<v1::ServerConfig> config = config::DefaultConfig();
  ASSERT_TRUE(config.ok());
  absl::StatusOr<InstrumentRegistry> registry =
      InstrumentRegistry::Create(config->rules());
  ASSERT_TRUE(registry.ok());
  std::vector<v1::SessionEvent> events = Events();
  ASSERT_GE(events.size(), 2u);
  // Given out of order: the history (and so the JSON) is in clinical order.
  std::swap(events.front(), events.back());
  EpisodeHistory history = EpisodeHistory::Fold(events, *registry);
  absl::StatusOr<std::string> json = PluginHistoryJson(history);
  ASSERT_TRUE(json.ok()) << json.status();
  // What plugin.h documents, spelled out message by message.
  auto encode = [](const google::protobuf::Message& m) {
    std::string out;
    EXPECT_TRUE(google::protobuf::util::MessageToJsonString(m, &out).ok());
    return out;
  };
  std::string expected =
      "{\"episode\":" + encode(history.episode()) + ",\"events\":[";
  for (size_t i = 0; i < history.events().size(); ++i) {
    expected += (i == 0 ? "" : ",") + encode(history.events()[i]);
  }
  expected += "]}";
  EXPECT_EQ(*json, expected);
}

// --- Loading -----------------------------------------------------------------

TEST(NativePluginTest, GoodPluginReportsItsInfoAndModules) {
  auto loaded = LoadNativePluginWithInfo(Fixture("good"), "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const NativePluginInfo& info = loaded->info;
  EXPECT_EQ(info.path, Fixture("good"));
  EXPECT_EQ(info.name, "fixture-good");
  EXPECT_EQ(info.version, "0.3.1");
  EXPECT_EQ(info.vendor, "Attune tests");
  EXPECT_EQ(info.abi_major, 1u);
  EXPECT_EQ(info.abi_minor, 0u);
  ASSERT_EQ(info.modules.size(), 2u);
  EXPECT_EQ(info.modules[0].id, "fixture.always");
  EXPECT_EQ(info.modules[0].version, "1.0.0");
  EXPECT_EQ(info.modules[1].id, "fixture.count");
  EXPECT_EQ(info.modules[1].version, "2.1.0");
  ASSERT_EQ(loaded->modules.size(), 2u);
  EXPECT_EQ(loaded->modules[0]->id(), "fixture.always");
  EXPECT_EQ(loaded->modules[1]->version(), "2.1.0");
  EXPECT_TRUE(loaded->modules[0]->Enabled(v1::RulesConfig()));
}

TEST(NativePluginTest, MissingFileIsNotFound) {
  const std::string path = Fixture("does_not_exist");
  auto loaded = LoadNativePlugin(path, "");
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(loaded.status().message()),
              AllOf(HasSubstr(path), HasSubstr("No such file")));
}

TEST(NativePluginTest, NotASharedObjectIsRefused) {
  const std::string path =
      ::testing::TempDir() + "/native_plugin_test_not_a_library.so";
  std::ofstream(path) << "this is text, not ELF\n";
  auto loaded = LoadNativePlugin(path, "");
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(
      std::string(loaded.status().message()),
      AllOf(HasSubstr(path), HasSubstr("cannot load as a shared object")));
  std::remove(path.c_str());
}

TEST(NativePluginTest, MissingInfoSymbolIsRefused) {
  auto loaded = LoadNativePlugin(Fixture("no_info"), "");
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(loaded.status().message()),
              AllOf(HasSubstr(Fixture("no_info")),
                    HasSubstr("does not export attune_plugin_info")));
}

TEST(NativePluginTest, MissingInitSymbolIsRefused) {
  auto loaded = LoadNativePlugin(Fixture("no_init"), "");
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(loaded.status().message()),
              AllOf(HasSubstr(Fixture("no_init")),
                    HasSubstr("does not export attune_plugin_init")));
}

TEST(NativePluginTest, WrongMajorIsRefused) {
  auto loaded = LoadNativePlugin(Fixture("wrong_major"), "");
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(loaded.status().message()),
              AllOf(HasSubstr(Fixture("wrong_major")),
                    HasSubstr("built for plugin ABI 2.0"),
                    HasSubstr("major version must match")));
}

TEST(NativePluginTest, NewerMinorIsRefused) {
  auto loaded = LoadNativePlugin(Fixture("newer_minor"), "");
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(loaded.status().message()),
              AllOf(HasSubstr(Fixture("newer_minor")),
                    HasSubstr("built for plugin ABI 1.1"),
                    HasSubstr("newer than this host's ABI 1.0")));
}

TEST(NativePluginTest, OlderSmallerStructsAreReadAsFarAsTheyGo) {
  // The fixture's vendor pointer and destroy function lie beyond the
  // struct_size it declares: reading either would crash the test.
  auto loaded = LoadNativePluginWithInfo(Fixture("older_struct"), "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->info.name, "fixture-older");
  EXPECT_EQ(loaded->info.vendor, "");
  PipelineRun run(std::move(loaded->modules));
  PipelineResult result = run.Run();
  EXPECT_THAT(result.failed_modules, ::testing::IsEmpty());
  ASSERT_EQ(result.proposals.size(), 1u);
  EXPECT_EQ(result.proposals[0].proposal.prompt.kind(), "fixture.older/hello");
}

TEST(NativePluginTest, FailedInitIsRefusedWithThePluginsReason) {
  auto loaded = LoadNativePlugin(Fixture("init_fails"), "");
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(loaded.status().message()),
              AllOf(HasSubstr(Fixture("init_fails")),
                    HasSubstr("attune_plugin_init failed with "
                              "FAILED_PRECONDITION: license file missing")));
}

TEST(NativePluginTest, BadModuleIdIsRefused) {
  auto loaded = LoadNativePlugin(Fixture("bad_id"), "");
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(loaded.status().message()),
              AllOf(HasSubstr(Fixture("bad_id")),
                    HasSubstr("module id 'NoDots' is not dotted")));
}

TEST(NativePluginTest, DuplicateModuleIdIsRefusedEvenWhenIgnored) {
  auto loaded = LoadNativePlugin(Fixture("duplicate_id"), "");
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(loaded.status().message()),
              AllOf(HasSubstr(Fixture("duplicate_id")),
                    HasSubstr("module fixture.twice is registered twice")));
}

TEST(NativePluginTest, ConfigRejectedByCreateIsInvalidArgument) {
  auto loaded = LoadNativePlugin(Fixture("config_rejected"), R"({"x": 1})");
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()),
              AllOf(HasSubstr(Fixture("config_rejected")),
                    HasSubstr("module fixture.config_rejected"),
                    HasSubstr("threshold: must be a number")));
}

TEST(NativePluginTest, ConfigThatIsNotAJsonObjectIsInvalidArgument) {
  for (const char* config : {"[1, 2]", "{\"a\": ", "42"}) {
    auto loaded = LoadNativePlugin(Fixture("good"), config);
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument)
        << config;
    EXPECT_THAT(std::string(loaded.status().message()),
                AllOf(HasSubstr(Fixture("good")),
                      HasSubstr("config_json: is not a JSON object")));
  }
}

TEST(NativePluginTest, ModuleIds) {
  EXPECT_TRUE(IsValidModuleId("acme.safety_item"));
  EXPECT_TRUE(IsValidModuleId("a.b.c9"));
  for (const char* bad : {"", "acme", ".a", "a.", "a..b", "Acme.x", "a-b.c"}) {
    EXPECT_FALSE(IsValidModuleId(bad)) << bad;
  }
}

// --- Evaluating
// ----------------------------------------------------------------

TEST(NativePluginTest, GoodModulesProducePromptsThroughThePipeline) {
  auto modules = LoadNativePlugin(Fixture("good"), "");
  ASSERT_TRUE(modules.ok()) << modules.status();
  PipelineRun run(*std::move(modules));
  PipelineResult result = run.Run();
  EXPECT_THAT(result.failed_modules, ::testing::IsEmpty());
  ASSERT_EQ(result.proposals.size(), 2u);

  const ModuleProposal& always = result.proposals[0];
  EXPECT_EQ(always.module_id, "fixture.always");
  EXPECT_EQ(always.module_version, "1.0.0");
  EXPECT_EQ(always.proposal.prompt.kind(), "fixture.always/every_event");
  EXPECT_EQ(always.proposal.prompt.severity(), v1::SEVERITY_WARNING);
  EXPECT_EQ(always.proposal.prompt.priority(), 7);
  EXPECT_DOUBLE_EQ(always.proposal.strength, 2.5);
  // Strength travels in the proposal; the engine writes it to the prompt.
  EXPECT_EQ(always.proposal.prompt.strength(), 0);

  const ModuleProposal& count = result.proposals[1];
  EXPECT_EQ(count.module_id, "fixture.count");
  EXPECT_EQ(count.module_version, "2.1.0");
  // The plugin counted the events in the history JSON it was given.
  EXPECT_EQ(count.proposal.prompt.summary(), "History holds 2 events.");
  EXPECT_EQ(count.proposal.prompt.scope(), v1::PROMPT_SCOPE_EPISODE);
  EXPECT_DOUBLE_EQ(count.proposal.strength, 1);  // from SEVERITY_INFO
}

TEST(NativePluginTest, ConfigReachesCreate) {
  auto modules = LoadNativePlugin(Fixture("good"), R"({"mode": "loud"})");
  ASSERT_TRUE(modules.ok()) << modules.status();
  PipelineRun run(*std::move(modules));
  PipelineResult result = run.Run();
  ASSERT_FALSE(result.proposals.empty());
  EXPECT_EQ(result.proposals[0].proposal.prompt.severity(),
            v1::SEVERITY_CRITICAL);
}

TEST(NativePluginTest, EvaluateErrorCarriesCodeModuleAndReason) {
  absl::Status status = EvaluateOnce("eval_error");
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(status.message()),
              AllOf(HasSubstr("module fixture.eval_error"),
                    HasSubstr("evaluate returned INTERNAL: model not ready")));
}

TEST(NativePluginTest, GarbageReturnCodeIsUnknown) {
  auto modules = LoadNativePlugin(Fixture("eval_error"), "");
  ASSERT_TRUE(modules.ok()) << modules.status();
  PipelineRun run(*std::move(modules));
  PipelineResult result = run.Run();
  EXPECT_THAT(result.failed_modules,
              ElementsAre("fixture.eval_error", "fixture.eval_garbage_code"));
  absl::Status status = EvaluateOnce("eval_error", 1);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnknown);
  EXPECT_THAT(std::string(status.message()),
              AllOf(HasSubstr("module fixture.eval_garbage_code"),
                    HasSubstr("evaluate returned")));
}

TEST(NativePluginTest, GarbageJsonFailsWithoutEchoingIt) {
  absl::Status status = EvaluateOnce("garbage_json");
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(status.message()),
              AllOf(HasSubstr("module fixture.garbage_json"),
                    HasSubstr("prompt 1: is not attune.v1.Prompt JSON"),
                    Not(HasSubstr("kind"))));
}

TEST(NativePluginTest, ForeignKindFails) {
  absl::Status status = EvaluateOnce("foreign_kind");
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(status.message()),
              AllOf(HasSubstr("module fixture.foreign_kind"),
                    HasSubstr("kind must start with \"fixture.foreign_kind/\""),
                    Not(HasSubstr("attune.rupture"))));
}

TEST(NativePluginTest, SummaryOf140CharactersFails) {
  absl::Status status = EvaluateOnce("long_summary");
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(status.message()),
              AllOf(HasSubstr("module fixture.long_summary"),
                    HasSubstr("summary must be 1-139 bytes")));
}

TEST(NativePluginTest, TooManyPromptsFail) {
  absl::Status status = EvaluateOnce("flood");
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(status.message()),
              AllOf(HasSubstr("module fixture.flood"),
                    HasSubstr("limits: 32 prompts")));
}

TEST(NativePluginTest, FieldsTheEngineOwnsAreCleared) {
  auto modules = LoadNativePlugin(Fixture("flood"), "");
  ASSERT_TRUE(modules.ok()) << modules.status();
  modules->erase(modules->begin());  // keep fixture.flood_fields
  PipelineRun run(*std::move(modules));
  PipelineResult result = run.Run();
  ASSERT_EQ(result.proposals.size(), 1u);
  const v1::Prompt& p = result.proposals[0].proposal.prompt;
  EXPECT_EQ(result.proposals[0].module_id, "fixture.flood_fields");
  EXPECT_EQ(p.id(), "");
  EXPECT_EQ(p.module_id(), "");
  EXPECT_EQ(p.status(), v1::PROMPT_STATUS_UNSPECIFIED);
  EXPECT_EQ(p.raised_at_session(), 0);
  EXPECT_FALSE(p.has_expires_at());
  EXPECT_EQ(p.detail(), "Kept.");
}

TEST(NativePluginTest, FaultyModulesAreSkippedAndCountedOthersStillPrompt) {
  std::vector<std::unique_ptr<RuleModule>> modules;
  for (const char* fixture :
       {"eval_error", "good", "garbage_json", "foreign_kind", "long_summary"}) {
    auto loaded = LoadNativePlugin(Fixture(fixture), "");
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    for (auto& m : *loaded) modules.push_back(std::move(m));
  }
  PipelineRun run(std::move(modules));
  for (int i = 0; i < 2; ++i) {
    PipelineResult result = run.Run();
    EXPECT_THAT(
        result.failed_modules,
        UnorderedElementsAre("fixture.eval_error", "fixture.eval_garbage_code",
                             "fixture.garbage_json", "fixture.foreign_kind",
                             "fixture.long_summary"));
    ASSERT_EQ(result.proposals.size(), 2u);
    EXPECT_EQ(result.proposals[0].module_id, "fixture.always");
    EXPECT_EQ(result.proposals[1].module_id, "fixture.count");
  }
  for (const ModuleHealth& h : run.pipeline().Health(run.rules())) {
    EXPECT_EQ(h.evaluations, 2) << h.module_id;
    const bool good =
        h.module_id == "fixture.always" || h.module_id == "fixture.count";
    EXPECT_EQ(h.errors, good ? 0 : 2) << h.module_id;
  }
}

// --- Lifetime
// ------------------------------------------------------------------

TEST(NativePluginTest, LibraryStaysLoadedAfterModulesAreGone) {
  using CountFn = int (*)();
  int destroyed_before = 0;
  {
    auto modules = LoadNativePlugin(Fixture("good"), "");
    ASSERT_TRUE(modules.ok()) << modules.status();
    void* probe = dlopen(Fixture("good").c_str(), RTLD_NOW | RTLD_NOLOAD);
    ASSERT_NE(probe, nullptr);
    destroyed_before =
        reinterpret_cast<CountFn>(dlsym(probe, "fixture_destroyed_count"))();
    dlclose(probe);
  }  // the modules (and the destroy calls) end here; the library must not
  DrainPluginThread();  // destroy runs on the plugin thread
  void* probe = dlopen(Fixture("good").c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(probe, nullptr) << "the plugin was unloaded";
  auto count =
      reinterpret_cast<CountFn>(dlsym(probe, "fixture_destroyed_count"));
  ASSERT_NE(count, nullptr);
  // destroy ran once, for fixture.always (fixture.count has none).
  EXPECT_EQ(count(), destroyed_before + 1);
  dlclose(probe);
}

// The ABI: init once per library; info, init, create and destroy on one
// thread, never concurrently — also across reloads, whichever thread loads
// or drops the last reference to a module.
TEST(NativePluginTest, InitOnceAndLifecycleCallsOnOneThreadAcrossReloads) {
  using StatsFn = void (*)(int*, int*, int*, int*);
  auto first = LoadNativePlugin(Fixture("lifecycle"), "");
  ASSERT_TRUE(first.ok()) << first.status();
  std::vector<std::thread> threads;
  std::vector<std::vector<std::unique_ptr<RuleModule>>> reloaded(4);
  for (auto& slot : reloaded) {
    threads.emplace_back([&slot] {
      auto again = LoadNativePlugin(Fixture("lifecycle"), "{}");
      ASSERT_TRUE(again.ok()) << again.status();
      slot = *std::move(again);
    });
  }
  for (auto& t : threads) t.join();
  threads.clear();
  // Drop instances from other threads, concurrently.
  for (auto& slot : reloaded) {
    threads.emplace_back([&slot] { slot.clear(); });
  }
  threads.emplace_back([&first] { first->clear(); });
  for (auto& t : threads) t.join();
  DrainPluginThread();

  void* probe = dlopen(Fixture("lifecycle").c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(probe, nullptr);
  auto stats =
      reinterpret_cast<StatsFn>(dlsym(probe, "fixture_lifecycle_stats"));
  ASSERT_NE(stats, nullptr);
  int inits = 0, creates = 0, destroys = 0, violations = 0;
  stats(&inits, &creates, &destroys, &violations);
  dlclose(probe);
  EXPECT_EQ(inits, 1);
  EXPECT_EQ(creates, 5);
  EXPECT_EQ(destroys, 5);
  EXPECT_EQ(violations, 0) << "a lifecycle call ran on another thread or "
                              "concurrently with another";
}

}  // namespace
}  // namespace attune::engine
