#include "service/store/sqlite/erase.h"

#include <sqlite3.h>

#include <algorithm>
#include <climits>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "attune/v1/event.pb.h"
#include "service/common/status_macros.h"
#include "service/store/common/codec.h"
#include "service/store/sqlite/event_commit.h"

namespace attune::store::sqlite {
namespace {

struct EpisodeKey {
  std::string tenant;
  std::string episode_id;
};

// Runs a DELETE bound to (tenant, episode_id) and returns the rows deleted.
absl::StatusOr<int64_t> DeleteOf(Connection& conn, absl::string_view sql,
                                 absl::string_view context,
                                 const EpisodeKey& episode) {
  ATTUNE_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(sql, context));
  ATTUNE_RETURN_IF_ERROR(stmt.Bind(episode.tenant, episode.episode_id));
  ATTUNE_RETURN_IF_ERROR(stmt.Run());
  return stmt.Changes();
}

// Children before parents: the foreign keys (prompt_feedback -> events ->
// episodes, held_sessions -> episodes) hold at every step.
absl::Status EraseEpisode(Connection& conn, const EpisodeKey& episode,
                          EraseCounts* counts) {
  ATTUNE_RETURN_IF_ERROR(
      DeleteOf(conn,
               "DELETE FROM prompt_feedback WHERE tenant = ?1 AND event_id IN"
               " (SELECT event_id FROM events"
               "  WHERE tenant = ?1 AND episode_id = ?2)",
               "prompt_feedback: erase episode", episode)
          .status());
  ATTUNE_RETURN_IF_ERROR(
      DeleteOf(
          conn,
          "DELETE FROM held_sessions WHERE tenant = ?1 AND episode_id = ?2",
          "held_sessions: erase episode", episode)
          .status());
  ATTUNE_ASSIGN_OR_RETURN(
      int64_t prompts,
      DeleteOf(conn,
               "DELETE FROM prompts WHERE tenant = ?1 AND episode_id = ?2",
               "prompts: erase episode", episode));
  ATTUNE_ASSIGN_OR_RETURN(
      int64_t events,
      DeleteOf(conn, "DELETE FROM events WHERE tenant = ?1 AND episode_id = ?2",
               "events: erase episode", episode));
  ATTUNE_ASSIGN_OR_RETURN(
      int64_t episodes,
      DeleteOf(conn,
               "DELETE FROM episodes WHERE tenant = ?1 AND episode_id = ?2",
               "episodes: erase episode", episode));
  counts->episodes += episodes;
  counts->events += events;
  counts->prompts += prompts;
  return absl::OkStatus();
}

absl::Status EraseAll(Connection& conn, const std::vector<EpisodeKey>& episodes,
                      EraseCounts* counts) {
  for (const EpisodeKey& episode : episodes) {
    ATTUNE_RETURN_IF_ERROR(EraseEpisode(conn, episode, counts));
  }
  return absl::OkStatus();
}

// The tenants that have episodes, by seeking the primary key once per
// tenant rather than scanning every episode.
absl::StatusOr<std::vector<std::string>> Tenants(Connection& conn) {
  ATTUNE_ASSIGN_OR_RETURN(
      Statement stmt,
      conn.Prepare("WITH RECURSIVE t(tenant) AS ("
                   " SELECT MIN(tenant) FROM episodes"
                   " UNION ALL"
                   " SELECT (SELECT MIN(tenant) FROM episodes"
                   "         WHERE tenant > t.tenant)"
                   " FROM t WHERE t.tenant IS NOT NULL)"
                   " SELECT tenant FROM t WHERE tenant IS NOT NULL",
                   "episodes: list tenants"));
  std::vector<std::string> tenants;
  for (;;) {
    ATTUNE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    tenants.emplace_back(stmt.ColumnBytes(0));
  }
  return tenants;
}

// The client_id of the episode's first event; nullopt when it has none or
// the event does not parse.
absl::StatusOr<std::optional<std::string>> FirstClientId(
    Connection& conn, const EpisodeKey& episode, const Protection& protection) {
  ATTUNE_ASSIGN_OR_RETURN(
      Statement stmt,
      conn.Prepare("SELECT event, event_id FROM events"
                   " WHERE tenant = ?1 AND episode_id = ?2 ORDER BY seq"
                   " LIMIT 1",
                   "events: first of episode"));
  ATTUNE_RETURN_IF_ERROR(stmt.Bind(episode.tenant, episode.episode_id));
  ATTUNE_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return std::nullopt;
  v1::SessionEvent event;
  if (!protection
           .OpenMessage(episode.tenant, kEventEvent, stmt.ColumnBytes(1),
                        stmt.ColumnBytes(0), &event)
           .ok() ||
      event.episode().client_id().empty()) {
    return std::nullopt;
  }
  return event.episode().client_id();
}

absl::StatusOr<BackfillResult> Backfill(Connection& conn,
                                        const Protection& protection) {
  BackfillResult result;
  ATTUNE_ASSIGN_OR_RETURN(std::vector<std::string> tenants, Tenants(conn));
  for (const std::string& tenant : tenants) {
    std::vector<EpisodeKey> empty;
    {
      ATTUNE_ASSIGN_OR_RETURN(
          Statement stmt, conn.Prepare("SELECT episode_id FROM episodes"
                                       " WHERE tenant = ?1 AND client_key = ''",
                                       "episodes: without client_key"));
      ATTUNE_RETURN_IF_ERROR(stmt.Bind(tenant));
      for (;;) {
        ATTUNE_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        empty.push_back({tenant, std::string(stmt.ColumnBytes(0))});
      }
    }
    for (const EpisodeKey& episode : empty) {
      ATTUNE_ASSIGN_OR_RETURN(std::optional<std::string> client_id,
                              FirstClientId(conn, episode, protection));
      if (!client_id.has_value()) {
        ++result.unreadable;
        continue;
      }
      ATTUNE_ASSIGN_OR_RETURN(
          Statement update,
          conn.Prepare("UPDATE episodes SET client_key = ?3"
                       " WHERE tenant = ?1 AND episode_id = ?2",
                       "episodes: backfill client_key"));
      ATTUNE_RETURN_IF_ERROR(
          update.Bind(episode.tenant, episode.episode_id,
                      ClientKey(protection, tenant, *client_id)));
      ATTUNE_RETURN_IF_ERROR(update.Run());
      ++result.filled;
    }
  }
  return result;
}

int BusyMillis(absl::Duration d) {
  return static_cast<int>(
      std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 0, INT_MAX));
}

}  // namespace

absl::Status EraseClientEpisodes(Connection& conn, const std::string& tenant,
                                 const std::vector<std::string>& client_keys,
                                 EraseCounts* counts) {
  std::vector<EpisodeKey> episodes;
  for (const std::string& key : client_keys) {
    ATTUNE_ASSIGN_OR_RETURN(
        Statement stmt, conn.Prepare("SELECT episode_id FROM episodes"
                                     " WHERE tenant = ?1 AND client_key = ?2",
                                     "episodes: find by client"));
    ATTUNE_RETURN_IF_ERROR(stmt.Bind(tenant, key));
    for (;;) {
      ATTUNE_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      episodes.push_back({tenant, std::string(stmt.ColumnBytes(0))});
    }
  }
  return EraseAll(conn, episodes, counts);
}

absl::Status EraseEpisodesUpdatedBefore(Connection& conn, int64_t cutoff_nanos,
                                        int limit, EraseCounts* counts) {
  std::vector<EpisodeKey> episodes;
  {
    // episodes_by_update carries the primary key: ordered without a sort.
    ATTUNE_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.Prepare("SELECT tenant, episode_id FROM episodes"
                     " WHERE updated_at < ?1"
                     " ORDER BY updated_at, tenant, episode_id LIMIT ?2",
                     "episodes: find inactive"));
    ATTUNE_RETURN_IF_ERROR(stmt.Bind(cutoff_nanos, limit));
    for (;;) {
      ATTUNE_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      episodes.push_back(
          {std::string(stmt.ColumnBytes(0)), std::string(stmt.ColumnBytes(1))});
    }
  }
  return EraseAll(conn, episodes, counts);
}

absl::StatusOr<BackfillResult> BackfillClientKeys(
    Connection& conn, const Protection& protection) {
  ATTUNE_RETURN_IF_ERROR(
      conn.Exec("BEGIN IMMEDIATE", "backfill client_key: begin"));
  absl::StatusOr<BackfillResult> result = Backfill(conn, protection);
  if (!result.ok()) {
    if (conn.InTransaction()) {
      conn.Exec("ROLLBACK", "backfill client_key: roll back").IgnoreError();
    }
    return result.status();
  }
  ATTUNE_RETURN_IF_ERROR(conn.Exec("COMMIT", "backfill client_key: commit"));
  return result;
}

absl::Status CheckpointAndTruncateWal(Connection& conn, absl::Duration max_wait,
                                      absl::Duration busy_timeout) {
  sqlite3_busy_timeout(conn.db(), BusyMillis(max_wait));
  int rc = sqlite3_wal_checkpoint_v2(
      conn.db(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  absl::Status status = rc == SQLITE_OK
                            ? absl::OkStatus()
                            : SqliteStatus(rc, conn.db(), "wal checkpoint");
  sqlite3_busy_timeout(conn.db(), BusyMillis(busy_timeout));
  return status;
}

}  // namespace attune::store::sqlite
