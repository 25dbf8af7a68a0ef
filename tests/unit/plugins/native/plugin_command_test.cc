// `attunectl plugin check` against the fixture plugins, driven like a user.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/ctl/cli.h"

namespace attune::ctl {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

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
  ASSERT_EQ(lines.size(), 7u + 3u) << r.out;
  // fixture.always after each event, fixture.count after the held session.
  EXPECT_THAT(lines[7],
              AllOf(HasSubstr(R"("kind":"fixture.always/every_event")"),
                    HasSubstr(R"("severity":"SEVERITY_CRITICAL")"),
                    HasSubstr(R"("moduleId":"fixture.always")"),
                    HasSubstr(R"("strength":2.5)")));
  EXPECT_THAT(lines[8], HasSubstr(R"("kind":"fixture.always/every_event")"));
  EXPECT_THAT(lines[9], AllOf(HasSubstr(R"("kind":"fixture.count/events")"),
                              HasSubstr("History holds 2 events.")));
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
}

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
