#include "service/ctl/flag_values.h"

#include <regex>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace attune::ctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(FlagValuesTest, Timeout) {
  absl::StatusOr<absl::Duration> timeout = ParseTimeout("--timeout", "10s");
  ASSERT_TRUE(timeout.ok());
  EXPECT_EQ(*timeout, absl::Seconds(10));
  EXPECT_EQ(*ParseTimeout("--timeout", "250ms"), absl::Milliseconds(250));
  for (const char* bad : {"10", "abc", "0s", "-1s", "inf", ""}) {
    absl::StatusOr<absl::Duration> parsed = ParseTimeout("--timeout", bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    EXPECT_THAT(parsed.status().message(), HasSubstr("--timeout: "));
  }
}

TEST(FlagValuesTest, IntInRange) {
  EXPECT_EQ(*ParseIntInRange("--batch", "7", 1, 1000), 7);
  for (const char* bad : {"0", "1001", "x", "2.5", ""}) {
    absl::StatusOr<int> parsed = ParseIntInRange("--batch", bad, 1, 1000);
    EXPECT_FALSE(parsed.ok()) << bad;
    EXPECT_THAT(parsed.status().message(),
                HasSubstr("--batch: expected a whole number from 1 to 1000"));
  }
}

TEST(FlagValuesTest, PromptStatuses) {
  absl::StatusOr<std::vector<v1::PromptStatus>> statuses = ParsePromptStatuses(
      "--status", "active, Acknowledged,PROMPT_STATUS_QUEUED");
  ASSERT_TRUE(statuses.ok()) << statuses.status();
  EXPECT_THAT(*statuses, ElementsAre(v1::PROMPT_STATUS_ACTIVE,
                                     v1::PROMPT_STATUS_ACKNOWLEDGED,
                                     v1::PROMPT_STATUS_QUEUED));
  statuses = ParsePromptStatuses("--status", "all");
  ASSERT_TRUE(statuses.ok());
  EXPECT_EQ(statuses->size(), 7u);

  for (const char* bad : {"unspecified", "activ", "active,,snoozed", ""}) {
    statuses = ParsePromptStatuses("--status", bad);
    EXPECT_FALSE(statuses.ok()) << bad;
    EXPECT_THAT(statuses.status().message(), HasSubstr("--status: "));
    EXPECT_THAT(statuses.status().message(), HasSubstr("acknowledged"));
  }
}

TEST(FlagValuesTest, FeedbackWords) {
  EXPECT_EQ(*ParseFeedbackOutcome("<outcome>", "accept"),
            v1::PromptFeedback::OUTCOME_ACCEPTED);
  EXPECT_EQ(*ParseFeedbackOutcome("<outcome>", "dismiss"),
            v1::PromptFeedback::OUTCOME_DISMISSED);
  EXPECT_EQ(*ParseFeedbackOutcome("<outcome>", "snooze"),
            v1::PromptFeedback::OUTCOME_SNOOZED);
  EXPECT_THAT(ParseFeedbackOutcome("<outcome>", "ok").status().message(),
              HasSubstr("<outcome>: expected accept, dismiss or snooze"));

  EXPECT_EQ(*ParseDismissReason("--reason", "not_relevant"),
            v1::PromptFeedback::DISMISS_REASON_NOT_RELEVANT);
  EXPECT_EQ(*ParseDismissReason("--reason", "already_addressed"),
            v1::PromptFeedback::DISMISS_REASON_ALREADY_ADDRESSED);
  EXPECT_EQ(*ParseDismissReason("--reason", "incorrect"),
            v1::PromptFeedback::DISMISS_REASON_INCORRECT);
  EXPECT_EQ(*ParseDismissReason("--reason", "too_many_prompts"),
            v1::PromptFeedback::DISMISS_REASON_TOO_MANY_PROMPTS);
  EXPECT_EQ(*ParseDismissReason("--reason", "other"),
            v1::PromptFeedback::DISMISS_REASON_OTHER);
  for (const char* bad : {"", "unspecified", "boring"}) {
    EXPECT_THAT(ParseDismissReason("--reason", bad).status().message(),
                HasSubstr("--reason: unknown reason"));
  }
}

TEST(FlagValuesTest, Rfc3339) {
  absl::StatusOr<google::protobuf::Timestamp> t =
      ParseRfc3339("--until", "2026-12-01T09:00:00Z");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->seconds(), 1796115600);
  EXPECT_EQ(t->nanos(), 0);
  t = ParseRfc3339("--until", "2026-12-01T10:00:00.5+01:00");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->seconds(), 1796115600);
  EXPECT_EQ(t->nanos(), 500000000);
  for (const char* bad : {"2026-12-01", "tomorrow", "2026-12-01T09:00:00"}) {
    EXPECT_THAT(ParseRfc3339("--until", bad).status().message(),
                HasSubstr("--until: "))
        << bad;
  }
}

TEST(FlagValuesTest, EventIds) {
  EXPECT_TRUE(CheckEventId("--event-id", "fb-1.a_b:C").ok());
  EXPECT_FALSE(CheckEventId("--event-id", "").ok());
  EXPECT_FALSE(CheckEventId("--event-id", "has space").ok());
  EXPECT_FALSE(CheckEventId("--event-id", std::string(129, 'a')).ok());

  std::set<std::string> ids;
  const std::regex shape("fb-[0-9a-f]{16}");
  for (int i = 0; i < 100; ++i) {
    const std::string id = NewFeedbackEventId();
    EXPECT_TRUE(std::regex_match(id, shape)) << id;
    EXPECT_TRUE(CheckEventId("--event-id", id).ok());
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 100u);
}

TEST(FlagValuesTest, ShortNames) {
  EXPECT_EQ(ShortSeverityName(v1::SEVERITY_WARNING), "warning");
  EXPECT_EQ(ShortStatusName(v1::PROMPT_STATUS_ACKNOWLEDGED), "acknowledged");
}

}  // namespace
}  // namespace attune::ctl
