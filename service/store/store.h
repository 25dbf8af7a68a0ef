// Store: durable storage of events, episode state, prompts and feedback.
//
// One interface, several backends (SQLite now; PostgreSQL later), all held to
// the same conformance tests (tests/unit/service/store/). Every key starts
// with the tenant. The engine serialises work per episode; a backend may
// still see concurrent commits for different episodes and must group them
// (group commit) without letting one commit's failure undo another's.
#ifndef ATTUNE_SERVICE_STORE_STORE_H_
#define ATTUNE_SERVICE_STORE_STORE_H_

#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attune/v1/alliance_service.pb.h"
#include "attune/v1/assessment.pb.h"
#include "attune/v1/event.pb.h"
#include "attune/v1/prompt.pb.h"

namespace attune::store {

// An event as stored, with the response that acknowledged it.
struct StoredEvent {
  v1::SessionEvent event;
  // Deterministic serialisation of the event as received; two submissions
  // with the same event_id are "the same" iff their fingerprints match.
  std::string fingerprint;
  v1::SubmitEventResponse response;
};

// Everything stored about one episode.
struct EpisodeSnapshot {
  bool exists = false;
  // Incremented by every commit for the episode; 0 when it does not exist.
  int64_t version = 0;
  // Every event of the episode, in storage order (the engine re-sorts).
  std::vector<v1::SessionEvent> events;
  // Every prompt ever raised for the episode, any status.
  std::vector<v1::Prompt> prompts;
  v1::Assessment assessment;
};

// A clinician's reaction to a prompt, kept per rule module.
struct FeedbackRecord {
  std::string prompt_id;
  std::string module_id;
  std::string kind;
  v1::PromptFeedback::Outcome outcome = v1::PromptFeedback::OUTCOME_UNSPECIFIED;
  v1::PromptFeedback::DismissReason reason =
      v1::PromptFeedback::DISMISS_REASON_UNSPECIFIED;
  absl::Time occurred_at;
};

// All changes caused by one event; committed atomically or not at all.
struct EventCommit {
  std::string tenant;
  v1::SessionEvent event;
  std::string fingerprint;
  // Stored and returned verbatim when the event_id is submitted again.
  v1::SubmitEventResponse response;
  // The episode's new assessment.
  v1::Assessment assessment;
  // Prompts created or changed by this event (full rows, upserted by id).
  std::vector<v1::Prompt> prompt_upserts;
  std::optional<FeedbackRecord> feedback;
  // The episode version the engine read. The commit fails with ABORTED when
  // the stored version differs (another writer got there first).
  int64_t expected_version = 0;
};

struct PromptQuery {
  std::string tenant;
  // Exactly one of these is set.
  std::string episode_id;
  std::string clinician_id;
  // Empty: all statuses.
  std::vector<v1::PromptStatus> statuses;
  int page_size = 100;
  // Opaque, from a previous PromptPage.
  std::string page_token;
};

struct PromptPage {
  std::vector<v1::Prompt> prompts;
  std::string next_page_token;
};

// Held sessions of one clinician across all episodes (clinician load).
struct HeldSession {
  std::string episode_id;
  int session_number = 0;
  absl::Time start;
  absl::Time end;
};

// Feedback totals for one (module, outcome).
struct FeedbackCount {
  std::string module_id;
  v1::PromptFeedback::Outcome outcome = v1::PromptFeedback::OUTCOME_UNSPECIFIED;
  int64_t count = 0;
};

// A page of a tenant's events (ScanEvents).
struct EventPage {
  std::vector<v1::SessionEvent> events;
  // Empty on the last page.
  std::string next_page_token;
};

// One row of the audit log: who did what to which object, when, and how it
// ended. Pseudonyms and codes only: a caller is "tok:<hex>", "crt:<hex>" or
// "local"; an object is "<kind>:<lookup hash>" ("episode:...", "client:...",
// "clinician:...") or empty for calls on no single object.
struct AuditRecord {
  absl::Time at;
  std::string tenant;
  std::string caller;
  // "SubmitEvent", "ListPrompts", "RuleAdmin.ReloadModules",
  // "DataAdmin.EraseClient", "retention.erase"...
  std::string action;
  std::string object;
  // The gRPC status code's name: "OK", "PERMISSION_DENIED", ...
  std::string outcome;
};

// What VerifyAudit found.
struct AuditVerification {
  // Rows checked.
  int64_t rows = 0;
  // The last row's seq and hash (64 hex digits); 0 and "" when empty.
  // Deleting rows from the end leaves a valid shorter chain: compare the
  // head with one recorded earlier (attuned logs it; `attunectl audit
  // verify --expect-head`).
  int64_t head_seq = 0;
  std::string head_hash;
  // False at the first broken link; first_bad_seq names the row and
  // `problem` says what is wrong ("seq 18 missing: 17 is followed by 19",
  // "seq 17: hash does not match the row", "seq 17: storage key 'k0' is
  // not in the key ring").
  bool ok = true;
  int64_t first_bad_seq = 0;
  std::string problem;
};

// What an erase removed.
struct EraseCounts {
  int64_t episodes = 0;
  int64_t events = 0;
  int64_t prompts = 0;
};

// A running WatchCommittedPrompts subscription. Destroying it stops it:
// once the destructor has returned its callback never runs again. It must
// be destroyed before the Store that made it.
class PromptFeed {
 public:
  virtual ~PromptFeed() = default;
};

// Called with a live prompt (never a shadow one) as it is stored, from a
// thread of the store's; must not block for long (enqueue, publish).
using CommittedPromptCallback =
    std::function<void(const std::string& tenant, const v1::Prompt& prompt)>;

class Store {
 public:
  virtual ~Store() = default;

  // The stored event with this id, or nullopt.
  virtual absl::StatusOr<std::optional<StoredEvent>> FindEvent(
      const std::string& tenant, const std::string& event_id) = 0;

  // Everything about an episode (exists=false and version 0 when unknown),
  // shadow prompts included.
  virtual absl::StatusOr<EpisodeSnapshot> LoadEpisode(
      const std::string& tenant, const std::string& episode_id) = 0;

  // The episode's stored version (0 when it does not exist): what
  // LoadEpisode(...).version would say, without reading the episode. The
  // engine checks an episode it kept in memory against it. This default
  // loads the episode; backends answer it with one indexed read.
  virtual absl::StatusOr<int64_t> EpisodeVersion(
      const std::string& tenant, const std::string& episode_id) {
    absl::StatusOr<EpisodeSnapshot> episode = LoadEpisode(tenant, episode_id);
    if (!episode.ok()) return episode.status();
    return episode->version;
  }

  // Queues the commit; the future becomes ready once it is durable (OK) or
  // has failed (nothing of it stored). Concurrent commits are grouped into
  // one transaction. Errors: ALREADY_EXISTS (event_id taken), ABORTED
  // (version conflict), UNAVAILABLE/INTERNAL (storage).
  virtual std::future<absl::Status> CommitAsync(EventCommit commit) = 0;

  // Write transactions that applied queued commits since open (group
  // commit: commits divided by this is the mean batch size), or nullopt
  // when the backend does not count them. Never blocks; any thread.
  virtual std::optional<int64_t> CommitBatches() const { return std::nullopt; }

  // CommitAsync and wait.
  absl::Status Commit(EventCommit commit) {
    return CommitAsync(std::move(commit)).get();
  }

  // Any prompt by id, a shadow one too (callers that serve clinicians check
  // prompt.shadow()).
  virtual absl::StatusOr<std::optional<v1::Prompt>> GetPrompt(
      const std::string& tenant, const std::string& prompt_id) = 0;

  // Live prompts only: shadow prompts (prompt.shadow) are never listed.
  // Ordered by priority (desc), then updated_at (desc), then id.
  virtual absl::StatusOr<PromptPage> ListPrompts(const PromptQuery& query) = 0;

  // Held sessions of a clinician that start in [from, to), by start time.
  // Derived by the store from committed session_held events.
  virtual absl::StatusOr<std::vector<HeldSession>> ListClinicianSessions(
      const std::string& tenant, const std::string& clinician_id,
      absl::Time from, absl::Time to) = 0;

  virtual absl::StatusOr<std::vector<FeedbackCount>> CountFeedback(
      const std::string& tenant) = 0;

  // Every event of the tenant, episode by episode (by episode_id), each
  // episode's events in storage order: what export and replay read. Pages
  // of at most `page_size` (1-10000, else INVALID_ARGUMENT "page_size: ...")
  // events; `page_token` empty for the first page, else next_page_token of
  // the previous one (INVALID_ARGUMENT "page_token: ..." for a token this
  // store did not issue for this tenant). Keyset paging: a scan returns
  // every event committed before it began exactly once, in order; an event
  // committed during the scan is returned iff it sorts after the last event
  // already returned (it never causes a repeat or a gap).
  virtual absl::StatusOr<EventPage> ScanEvents(
      const std::string& tenant, int page_size,
      const std::string& page_token) = 0;

  // Prompts raised by one module, any status, shadow (prompt.shadow) or
  // live as asked, by episode_id then raised_at_session then id; the first
  // `limit` (>= 1) of them. INVALID_ARGUMENT naming module_id (empty) or
  // limit. Live prompt queries (ListPrompts, GetPrompt callers) never see
  // shadow prompts: ListPrompts filters them out.
  virtual absl::StatusOr<std::vector<v1::Prompt>> ListModulePrompts(
      const std::string& tenant, const std::string& module_id, bool shadow,
      int limit) = 0;

  // Appends audit rows in order, chained to the rows before them; durable
  // when it returns OK. INVALID_ARGUMENT naming records[i].<field> for an
  // empty tenant, action or outcome.
  virtual absl::Status AppendAudit(std::vector<AuditRecord> records) = 0;

  // Walks the whole audit chain (see AuditVerification).
  virtual absl::StatusOr<AuditVerification> VerifyAudit() = 0;

  // Deletes every episode of the client in the tenant (episodes whose
  // events name this client_id) with its events, assessment, prompts,
  // feedback and held sessions; the audit log is untouched. Unknown client:
  // zero counts. INVALID_ARGUMENT "client_id: ..." when empty. A commit for
  // an erased episode that raced the erase fails with ABORTED (its version
  // is gone) and the engine starts the episode afresh from that event.
  virtual absl::StatusOr<EraseCounts> EraseClient(
      const std::string& tenant, const std::string& client_id) = 0;

  // Retention: deletes, in every tenant, up to `limit` (>= 1) episodes whose
  // last commit was before `cutoff`, as EraseClient does; call again while
  // it returns `limit` episodes.
  virtual absl::StatusOr<EraseCounts> EraseInactiveEpisodes(absl::Time cutoff,
                                                            int limit) = 0;

  // Optional, for backends shared by several processes (PostgreSQL): calls
  // `on_prompt` with every live prompt that ANOTHER process (replica)
  // committed a change to, after the commit, so that its WatchPrompts
  // streams see it; this process's own commits are not repeated (the engine
  // publishes them). Best effort: a change is delivered as the prompt
  // reads when fetched (a later state when it changed again meanwhile, so
  // one state may come twice), and changes committed while the backend's
  // notification channel was down are not delivered at all; a WatchPrompts
  // client that must not miss a change re-lists (ListPrompts) after its
  // stream ends and now and then. UNIMPLEMENTED (the default) when the
  // backend has one writer process only (SQLite): the engine's own
  // publishing is complete.
  virtual absl::StatusOr<std::unique_ptr<PromptFeed>> WatchCommittedPrompts(
      CommittedPromptCallback on_prompt) {
    (void)on_prompt;
    return absl::UnimplementedError(
        "store: this backend has no cross-process prompt feed");
  }
};

}  // namespace attune::store

#endif  // ATTUNE_SERVICE_STORE_STORE_H_
