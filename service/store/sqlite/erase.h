// Erasure and retention in SQLite: deleting whole episodes with everything
// stored about them (SqliteStore::EraseClient, EraseInactiveEpisodes), and
// filling episodes.client_key for episodes written before migration 3.
//
// What "an episode with everything stored about it" is: its episodes row
// (version, assessment), its events, the prompt_feedback rows of those
// events, its prompts (shadow ones too, and a clinician-scoped prompt the
// episode raised: it carries the episode's reference) and its held
// sessions. The audit log is never touched.
//
// Threading: every function uses only the connection it is given, which
// must not be used by another thread meanwhile (in SqliteStore: the writer
// thread's connection).
#ifndef ATTUNE_SERVICE_STORE_SQLITE_ERASE_H_
#define ATTUNE_SERVICE_STORE_SQLITE_ERASE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/store/common/protection.h"
#include "service/store/sqlite/connection.h"
#include "service/store/store.h"

namespace attune::store::sqlite {

// Deletes the episodes of `tenant` whose client_key is one of `client_keys`
// (every value a row may hold for the client: ClientKey in event_commit.h),
// with everything stored about them, and adds what it deleted to *counts.
// Runs inside the write transaction the caller holds on `conn`.
absl::Status EraseClientEpisodes(Connection& conn, const std::string& tenant,
                                 const std::vector<std::string>& client_keys,
                                 EraseCounts* counts);

// Deletes up to `limit` (>= 1) episodes of any tenant whose updated_at (the
// time of their last commit) is before `cutoff_nanos`, oldest first, as
// EraseClientEpisodes does. Inside the caller's write transaction.
absl::Status EraseEpisodesUpdatedBefore(Connection& conn, int64_t cutoff_nanos,
                                        int limit, EraseCounts* counts);

struct BackfillResult {
  // Episodes given their client_key.
  int64_t filled = 0;
  // Episodes left with client_key '' because their first event could not
  // be read: EraseClient cannot find them (retention still removes them).
  int64_t unreadable = 0;
};

// Gives every episode with client_key '' (written before migration 3) the
// ClientKey of its first event's client_id, in one write transaction of its
// own (`conn` must not be in one). Cheap when there is nothing to fill: it
// seeks episodes_by_client once per tenant.
// Events are read, and keys made, as `protection` says.
absl::StatusOr<BackfillResult> BackfillClientKeys(Connection& conn,
                                                  const Protection& protection);

// Checkpoints the WAL into the database file and truncates it to zero
// bytes, so that old page images of erased rows leave the -wal file. Waits
// at most `max_wait` for readers still using the WAL (then returns
// UNAVAILABLE with what was copied so far; the frames are overwritten by
// later writes instead), and restores `busy_timeout` on `conn` afterwards.
// Must run outside a transaction.
absl::Status CheckpointAndTruncateWal(Connection& conn, absl::Duration max_wait,
                                      absl::Duration busy_timeout);

}  // namespace attune::store::sqlite

#endif  // ATTUNE_SERVICE_STORE_SQLITE_ERASE_H_
