// The JSON log format (service/common/log.h): one valid JSON object per
// line whatever the message and fields hold, and JsonQuote's escaping.
#include <mutex>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "service/common/log.h"

namespace attune {
namespace {

std::mutex g_mu;
std::vector<std::string> g_lines;

void Capture(std::string_view line) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_lines.emplace_back(line);
}

class LogFormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_lines.clear();
    SetLogSink(&Capture);
  }
  void TearDown() override {
    SetLogSink(nullptr);
    SetLogFormat(LogFormat::kText);
  }

  // The one captured line, parsed; fails the test unless it is exactly one
  // JSON object followed by a newline.
  google::protobuf::Struct OnlyLine() {
    google::protobuf::Struct out;
    std::lock_guard<std::mutex> lock(g_mu);
    EXPECT_EQ(g_lines.size(), 1u);
    if (g_lines.empty()) return out;
    const std::string& line = g_lines.back();
    EXPECT_EQ(line.back(), '\n');
    EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line: " << line;
    auto status = google::protobuf::util::JsonStringToMessage(line, &out);
    EXPECT_TRUE(status.ok()) << status << "\n" << line;
    return out;
  }
};

std::string Str(const google::protobuf::Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? "<absent>" : it->second.string_value();
}

TEST(JsonQuoteTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonQuote("plain"), "\"plain\"");
  EXPECT_EQ(JsonQuote("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(JsonQuote("a\\b"), "\"a\\\\b\"");
  EXPECT_EQ(JsonQuote("l1\nl2\r\tx\b\f"), "\"l1\\nl2\\r\\tx\\b\\f\"");
  EXPECT_EQ(JsonQuote(std::string("nul\0bel\x07", 8)),
            "\"nul\\u0000bel\\u0007\"");
  EXPECT_EQ(JsonQuote("esc\x1b[31m del\x7f"), "\"esc\\u001b[31m del\\u007f\"");
  EXPECT_EQ(JsonQuote(""), "\"\"");
  // '/' needs no escape; '<' neither.
  EXPECT_EQ(JsonQuote("a/b<c>"), "\"a/b<c>\"");
}

TEST(JsonQuoteTest, KeepsValidUtf8AndReplacesInvalidBytes) {
  // é, —, 😀 (2-, 3- and 4-byte sequences) pass through.
  const std::string utf8 = "caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x98\x80";
  EXPECT_EQ(JsonQuote(utf8), "\"" + utf8 + "\"");
  const std::string fffd = "\xef\xbf\xbd";
  EXPECT_EQ(JsonQuote("a\xff"
                      "b"),
            "\"a" + fffd + "b\"");
  EXPECT_EQ(JsonQuote("\xe2\x82"), "\"" + fffd + fffd + "\"");  // truncated
  EXPECT_EQ(JsonQuote("\xc0\xaf"), "\"" + fffd + fffd + "\"");  // overlong
  EXPECT_EQ(JsonQuote("\xed\xa0\x80"),
            "\"" + fffd + fffd + fffd + "\"");  // a surrogate
  EXPECT_EQ(JsonQuote("\xf4\x90\x80\x80"),
            "\"" + fffd + fffd + fffd + fffd + "\"");  // above U+10FFFF
}

TEST_F(LogFormatTest, JsonLineHasTimeLevelMessageSourceAndFields) {
  SetLogFormat(LogFormat::kJson);
  ATTUNE_LOG(WARNING) << "call refused" << LogField("code", "UNAVAILABLE")
                      << LogField("request_id", "req-1") << LogField("n", 3);
  google::protobuf::Struct line = OnlyLine();
  EXPECT_EQ(Str(line, "level"), "WARNING");
  EXPECT_EQ(Str(line, "msg"), "call refused");
  EXPECT_EQ(Str(line, "code"), "UNAVAILABLE");
  EXPECT_EQ(Str(line, "request_id"), "req-1");
  EXPECT_EQ(Str(line, "n"), "3");
  EXPECT_THAT(Str(line, "src"), ::testing::StartsWith("log_format_test.cc:"));
  EXPECT_THAT(Str(line, "time"),
              ::testing::MatchesRegex(
                  "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z"));
}

TEST_F(LogFormatTest, JsonLineStaysOneValidObjectWhateverItCarries) {
  SetLogFormat(LogFormat::kJson);
  const std::string message =
      "quote \" backslash \\ newline\nreturn\r tab\t bell\x07 "
      "utf8 caf\xc3\xa9 bad \xff end";
  ATTUNE_LOG(ERROR) << message << LogField("ke\"y\n", "va\\l\x01ue");
  google::protobuf::Struct line = OnlyLine();
  EXPECT_EQ(Str(line, "msg"),
            "quote \" backslash \\ newline\nreturn\r tab\t bell\x07 "
            "utf8 caf\xc3\xa9 bad \xef\xbf\xbd end");
  EXPECT_EQ(Str(line, "ke\"y\n"), "va\\l\x01ue");
}

TEST_F(LogFormatTest, TextFormatIsUnchanged) {
  ATTUNE_LOG(INFO) << "store opened" << LogField("journal", "wal");
  std::lock_guard<std::mutex> lock(g_mu);
  ASSERT_EQ(g_lines.size(), 1u);
  EXPECT_THAT(g_lines[0], ::testing::MatchesRegex(
                              "[0-9T:.Z-]+ INFO log_format_test.cc:[0-9]+\\] "
                              "store opened journal=wal\n"));
}

}  // namespace
}  // namespace attune
