#include "service/ctl/prompt_table.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace attune::ctl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

v1::Prompt MakePrompt(const std::string& id, const std::string& episode,
                      v1::Severity severity, v1::PromptStatus status,
                      const std::string& kind, const std::string& summary) {
  v1::Prompt prompt;
  prompt.set_id(id);
  prompt.mutable_episode()->set_episode_id(episode);
  prompt.set_severity(severity);
  prompt.set_status(status);
  prompt.set_kind(kind);
  prompt.set_summary(summary);
  return prompt;
}

TEST(PromptTableTest, AlignsColumnsOfOneEpisode) {
  const std::string table = FormatPromptTable(
      {MakePrompt("p-1", "ep", v1::SEVERITY_WARNING, v1::PROMPT_STATUS_ACTIVE,
                  "attune.rupture/check_rupture", "Check for rupture"),
       MakePrompt("p-22", "ep", v1::SEVERITY_INFO,
                  v1::PROMPT_STATUS_ACKNOWLEDGED, "attune.phase/agree_goals",
                  "Agree goals\nand tasks")});
  EXPECT_EQ(table,
            "ID    SEVERITY  STATUS        KIND                          "
            "SUMMARY\n"
            "p-1   warning   active        attune.rupture/check_rupture  "
            "Check for rupture\n"
            "p-22  info      acknowledged  attune.phase/agree_goals      "
            "Agree goals and tasks\n");
}

TEST(PromptTableTest, ShowsEpisodesOfACaseload) {
  const std::string table =
      FormatPromptTable({MakePrompt("p-1", "ep-a", v1::SEVERITY_WARNING,
                                    v1::PROMPT_STATUS_ACTIVE, "k", "s"),
                         MakePrompt("p-2", "ep-b", v1::SEVERITY_INFO,
                                    v1::PROMPT_STATUS_QUEUED, "k", "s")});
  EXPECT_THAT(table, HasSubstr("ID   EPISODE  SEVERITY"));
  EXPECT_THAT(table, HasSubstr("p-2  ep-b     info      queued"));
}

TEST(PromptTableTest, SaysSoWhenEmpty) {
  EXPECT_EQ(FormatPromptTable({}), "no prompts\n");
  EXPECT_THAT(FormatPromptTable({}), Not(HasSubstr("SEVERITY")));
}

}  // namespace
}  // namespace attune::ctl
