// attunectl replay: the offline backtest over the demo episode.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/config/config_loader.h"
#include "service/ctl/cli.h"
#include "service/ctl/commands.h"
#include "service/ctl/json_lines.h"
#include "service/engine/alliance_engine.h"
#include "service/engine/module_set.h"
#include "service/store/sqlite/sqlite_store.h"
#include "tests/common/scratch.h"
#include "tests/unit/service/ctl/run_ctl.h"

namespace attune::ctl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kDemo =
    std::string(ATTUNE_SOURCE_DIR) + "/deploy/local/demo/episode.jsonl";

using Result = testing::CtlResult;
using testing::RunCtl;

std::string WriteFile(const std::string& name, const std::string& text) {
  static const std::string* const dir =
      new std::string(attune::testing::ScratchDir("ctl-replay"));
  const std::string path = *dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

void ExpectNoIdentifiers(const Result& r) {
  for (const char* id :
       {"demo-client-1", "demo-clinician-1", "demo-episode-1", "demo-00"}) {
    EXPECT_THAT(r.out, Not(HasSubstr(id)));
    EXPECT_THAT(r.err, Not(HasSubstr(id)));
  }
}

// The line of `module` in the text table, split into its columns.
std::vector<std::string> TableRow(const std::string& out,
                                  const std::string& module) {
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::vector<std::string> row;
    for (std::string w; words >> w;) row.push_back(w);
    if (!row.empty() && row[0] == module) return row;
  }
  return {};
}

TEST(ReplayTest, DemoEpisodeRaisesRuptureAndRepairWithoutIdentifiers) {
  const Result r = RunCtl({"replay", kDemo});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  const std::vector<std::string> rupture = TableRow(r.out, "attune.rupture");
  ASSERT_EQ(rupture.size(), 5u) << r.out;
  EXPECT_EQ(rupture[1], "1") << r.out;  // prompts
  EXPECT_NE(rupture[4], "0.0%") << r.out;
  const std::vector<std::string> repair = TableRow(r.out, "attune.repair");
  ASSERT_EQ(repair.size(), 5u) << r.out;
  EXPECT_EQ(repair[1], "1") << r.out;
  EXPECT_THAT(r.out, HasSubstr("check_rupture (attune.rupture, "));
  EXPECT_THAT(r.out, HasSubstr("rupture_repaired (attune.repair, "));
  EXPECT_THAT(r.out, HasSubstr("episode #1:"));
  EXPECT_THAT(r.out, HasSubstr("numbered #1, #2"));
  ExpectNoIdentifiers(r);

  const Result json = RunCtl({"replay", kDemo, "--format", "json"});
  ASSERT_EQ(json.code, kExitOk) << json.err;
  EXPECT_THAT(json.out, HasSubstr(R"("kind":"attune.rupture/check_rupture")"));
  EXPECT_THAT(json.out,
              HasSubstr(R"("kind":"attune.repair/rupture_repaired")"));
  ExpectNoIdentifiers(json);
}

// The demo's first six sessions, session 6's rating (which raises the
// rupture warning) listed after its sessionHeld, the other way round, or
// without the sessionHeld.
std::string DemoUpToSessionSix(bool rating_after_held, bool held = true) {
  std::ifstream in(kDemo);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line) && lines.size() < 23;) {
    lines.push_back(line);
  }
  EXPECT_EQ(lines.size(), 23u);
  EXPECT_THAT(lines[21], HasSubstr(R"("sessionNumber": 6, "instrument")"));
  EXPECT_THAT(lines[22], HasSubstr(R"("sessionHeld": {"sessionNumber": 6)"));
  if (rating_after_held) std::swap(lines[21], lines[22]);
  if (!held) lines.erase(lines.begin() + (rating_after_held ? 21 : 22));
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  return text;
}

// Firing rate: a warning raised by the rating recorded at the end of a held
// session counts for that session, in either order of the log, and a
// session never held does not count.
TEST(ReplayTest, FiringRateCountsTheSessionTheWarningIsAbout) {
  for (bool rating_after_held : {false, true}) {
    const Result r =
        RunCtl({"replay",
                WriteFile("six.jsonl", DemoUpToSessionSix(rating_after_held))});
    ASSERT_EQ(r.code, kExitOk) << r.err;
    const std::vector<std::string> rupture = TableRow(r.out, "attune.rupture");
    ASSERT_EQ(rupture.size(), 5u) << r.out;
    EXPECT_EQ(rupture[2], "1") << r.out;  // warnings
    EXPECT_EQ(rupture[3], "6") << r.out;  // held sessions
    EXPECT_EQ(rupture[4], "16.7%")
        << "rating after held: " << rating_after_held << "\n"
        << r.out;
  }
  const Result not_held = RunCtl(
      {"replay", WriteFile("five.jsonl", DemoUpToSessionSix(false, false))});
  ASSERT_EQ(not_held.code, kExitOk) << not_held.err;
  const std::vector<std::string> rupture =
      TableRow(not_held.out, "attune.rupture");
  ASSERT_EQ(rupture.size(), 5u) << not_held.out;
  EXPECT_EQ(rupture[2], "1") << not_held.out;
  EXPECT_EQ(rupture[3], "5") << not_held.out;
  EXPECT_EQ(rupture[4], "0.0%") << not_held.out;
}

TEST(ReplayTest, SameFinalPromptsAsTheLiveEngine) {
  std::ifstream in(kDemo);
  EventLines lines = ReadEventLines(in, kDemo);
  ASSERT_TRUE(lines.errors.empty());

  absl::StatusOr<v1::ServerConfig> config = config::LoadEffectiveConfig("");
  ASSERT_TRUE(config.ok()) << config.status();
  auto modules = engine::LoadRuleModules(*config);
  ASSERT_TRUE(modules.ok()) << modules.status();
  store::SqliteStoreOptions options;
  options.path = WriteFile("live.db", "");
  std::filesystem::remove(options.path);
  auto store = store::OpenSqliteStore(options);
  ASSERT_TRUE(store.ok()) << store.status();
  auto live = engine::AllianceEngine::Create(store->get(), *config,
                                             *std::move(modules));
  ASSERT_TRUE(live.ok()) << live.status();
  // prompt id -> "kind status", final state.
  std::map<std::string, std::string> final_state;
  std::vector<std::string> order;
  for (const NumberedEvent& e : lines.events) {
    auto response = (*live)->Submit("live", e.event);
    ASSERT_TRUE(response.ok()) << e.line << ": " << response.status();
    for (const v1::Prompt& p : response->changed()) {
      if (!final_state.count(p.id())) order.push_back(p.id());
      std::string status = v1::PromptStatus_Name(p.status()).substr(14);
      for (char& c : status) c = static_cast<char>(std::tolower(c));
      final_state[p.id()] =
          "  session " + std::to_string(p.raised_at_session()) + ": " +
          p.kind() + " (" + p.module_id() + ", " + status + ")";
    }
  }
  ASSERT_FALSE(order.empty());
  std::string expected;
  for (const std::string& id : order) expected += final_state[id] + "\n";

  const Result r = RunCtl({"replay", kDemo});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  const std::size_t begin = r.out.find("episode #1:\n");
  ASSERT_NE(begin, std::string::npos) << r.out;
  const std::size_t end = r.out.find("note:", begin);
  EXPECT_EQ(r.out.substr(begin + 12, end - begin - 12), expected);
}

TEST(ReplayTest, AgainstAConfigWithoutRuptureShowsCheckRuptureOnlyInA) {
  const std::string config = WriteFile(
      "no_rupture.textproto", "rules { rupture { enabled: false } }\n");
  const Result r = RunCtl({"replay", kDemo, "--against", config});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("only in A: attune.rupture episode #1 "
                               "attune.rupture/check_rupture"));
  EXPECT_THAT(r.out, Not(HasSubstr("only in B: attune.rupture")));
  ExpectNoIdentifiers(r);

  const Result json =
      RunCtl({"replay", kDemo, "--against", config, "--format", "json"});
  ASSERT_EQ(json.code, kExitOk) << json.err;
  EXPECT_THAT(json.out, HasSubstr(R"("only_in_a":[{)"));
}

TEST(ReplayTest, MalformedLineIsAUsageErrorNamingFileAndLine) {
  std::ifstream demo(kDemo);
  std::string first;
  std::getline(demo, first);
  const std::string path =
      WriteFile("bad.jsonl", first + "\n{\"eventId\": \"secret-id\", oops\n");
  const Result r = RunCtl({"replay", path});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr(path + ":2:"));
  EXPECT_THAT(r.err, Not(HasSubstr("secret-id")));
  EXPECT_TRUE(r.out.empty()) << r.out;
}

}  // namespace
}  // namespace attune::ctl
