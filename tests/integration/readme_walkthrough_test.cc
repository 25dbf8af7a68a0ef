// The README's walkthrough, run as a newcomer would: the real attunectl
// against the real attuned, with the demo episode.
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "gtest/gtest.h"
#include "tests/integration/attuned_process.h"

namespace attune::testing {
namespace {

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

std::string Demo(const std::string& file) {
  return std::string(ATTUNE_SOURCE_DIR) + "/deploy/local/demo/" + file;
}

TEST(ReadmeWalkthroughTest, DemoShowsRuptureThenRepair) {
  AttunedProcess server(MakeTempDir("walkthrough"));
  ASSERT_TRUE(server.Start()) << server.Log();

  EXPECT_EQ(Ctl(server, "health").text, "SERVING\n");
  Output part1 = Ctl(server, "submit " + Demo("episode-part1.jsonl"));
  ASSERT_EQ(part1.code, 0) << part1.text;

  Output table = Ctl(server, "prompts --episode demo-episode-1 --format table");
  ASSERT_EQ(table.code, 0) << table.text;
  EXPECT_NE(table.text.find("attune.rupture/check_rupture"), std::string::npos)
      << table.text;
  auto id_at = table.text.find("p-");
  ASSERT_NE(id_at, std::string::npos);
  std::string id = table.text.substr(id_at, 18);

  Output accepted = Ctl(server, "feedback " + id + " accept");
  EXPECT_EQ(accepted.code, 0) << accepted.text;
  EXPECT_NE(accepted.text.find("PROMPT_STATUS_ACKNOWLEDGED"),
            std::string::npos);

  Output part2 = Ctl(server, "submit " + Demo("episode-part2.jsonl"));
  ASSERT_EQ(part2.code, 0) << part2.text;
  EXPECT_NE(part2.text.find("attune.repair/rupture_repaired"),
            std::string::npos);

  Output assessment = Ctl(server, "assessment demo-episode-1");
  EXPECT_NE(assessment.text.find("RUPTURE_STATUS_REPAIRED"), std::string::npos)
      << assessment.text;
  EXPECT_NE(assessment.text.find("PHASE_CLOSED"), std::string::npos);

  Output invalid = Ctl(server, "submit " + Demo("invalid-event.jsonl"));
  EXPECT_EQ(invalid.code, 1);
  EXPECT_NE(invalid.text.find("INVALID_ARGUMENT: measure_recorded.items[1]"),
            std::string::npos)
      << invalid.text;

  Output modules = Ctl(server, "modules --format table");
  EXPECT_EQ(modules.code, 0) << modules.text;
  EXPECT_NE(modules.text.find("attune.rupture"), std::string::npos);
  EXPECT_NE(modules.text.find("attune.clinician_load"), std::string::npos);

  EXPECT_EQ(server.Stop(), 0);
  // The demo's identifiers never reach the server's log.
  for (const char* id :
       {"demo-client-1", "demo-clinician-1", "demo-episode-1"}) {
    EXPECT_EQ(server.Log().find(id), std::string::npos) << id;
  }
}

}  // namespace
}  // namespace attune::testing
