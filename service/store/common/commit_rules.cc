#include "service/store/common/commit_rules.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "service/common/status_macros.h"

namespace attune::store {

std::string ClientKey(const Protection& protection, const std::string& tenant,
                      const std::string& client_id) {
  return protection.IdKey(tenant, kClientKind, client_id);
}

std::vector<std::string> ClientKeys(const Protection& protection,
                                    const std::string& tenant,
                                    const std::string& client_id) {
  return protection.IdKeys(tenant, kClientKind, client_id);
}

absl::Status ValidateEventCommit(const EventCommit& commit) {
  if (commit.tenant.empty()) {
    return absl::InvalidArgumentError("commit.tenant: must not be empty");
  }
  if (commit.event.event_id().empty()) {
    return absl::InvalidArgumentError(
        "commit.event.event_id: must not be empty");
  }
  if (commit.event.episode().episode_id().empty()) {
    return absl::InvalidArgumentError(
        "commit.event.episode.episode_id: must not be empty");
  }
  if (commit.expected_version < 0) {
    return absl::InvalidArgumentError(
        "commit.expected_version: must not be negative");
  }
  for (size_t i = 0; i < commit.prompt_upserts.size(); ++i) {
    if (commit.prompt_upserts[i].id().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("commit.prompt_upserts[", i, "].id: must not be empty"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<PreparedPromptQuery> PreparePromptQuery(
    const PromptQuery& query, const Protection& protection) {
  if (query.episode_id.empty() == query.clinician_id.empty()) {
    return absl::InvalidArgumentError(
        "episode_id, clinician_id: exactly one must be set");
  }
  if (query.page_size < 1 || query.page_size > kMaxPromptPageSize) {
    return absl::InvalidArgumentError(absl::StrCat("page_size: must be 1-",
                                                   kMaxPromptPageSize, ", got ",
                                                   query.page_size));
  }
  PreparedPromptQuery prepared;
  // Every value prompts.clinician_id may hold for the clinician (one per
  // ring key in a sealed store: rows written before a rotation match too).
  if (!query.clinician_id.empty()) {
    prepared.clinician_keys =
        protection.IdKeys(query.tenant, kClinicianKind, query.clinician_id);
  }
  if (protection.sealed() && !prepared.clinician_keys.empty()) {
    PromptQuery keyed = query;
    keyed.clinician_id = prepared.clinician_keys.front();
    prepared.filter_hash = PromptFilterHash(keyed);
  } else {
    prepared.filter_hash = PromptFilterHash(query);
  }
  if (!query.page_token.empty()) {
    ATTUNE_ASSIGN_OR_RETURN(prepared.after,
                            DecodePromptPageToken(query.page_token));
    if (prepared.after->filter_hash != prepared.filter_hash) {
      return absl::InvalidArgumentError(
          "page_token: belongs to a different query (tenant, episode_id, "
          "clinician_id or statuses changed)");
    }
  }
  prepared.statuses.assign(query.statuses.begin(), query.statuses.end());
  std::vector<int>& statuses = prepared.statuses;
  std::sort(statuses.begin(), statuses.end());
  statuses.erase(std::unique(statuses.begin(), statuses.end()), statuses.end());
  if (statuses.size() > static_cast<size_t>(kMaxStatusFilter)) {
    return absl::InvalidArgumentError(
        absl::StrCat("statuses: at most ", kMaxStatusFilter,
                     " distinct values, got ", statuses.size()));
  }
  return prepared;
}

absl::StatusOr<PreparedEventScan> PrepareEventScan(
    const std::string& tenant, int page_size, const std::string& page_token) {
  if (page_size < 1 || page_size > kMaxScanPageSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_size: must be 1-", kMaxScanPageSize, ", got ", page_size));
  }
  PreparedEventScan prepared;
  prepared.filter_hash = EventFilterHash(tenant);
  if (!page_token.empty()) {
    ATTUNE_ASSIGN_OR_RETURN(prepared.after, DecodeEventPageToken(page_token));
    if (prepared.after->filter_hash != prepared.filter_hash) {
      return absl::InvalidArgumentError(
          "page_token: belongs to a scan of another tenant");
    }
  }
  return prepared;
}

absl::Status ValidateModulePromptsQuery(const std::string& module_id,
                                        int limit) {
  if (module_id.empty()) {
    return absl::InvalidArgumentError("module_id: is required");
  }
  if (limit < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit: must be at least 1, got ", limit));
  }
  return absl::OkStatus();
}

void SortAndCutModulePrompts(std::vector<v1::Prompt>& prompts, int limit) {
  std::sort(prompts.begin(), prompts.end(),
            [](const v1::Prompt& a, const v1::Prompt& b) {
              if (a.episode().episode_id() != b.episode().episode_id()) {
                return a.episode().episode_id() < b.episode().episode_id();
              }
              if (a.raised_at_session() != b.raised_at_session()) {
                return a.raised_at_session() < b.raised_at_session();
              }
              return a.id() < b.id();
            });
  if (static_cast<int>(prompts.size()) > limit) prompts.resize(limit);
}

absl::Status ValidateEraseClient(const std::string& tenant,
                                 const std::string& client_id) {
  if (tenant.empty()) {
    return absl::InvalidArgumentError("tenant: must not be empty");
  }
  if (client_id.empty()) {
    return absl::InvalidArgumentError("client_id: must not be empty");
  }
  return absl::OkStatus();
}

absl::Status ValidateEraseLimit(int limit) {
  if (limit < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit: must be at least 1, got ", limit));
  }
  return absl::OkStatus();
}

}  // namespace attune::store
