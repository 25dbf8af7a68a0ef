// AllianceEngine: the path of every event, from validation to a durable
// commit, and the reads the API serves.
//
//   validate → per-episode critical section → idempotency check → fold the
//   episode's events → rule pipeline → prompt reconciliation → one commit
//   (event + assessment + prompts + feedback) → notify watchers → respond.
//
// The engine knows nothing of gRPC: it takes and returns protos and
// absl::Status; the server converts at its edge.
#ifndef ATTUNE_SERVICE_ENGINE_ALLIANCE_ENGINE_H_
#define ATTUNE_SERVICE_ENGINE_ALLIANCE_ENGINE_H_

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attune/v1/alliance_service.pb.h"
#include "attune/v1/config.pb.h"
#include "attune/v1/rule_admin.pb.h"
#include "service/engine/episode_cache.h"
#include "service/engine/episode_history.h"
#include "service/engine/instrument_registry.h"
#include "service/engine/prompt_bus.h"
#include "service/engine/rule_pipeline.h"
#include "service/engine/rule_set.h"
#include "service/store/store.h"

namespace attune::engine {

using Clock = std::function<absl::Time()>;

// Counters for health and metrics. No labels carry identifiers.
struct EngineStats {
  std::atomic<int64_t> events_accepted{0};
  std::atomic<int64_t> events_replayed{0};
  std::atomic<int64_t> events_rejected{0};
  std::atomic<int64_t> prompts_changed{0};
};

class AllianceEngine {
 public:
  // `store` must outlive the engine. Fails when the configuration's
  // instruments are invalid or its module settings name unknown modules.
  static absl::StatusOr<std::unique_ptr<AllianceEngine>> Create(
      store::Store* store, v1::ServerConfig config,
      std::vector<std::unique_ptr<RuleModule>> modules,
      Clock clock = absl::Now);
  // The same with a rule set built by the caller (RuleSet::Create). The
  // server settings (limits) come from rules->config().
  static std::unique_ptr<AllianceEngine> Create(
      store::Store* store, std::shared_ptr<const RuleSet> rules,
      Clock clock = absl::Now);

  // True once the caller's deadline has passed (the server's call deadline,
  // service/server/caller.h); empty means never.
  using DeadlinePassed = std::function<bool()>;

  // Stores one event and returns the episode's assessment and prompts.
  // DEADLINE_EXCEEDED, with nothing done, when `deadline_passed` already.
  absl::StatusOr<v1::SubmitEventResponse> Submit(
      const std::string& tenant, const v1::SessionEvent& event,
      const DeadlinePassed& deadline_passed = {});

  // Stores many events; one result per event, in order. Every event of the
  // batch is prepared (episode by episode, in the order episodes first
  // appear), then all their commits are queued before any is waited for, so
  // the store can group the whole batch into as few transactions as it can.
  // The batch holds the locks of all its episodes and clinicians (one global
  // order, see LockBatch) until its commits are settled. A commit that lost
  // a version race (ABORTED) is redone on fresh state with the other such
  // events of its episode, up to 3 attempts; prompts are published once
  // their event's commit is durable.
  // `server_stamped_time`: occurred_at was filled in by the server (a
  // feedback call without a time), so a retry whose only difference is that
  // time is a replay, not a conflict.
  // `deadline_passed` is asked before the batch and before each event is
  // prepared: once it says true, the events not yet prepared are left alone
  // and get DEADLINE_EXCEEDED; those already prepared are still committed
  // (and reported) as usual.
  std::vector<absl::StatusOr<v1::SubmitEventResponse>> SubmitBatch(
      const std::string& tenant, const std::vector<v1::SessionEvent>& events,
      bool server_stamped_time = false,
      const DeadlinePassed& deadline_passed = {});

  // The episode's committed assessment: from the episode cache when it holds
  // the episode (checked against the stored version) and no event of the
  // episode's lock stripe is in progress, else from the store (and then
  // kept in the cache). NOT_FOUND for an unknown episode.
  absl::StatusOr<v1::Assessment> GetAssessment(const std::string& tenant,
                                               const std::string& episode_id);

  absl::StatusOr<store::PromptPage> ListPrompts(store::PromptQuery query);

  // Wraps the feedback in a prompt_feedback event of the prompt's episode.
  absl::StatusOr<v1::Prompt> RecordFeedback(
      const std::string& tenant, const v1::RecordPromptFeedbackRequest& req);

  // RuleAdmin.CompareShadow: the shadow module's stored would-be prompts
  // beside the live ones, per episode (rule_admin.proto; grouping in
  // shadow_compare.h). Without live_module_id the live side is every live
  // prompt of the episodes the shadow module prompted in; with it, that
  // module's prompts wherever it prompted. Reads committed state only.
  // INVALID_ARGUMENT: shadow_module_id empty, max_episodes outside 1-1000
  // (0 means 100). NOT_FOUND: shadow_module_id or live_module_id names no
  // module of the current rule set. RESOURCE_EXHAUSTED: either side has
  // more than 50000 prompts (too many to compare in memory).
  absl::StatusOr<v1::CompareShadowResponse> CompareShadow(
      const std::string& tenant, const v1::CompareShadowRequest& req);

  PromptBus& bus() { return bus_; }
  const EngineStats& stats() const { return stats_; }
  // Episodes kept in memory between events (store.episode_cache_mib).
  EpisodeCacheStats episode_cache_stats() const { return cache_.stats(); }
  // Drops every episode kept in memory: an erasure calls it, so erased
  // records do not linger in attuned's memory until evicted. (They would
  // never be used: an entry is checked against the stored version.)
  void ForgetCachedEpisodes() { cache_.Clear(); }
  // Server settings (limits) as of start-up; rule settings live in rules().
  const v1::ServerConfig& config() const { return config_; }

  // The rule set in force. Hold the pointer for as long as it is used.
  std::shared_ptr<const RuleSet> rules() const;
  // Swaps in a new rule set (built with the current one as `previous`):
  // requests already running finish on the set they started with.
  // FAILED_PRECONDITION when `next` is not newer than the current set (two
  // reloads raced).
  absl::Status InstallRules(std::shared_ptr<const RuleSet> next);

 private:
  AllianceEngine(store::Store* store, std::shared_ptr<const RuleSet> rules,
                 Clock clock);

  // An event processed up to, not including, its commit.
  struct Prepared {
    store::EventCommit commit;
    v1::SubmitEventResponse response;
    bool replayed = false;  // response is a stored one; nothing to commit
    // Every prompt of the episode after this event (Evaluate to Prepare).
    std::vector<v1::Prompt> prompts;
  };

  // What a batch has prepared and queued but may not see committed yet,
  // across its episodes: what a later episode of the batch would have read
  // from the store had the earlier commits been applied. Owned by one
  // SubmitBatch call (one attempt); not shared between threads.
  struct BatchState {
    using HeldKey = std::pair<std::string, int>;  // episode_id, session
    struct Held {
      std::string clinician_id;
      absl::Time start;
      absl::Time end;
    };
    // Event ids prepared for commit.
    std::set<std::string> event_ids;
    // Held sessions, as the store derives them from session_held events.
    std::map<HeldKey, Held> held;
    // Live clinician-scoped prompts by id, latest version.
    std::map<std::string, v1::Prompt> clinician_prompts;

    void Add(const store::EventCommit& commit);
  };

  // `snapshot` is the episode as stored plus events prepared earlier in the
  // same batch; it is advanced past this event on success and left as it
  // was on any error (its events may be reordered: the fold sorts them).
  // The episode is folded once, with this event.
  absl::StatusOr<Prepared> Prepare(const RuleSet& set,
                                   const std::string& tenant,
                                   const v1::SessionEvent& event,
                                   store::EpisodeSnapshot& snapshot,
                                   const BatchState& batch,
                                   bool server_stamped_time);
  // Prepare's rule work on the folded `history` (snapshot's events plus
  // `event`); fills everything of the commit but tenant, fingerprint and
  // expected_version.
  absl::StatusOr<Prepared> Evaluate(const RuleSet& set,
                                    const std::string& tenant,
                                    const v1::SessionEvent& event,
                                    const store::EpisodeSnapshot& snapshot,
                                    const BatchState& batch,
                                    const EpisodeHistory& history);
  // Whether a failure of this module fails the request (ModulePolicy).
  static bool FailsRequests(const v1::RulesConfig& rules,
                            const std::string& module_id);
  // The stored response when exactly this event was stored before.
  absl::StatusOr<v1::SubmitEventResponse> StoredReplay(
      const std::string& tenant, const v1::SessionEvent& event);
  // `before`: the episode without `event` (EpisodeHistory::Prior).
  absl::Status CheckEpisodeConsistency(
      const v1::SessionEvent& event, const store::EpisodeSnapshot& snapshot,
      const EpisodeHistory::Prior& before) const;
  // The clinician's held sessions on the event's UTC day: the store's,
  // updated with those prepared earlier in the batch.
  absl::StatusOr<ClinicianDay> LoadClinicianDay(const std::string& tenant,
                                                const v1::SessionEvent& event,
                                                const BatchState& batch);
  size_t EpisodeStripe(const std::string& tenant,
                       const std::string& episode_id) const;
  // The locks of a batch: the stripes of `episode_ids` ascending, then the
  // clinician stripes of events[indexes] ascending, each once. Clinician-
  // scoped prompts are shared by a clinician's episodes: their
  // read-modify-write is serialised per clinician.
  std::vector<std::unique_lock<std::mutex>> LockBatch(
      const std::string& tenant, const std::vector<v1::SessionEvent>& events,
      const std::vector<std::string>& episode_ids,
      const std::vector<size_t>& indexes);
  void Publish(const std::string& tenant,
               const std::vector<v1::Prompt>& changed);
  // The episode to prepare events on, under its lock: the cached copy when
  // it is as new as the stored episode (its clinician-scoped prompts, which
  // other episodes of the clinician may change, re-read), else the store's.
  absl::StatusOr<store::EpisodeSnapshot> LoadForUpdate(
      const std::string& tenant, const std::string& episode_id);

  store::Store* store_;
  v1::ServerConfig config_;
  mutable std::mutex rules_mu_;
  std::shared_ptr<const RuleSet> rules_;  // guarded by rules_mu_
  Clock clock_;
  PromptBus bus_;
  EngineStats stats_;
  EpisodeCache cache_;
  std::array<std::mutex, 128> episode_locks_;
  std::array<std::mutex, 64> clinician_locks_;
};

// Deterministic bytes of an event, for idempotency comparisons.
std::string Fingerprint(const v1::SessionEvent& event);

}  // namespace attune::engine

#endif  // ATTUNE_SERVICE_ENGINE_ALLIANCE_ENGINE_H_
