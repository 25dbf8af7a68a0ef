#include "service/ctl/json_lines.h"

#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace attune::ctl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kGoodLine[] =
    R"({"eventId": "e-1", "occurredAt": "2026-09-01T10:47:00Z",)"
    R"( "episode": {"clientId": "c", "clinicianId": "t", "episodeId": "ep"},)"
    R"( "measureRecorded": {"sessionNumber": 1, "instrument": "INSTRUMENT_SRS",)"
    R"( "rater": "RATER_CLIENT", "items": [9, 9, 9, 9.5]}})";

TEST(JsonLinesTest, ReadsEventsSkippingBlankAndCommentLines) {
  std::istringstream in(
      std::string("\xEF\xBB\xBF# header\n\n") + kGoodLine + "\r\n   \n" +
      R"({"event_id": "e-2", "session_held": {"session_number": 1}})" + "\n");
  EventLines lines = ReadEventLines(in, "x.jsonl");
  EXPECT_TRUE(lines.errors.empty());
  ASSERT_EQ(lines.events.size(), 2u);
  EXPECT_EQ(lines.events[0].line, 3);
  EXPECT_EQ(lines.events[0].event.event_id(), "e-1");
  EXPECT_EQ(lines.events[0].event.measure_recorded().items_size(), 4);
  EXPECT_EQ(lines.events[0].event.episode().episode_id(), "ep");
  // Original proto field names are accepted too.
  EXPECT_EQ(lines.events[1].line, 5);
  EXPECT_EQ(lines.events[1].event.session_held().session_number(), 1);
}

// Every error names file and line, carries the parser's gist, and shows no
// piece of the line: "secret" stands for an identifier.
TEST(JsonLinesTest, ParseErrorsNameTheLineButNotItsContent) {
  struct Case {
    std::string json;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {R"({"eventId": "secret-1", "measureRecorded": {"items": [1, "secret-x"]}})",
       "measure_recorded.items[1]: invalid value, expected number"},
      {R"({"eventId": "secret-1", "measureRecorded": {"rater": "SECRET_RATER"}})",
       "measure_recorded.rater: invalid value, expected attune.v1.Rater"},
      {R"({"eventId": "secret-1", "occurredAt": "secret-time"})",
       "occurred_at: invalid value, expected google.protobuf.Timestamp"},
      {R"({"eventId": 12345})", "event_id: invalid value, expected string"},
      {R"({"eventId": "secret-1", "secretKey": 1})", "unknown field"},
      {R"({"eventId": "secret-1" "x": 1})", "Expected , or }"},
      {R"({"eventId": secret-1})", "Unexpected token"},
      {R"({"eventId": "secret-1", "sessionHeld": {}, "noShow": {}})",
       "more than one payload"},
      {R"({"eventId": "secret-1")", "Unexpected end of string"},
      {R"(["secret"])", "Root element must be a message"},
  };
  for (const Case& c : cases) {
    std::istringstream in("# comment\n" + c.json + "\n");
    EventLines lines = ReadEventLines(in, "demo.jsonl");
    ASSERT_EQ(lines.errors.size(), 1u) << c.json;
    const std::string& error = lines.errors[0];
    EXPECT_THAT(error, HasSubstr("demo.jsonl:2: ")) << c.json;
    EXPECT_THAT(error, HasSubstr(c.expected)) << c.json;
    EXPECT_THAT(error, Not(HasSubstr("secret"))) << error;
    EXPECT_THAT(error, Not(HasSubstr("SECRET"))) << error;
    EXPECT_THAT(error, Not(HasSubstr("12345"))) << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
}

TEST(JsonLinesTest, SanitizeDropsQuotedRunsOfUnknownMessages) {
  EXPECT_EQ(SanitizeJsonParseError("odd \"secret\" thing\nsecret\n   ^"),
            "odd \"...\" thing");
}

TEST(JsonLinesTest, KeepsGoingAfterBadLinesAndCountsThem) {
  std::istringstream in(std::string("{\n") + kGoodLine + "\n{]\n");
  EventLines lines = ReadEventLines(in, "<stdin>");
  EXPECT_EQ(lines.events.size(), 1u);
  ASSERT_EQ(lines.errors.size(), 2u);
  EXPECT_THAT(lines.errors[0], HasSubstr("<stdin>:1: "));
  EXPECT_THAT(lines.errors[1], HasSubstr("<stdin>:3: "));
}

TEST(JsonLinesTest, WritesOneLineOrPretty) {
  v1::SessionEvent event;
  event.set_event_id("e-1");
  event.mutable_session_held()->set_session_number(3);
  event.mutable_session_held()->set_modality(v1::MODALITY_IN_PERSON);
  std::ostringstream out;
  ASSERT_TRUE(WriteJson(event, /*pretty=*/false, out).ok());
  EXPECT_EQ(out.str(), R"({"eventId":"e-1","sessionHeld":{"sessionNumber":3,)"
                       R"("modality":"MODALITY_IN_PERSON"}})"
                       "\n");
  std::ostringstream pretty;
  ASSERT_TRUE(WriteJson(event, /*pretty=*/true, pretty).ok());
  EXPECT_THAT(pretty.str(), HasSubstr("\n \"eventId\": \"e-1\""));
  EXPECT_NE(pretty.str().substr(pretty.str().size() - 2), "\n\n");
}

}  // namespace
}  // namespace attune::ctl
