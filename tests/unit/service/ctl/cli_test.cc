// attunectl driven like a user, against FakeAllianceService on 127.0.0.1:0.
#include "service/ctl/cli.h"

#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/ctl/commands.h"
#include "service/ctl/json_lines.h"
#include "tests/common/scratch.h"
#include "tests/unit/service/ctl/fake_alliance_service.h"

namespace attune::ctl {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using testing::FakeServer;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

std::string EventLine(const std::string& id) {
  return R"({"eventId": ")" + id +
         R"(", "occurredAt": "2026-09-01T10:50:00Z", "episode": {"clientId":)"
         R"( "c-1", "clinicianId": "t-1", "episodeId": "ep-1"}, "sessionHeld":)"
         R"( {"sessionNumber": 1, "start": "2026-09-01T10:00:00Z", "end":)"
         R"( "2026-09-01T10:50:00Z", "modality": "MODALITY_IN_PERSON"}})";
}

class CliTest : public ::testing::Test {
 protected:
  struct Result {
    int code;
    std::string out;
    std::string err;
    std::vector<std::string> out_lines() const {
      std::vector<std::string> lines = absl::StrSplit(out, '\n');
      if (!lines.empty() && lines.back().empty()) lines.pop_back();
      return lines;
    }
  };

  Result Run(std::vector<std::string> args, const std::string& stdin_text = "",
             bool with_server = true) {
    if (with_server) {
      args.insert(args.begin(), {"--server", server_.address()});
    }
    std::istringstream in(stdin_text);
    std::ostringstream out;
    std::ostringstream err;
    const int code = RunCli(args, CliIo{&in, &out, &err, env_server_});
    return {code, out.str(), err.str()};
  }

  std::string WriteFile(const std::string& name, const std::string& text) {
    static const std::string* const dir =
        new std::string(attune::testing::ScratchDir("ctl-cli"));
    const std::string path = *dir + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  std::string ThreeEvents() {
    return WriteFile("three.jsonl", "# three events\n" + EventLine("e-1") +
                                        "\n" + EventLine("e-2") + "\n\n" +
                                        EventLine("e-3") + "\n");
  }

  void RejectE2() {
    server_.service().script().reject["e-2"] = grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        "measure_recorded.items[1]: SRS items must be within 0-10");
  }

  FakeServer server_;
  std::string env_server_;
};

TEST_F(CliTest, SubmitSendsEachEventWithTheDeadlineAndPrintsResponses) {
  Result r = Run({"--timeout", "5s", "submit", ThreeEvents()});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  ASSERT_THAT(r.out_lines(), SizeIs(3));
  for (const std::string& line : r.out_lines()) {
    EXPECT_THAT(line, HasSubstr(R"("episodeId":"ep-1")"));
  }
  EXPECT_THAT(r.err, HasSubstr("3 of 3 events sent, 3 accepted, 0 rejected"));

  auto received = server_.service().received();
  ASSERT_THAT(received.submitted, SizeIs(3));
  EXPECT_EQ(received.submitted[0].event_id(), "e-1");
  EXPECT_EQ(received.submitted[2].event_id(), "e-3");
  EXPECT_EQ(received.submitted[1].session_held().modality(),
            v1::MODALITY_IN_PERSON);
  // gRPC rounds the deadline it sends up a little; 5 s, not the default 10.
  for (auto left : received.time_left) {
    EXPECT_GT(left, std::chrono::seconds(1));
    EXPECT_LT(left, std::chrono::milliseconds(5500));
  }
}

TEST_F(CliTest, SubmitShiftFromMovesEveryTimestampByTheSameAmount) {
  const int64_t before = absl::ToUnixSeconds(absl::Now());
  Result r =
      Run({"submit", "--shift-from", "2026-09-02T10:50:00Z", ThreeEvents()});
  const int64_t after = absl::ToUnixSeconds(absl::Now());
  EXPECT_EQ(r.code, kExitOk) << r.err;
  auto received = server_.service().received();
  ASSERT_THAT(received.submitted, SizeIs(3));
  const v1::SessionEvent& e = received.submitted[0];
  // 2026-09-01T10:50:00Z is one day before the anchor: it lands a day ago.
  const int64_t day = 24 * 3600;
  EXPECT_GE(e.occurred_at().seconds(), before - day);
  EXPECT_LE(e.occurred_at().seconds(), after - day);
  // Nested timestamps move too, keeping the session's 50 minutes.
  EXPECT_EQ(e.session_held().end().seconds(), e.occurred_at().seconds());
  EXPECT_EQ(
      e.session_held().end().seconds() - e.session_held().start().seconds(),
      50 * 60);
}

TEST_F(CliTest, SubmitShiftFromRejectsABadTime) {
  Result r = Run({"submit", "--shift-from", "yesterday", ThreeEvents()});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--shift-from"));
  EXPECT_THAT(server_.service().received().submitted, IsEmpty());
}

TEST_F(CliTest, SubmitStopsAtTheFirstRejectionNamingItsLine) {
  RejectE2();
  Result r = Run({"submit", ThreeEvents()});
  EXPECT_EQ(r.code, kExitFailed);
  EXPECT_THAT(r.out_lines(), SizeIs(1));
  EXPECT_THAT(r.err, HasSubstr("line 3: INVALID_ARGUMENT: "
                               "measure_recorded.items[1]: SRS items must be "
                               "within 0-10\n"));
  EXPECT_THAT(r.err, HasSubstr("stopped before line 5"));
  EXPECT_THAT(server_.service().received().submitted, SizeIs(2));
}

TEST_F(CliTest, SubmitKeepGoingSendsTheRest) {
  RejectE2();
  Result r = Run({"submit", "--keep-going", ThreeEvents()});
  EXPECT_EQ(r.code, kExitFailed);
  EXPECT_THAT(r.out_lines(), SizeIs(2));
  EXPECT_THAT(r.err, HasSubstr("line 3: INVALID_ARGUMENT"));
  EXPECT_THAT(r.err, HasSubstr("3 of 3 events sent, 2 accepted, 1 rejected"));
  EXPECT_THAT(server_.service().received().submitted, SizeIs(3));
}

TEST_F(CliTest, SubmitInBatchesReportsPerEventResults) {
  RejectE2();
  Result r = Run({"submit", "--batch", "2", "--keep-going", ThreeEvents()});
  EXPECT_EQ(r.code, kExitFailed);
  EXPECT_THAT(r.out_lines(), SizeIs(2));
  EXPECT_THAT(r.err, HasSubstr("line 3: INVALID_ARGUMENT: measure_recorded"));
  auto received = server_.service().received();
  EXPECT_THAT(received.submitted, IsEmpty());
  ASSERT_THAT(received.batches, SizeIs(2));
  EXPECT_EQ(received.batches[0].events_size(), 2);
  EXPECT_EQ(received.batches[1].events_size(), 1);

  // Without --keep-going the second batch is not sent.
  Result stopped = Run({"submit", "--batch", "2", ThreeEvents()});
  EXPECT_EQ(stopped.code, kExitFailed);
  EXPECT_THAT(stopped.err, HasSubstr("stopped before line 5"));
  EXPECT_THAT(server_.service().received().batches, SizeIs(3));
}

TEST_F(CliTest, SubmitReadsStdin) {
  Result r = Run({"submit", "-"}, EventLine("e-9") + "\n");
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out_lines(), SizeIs(1));
}

TEST_F(CliTest, SubmitRefusesAMalformedFileAndSendsNothing) {
  const std::string path =
      WriteFile("bad.jsonl",
                EventLine("e-1") + "\n" +
                    R"({"eventId": "demo-client-secret", "noShow": 1})" + "\n");
  Result r = Run({"submit", path});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr(path + ":2: "));
  EXPECT_THAT(r.err, HasSubstr("nothing sent"));
  EXPECT_THAT(r.err, Not(HasSubstr("secret")));
  EXPECT_THAT(r.out, IsEmpty());
  EXPECT_THAT(server_.service().received().submitted, IsEmpty());

  Result missing = Run({"submit", "/nonexistent/x.jsonl"});
  EXPECT_EQ(missing.code, kExitUsage);
  EXPECT_THAT(missing.err, HasSubstr("cannot open /nonexistent/x.jsonl"));

  Result bad_batch = Run({"submit", "--batch", "0", path});
  EXPECT_EQ(bad_batch.code, kExitUsage);
  EXPECT_THAT(bad_batch.err, HasSubstr("submit: --batch: expected a whole "
                                       "number from 1 to 1000, got '0'"));
}

TEST_F(CliTest, AssessmentPrintsJsonOrNotFound) {
  Result r = Run({"assessment", "ep-1"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out_lines(),
              ElementsAre(HasSubstr(R"("status":"RUPTURE_STATUS_SUSPECTED")")));
  Result pretty = Run({"assessment", "ep-1", "--pretty"});
  EXPECT_THAT(pretty.out_lines().size(), ::testing::Gt(3u));

  Result missing = Run({"assessment", "ep-404"});
  EXPECT_EQ(missing.code, kExitFailed);
  EXPECT_EQ(missing.err, "attunectl: assessment: NOT_FOUND: unknown episode\n");
}

TEST_F(CliTest, PromptsFirstPageOrAllPages) {
  server_.service().script().prompt_pages = 3;
  Result first = Run({"prompts", "--episode", "ep-1"});
  EXPECT_EQ(first.code, kExitOk) << first.err;
  EXPECT_THAT(first.out_lines(), SizeIs(2));
  EXPECT_THAT(first.err, HasSubstr("--all-pages, or --page-token 1"));

  Result all = Run({"prompts", "--episode", "ep-1", "--all-pages", "--status",
                    "active,snoozed", "--page-size", "2"});
  EXPECT_EQ(all.code, kExitOk) << all.err;
  EXPECT_THAT(all.out_lines(), SizeIs(6));
  EXPECT_THAT(all.err, IsEmpty());
  auto lists = server_.service().received().lists;
  ASSERT_THAT(lists, SizeIs(4));
  EXPECT_EQ(lists[1].episode_id(), "ep-1");
  EXPECT_EQ(lists[1].page_size(), 2);
  EXPECT_THAT(lists[1].statuses(),
              ElementsAre(v1::PROMPT_STATUS_ACTIVE, v1::PROMPT_STATUS_SNOOZED));
  EXPECT_EQ(lists[3].page_token(), "2");
}

TEST_F(CliTest, PromptsTable) {
  Result r = Run({"prompts", "--clinician", "t-1", "--format", "table"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out_lines(),
              ElementsAre(AllOf(HasSubstr("SEVERITY"), HasSubstr("SUMMARY")),
                          HasSubstr("p-0  warning   active"),
                          HasSubstr("Check for rupture")));
  EXPECT_EQ(server_.service().received().lists.at(0).clinician_id(), "t-1");
}

TEST_F(CliTest, PromptsNeedsExactlyOneScope) {
  Result none = Run({"prompts"});
  EXPECT_EQ(none.code, kExitUsage);
  EXPECT_EQ(none.err,
            "attunectl: prompts: give --episode ID or --clinician ID (see "
            "attunectl prompts --help)\n");
  Result bad = Run({"prompts", "--episode", "e", "--status", "open"});
  EXPECT_EQ(bad.code, kExitUsage);
  EXPECT_THAT(bad.err, HasSubstr("--status: unknown status 'open'"));
  EXPECT_THAT(server_.service().received().lists, IsEmpty());
}

TEST_F(CliTest, WatchStopsAfterCountWithoutADeadline) {
  Result r = Run({"watch", "--episode", "ep-1", "--count", "2"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out_lines(), ElementsAre(AllOf(HasSubstr(R"("id":"w-0")"),
                                               HasSubstr(R"("initial":true)")),
                                         HasSubstr(R"("id":"w-1")")));
  auto received = server_.service().received();
  ASSERT_THAT(received.watches, SizeIs(1));
  EXPECT_EQ(received.watches[0].episode_id(), "ep-1");
  // No deadline: gRPC reports an infinite one as "very far away".
  EXPECT_GT(received.time_left.at(0), std::chrono::hours(24 * 365));
}

TEST_F(CliTest, WatchEndsCleanlyOnCtrlC) {
  // The handler is in place before the call starts, so the signal sent once
  // the server has written its updates is always caught.
  server_.service().script().after_watch_updates = [] {
    ::kill(::getpid(), SIGINT);
  };
  Result r = Run({"watch", "--clinician", "t-1"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.err, IsEmpty());
  // Up to 3: the cancellation may overtake updates still in flight.
  EXPECT_LE(r.out_lines().size(), 3u);
}

TEST_F(CliTest, FeedbackDismissWithReasonAndGeneratedEventId) {
  Result r =
      Run({"feedback", "p-0", "dismiss", "--reason", "already_addressed"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr(R"("status":"PROMPT_STATUS_DISMISSED")"));
  auto feedback = server_.service().received().feedback;
  ASSERT_THAT(feedback, SizeIs(1));
  EXPECT_EQ(feedback[0].prompt_id(), "p-0");
  EXPECT_EQ(feedback[0].outcome(), v1::PromptFeedback::OUTCOME_DISMISSED);
  EXPECT_EQ(feedback[0].reason(),
            v1::PromptFeedback::DISMISS_REASON_ALREADY_ADDRESSED);
  EXPECT_TRUE(
      std::regex_match(feedback[0].event_id(), std::regex("fb-[0-9a-f]{16}")));
}

TEST_F(CliTest, FeedbackSnoozeAndGivenEventId) {
  Result r = Run({"feedback", "p-0", "snooze", "--until",
                  "2026-12-01T09:00:00Z", "--event-id", "fb-42"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  r = Run({"feedback", "p-0", "accept", "--occurred-at",
           "2026-12-01T10:00:00+01:00"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  auto feedback = server_.service().received().feedback;
  ASSERT_THAT(feedback, SizeIs(2));
  EXPECT_EQ(feedback[0].event_id(), "fb-42");
  EXPECT_EQ(feedback[0].snooze_until().seconds(), 1796115600);
  EXPECT_FALSE(feedback[0].has_occurred_at());  // the server's time
  EXPECT_EQ(feedback[1].occurred_at().seconds(), 1796115600);
}

TEST_F(CliTest, FeedbackChecksItsFlagsBeforeCalling) {
  struct Case {
    std::vector<std::string> args;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{"feedback", "p-0", "snooze"}, "snooze needs --until"},
      {{"feedback", "p-0", "accept", "--until", "2026-12-01T09:00:00Z"},
       "--until goes with snooze only"},
      {{"feedback", "p-0", "accept", "--reason", "other"},
       "--reason goes with dismiss only"},
      {{"feedback", "p-0", "dismiss", "--reason", "meh"},
       "--reason: unknown reason 'meh'"},
      {{"feedback", "p-0", "ignore"}, "<outcome>: expected accept"},
      {{"feedback", "p-0", "accept", "--event-id", "a b"}, "--event-id: "},
      {{"feedback", "p-0", "accept", "--occurred-at", "today"},
       "--occurred-at: 'today' is not an RFC 3339 time"},
  };
  for (const Case& c : cases) {
    Result r = Run(c.args);
    EXPECT_EQ(r.code, kExitUsage) << c.error;
    EXPECT_THAT(r.err, HasSubstr("attunectl: feedback: " + c.error));
  }
  EXPECT_THAT(server_.service().received().feedback, IsEmpty());
}

TEST_F(CliTest, FeedbackFailureTellsHowToRetrySafely) {
  Result r = Run({"feedback", "p-9", "accept", "--event-id", "fb-7"});
  EXPECT_EQ(r.code, kExitFailed);
  EXPECT_THAT(r.err, HasSubstr("attunectl: feedback: UNAVAILABLE: store "
                               "unreachable"));
  EXPECT_THAT(r.err, HasSubstr("safe to retry with --event-id fb-7"));
}

TEST_F(CliTest, HealthSpeaksTheStandardProtocol) {
  Result serving = Run({"health"});
  EXPECT_EQ(serving.code, kExitOk) << serving.err;
  EXPECT_EQ(serving.out, "SERVING\n");

  server_.SetServing(false);
  Result not_serving = Run({"health"});
  EXPECT_EQ(not_serving.code, kExitFailed);
  EXPECT_EQ(not_serving.out, "NOT_SERVING\n");

  Result unknown = Run({"health", "--service", "no.such.Service"});
  EXPECT_EQ(unknown.code, kExitFailed);
  EXPECT_EQ(unknown.out, "SERVICE_UNKNOWN\n");
}

TEST_F(CliTest, ServerFromEnvironmentWhenNoFlag) {
  env_server_ = server_.address();
  Result r = Run({"health"}, "", /*with_server=*/false);
  EXPECT_EQ(r.code, kExitOk) << r.err;

  env_server_ = "127.0.0.1:1";  // the flag wins over the environment
  r = Run({"health"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
}

TEST_F(CliTest, UnreachableServerIsAClearError) {
  Result r =
      Run({"--server", "127.0.0.1:1", "--timeout", "2s", "assessment", "ep-1"},
          "", /*with_server=*/false);
  EXPECT_EQ(r.code, kExitFailed);
  EXPECT_THAT(r.err, HasSubstr("attunectl: assessment: UNAVAILABLE: "));
  EXPECT_THAT(r.err, HasSubstr("is the server running at 127.0.0.1:1?"));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
}

TEST_F(CliTest, HelpAndUsageErrors) {
  Result help = Run({"--help"}, "", /*with_server=*/false);
  EXPECT_EQ(help.code, kExitOk);
  EXPECT_THAT(help.out, HasSubstr("Commands:"));
  Result command_help = Run({"watch", "--help"}, "", /*with_server=*/false);
  EXPECT_EQ(command_help.code, kExitOk);
  EXPECT_THAT(command_help.out, HasSubstr("Usage: attunectl watch"));

  Result bad_timeout = Run({"--timeout", "soon", "health"});
  EXPECT_EQ(bad_timeout.code, kExitUsage);
  EXPECT_EQ(bad_timeout.err,
            "attunectl: --timeout: 'soon' is not a duration (examples: 10s, "
            "500ms, 2m)\n");
  Result unknown = Run({"frob"}, "", /*with_server=*/false);
  EXPECT_EQ(unknown.code, kExitUsage);
  EXPECT_THAT(unknown.err, HasSubstr("unknown command 'frob'"));
}

}  // namespace
}  // namespace attune::ctl
