// What every backend checks and derives the same way when it stores an
// EventCommit or answers a query: the commit's required fields, the value
// episodes.client_key holds, and the arguments of the paged queries
// (ListPrompts, ScanEvents, ListModulePrompts) with their page tokens.
//
// Threading: pure functions.
#ifndef ATTUNE_SERVICE_STORE_COMMON_COMMIT_RULES_H_
#define ATTUNE_SERVICE_STORE_COMMON_COMMIT_RULES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "service/store/common/page_token.h"
#include "service/store/common/protection.h"
#include "service/store/store.h"

namespace attune::store {

// Largest ListPrompts page.
inline constexpr int kMaxPromptPageSize = 500;
// Largest ScanEvents page.
inline constexpr int kMaxScanPageSize = 10000;
// As many statuses as the enum has values.
inline constexpr int kMaxStatusFilter = v1::PromptStatus_ARRAYSIZE;

// What episodes.client_key holds for the client `client_id` of `tenant`:
// in a sealed store its lookup hash under the active key, in a plaintext
// store the id as sent (Protection::IdKey). The one place that decides it,
// for writing episodes, backfilling them and finding a client's episodes
// to erase.
std::string ClientKey(const Protection& protection, const std::string& tenant,
                      const std::string& client_id);
// Every value episodes.client_key may hold for the client: one per key of
// the ring (rows written before a key rotation), or the id itself.
std::vector<std::string> ClientKeys(const Protection& protection,
                                    const std::string& tenant,
                                    const std::string& client_id);

// Checks what the store relies on (ids present, expected_version >= 0).
// INVALID_ARGUMENT naming the field; the engine validated the rest.
absl::Status ValidateEventCommit(const EventCommit& commit);

// A ListPrompts query checked and resolved for the SQL.
struct PreparedPromptQuery {
  // Every value prompts.clinician_id may hold for the clinician (one per
  // ring key in a sealed store); empty for a query by episode.
  std::vector<std::string> clinician_keys;
  // Distinct statuses, ascending; empty: all.
  std::vector<int> statuses;
  // What the page tokens of this query carry.
  uint64_t filter_hash = 0;
  // The last prompt of the previous page, when a token was given.
  std::optional<PromptPageToken> after;
};

// INVALID_ARGUMENT naming episode_id/clinician_id (not exactly one),
// page_size (1-500), page_token (malformed, or another query's) or statuses.
// Sealed, the token's filter hash covers the clinician's lookup hash rather
// than the id, so that a token holds nothing an unkeyed search over likely
// ids could match.
absl::StatusOr<PreparedPromptQuery> PreparePromptQuery(
    const PromptQuery& query, const Protection& protection);

// A ScanEvents call checked and resolved.
struct PreparedEventScan {
  uint64_t filter_hash = 0;
  std::optional<EventPageToken> after;
};

// INVALID_ARGUMENT "page_size: ..." (1-10000) or "page_token: ...".
absl::StatusOr<PreparedEventScan> PrepareEventScan(
    const std::string& tenant, int page_size, const std::string& page_token);

// INVALID_ARGUMENT naming module_id (empty) or limit (< 1).
absl::Status ValidateModulePromptsQuery(const std::string& module_id,
                                        int limit);

// Sorts a module's prompts by episode_id, raised_at_session, id and keeps
// the first `limit`.
void SortAndCutModulePrompts(std::vector<v1::Prompt>& prompts, int limit);

// INVALID_ARGUMENT "tenant: ..." or "client_id: ..." when empty.
absl::Status ValidateEraseClient(const std::string& tenant,
                                 const std::string& client_id);

// INVALID_ARGUMENT "limit: ..." when < 1.
absl::Status ValidateEraseLimit(int limit);

}  // namespace attune::store

#endif  // ATTUNE_SERVICE_STORE_COMMON_COMMIT_RULES_H_
