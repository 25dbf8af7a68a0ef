#include "service/store/postgres/event_commit.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "service/common/status_macros.h"
#include "service/store/common/codec.h"
#include "service/store/common/commit_rules.h"

namespace attune::store::postgres {
namespace {

absl::Status CheckEventIdFree(Connection& conn, const EventCommit& commit) {
  ATTUNE_ASSIGN_OR_RETURN(
      Result rows,
      conn.Query("SELECT 1 FROM events WHERE tenant = $1 AND event_id = $2",
                 Params().Text(commit.tenant).Text(commit.event.event_id()),
                 "events: check event_id"));
  if (rows.rows() > 0) {
    return absl::AlreadyExistsError(
        "events: event_id is already stored for this tenant");
  }
  return absl::OkStatus();
}

// ABORTED naming the expected and the stored version (0: none).
absl::Status VersionConflict(Connection& conn, const EventCommit& commit) {
  ATTUNE_ASSIGN_OR_RETURN(
      Result rows, conn.Query("SELECT version FROM episodes"
                              " WHERE tenant = $1 AND episode_id = $2",
                              Params()
                                  .Text(commit.tenant)
                                  .Text(commit.event.episode().episode_id()),
                              "episodes: read version"));
  const int64_t stored = rows.rows() > 0 ? rows.Int(0, 0) : 0;
  return absl::AbortedError(
      absl::StrCat("episodes: version conflict (expected ",
                   commit.expected_version, ", stored ", stored, ")"));
}

// Checks and bumps the version in one statement (see the header).
absl::Status WriteEpisode(Connection& conn, const EventCommit& commit,
                          int64_t new_version, int64_t now_nanos,
                          const Protection& protection) {
  const std::string& episode_id = commit.event.episode().episode_id();
  ATTUNE_ASSIGN_OR_RETURN(
      std::string assessment,
      protection.SealMessage(commit.tenant, kEpisodeAssessment, episode_id,
                             commit.assessment));
  // Written by every commit (the engine keeps an episode's client fixed), so
  // EraseClient finds the episode whichever event came last, and an episode
  // written before a key rotation gets the active key's hash.
  const std::string client_key =
      ClientKey(protection, commit.tenant, commit.event.episode().client_id());
  Result written;
  if (commit.expected_version == 0) {
    ATTUNE_ASSIGN_OR_RETURN(
        written, conn.Query("INSERT INTO episodes (tenant, episode_id, version,"
                            " assessment, updated_at, client_key)"
                            " VALUES ($1, $2, $3, $4, $5, $6)"
                            " ON CONFLICT (tenant, episode_id) DO NOTHING",
                            Params()
                                .Text(commit.tenant)
                                .Text(episode_id)
                                .Int(new_version)
                                .Bytes(assessment)
                                .Int(now_nanos)
                                .Text(client_key),
                            "episodes: insert"));
  } else {
    ATTUNE_ASSIGN_OR_RETURN(
        written,
        conn.Query("UPDATE episodes SET version = $3, assessment = $4,"
                   " updated_at = $5, client_key = $6"
                   " WHERE tenant = $1 AND episode_id = $2 AND version = $7",
                   Params()
                       .Text(commit.tenant)
                       .Text(episode_id)
                       .Int(new_version)
                       .Bytes(assessment)
                       .Int(now_nanos)
                       .Text(client_key)
                       .Int(commit.expected_version),
                   "episodes: update"));
  }
  if (written.affected() != 1) return VersionConflict(conn, commit);
  return absl::OkStatus();
}

absl::Status WriteEvent(Connection& conn, const EventCommit& commit,
                        int64_t seq, const Protection& protection) {
  const std::string& event_id = commit.event.event_id();
  ATTUNE_ASSIGN_OR_RETURN(std::string fingerprint,
                          protection.Seal(commit.tenant, kEventFingerprint,
                                          event_id, commit.fingerprint));
  ATTUNE_ASSIGN_OR_RETURN(std::string event,
                          protection.SealMessage(commit.tenant, kEventEvent,
                                                 event_id, commit.event));
  ATTUNE_ASSIGN_OR_RETURN(std::string response,
                          protection.SealMessage(commit.tenant, kEventResponse,
                                                 event_id, commit.response));
  absl::Status inserted =
      conn.Query(
              "INSERT INTO events (tenant, event_id, episode_id, seq,"
              " occurred_at, fingerprint, event, response)"
              " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
              Params()
                  .Text(commit.tenant)
                  .Text(event_id)
                  .Text(commit.event.episode().episode_id())
                  .Int(seq)
                  .Int(TimestampToNanos(commit.event.occurred_at()))
                  .Bytes(fingerprint)
                  .Bytes(event)
                  .Bytes(response),
              "events: insert")
          .status();
  if (absl::IsAlreadyExists(inserted)) {
    // Another replica stored the event_id after CheckEventIdFree.
    return absl::AlreadyExistsError(
        "events: event_id is already stored for this tenant");
  }
  return inserted;
}

absl::Status UpsertPrompt(Connection& conn, const std::string& tenant,
                          const v1::Prompt& prompt,
                          const Protection& protection) {
  ATTUNE_ASSIGN_OR_RETURN(
      std::string bytes,
      protection.SealMessage(tenant, kPromptPrompt, prompt.id(), prompt));
  return conn
      .Query(
          "INSERT INTO prompts (tenant, prompt_id, episode_id, clinician_id,"
          " kind, module_id, status, priority, updated_at, prompt, shadow)"
          " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
          " ON CONFLICT (tenant, prompt_id) DO UPDATE SET"
          " episode_id = excluded.episode_id,"
          " clinician_id = excluded.clinician_id, kind = excluded.kind,"
          " module_id = excluded.module_id, status = excluded.status,"
          " priority = excluded.priority, updated_at = excluded.updated_at,"
          " prompt = excluded.prompt, shadow = excluded.shadow",
          Params()
              .Text(tenant)
              .Text(prompt.id())
              .Text(prompt.episode().episode_id())
              .Text(protection.IdKey(tenant, kClinicianKind,
                                     prompt.episode().clinician_id()))
              .Text(prompt.kind())
              .Text(prompt.module_id())
              .Int(static_cast<int>(prompt.status()))
              .Int(prompt.priority())
              .Int(TimestampToNanos(prompt.updated_at()))
              .Bytes(bytes)
              .Int(prompt.shadow() ? 1 : 0),
          "prompts: upsert")
      .status();
}

absl::Status WriteFeedback(Connection& conn, const EventCommit& commit,
                           const FeedbackRecord& feedback) {
  return conn
      .Query(
          "INSERT INTO prompt_feedback (tenant, event_id, prompt_id,"
          " module_id, kind, outcome, reason, occurred_at)"
          " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
          Params()
              .Text(commit.tenant)
              .Text(commit.event.event_id())
              .Text(feedback.prompt_id)
              .Text(feedback.module_id)
              .Text(feedback.kind)
              .Int(static_cast<int>(feedback.outcome))
              .Int(static_cast<int>(feedback.reason))
              .Int(TimeToNanos(feedback.occurred_at)),
          "prompt_feedback: insert")
      .status();
}

absl::Status UpsertHeldSession(Connection& conn, const EventCommit& commit,
                               const Protection& protection) {
  const v1::SessionHeld& held = commit.event.session_held();
  return conn
      .Query(
          "INSERT INTO held_sessions (tenant, episode_id,"
          " session_number, clinician_id, start_at, end_at)"
          " VALUES ($1, $2, $3, $4, $5, $6)"
          " ON CONFLICT (tenant, episode_id, session_number)"
          " DO UPDATE SET clinician_id = excluded.clinician_id,"
          " start_at = excluded.start_at, end_at = excluded.end_at",
          Params()
              .Text(commit.tenant)
              .Text(commit.event.episode().episode_id())
              .Int(held.session_number())
              .Text(protection.IdKey(commit.tenant, kClinicianKind,
                                     commit.event.episode().clinician_id()))
              .Int(TimestampToNanos(held.start()))
              .Int(TimestampToNanos(held.end())),
          "held_sessions: upsert")
      .status();
}

}  // namespace

absl::Status ApplyEventCommit(Connection& conn, const EventCommit& commit,
                              int64_t now_nanos, const Protection& protection) {
  // The version first, then the event_id. With replicas, the same event
  // sent to two of them (a host retrying through the load balancer) is
  // committed by one while the other holds a stale snapshot: the loser must
  // get ABORTED, so that the engine re-reads and answers from the stored
  // event (a replay; ALREADY_EXISTS only if the stored content differs),
  // instead of a bare ALREADY_EXISTS for an identical resubmission, which
  // the engine passes on to the client. With the version current, a taken
  // event_id is in another episode: ALREADY_EXISTS, as in SQLite.
  const int64_t new_version = commit.expected_version + 1;
  ATTUNE_RETURN_IF_ERROR(
      WriteEpisode(conn, commit, new_version, now_nanos, protection));
  ATTUNE_RETURN_IF_ERROR(CheckEventIdFree(conn, commit));
  ATTUNE_RETURN_IF_ERROR(WriteEvent(conn, commit, new_version, protection));
  for (const v1::Prompt& prompt : commit.prompt_upserts) {
    ATTUNE_RETURN_IF_ERROR(
        UpsertPrompt(conn, commit.tenant, prompt, protection));
  }
  if (commit.feedback.has_value()) {
    ATTUNE_RETURN_IF_ERROR(WriteFeedback(conn, commit, *commit.feedback));
  }
  if (commit.event.has_session_held()) {
    ATTUNE_RETURN_IF_ERROR(UpsertHeldSession(conn, commit, protection));
  }
  return absl::OkStatus();
}

}  // namespace attune::store::postgres
