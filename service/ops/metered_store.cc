#include "service/ops/metered_store.h"

#include <chrono>
#include <utility>

namespace attune::ops {

MeteredStore::MeteredStore(std::unique_ptr<store::Store> inner,
                           Metrics* metrics)
    : inner_(std::move(inner)), metrics_(metrics) {}

std::optional<int64_t> MeteredStore::batches() const {
  return inner_->CommitBatches();
}

std::future<absl::Status> MeteredStore::CommitAsync(store::EventCommit commit) {
  std::optional<std::pair<std::string, int>> feedback;
  if (commit.feedback.has_value()) {
    feedback.emplace(commit.feedback->module_id, commit.feedback->outcome);
  }
  const auto start = std::chrono::steady_clock::now();
  std::future<absl::Status> result = inner_->CommitAsync(std::move(commit));
  return std::async(
      std::launch::deferred,
      [metrics = metrics_, start, feedback = std::move(feedback),
       result = std::move(result)]() mutable {
        absl::Status status = result.get();
        const std::chrono::duration<double> elapsed =
            std::chrono::steady_clock::now() - start;
        metrics->ObserveStoreCommit(absl::StatusCodeToString(status.code()),
                                    elapsed.count());
        if (status.ok() && feedback.has_value()) {
          metrics->CountFeedback(feedback->first,
                                 FeedbackOutcomeLabel(feedback->second));
        }
        return status;
      });
}

absl::StatusOr<std::optional<store::StoredEvent>> MeteredStore::FindEvent(
    const std::string& tenant, const std::string& event_id) {
  return inner_->FindEvent(tenant, event_id);
}

absl::StatusOr<int64_t> MeteredStore::EpisodeVersion(
    const std::string& tenant, const std::string& episode_id) {
  return inner_->EpisodeVersion(tenant, episode_id);
}

absl::StatusOr<store::EpisodeSnapshot> MeteredStore::LoadEpisode(
    const std::string& tenant, const std::string& episode_id) {
  return inner_->LoadEpisode(tenant, episode_id);
}

absl::StatusOr<std::optional<v1::Prompt>> MeteredStore::GetPrompt(
    const std::string& tenant, const std::string& prompt_id) {
  return inner_->GetPrompt(tenant, prompt_id);
}

absl::StatusOr<store::PromptPage> MeteredStore::ListPrompts(
    const store::PromptQuery& query) {
  return inner_->ListPrompts(query);
}

absl::StatusOr<std::vector<store::HeldSession>>
MeteredStore::ListClinicianSessions(const std::string& tenant,
                                    const std::string& clinician_id,
                                    absl::Time from, absl::Time to) {
  return inner_->ListClinicianSessions(tenant, clinician_id, from, to);
}

absl::StatusOr<std::vector<store::FeedbackCount>> MeteredStore::CountFeedback(
    const std::string& tenant) {
  return inner_->CountFeedback(tenant);
}

absl::StatusOr<store::EventPage> MeteredStore::ScanEvents(
    const std::string& tenant, int page_size, const std::string& page_token) {
  return inner_->ScanEvents(tenant, page_size, page_token);
}

absl::StatusOr<std::vector<v1::Prompt>> MeteredStore::ListModulePrompts(
    const std::string& tenant, const std::string& module_id, bool shadow,
    int limit) {
  return inner_->ListModulePrompts(tenant, module_id, shadow, limit);
}

absl::Status MeteredStore::AppendAudit(
    std::vector<store::AuditRecord> records) {
  return inner_->AppendAudit(std::move(records));
}

absl::StatusOr<store::AuditVerification> MeteredStore::VerifyAudit() {
  return inner_->VerifyAudit();
}

absl::StatusOr<store::EraseCounts> MeteredStore::EraseClient(
    const std::string& tenant, const std::string& client_id) {
  return inner_->EraseClient(tenant, client_id);
}

absl::StatusOr<store::EraseCounts> MeteredStore::EraseInactiveEpisodes(
    absl::Time cutoff, int limit) {
  return inner_->EraseInactiveEpisodes(cutoff, limit);
}

}  // namespace attune::ops
