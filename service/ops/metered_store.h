// MeteredStore: a Store that forwards every call to the real one and
// measures its commits (attune_store_commit_duration_seconds,
// attune_store_commits_total, attune_prompt_feedback_total), leaving the
// backends untouched.
//
//   auto store = std::make_unique<ops::MeteredStore>(std::move(real),
//                                                    &metrics);
//
// A commit is measured from CommitAsync to the moment its result is taken
// (future.get()): the engine waits on each commit right after queueing its
// batch, so that is when the commit became durable or failed. The returned
// future is deferred: wait_for/wait_until report `deferred`; get() blocks
// as the backend's would. Feedback is counted once its commit is durable.
//
// Batches: batches() is the backend's group commit counter
// (Store::CommitBatches; SQLite and PostgreSQL count them).
//
// Ownership: owns the real store; `metrics` must outlive it. Threading: the
// backend's (every Store method is thread-safe).
#ifndef ATTUNE_SERVICE_OPS_METERED_STORE_H_
#define ATTUNE_SERVICE_OPS_METERED_STORE_H_

#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "service/ops/metrics.h"
#include "service/store/store.h"

namespace attune::ops {

class MeteredStore final : public store::Store {
 public:
  MeteredStore(std::unique_ptr<store::Store> inner, Metrics* metrics);

  // Write transactions so far, when the backend counts them.
  std::optional<int64_t> batches() const;
  store::Store& inner() { return *inner_; }

  absl::StatusOr<std::optional<store::StoredEvent>> FindEvent(
      const std::string& tenant, const std::string& event_id) override;
  absl::StatusOr<int64_t> EpisodeVersion(
      const std::string& tenant, const std::string& episode_id) override;
  absl::StatusOr<store::EpisodeSnapshot> LoadEpisode(
      const std::string& tenant, const std::string& episode_id) override;
  std::future<absl::Status> CommitAsync(store::EventCommit commit) override;
  std::optional<int64_t> CommitBatches() const override { return batches(); }
  absl::StatusOr<std::optional<v1::Prompt>> GetPrompt(
      const std::string& tenant, const std::string& prompt_id) override;
  absl::StatusOr<store::PromptPage> ListPrompts(
      const store::PromptQuery& query) override;
  absl::StatusOr<std::vector<store::HeldSession>> ListClinicianSessions(
      const std::string& tenant, const std::string& clinician_id,
      absl::Time from, absl::Time to) override;
  absl::StatusOr<std::vector<store::FeedbackCount>> CountFeedback(
      const std::string& tenant) override;
  absl::StatusOr<store::EventPage> ScanEvents(
      const std::string& tenant, int page_size,
      const std::string& page_token) override;
  absl::StatusOr<std::vector<v1::Prompt>> ListModulePrompts(
      const std::string& tenant, const std::string& module_id, bool shadow,
      int limit) override;
  absl::Status AppendAudit(std::vector<store::AuditRecord> records) override;
  absl::StatusOr<store::AuditVerification> VerifyAudit() override;
  absl::StatusOr<store::EraseCounts> EraseClient(
      const std::string& tenant, const std::string& client_id) override;
  absl::StatusOr<store::EraseCounts> EraseInactiveEpisodes(absl::Time cutoff,
                                                           int limit) override;

 private:
  std::unique_ptr<store::Store> inner_;
  Metrics* metrics_;
};

}  // namespace attune::ops

#endif  // ATTUNE_SERVICE_OPS_METERED_STORE_H_
