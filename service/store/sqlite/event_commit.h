// Writing one EventCommit: the SQL that stores an event with everything it
// changed (episode version and assessment, prompts, feedback, held session).
//
// ApplyEventCommit runs inside a transaction the caller owns (the group
// commit batch, one SAVEPOINT per commit); on error the caller rolls back to
// the savepoint, so a partial write never survives.
#ifndef ATTUNE_SERVICE_STORE_SQLITE_EVENT_COMMIT_H_
#define ATTUNE_SERVICE_STORE_SQLITE_EVENT_COMMIT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "service/store/sqlite/connection.h"
#include "service/store/sqlite/protection.h"
#include "service/store/store.h"

namespace attune::store::sqlite {

// What episodes.client_key holds for the client `client_id` of `tenant`:
// in a sealed store its lookup hash under the active key, in a plaintext
// store the id as sent (Protection::IdKey). The one place that decides it,
// for writing episodes, backfilling them (erase.h) and finding a client's
// episodes to erase.
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

// Stores `commit` through `conn` (inside an open transaction).
// ALREADY_EXISTS when the tenant already has the event_id; ABORTED when the
// episode's stored version is not commit.expected_version (0: the episode
// must not exist yet); UNAVAILABLE/INTERNAL for storage errors.
// `now_nanos` stamps episodes.updated_at. Identifiers and messages are
// written as `protection` says (protection.h); INTERNAL when sealing fails.
absl::Status ApplyEventCommit(Connection& conn, const EventCommit& commit,
                              int64_t now_nanos, const Protection& protection);

}  // namespace attune::store::sqlite

#endif  // ATTUNE_SERVICE_STORE_SQLITE_EVENT_COMMIT_H_
