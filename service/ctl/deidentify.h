// De-identification of exported event logs, so a module author can backtest
// on a clinic's history without seeing who it is about.
//
// Identifiers (client, clinician, episode and event ids) are replaced by
// keyed hashes (HMAC-SHA-256 with a random key that is never written
// anywhere): the same id always maps to the same pseudonym within one export,
// so episodes and clinicians stay linked, but nobody can map them back, not
// even with the original data. Every timestamp moves back by one secret whole
// number of weeks, which keeps intervals, weekdays and UTC days (what the
// rules look at) and hides calendar dates. Events carry no free text.
//
// A prompt_feedback event names a prompt by an id derived from the tenant,
// episode and kind; its id is recomputed in pseudonym space, so replaying the
// de-identified log in the same tenant applies the same feedback.
#ifndef ATTUNE_SERVICE_CTL_DEIDENTIFY_H_
#define ATTUNE_SERVICE_CTL_DEIDENTIFY_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "attune/v1/event.pb.h"
#include "attune/v1/prompt.pb.h"

namespace attune::ctl {

// Finds a stored prompt by id (nullopt: no such prompt).
using PromptLookup = std::function<absl::StatusOr<std::optional<v1::Prompt>>(
    const std::string& prompt_id)>;

class Deidentifier {
 public:
  // A fresh random key and a shift of 52-520 weeks. UNAVAILABLE when the
  // system has no randomness to give.
  static absl::StatusOr<Deidentifier> Create();
  // Fixed key and shift, for tests.
  Deidentifier(std::string key, absl::Duration shift);

  // "<kind>-<20 hex digits>", e.g. Pseudonym("client", id).
  std::string Pseudonym(absl::string_view kind, absl::string_view id) const;

  // Rewrites `event` in place. `tenant` is the tenant the log was stored in
  // (prompt ids depend on it); `lookup` resolves the prompts that feedback
  // events name. A prompt that cannot be resolved gets a pseudonym that
  // matches nothing (the replay reports that event as rejected).
  absl::Status Apply(const std::string& tenant, const PromptLookup& lookup,
                     v1::SessionEvent& event) const;

  absl::Duration shift() const { return shift_; }

 private:
  std::string key_;
  absl::Duration shift_;
};

}  // namespace attune::ctl

#endif  // ATTUNE_SERVICE_CTL_DEIDENTIFY_H_
