// Event validation: the checks a SessionEvent passes before anything is
// stored or folded.
//
//   ValidationLimits limits{absl::Now(), absl::Hours(24), absl::Hours(24 *
//   90)}; ATTUNE_RETURN_IF_ERROR(ValidateEvent(event, registry, limits));
//
// Every rule documented in proto/attune/v1/event.proto is enforced here (the
// measure's instrument, items and totals through InstrumentRegistry::Score).
// A failure is INVALID_ARGUMENT with the message "<field path>: <rule>", the
// path spelled with proto field names from the event root, e.g.
// "session_held.end: must be after start". Messages name fields, rules and
// numeric limits only: they never echo identifiers or other client data, so
// they are safe to return to the host and to log.
#ifndef ATTUNE_SERVICE_ENGINE_EVENT_VALIDATOR_H_
#define ATTUNE_SERVICE_ENGINE_EVENT_VALIDATOR_H_

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "attune/v1/event.pb.h"
#include "service/engine/instrument_registry.h"

namespace attune::engine {

// Bounds that come from the clock and the server configuration.
struct ValidationLimits {
  // The server's current time; occurred_at may be at most max_future_skew
  // after it (ServerConfig.max_future_skew_seconds).
  absl::Time now;
  absl::Duration max_future_skew;
  // Longest accepted snooze, counted from occurred_at
  // (AlertBudgetConfig.max_snooze_days).
  absl::Duration max_snooze;
};

// Highest session number accepted: far beyond any real course of therapy, low
// enough to catch a host sending a timestamp or a row id by mistake.
inline constexpr int kMaxSessionNumber = 1000;

// OK when `event` satisfies every documented rule; INVALID_ARGUMENT naming
// the first field that does not otherwise.
absl::Status ValidateEvent(const v1::SessionEvent& event,
                           const InstrumentRegistry& instruments,
                           const ValidationLimits& limits);

}  // namespace attune::engine

#endif  // ATTUNE_SERVICE_ENGINE_EVENT_VALIDATOR_H_
