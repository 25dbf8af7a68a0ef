#include "service/ctl/flag_values.h"

#include <cstdint>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace attune::ctl {
namespace {

absl::Status BadValue(const std::string& flag, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat(flag, ": ", message));
}

// "SEVERITY_WARNING" -> "warning" for prefix "SEVERITY_".
std::string ShortName(const std::string& full, const std::string& prefix) {
  std::string name = full;
  if (absl::StartsWith(name, prefix)) name.erase(0, prefix.size());
  absl::AsciiStrToLower(&name);
  return name.empty() ? "?" : name;
}

constexpr const char* kStatusPrefix = "PROMPT_STATUS_";

}  // namespace

absl::StatusOr<absl::Duration> ParseTimeout(const std::string& flag,
                                            const std::string& value) {
  absl::Duration duration;
  if (!absl::ParseDuration(value, &duration)) {
    return BadValue(flag, absl::StrCat("'", value,
                                       "' is not a duration (examples: 10s, "
                                       "500ms, 2m)"));
  }
  if (duration <= absl::ZeroDuration() ||
      duration == absl::InfiniteDuration()) {
    return BadValue(flag, "must be a positive, finite duration");
  }
  return duration;
}

absl::StatusOr<int> ParseIntInRange(const std::string& flag,
                                    const std::string& value, int min,
                                    int max) {
  int parsed = 0;
  if (!absl::SimpleAtoi(value, &parsed) || parsed < min || parsed > max) {
    return BadValue(flag, absl::StrCat("expected a whole number from ", min,
                                       " to ", max, ", got '", value, "'"));
  }
  return parsed;
}

absl::StatusOr<std::vector<v1::PromptStatus>> ParsePromptStatuses(
    const std::string& flag, const std::string& value) {
  std::vector<v1::PromptStatus> statuses;
  std::string valid;
  for (int i = v1::PromptStatus_MIN + 1; i <= v1::PromptStatus_MAX; ++i) {
    if (!v1::PromptStatus_IsValid(i)) continue;
    absl::StrAppend(&valid, valid.empty() ? "" : ", ",
                    ShortStatusName(static_cast<v1::PromptStatus>(i)));
  }
  for (absl::string_view part : absl::StrSplit(value, ',')) {
    std::string word(absl::StripAsciiWhitespace(part));
    if (word.empty()) {
      return BadValue(
          flag,
          absl::StrCat("empty status in the list (valid: ", valid, ", all)"));
    }
    if (absl::EqualsIgnoreCase(word, "all")) {
      for (int i = v1::PromptStatus_MIN + 1; i <= v1::PromptStatus_MAX; ++i) {
        if (v1::PromptStatus_IsValid(i)) {
          statuses.push_back(static_cast<v1::PromptStatus>(i));
        }
      }
      continue;
    }
    std::string upper = absl::AsciiStrToUpper(word);
    if (!absl::StartsWith(upper, kStatusPrefix)) {
      upper = absl::StrCat(kStatusPrefix, upper);
    }
    v1::PromptStatus status;
    if (!v1::PromptStatus_Parse(upper, &status) ||
        status == v1::PROMPT_STATUS_UNSPECIFIED) {
      return BadValue(flag, absl::StrCat("unknown status '", word,
                                         "' (valid: ", valid, ", all)"));
    }
    statuses.push_back(status);
  }
  return statuses;
}

absl::StatusOr<v1::PromptFeedback::Outcome> ParseFeedbackOutcome(
    const std::string& argument, const std::string& value) {
  if (value == "accept") return v1::PromptFeedback::OUTCOME_ACCEPTED;
  if (value == "dismiss") return v1::PromptFeedback::OUTCOME_DISMISSED;
  if (value == "snooze") return v1::PromptFeedback::OUTCOME_SNOOZED;
  return BadValue(argument, absl::StrCat("expected accept, dismiss or "
                                         "snooze, got '",
                                         value, "'"));
}

absl::StatusOr<v1::PromptFeedback::DismissReason> ParseDismissReason(
    const std::string& flag, const std::string& value) {
  const std::string prefix = "DISMISS_REASON_";
  std::string upper = absl::AsciiStrToUpper(value);
  if (!absl::StartsWith(upper, prefix)) upper = prefix + upper;
  v1::PromptFeedback::DismissReason reason;
  if (value.empty() ||
      !v1::PromptFeedback::DismissReason_Parse(upper, &reason) ||
      reason == v1::PromptFeedback::DISMISS_REASON_UNSPECIFIED) {
    return BadValue(flag, absl::StrCat("unknown reason '", value,
                                       "' (valid: not_relevant, "
                                       "already_addressed, incorrect, "
                                       "too_many_prompts, other)"));
  }
  return reason;
}

absl::StatusOr<google::protobuf::Timestamp> ParseRfc3339(
    const std::string& flag, const std::string& value) {
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, value, &time, &error)) {
    return BadValue(flag, absl::StrCat("'", value,
                                       "' is not an RFC 3339 time (example: "
                                       "2026-12-01T09:00:00Z)"));
  }
  const int64_t seconds = absl::ToUnixSeconds(time);
  google::protobuf::Timestamp timestamp;
  timestamp.set_seconds(seconds);
  timestamp.set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
  return timestamp;
}

absl::Status CheckEventId(const std::string& flag, const std::string& value) {
  if (value.empty() || value.size() > 128) {
    return BadValue(flag, "must be 1-128 characters");
  }
  for (char c : value) {
    if (!(absl::ascii_isalnum(c) || c == '.' || c == '_' || c == ':' ||
          c == '-')) {
      return BadValue(flag, "may hold only letters, digits and . _ : -");
    }
  }
  return absl::OkStatus();
}

std::string NewFeedbackEventId() {
  std::random_device device;
  const uint64_t bits = (static_cast<uint64_t>(device()) << 32) ^ device();
  return absl::StrCat("fb-", absl::Hex(bits, absl::kZeroPad16));
}

std::string ShortSeverityName(v1::Severity severity) {
  return ShortName(v1::Severity_Name(severity), "SEVERITY_");
}

std::string ShortStatusName(v1::PromptStatus status) {
  return ShortName(v1::PromptStatus_Name(status), kStatusPrefix);
}

}  // namespace attune::ctl
