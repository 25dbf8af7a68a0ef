#include "service/store/sqlite/event_commit.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "service/common/status_macros.h"
#include "service/store/common/codec.h"

namespace attune::store::sqlite {
namespace {

absl::Status CheckEventIdFree(Connection& conn, const EventCommit& commit) {
  ATTUNE_ASSIGN_OR_RETURN(
      Statement stmt,
      conn.Prepare("SELECT 1 FROM events WHERE tenant = ?1 AND event_id = ?2",
                   "events: check event_id"));
  ATTUNE_RETURN_IF_ERROR(stmt.Bind(commit.tenant, commit.event.event_id()));
  ATTUNE_ASSIGN_OR_RETURN(bool taken, stmt.Step());
  if (taken) {
    return absl::AlreadyExistsError(
        "events: event_id is already stored for this tenant");
  }
  return absl::OkStatus();
}

// The stored version of the commit's episode (0 when it does not exist).
absl::StatusOr<int64_t> StoredVersion(Connection& conn,
                                      const EventCommit& commit) {
  ATTUNE_ASSIGN_OR_RETURN(Statement stmt,
                          conn.Prepare("SELECT version FROM episodes"
                                       " WHERE tenant = ?1 AND episode_id = ?2",
                                       "episodes: read version"));
  ATTUNE_RETURN_IF_ERROR(
      stmt.Bind(commit.tenant, commit.event.episode().episode_id()));
  ATTUNE_ASSIGN_OR_RETURN(bool found, stmt.Step());
  return found ? stmt.ColumnInt64(0) : 0;
}

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
  if (commit.expected_version == 0) {
    ATTUNE_ASSIGN_OR_RETURN(
        Statement insert,
        conn.Prepare("INSERT INTO episodes (tenant, episode_id, version,"
                     " assessment, updated_at, client_key)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                     "episodes: insert"));
    ATTUNE_RETURN_IF_ERROR(insert.Bind(commit.tenant, episode_id, new_version,
                                       Blob{assessment}, now_nanos,
                                       client_key));
    return insert.Run();
  }
  ATTUNE_ASSIGN_OR_RETURN(
      Statement update,
      conn.Prepare("UPDATE episodes SET version = ?3, assessment = ?4,"
                   " updated_at = ?5, client_key = ?7"
                   " WHERE tenant = ?1 AND episode_id = ?2 AND version = ?6",
                   "episodes: update"));
  ATTUNE_RETURN_IF_ERROR(update.Bind(commit.tenant, episode_id, new_version,
                                     Blob{assessment}, now_nanos,
                                     commit.expected_version, client_key));
  ATTUNE_RETURN_IF_ERROR(update.Run());
  if (update.Changes() != 1) {
    // StoredVersion just matched inside the same transaction.
    return absl::InternalError("episodes: version changed during commit");
  }
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
  ATTUNE_ASSIGN_OR_RETURN(
      Statement stmt,
      conn.Prepare("INSERT INTO events (tenant, event_id, episode_id, seq,"
                   " occurred_at, fingerprint, event, response)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                   "events: insert"));
  ATTUNE_RETURN_IF_ERROR(
      stmt.Bind(commit.tenant, event_id, commit.event.episode().episode_id(),
                seq, TimestampToNanos(commit.event.occurred_at()),
                Blob{fingerprint}, Blob{event}, Blob{response}));
  return stmt.Run();
}

absl::Status UpsertPrompt(Connection& conn, const std::string& tenant,
                          const v1::Prompt& prompt,
                          const Protection& protection) {
  ATTUNE_ASSIGN_OR_RETURN(
      std::string bytes,
      protection.SealMessage(tenant, kPromptPrompt, prompt.id(), prompt));
  ATTUNE_ASSIGN_OR_RETURN(
      Statement stmt,
      conn.Prepare(
          "INSERT INTO prompts (tenant, prompt_id, episode_id, clinician_id,"
          " kind, module_id, status, priority, updated_at, prompt, shadow)"
          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
          " ON CONFLICT (tenant, prompt_id) DO UPDATE SET"
          " episode_id = excluded.episode_id,"
          " clinician_id = excluded.clinician_id, kind = excluded.kind,"
          " module_id = excluded.module_id, status = excluded.status,"
          " priority = excluded.priority, updated_at = excluded.updated_at,"
          " prompt = excluded.prompt, shadow = excluded.shadow",
          "prompts: upsert"));
  ATTUNE_RETURN_IF_ERROR(stmt.Bind(
      tenant, prompt.id(), prompt.episode().episode_id(),
      protection.IdKey(tenant, kClinicianKind, prompt.episode().clinician_id()),
      prompt.kind(), prompt.module_id(), static_cast<int>(prompt.status()),
      prompt.priority(), TimestampToNanos(prompt.updated_at()), Blob{bytes},
      prompt.shadow() ? 1 : 0));
  return stmt.Run();
}

absl::Status WriteFeedback(Connection& conn, const EventCommit& commit,
                           const FeedbackRecord& feedback) {
  ATTUNE_ASSIGN_OR_RETURN(
      Statement stmt,
      conn.Prepare("INSERT INTO prompt_feedback (tenant, event_id, prompt_id,"
                   " module_id, kind, outcome, reason, occurred_at)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                   "prompt_feedback: insert"));
  ATTUNE_RETURN_IF_ERROR(stmt.Bind(
      commit.tenant, commit.event.event_id(), feedback.prompt_id,
      feedback.module_id, feedback.kind, static_cast<int>(feedback.outcome),
      static_cast<int>(feedback.reason), TimeToNanos(feedback.occurred_at)));
  return stmt.Run();
}

absl::Status UpsertHeldSession(Connection& conn, const EventCommit& commit,
                               const Protection& protection) {
  const v1::SessionHeld& held = commit.event.session_held();
  ATTUNE_ASSIGN_OR_RETURN(
      Statement stmt,
      conn.Prepare("INSERT INTO held_sessions (tenant, episode_id,"
                   " session_number, clinician_id, start_at, end_at)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                   " ON CONFLICT (tenant, episode_id, session_number)"
                   " DO UPDATE SET clinician_id = excluded.clinician_id,"
                   " start_at = excluded.start_at, end_at = excluded.end_at",
                   "held_sessions: upsert"));
  ATTUNE_RETURN_IF_ERROR(stmt.Bind(
      commit.tenant, commit.event.episode().episode_id(), held.session_number(),
      protection.IdKey(commit.tenant, kClinicianKind,
                       commit.event.episode().clinician_id()),
      TimestampToNanos(held.start()), TimestampToNanos(held.end())));
  return stmt.Run();
}

}  // namespace

absl::Status ApplyEventCommit(Connection& conn, const EventCommit& commit,
                              int64_t now_nanos, const Protection& protection) {
  // Checked before the version so that a resubmitted event reports
  // ALREADY_EXISTS (the engine then compares fingerprints) rather than a
  // version conflict it would retry.
  ATTUNE_RETURN_IF_ERROR(CheckEventIdFree(conn, commit));
  ATTUNE_ASSIGN_OR_RETURN(int64_t stored, StoredVersion(conn, commit));
  if (stored != commit.expected_version) {
    return absl::AbortedError(
        absl::StrCat("episodes: version conflict (expected ",
                     commit.expected_version, ", stored ", stored, ")"));
  }
  const int64_t new_version = commit.expected_version + 1;
  ATTUNE_RETURN_IF_ERROR(
      WriteEpisode(conn, commit, new_version, now_nanos, protection));
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

}  // namespace attune::store::sqlite
