// PromptPageToken and EventPageToken: the opaque page tokens of ListPrompts
// and ScanEvents (keyset paging).
//
// A token names the last prompt of the previous page by its sort key
// (priority, updated_at, prompt_id), so pages stay stable while prompts are
// added. It also carries a hash of the query's filter (tenant, episode or
// clinician, statuses): a token is only valid for the query that produced
// it. The encoding is URL-safe base64 of a versioned text form; callers
// must treat it as opaque. Shared by the SQLite and PostgreSQL backends.
#ifndef ATTUNE_SERVICE_STORE_COMMON_PAGE_TOKEN_H_
#define ATTUNE_SERVICE_STORE_COMMON_PAGE_TOKEN_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "service/store/store.h"

namespace attune::store {

struct PromptPageToken {
  uint64_t filter_hash = 0;
  int64_t priority = 0;
  int64_t updated_at_nanos = 0;
  std::string prompt_id;
};

// A stable (cross-process, cross-build) hash of the query's filter; page
// size and token are not part of it.
uint64_t PromptFilterHash(const PromptQuery& query);

std::string EncodePromptPageToken(const PromptPageToken& token);

// INVALID_ARGUMENT "page_token: ..." when `encoded` is not a token this code
// produced.
absl::StatusOr<PromptPageToken> DecodePromptPageToken(
    const std::string& encoded);

// The ScanEvents page token: the last event of the previous page by its
// scan key (episode_id, seq) and a hash of the tenant it was issued for.
// Like the prompt token it is keyset paging, so events committed during a
// scan never shift it. It carries the episode id (base64, not encrypted):
// hand it only to whoever may read the events themselves.
struct EventPageToken {
  uint64_t filter_hash = 0;
  std::string episode_id;
  int64_t seq = 0;
};

// A stable hash of the scan's filter (the tenant).
uint64_t EventFilterHash(const std::string& tenant);

std::string EncodeEventPageToken(const EventPageToken& token);

// INVALID_ARGUMENT "page_token: ..." when `encoded` is not a token this code
// produced.
absl::StatusOr<EventPageToken> DecodeEventPageToken(const std::string& encoded);

}  // namespace attune::store

#endif  // ATTUNE_SERVICE_STORE_COMMON_PAGE_TOKEN_H_
