// Writing one EventCommit to PostgreSQL: the statements that store an event
// with everything it changed (episode version and assessment, prompts,
// feedback, held session), the same rows as SQLite's (sqlite/event_commit.h).
//
// ApplyEventCommit runs inside a transaction the caller owns (the group
// commit batch, one SAVEPOINT per commit); on error the caller rolls back to
// the savepoint, so a partial write never survives.
//
// Replicas: the version check is the write itself (UPDATE ... WHERE version
// = expected, or INSERT ... ON CONFLICT DO NOTHING for version 0). Under
// READ COMMITTED a row another transaction is changing is waited for and
// then re-checked, so of two replicas committing on the same version
// exactly one succeeds and the other gets ABORTED; two inserts of one
// event_id are serialised by the primary key (ALREADY_EXISTS).
#ifndef ATTUNE_SERVICE_STORE_POSTGRES_EVENT_COMMIT_H_
#define ATTUNE_SERVICE_STORE_POSTGRES_EVENT_COMMIT_H_

#include <cstdint>

#include "absl/status/status.h"
#include "service/store/common/protection.h"
#include "service/store/postgres/connection.h"
#include "service/store/store.h"

namespace attune::store::postgres {

// Stores `commit` through `conn` (inside an open transaction).
// ABORTED when the episode's stored version is not commit.expected_version
// (0: the episode must not exist yet), checked first; else ALREADY_EXISTS
// when the tenant already has the event_id; UNAVAILABLE/INTERNAL for
// storage errors.
// `now_nanos` stamps episodes.updated_at. Identifiers and messages are
// written as `protection` says; INTERNAL when sealing fails.
absl::Status ApplyEventCommit(Connection& conn, const EventCommit& commit,
                              int64_t now_nanos, const Protection& protection);

}  // namespace attune::store::postgres

#endif  // ATTUNE_SERVICE_STORE_POSTGRES_EVENT_COMMIT_H_
