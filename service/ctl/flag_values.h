// Typed values of attunectl's flags and arguments, and the short enum names
// the client prints. Each parser's error is one line naming the flag.
//
//   ATTUNE_ASSIGN_OR_RETURN(absl::Duration timeout,
//                           ParseTimeout("--timeout", "10s"));
//   ATTUNE_ASSIGN_OR_RETURN(auto statuses,
//                           ParsePromptStatuses("--status", "active,snoozed"));
//
// Pure: no I/O.
#ifndef ATTUNE_SERVICE_CTL_FLAG_VALUES_H_
#define ATTUNE_SERVICE_CTL_FLAG_VALUES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attune/v1/event.pb.h"
#include "attune/v1/prompt.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace attune::ctl {

// A positive duration such as "10s", "500ms" or "2m".
absl::StatusOr<absl::Duration> ParseTimeout(const std::string& flag,
                                            const std::string& value);

// A whole number in [min, max].
absl::StatusOr<int> ParseIntInRange(const std::string& flag,
                                    const std::string& value, int min, int max);

// Comma-separated prompt statuses: "active,acknowledged", case-insensitive,
// short ("snoozed") or full ("PROMPT_STATUS_SNOOZED") names, or "all".
absl::StatusOr<std::vector<v1::PromptStatus>> ParsePromptStatuses(
    const std::string& flag, const std::string& value);

// "accept", "dismiss" or "snooze".
absl::StatusOr<v1::PromptFeedback::Outcome> ParseFeedbackOutcome(
    const std::string& argument, const std::string& value);

// "not_relevant", "already_addressed", "incorrect", "too_many_prompts" or
// "other".
absl::StatusOr<v1::PromptFeedback::DismissReason> ParseDismissReason(
    const std::string& flag, const std::string& value);

// An RFC 3339 time with a zone, e.g. "2026-12-01T09:00:00Z" or
// "2026-12-01T10:00:00+01:00".
absl::StatusOr<google::protobuf::Timestamp> ParseRfc3339(
    const std::string& flag, const std::string& value);

// An idempotency key as SessionEvent.event_id requires: 1-128 of
// [A-Za-z0-9._:-].
absl::Status CheckEventId(const std::string& flag, const std::string& value);

// "fb-" and 16 random hex digits: the event_id of a feedback event when the
// user gives none.
std::string NewFeedbackEventId();

// Short lower-case names for display: "warning", "active", "check_rupture".
std::string ShortSeverityName(v1::Severity severity);
std::string ShortStatusName(v1::PromptStatus status);

}  // namespace attune::ctl

#endif  // ATTUNE_SERVICE_CTL_FLAG_VALUES_H_
