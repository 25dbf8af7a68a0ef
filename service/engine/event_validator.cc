#include "service/engine/event_validator.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/timestamp.pb.h"
#include "service/common/status_macros.h"

namespace attune::engine {
namespace {

using ::google::protobuf::Timestamp;

constexpr size_t kMaxIdLength = 128;
constexpr int kMaxPlannedMinutes = 600;
constexpr absl::Duration kMaxSessionLength = absl::Hours(12);
// The range google.protobuf.Timestamp allows: 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59Z.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;
constexpr int32_t kMaxNanos = 999999999;
// event.proto: a total sent with items must equal their sum within 0.05.
constexpr double kSumTolerance = 0.05;

// Messages carry field paths, rules and limits only; no caller may pass a
// value taken from the event into `rule`.
absl::Status Invalid(absl::string_view field, absl::string_view rule) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", rule));
}

std::string Path(absl::string_view parent, absl::string_view child) {
  return absl::StrCat(parent, ".", child);
}

// "24h", "90 days": whole multiples of a day read better in days.
std::string DescribeDuration(absl::Duration d) {
  absl::Duration rem;
  int64_t days = absl::IDivDuration(d, absl::Hours(24), &rem);
  if (days >= 2 && rem == absl::ZeroDuration()) {
    return absl::StrCat(days, " days");
  }
  return absl::FormatDuration(d);
}

bool IsEventIdChar(unsigned char c) {
  return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == ':' || c == '-';
}

template <typename Pred>
bool AllOf(absl::string_view s, Pred pred) {
  for (char c : s) {
    if (!pred(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool IsPrintableAscii(unsigned char c) { return c >= 0x20 && c <= 0x7e; }
bool IsNotControl(unsigned char c) { return c >= 0x20 && c != 0x7f; }

absl::Status CheckEventId(absl::string_view id) {
  if (id.empty()) return Invalid("event_id", "is required");
  if (id.size() > kMaxIdLength || !AllOf(id, IsEventIdChar)) {
    return Invalid("event_id", "must be 1-128 characters of [A-Za-z0-9._:-]");
  }
  return absl::OkStatus();
}

// Client ids are printable ASCII (event.proto); the other host ids are
// documented as 1-128 bytes, and control characters are refused as well.
absl::Status CheckHostId(absl::string_view id, absl::string_view field,
                         bool ascii_only) {
  if (id.empty()) return Invalid(field, "is required");
  if (ascii_only) {
    if (id.size() > kMaxIdLength || !AllOf(id, IsPrintableAscii)) {
      return Invalid(field, "must be 1-128 printable ASCII characters");
    }
  } else if (id.size() > kMaxIdLength || !AllOf(id, IsNotControl)) {
    return Invalid(field, "must be 1-128 bytes without control characters");
  }
  return absl::OkStatus();
}

absl::Status CheckEpisode(const v1::SessionEvent& e) {
  if (!e.has_episode()) return Invalid("episode", "is required");
  const v1::EpisodeRef& ref = e.episode();
  ATTUNE_RETURN_IF_ERROR(
      CheckHostId(ref.client_id(), "episode.client_id", /*ascii_only=*/true));
  ATTUNE_RETURN_IF_ERROR(CheckHostId(ref.clinician_id(), "episode.clinician_id",
                                     /*ascii_only=*/false));
  return CheckHostId(ref.episode_id(), "episode.episode_id",
                     /*ascii_only=*/false);
}

absl::Time ToTime(const Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

absl::Status CheckTimestamp(const Timestamp& t, absl::string_view field) {
  if (t.nanos() < 0 || t.nanos() > kMaxNanos) {
    return Invalid(Path(field, "nanos"), "must be 0-999999999");
  }
  if (t.seconds() < kMinTimestampSeconds ||
      t.seconds() > kMaxTimestampSeconds) {
    return Invalid(Path(field, "seconds"), "must be within years 0001-9999");
  }
  return absl::OkStatus();
}

absl::Status CheckRequiredTimestamp(bool present, const Timestamp& t,
                                    absl::string_view field) {
  if (!present) return Invalid(field, "is required");
  return CheckTimestamp(t, field);
}

absl::Status CheckOccurredAt(const v1::SessionEvent& e,
                             const ValidationLimits& limits) {
  ATTUNE_RETURN_IF_ERROR(CheckRequiredTimestamp(
      e.has_occurred_at(), e.occurred_at(), "occurred_at"));
  if (e.occurred_at().seconds() < 0) {
    return Invalid("occurred_at", "must not be before 1970-01-01T00:00:00Z");
  }
  if (ToTime(e.occurred_at()) > limits.now + limits.max_future_skew) {
    return Invalid(
        "occurred_at",
        absl::StrCat("is more than ", DescribeDuration(limits.max_future_skew),
                     " in the future"));
  }
  return absl::OkStatus();
}

// A session number that must be set (>= 1) or, when `zero_allowed`, may be 0
// for "none".
absl::Status CheckSessionNumber(int32_t n, absl::string_view field,
                                bool zero_allowed = false) {
  if (n < (zero_allowed ? 0 : 1)) {
    return Invalid(field, zero_allowed ? "must be >= 0" : "must be >= 1");
  }
  if (n > kMaxSessionNumber) {
    return Invalid(field, absl::StrCat("must be <= ", kMaxSessionNumber));
  }
  return absl::OkStatus();
}

// Unknown enum numbers survive proto3 parsing; they are refused here.
absl::Status CheckEnum(bool (*is_valid)(int), int value,
                       absl::string_view field, bool required) {
  if (!is_valid(value)) return Invalid(field, "has an unknown value");
  if (required && value == 0) return Invalid(field, "is required");
  return absl::OkStatus();
}

absl::Status CheckScheduled(const v1::SessionScheduled& s) {
  ATTUNE_RETURN_IF_ERROR(CheckSessionNumber(
      s.session_number(), "session_scheduled.session_number"));
  ATTUNE_RETURN_IF_ERROR(
      CheckRequiredTimestamp(s.has_scheduled_start(), s.scheduled_start(),
                             "session_scheduled.scheduled_start"));
  if (s.planned_minutes() < 0 || s.planned_minutes() > kMaxPlannedMinutes) {
    return Invalid(
        "session_scheduled.planned_minutes",
        absl::StrCat("must be 0 (unknown) or 1-", kMaxPlannedMinutes));
  }
  return absl::OkStatus();
}

absl::Status CheckHeld(const v1::SessionHeld& h) {
  ATTUNE_RETURN_IF_ERROR(
      CheckSessionNumber(h.session_number(), "session_held.session_number"));
  ATTUNE_RETURN_IF_ERROR(
      CheckRequiredTimestamp(h.has_start(), h.start(), "session_held.start"));
  ATTUNE_RETURN_IF_ERROR(
      CheckRequiredTimestamp(h.has_end(), h.end(), "session_held.end"));
  absl::Duration length = ToTime(h.end()) - ToTime(h.start());
  if (length <= absl::ZeroDuration()) {
    return Invalid("session_held.end", "must be after start");
  }
  if (length > kMaxSessionLength) {
    return Invalid(
        "session_held.end",
        absl::StrCat("must be at most ", DescribeDuration(kMaxSessionLength),
                     " after start"));
  }
  return CheckEnum(v1::Modality_IsValid, h.modality(), "session_held.modality",
                   /*required=*/false);
}

absl::Status CheckCancelled(const v1::SessionCancelled& c) {
  ATTUNE_RETURN_IF_ERROR(CheckSessionNumber(
      c.session_number(), "session_cancelled.session_number"));
  return CheckEnum(v1::CancelledBy_IsValid, c.cancelled_by(),
                   "session_cancelled.cancelled_by", /*required=*/true);
}

absl::Status CheckCustomDeclaration(const v1::CustomInstrument& c) {
  ATTUNE_RETURN_IF_ERROR(CheckEnum(v1::Construct_IsValid, c.construct(),
                                   "measure_recorded.custom.construct",
                                   /*required=*/false));
  const std::pair<const char*, double> bounds[] = {
      {"item_min", c.item_min()},
      {"item_max", c.item_max()},
      {"total_min", c.total_min()},
      {"total_max", c.total_max()}};
  for (const auto& [name, value] : bounds) {
    if (!std::isfinite(value)) {
      return Invalid(Path("measure_recorded.custom", name),
                     "must be a finite number");
    }
  }
  return absl::OkStatus();
}

// When both items and a total are sent: the items are scored first (count,
// range), then their sum is compared here rather than by the registry, whose
// message quotes the sum: a score is client data and must not appear in an
// error.
absl::Status CheckItemsAndSum(const v1::MeasureRecorded& m,
                              const InstrumentRegistry& instruments) {
  if (m.items().empty() || !m.has_total()) return absl::OkStatus();
  v1::MeasureRecorded items_only = m;
  items_only.set_has_total(false);
  ATTUNE_RETURN_IF_ERROR(
      instruments.Score(items_only, "measure_recorded").status());
  double sum = 0;
  for (double v : m.items()) sum += v;
  // A non-finite total is left to the registry's range check.
  if (std::isfinite(m.total()) && std::abs(m.total() - sum) > kSumTolerance) {
    return Invalid("measure_recorded.total",
                   "must equal the sum of the items within 0.05");
  }
  return absl::OkStatus();
}

// The registry checks instrument, declaration, rater, items and totals; the
// checks here cover what it does not (session upper bound, unknown enum
// numbers, non-finite declared ranges).
absl::Status CheckMeasure(const v1::MeasureRecorded& m,
                          const InstrumentRegistry& instruments) {
  ATTUNE_RETURN_IF_ERROR(CheckSessionNumber(m.session_number(),
                                            "measure_recorded.session_number"));
  ATTUNE_RETURN_IF_ERROR(CheckEnum(v1::Instrument_IsValid, m.instrument(),
                                   "measure_recorded.instrument",
                                   /*required=*/false));
  ATTUNE_RETURN_IF_ERROR(CheckEnum(v1::Rater_IsValid, m.rater(),
                                   "measure_recorded.rater",
                                   /*required=*/false));
  if (m.instrument() == v1::INSTRUMENT_CUSTOM && m.has_custom()) {
    ATTUNE_RETURN_IF_ERROR(CheckCustomDeclaration(m.custom()));
  }
  ATTUNE_RETURN_IF_ERROR(CheckItemsAndSum(m, instruments));
  return instruments.Score(m, "measure_recorded").status();
}

absl::Status CheckGoals(const v1::GoalsAgreed& g) {
  if (g.goal_count() < 1) {
    return Invalid("goals_agreed.goal_count", "must be >= 1");
  }
  return CheckSessionNumber(g.session_number(), "goals_agreed.session_number",
                            /*zero_allowed=*/true);
}

absl::Status CheckRupture(const v1::RuptureMarker& r) {
  ATTUNE_RETURN_IF_ERROR(
      CheckSessionNumber(r.session_number(), "rupture_marker.session_number"));
  return CheckEnum(v1::RuptureType_IsValid, r.type(), "rupture_marker.type",
                   /*required=*/true);
}

absl::Status CheckPromptId(absl::string_view id) {
  if (id.empty()) return Invalid("prompt_feedback.prompt_id", "is required");
  if (id.size() > kMaxIdLength || !AllOf(id, IsPrintableAscii)) {
    return Invalid("prompt_feedback.prompt_id",
                   "must be 1-128 printable ASCII characters");
  }
  return absl::OkStatus();
}

absl::Status CheckSnooze(const v1::PromptFeedback& f,
                         const Timestamp& occurred_at,
                         const ValidationLimits& limits) {
  constexpr absl::string_view kField = "prompt_feedback.snooze_until";
  if (f.has_snooze_until()) {
    ATTUNE_RETURN_IF_ERROR(CheckTimestamp(f.snooze_until(), kField));
  }
  if (f.outcome() != v1::PromptFeedback::OUTCOME_SNOOZED) {
    return absl::OkStatus();
  }
  if (!f.has_snooze_until()) {
    return Invalid(kField, "is required with OUTCOME_SNOOZED");
  }
  absl::Duration snooze = ToTime(f.snooze_until()) - ToTime(occurred_at);
  if (snooze <= absl::ZeroDuration()) {
    return Invalid(kField, "must be after occurred_at");
  }
  if (snooze > limits.max_snooze) {
    return Invalid(kField, absl::StrCat("must be at most ",
                                        DescribeDuration(limits.max_snooze),
                                        " after occurred_at"));
  }
  return absl::OkStatus();
}

absl::Status CheckFeedback(const v1::PromptFeedback& f,
                           const Timestamp& occurred_at,
                           const ValidationLimits& limits) {
  ATTUNE_RETURN_IF_ERROR(CheckPromptId(f.prompt_id()));
  ATTUNE_RETURN_IF_ERROR(CheckEnum(v1::PromptFeedback::Outcome_IsValid,
                                   f.outcome(), "prompt_feedback.outcome",
                                   /*required=*/true));
  ATTUNE_RETURN_IF_ERROR(CheckEnum(v1::PromptFeedback::DismissReason_IsValid,
                                   f.reason(), "prompt_feedback.reason",
                                   /*required=*/false));
  if (f.reason() != v1::PromptFeedback::DISMISS_REASON_UNSPECIFIED &&
      f.outcome() != v1::PromptFeedback::OUTCOME_DISMISSED) {
    return Invalid("prompt_feedback.reason",
                   "is only allowed with OUTCOME_DISMISSED");
  }
  return CheckSnooze(f, occurred_at, limits);
}

absl::Status CheckPayload(const v1::SessionEvent& e,
                          const InstrumentRegistry& instruments,
                          const ValidationLimits& limits) {
  using E = v1::SessionEvent;
  switch (e.payload_case()) {
    case E::kSessionScheduled:
      return CheckScheduled(e.session_scheduled());
    case E::kSessionHeld:
      return CheckHeld(e.session_held());
    case E::kSessionCancelled:
      return CheckCancelled(e.session_cancelled());
    case E::kNoShow:
      return CheckSessionNumber(e.no_show().session_number(),
                                "no_show.session_number");
    case E::kMeasureRecorded:
      return CheckMeasure(e.measure_recorded(), instruments);
    case E::kGoalsAgreed:
      return CheckGoals(e.goals_agreed());
    case E::kRuptureMarker:
      return CheckRupture(e.rupture_marker());
    case E::kEndingPlanned:
      return CheckSessionNumber(e.ending_planned().final_session_number(),
                                "ending_planned.final_session_number",
                                /*zero_allowed=*/true);
    case E::kEpisodeClosed:
      return CheckEnum(v1::EndingReason_IsValid, e.episode_closed().reason(),
                       "episode_closed.reason", /*required=*/true);
    case E::kPromptFeedback:
      return CheckFeedback(e.prompt_feedback(), e.occurred_at(), limits);
    case E::PAYLOAD_NOT_SET:
      break;
  }
  return Invalid("payload", "exactly one payload is required");
}

}  // namespace

absl::Status ValidateEvent(const v1::SessionEvent& event,
                           const InstrumentRegistry& instruments,
                           const ValidationLimits& limits) {
  ATTUNE_RETURN_IF_ERROR(CheckEventId(event.event_id()));
  ATTUNE_RETURN_IF_ERROR(CheckOccurredAt(event, limits));
  ATTUNE_RETURN_IF_ERROR(CheckEpisode(event));
  return CheckPayload(event, instruments, limits);
}

}  // namespace attune::engine
