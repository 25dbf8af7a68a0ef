#include "service/ctl/command_line.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/ctl/cli.h"

namespace attune::ctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

absl::StatusOr<CommandLine> Parse(std::vector<std::string> args) {
  return ParseCommandLine(args, AttunectlSpec());
}

TEST(CommandLineTest, ParsesCommandArgumentsAndFlagsInAnyOrder) {
  absl::StatusOr<CommandLine> line =
      Parse({"--server", "h:1", "submit", "--batch=5", "f.jsonl",
             "--keep-going", "--timeout", "3s"});
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(line->command, "submit");
  EXPECT_THAT(line->arguments, ElementsAre("f.jsonl"));
  EXPECT_THAT(
      line->flags,
      UnorderedElementsAre(Pair("server", "h:1"), Pair("batch", "5"),
                           Pair("keep-going", "true"), Pair("timeout", "3s")));
  EXPECT_FALSE(line->help);
}

TEST(CommandLineTest, DashIsStdinAndDoubleDashEndsFlags) {
  absl::StatusOr<CommandLine> line = Parse({"submit", "-"});
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_THAT(line->arguments, ElementsAre("-"));

  line = Parse({"assessment", "--", "--odd-episode-id"});
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_THAT(line->arguments, ElementsAre("--odd-episode-id"));
}

TEST(CommandLineTest, HelpForms) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--help"}, {"-h"}, {"help"}, {}}) {
    absl::StatusOr<CommandLine> line = Parse(args);
    if (args.empty()) {
      EXPECT_FALSE(line.ok());  // no command: an error, with the hint
      continue;
    }
    ASSERT_TRUE(line.ok()) << line.status();
    EXPECT_TRUE(line->help);
    EXPECT_EQ(line->command, "");
  }
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"help", "feedback"}, {"feedback", "--help"}, {"feedback", "-h"}}) {
    absl::StatusOr<CommandLine> line = Parse(args);
    ASSERT_TRUE(line.ok()) << line.status();
    EXPECT_TRUE(line->help);
    EXPECT_EQ(line->command, "feedback");
  }
}

TEST(CommandLineTest, ErrorsNameTheFlagOrArgument) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"frob"}, "unknown command 'frob'"},
      {{"submit", "f", "--bach", "2"}, "submit: unknown flag --bach"},
      {{"submit", "f", "-x"}, "submit: unknown flag -x"},
      {{"submit", "f", "--batch"}, "--batch needs a value N"},
      {{"submit", "f", "--keep-going=yes"}, "--keep-going takes no value"},
      {{"submit", "f", "--batch", "1", "--batch", "2"},
       "--batch is given more than once"},
      {{"submit"}, "submit: missing argument <file.jsonl|->"},
      {{"submit", "a", "b"}, "submit: unexpected argument #2"},
      {{"feedback", "p1"}, "missing argument <outcome>"},
      {{"--batch", "2", "submit", "f"}, "--batch must follow the command"},
      {{"health", "--episode", "e"}, "health: unknown flag --episode"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<CommandLine> line = Parse(c.args);
    ASSERT_FALSE(line.ok()) << c.message;
    EXPECT_EQ(line.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(line.status().message(), HasSubstr(c.message));
    EXPECT_THAT(line.status().message(), HasSubstr("--help)"));
    EXPECT_EQ(line.status().message().find('\n'), absl::string_view::npos);
  }
}

TEST(CommandLineTest, HelpTextsListFlagsAndExamples) {
  const CommandLineSpec& spec = AttunectlSpec();
  const std::string overview = OverviewHelp(spec);
  for (const CommandSpec& command : spec.commands) {
    EXPECT_THAT(overview, HasSubstr(command.name));
    const std::string help = CommandHelp(spec, command);
    EXPECT_THAT(help, HasSubstr("Usage: attunectl " + command.name));
    EXPECT_THAT(help, HasSubstr("Examples:"));
    EXPECT_THAT(help, HasSubstr("--timeout"));
    for (const FlagSpec& flag : command.flags) {
      EXPECT_THAT(help, HasSubstr("--" + flag.name));
    }
  }
}

}  // namespace
}  // namespace attune::ctl
