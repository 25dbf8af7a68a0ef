// Writing one EventCommit: the SQL that stores an event with everything it
// changed (episode version and assessment, prompts, feedback, held session).
//
// ApplyEventCommit runs inside a transaction the caller owns (the group
// commit batch, one SAVEPOINT per commit); on error the caller rolls back to
// the savepoint, so a partial write never survives.
#ifndef ATTUNE_SERVICE_STORE_SQLITE_EVENT_COMMIT_H_
#define ATTUNE_SERVICE_STORE_SQLITE_EVENT_COMMIT_H_

#include <cstdint>

#include "absl/status/status.h"
#include "service/store/common/commit_rules.h"
#include "service/store/common/protection.h"
#include "service/store/sqlite/connection.h"
#include "service/store/store.h"

namespace attune::store::sqlite {

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
