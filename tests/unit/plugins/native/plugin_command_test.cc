// `attunectl plugin check` against the fixture plugins and the shipped
// examples, driven like a user.
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/ctl/cli.h"

namespace attune::ctl {
namespace {

using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

std::string Fixture(const std::string& name) {
  return std::string(NATIVE_FIXTURE_DIR) + "/native_fixture_" + name + ".so";
}

struct Result {
  int code;
  std::string out;
  std::string err;
  std::vector<std::string> lines() const {
    std::vector<std::string> v = absl::StrSplit(out, '\n');
    if (!v.empty() && v.back().empty()) v.pop_back();
    return v;
  }
};

Result RunAttunectl(const std::vector<std::string>& args) {
  std::istringstream in;
  std::ostringstream out;
  std::ostringstream err;
  const int code = RunCli(args, CliIo{&in, &out, &err, ""});
  return {code, out.str(), err.str()};
}

std::string EventsFile() {
  const std::string path = ::testing::TempDir() + "/plugin_check_events.jsonl";
  const std::string episode =
      R"("episode": {"clientId": "c-1", "clinicianId": "t-1", )"
      R"("episodeId": "ep-1"})";
  std::ofstream(path)
      << "# two events of one episode\n"
      << R"({"eventId": "e1", "occurredAt": "2026-11-02T09:00:00Z", )"
      << episode
      << R"(, "sessionScheduled": {"sessionNumber": 1, )"
         R"("scheduledStart": "2026-11-03T09:00:00Z"}})"
      << "\n"
      << R"({"eventId": "e2", "occurredAt": "2026-11-03T10:00:00Z", )"
      << episode
      << R"(, "sessionHeld": {"sessionNumber": 1, )"
         R"("start": "2026-11-03T09:00:00Z", "end": "2026-11-03T09:50:00Z"}})"
      << "\n";
  return path;
}

TEST(PluginCommandTest, PrintsInfoOfAGoodPlugin) {
  Result r = RunAttunectl({"plugin", "check", Fixture("good")});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.lines(),
              ElementsAre("file: " + Fixture("good"), "name: fixture-good",
                          "version: 0.3.1", "vendor: Attune tests", "abi: 1.0",
                          "module: fixture.always 1.0.0",
                          "module: fixture.count 2.1.0"));
  EXPECT_THAT(r.err, IsEmpty());
}

TEST(PluginCommandTest, RunsTheModulesOverEvents) {
  Result r = RunAttunectl({"plugin", "check", Fixture("good"), "--events",
                           EventsFile(), "--config", R"({"loud": true})"});
  EXPECT_EQ(r.code, 0) << r.err;
  std::vector<std::string> lines = r.lines();
  ASSERT_EQ(lines.size(), 7u + 3u + 1u) << r.out;
  // Each prompt names the events file line that triggered it and its module:
  // fixture.always after each event, fixture.count after the held session.
  EXPECT_THAT(lines[7],
              AllOf(StartsWith("prompt: line 2 fixture.always {"),
                    HasSubstr(R"("kind":"fixture.always/every_event")"),
                    HasSubstr(R"("severity":"SEVERITY_CRITICAL")"),
                    HasSubstr(R"("moduleId":"fixture.always")"),
                    HasSubstr(R"("strength":2.5)")));
  EXPECT_THAT(lines[8],
              AllOf(StartsWith("prompt: line 3 fixture.always {"),
                    HasSubstr(R"("kind":"fixture.always/every_event")")));
  EXPECT_THAT(lines[9], AllOf(StartsWith("prompt: line 3 fixture.count {"),
                              HasSubstr(R"("kind":"fixture.count/events")"),
                              HasSubstr("History holds 2 events.")));
  EXPECT_EQ(lines[10], "summary: 2 events, 3 prompts, 0 failures");
}

TEST(PluginCommandTest, EventsWithoutPromptsStillEndWithASummary) {
  // The safety item example only looks at questionnaires; these events hold
  // none.
  Result r =
      RunAttunectl({"plugin", "check", EXAMPLE_SAFETY_ITEM_C_SO, "--config",
                    R"({"instrument": "custom:acme.phq9", "item": 9})",
                    "--events", EventsFile()});
  EXPECT_EQ(r.code, 0) << r.err;
  std::vector<std::string> lines = r.lines();
  ASSERT_EQ(lines.size(), 6u + 1u) << r.out;
  EXPECT_EQ(lines[6], "summary: 2 events, 0 prompts, 0 failures");
}

TEST(PluginCommandTest, FailingEvaluationsExitOne) {
  Result r = RunAttunectl(
      {"plugin", "check", Fixture("eval_error"), "--events", EventsFile()});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, AllOf(HasSubstr("INTERNAL: module fixture.eval_error: "
                                     "evaluate returned INTERNAL: model not "
                                     "ready"),
                           HasSubstr("plugin_check_events.jsonl:2:"),
                           HasSubstr("4 evaluation(s) or event(s) failed")));
  ASSERT_FALSE(r.lines().empty());
  EXPECT_EQ(r.lines().back(), "summary: 2 events, 0 prompts, 4 failures");
}

// The examples ship an events.jsonl that the plugin author guide
// (plugins/sdk/README.md) and the examples' READMEs run with this command:
// with the README's configuration, line 10 (risk item scored 0) stays quiet
// and line 12 (scored 2) raises the critical prompt.
struct ShippedExample {
  std::string module_id;
  std::string so;
  std::string folder;
};

void PrintTo(const ShippedExample& example, std::ostream* os) {
  *os << example.folder;
}

class ShippedExampleTest : public ::testing::TestWithParam<ShippedExample> {};

TEST_P(ShippedExampleTest, RaisesItsPromptOnItsEventsFile) {
  const ShippedExample& example = GetParam();
  Result r = RunAttunectl(
      {"plugin", "check", example.so, "--config",
       R"({"instrument": "custom:acme.phq9", "item": 9})", "--events",
       std::string(EXAMPLES_DIR) + "/" + example.folder + "/events.jsonl"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.err, IsEmpty());
  std::vector<std::string> prompts;
  for (const std::string& line : r.lines()) {
    if (absl::StartsWith(line, "prompt: ")) prompts.push_back(line);
  }
  EXPECT_THAT(prompts,
              ElementsAre(AllOf(
                  StartsWith("prompt: line 12 " + example.module_id + " {"),
                  HasSubstr(R"("kind":")" + example.module_id +
                            R"(/risk_item_endorsed")"),
                  HasSubstr(R"("severity":"SEVERITY_CRITICAL")"),
                  HasSubstr("Item 9 of acme.phq9 was scored 2 at session 2"))));
  ASSERT_FALSE(r.lines().empty());
  EXPECT_EQ(r.lines().back(), "summary: 4 events, 1 prompts, 0 failures");
  // Events are named by line only: no id from the file reaches the output.
  EXPECT_THAT(r.out, Not(AnyOf(HasSubstr("demo-"), HasSubstr("c-demo"),
                               HasSubstr("t-demo"), HasSubstr("ep-demo"))));
}

INSTANTIATE_TEST_SUITE_P(
    Examples, ShippedExampleTest,
    ::testing::Values(ShippedExample{"example.safety_item_c",
                                     EXAMPLE_SAFETY_ITEM_C_SO, "safety_item_c"},
                      ShippedExample{"example.safety_item_cpp",
                                     EXAMPLE_SAFETY_ITEM_CPP_SO,
                                     "safety_item_cpp"}),
    [](const ::testing::TestParamInfo<ShippedExample>& info) {
      return info.param.folder;
    });

TEST(PluginCommandTest, RefusedPluginExitsOneWithTheLoadersMessage) {
  Result r = RunAttunectl({"plugin", "check", Fixture("wrong_major")});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, IsEmpty());
  EXPECT_THAT(r.err,
              AllOf(HasSubstr("attunectl: plugin check: FAILED_PRECONDITION"),
                    HasSubstr(Fixture("wrong_major")),
                    HasSubstr("built for plugin ABI 2.0")));
}

TEST(PluginCommandTest, UnknownActionIsAUsageError) {
  Result r = RunAttunectl({"plugin", "load", Fixture("good")});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown action 'load'"));
}

}  // namespace
}  // namespace attune::ctl
