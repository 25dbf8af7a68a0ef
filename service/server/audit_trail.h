// AuditTrail: the server's audit log (HIPAA 164.312(b), audit controls):
// one row per call of AllianceService, RuleAdmin and DataAdmin, refused
// calls included, written to the store's hash-chained audit log
// (store.h AppendAudit; the chain in service/store/sqlite/audit.h).
//
//   AuditTrail trail(store, keys);
//   CallAudit audit(&trail, Rpc::kGetAssessment, caller, identified);
//   ... audit.Record(audit.Object("episode", episode_id), status.code());
//   trail.Flush(absl::Seconds(5));   // tests, shutdown
//
// What a row holds: the caller's tenant ("-" when the call was refused
// before one was known), the caller's pseudonym (Caller::subject, or
// "unauthenticated"), the action (RpcName: "SubmitEvent",
// "RuleAdmin.ReloadModules", ...; "WatchPrompts.closed" for the end of a
// stream), the object as "<kind>:<pseudonym>" ("episode:...",
// "clinician:...", "client:...", "prompt:...") or "" for calls on no single
// object, the time and the outcome (the status code's name). Never an
// identifier: the pseudonym is KeyRing::LookupHash(tenant, kind, id) with
// storage keys, else a SHA-256 of (tenant, kind, id) (a plaintext store
// holds the identifiers themselves anyway).
//
// Writing: Record only queues (no storage work on the calling thread); a
// flusher thread appends batches: as soon as `batch_rows` rows are queued,
// else when the oldest queued row has waited `flush_interval`. When an
// append fails the flusher logs an ERROR (code and counts only) and retries
// the same batch with backoff, forever: rows are never dropped while the
// trail is open. The queue is bounded (`max_queued`): when it is full,
// Record waits until the flusher has made room. That back-pressure is
// deliberate: an unrecorded access to health data is worse than a slow
// call, and a store that cannot take audit rows cannot take events either.
//
// Threading: every method may be called from any thread. Close (or the
// destructor) must come after the last Record, and before the store closes.
#ifndef ATTUNE_SERVICE_SERVER_AUDIT_TRAIL_H_
#define ATTUNE_SERVICE_SERVER_AUDIT_TRAIL_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/server/caller.h"
#include "service/store/store.h"

namespace attune::security {
class KeyRing;
}  // namespace attune::security

namespace attune::server {

// The object pseudonym "<kind>:<64 hex digits>" of identifier `id` in
// `tenant` (see above); "" for an empty id. `keys` may be null.
std::string AuditObject(const security::KeyRing* keys, absl::string_view tenant,
                        absl::string_view kind, absl::string_view id);

// Caller subject pseudonyms that stay the same across restarts: 16 hex
// digits of KeyRing::LookupHash("", "caller.<kind>", what). For
// CallerResolver::set_subject_pseudonym when storage keys are configured.
std::function<std::string(absl::string_view kind, absl::string_view what)>
StableSubjectPseudonyms(std::shared_ptr<const security::KeyRing> keys);

class AuditTrail {
 public:
  struct Options {
    // Longest a recorded row waits before the flusher starts writing it.
    absl::Duration flush_interval = absl::Milliseconds(100);
    // Most rows per append; a full batch is written at once.
    size_t batch_rows = 512;
    // Most rows queued; Record waits while the queue is full.
    size_t max_queued = 16384;
    // Wait after a failed append, doubled after each further failure up to
    // max_retry_wait.
    absl::Duration retry_wait = absl::Milliseconds(100);
    absl::Duration max_retry_wait = absl::Seconds(5);
  };

  struct Stats {
    // Rows queued by Record since start.
    int64_t recorded = 0;
    // Rows the store has appended.
    int64_t written = 0;
    // Appends that failed (each retried).
    int64_t failed_appends = 0;
    // Record calls that had to wait for room, and those waiting now.
    int64_t waited = 0;
    int64_t waiting = 0;
    // Rows that could not be written before Close gave up, or recorded
    // after it; each was logged as an ERROR.
    int64_t lost = 0;
  };

  // `store` is not owned and must outlive the trail; `keys` may be null.
  AuditTrail(store::Store* store,
             std::shared_ptr<const security::KeyRing> keys);
  AuditTrail(store::Store* store, std::shared_ptr<const security::KeyRing> keys,
             Options options);
  // Close(absl::Seconds(5)) unless closed already.
  ~AuditTrail();

  AuditTrail(const AuditTrail&) = delete;
  AuditTrail& operator=(const AuditTrail&) = delete;

  // Queues one row; waits while the queue is full. An empty tenant becomes
  // "-", an empty action "unknown", an empty outcome "UNKNOWN", and an
  // unset time (the default, UnixEpoch) now.
  void Record(store::AuditRecord record);

  // AuditObject with this trail's keys.
  std::string Object(absl::string_view tenant, absl::string_view kind,
                     absl::string_view id) const;

  // Waits until every row recorded before the call has been appended.
  // DEADLINE_EXCEEDED "audit: <n> rows not yet written" when `timeout`
  // passes first (the rows stay queued); UNAVAILABLE when some were lost by
  // Close.
  absl::Status Flush(absl::Duration timeout);

  // Flushes (waiting at most `timeout`), then stops the flusher: rows still
  // unwritten are counted lost and logged as an ERROR. Idempotent.
  void Close(absl::Duration timeout);

  Stats stats() const;

 private:
  struct Queued {
    store::AuditRecord record;
    absl::Time queued_at;
  };

  void FlusherLoop();

  store::Store* const store_;
  const std::shared_ptr<const security::KeyRing> keys_;
  const Options options_;

  mutable std::mutex mu_;
  // The flusher waits on work_cv_; Record on room_cv_; Flush on done_cv_.
  std::condition_variable work_cv_;
  std::condition_variable room_cv_;
  std::condition_variable done_cv_;
  std::deque<Queued> queue_;
  // Flush asked for everything up to this many recorded rows.
  int64_t flush_target_ = 0;
  bool closing_ = false;
  bool closed_ = false;
  Stats stats_;
  std::thread flusher_;
};

// The audit row(s) of one call, as the call's handler knows it: who called
// (a resolved caller, or for a refused call whatever the resolver had
// established) and the action. Copyable; cheap to capture in the handler's
// work. A null trail records nothing.
class CallAudit {
 public:
  CallAudit() = default;
  // `identified`: what CallerResolver::Resolve established before a refusal
  // (tenant and subject, or empty); used only when `caller` is not OK.
  CallAudit(AuditTrail* trail, Rpc rpc, const absl::StatusOr<Caller>& caller,
            const Caller& identified);

  // The row's tenant and caller: the resolved caller's, else those the
  // resolver established, else "-" and "unauthenticated".
  const std::string& tenant() const { return tenant_; }
  const std::string& caller() const { return caller_; }

  // AuditObject in the caller's tenant; "" when the tenant is unknown.
  std::string Object(absl::string_view kind, absl::string_view id) const;

  // One row with the call's action.
  void Record(std::string object, absl::StatusCode code) const;
  // One row with another action (e.g. "WatchPrompts.closed").
  void RecordAs(absl::string_view action, std::string object,
                absl::StatusCode code) const;

 private:
  AuditTrail* trail_ = nullptr;
  std::string action_;
  std::string tenant_ = "-";
  std::string caller_ = "unauthenticated";
};

}  // namespace attune::server

#endif  // ATTUNE_SERVICE_SERVER_AUDIT_TRAIL_H_
