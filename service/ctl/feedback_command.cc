// attunectl feedback: record a clinician's accept / dismiss / snooze of a
// prompt through RecordPromptFeedback.
//
// The feedback is an event with an idempotency key. When the user gives no
// --event-id one is generated, and shown on failure so that a retry reuses
// it and cannot record the reaction twice.
#include "attune/v1/alliance_service.grpc.pb.h"
#include "service/ctl/commands.h"
#include "service/ctl/flag_values.h"
#include "service/ctl/json_lines.h"

namespace attune::ctl {

int RunFeedback(const CommandEnv& env) {
  const CommandLine& line = env.line;
  v1::RecordPromptFeedbackRequest request;
  request.set_prompt_id(line.arguments.at(0));
  if (request.prompt_id().empty()) {
    return ReportUsageError(
        env, absl::InvalidArgumentError("<prompt_id> must not be empty"));
  }
  absl::StatusOr<v1::PromptFeedback::Outcome> outcome =
      ParseFeedbackOutcome("<outcome>", line.arguments.at(1));
  if (!outcome.ok()) return ReportUsageError(env, outcome.status());
  request.set_outcome(*outcome);

  if (line.Has("reason")) {
    if (*outcome != v1::PromptFeedback::OUTCOME_DISMISSED) {
      return ReportUsageError(
          env, absl::InvalidArgumentError("--reason goes with dismiss only"));
    }
    absl::StatusOr<v1::PromptFeedback::DismissReason> reason =
        ParseDismissReason("--reason", line.Get("reason"));
    if (!reason.ok()) return ReportUsageError(env, reason.status());
    request.set_reason(*reason);
  }
  if (*outcome == v1::PromptFeedback::OUTCOME_SNOOZED) {
    if (!line.Has("until")) {
      return ReportUsageError(env,
                              absl::InvalidArgumentError(
                                  "snooze needs --until TIME (RFC 3339, e.g. "
                                  "2026-12-01T09:00:00Z)"));
    }
    absl::StatusOr<google::protobuf::Timestamp> until =
        ParseRfc3339("--until", line.Get("until"));
    if (!until.ok()) return ReportUsageError(env, until.status());
    *request.mutable_snooze_until() = *until;
  } else if (line.Has("until")) {
    return ReportUsageError(
        env, absl::InvalidArgumentError("--until goes with snooze only"));
  }
  if (line.Has("occurred-at")) {
    absl::StatusOr<google::protobuf::Timestamp> at =
        ParseRfc3339("--occurred-at", line.Get("occurred-at"));
    if (!at.ok()) return ReportUsageError(env, at.status());
    *request.mutable_occurred_at() = *at;
  }
  if (line.Has("event-id")) {
    request.set_event_id(line.Get("event-id"));
    if (absl::Status valid = CheckEventId("--event-id", request.event_id());
        !valid.ok()) {
      return ReportUsageError(env, valid);
    }
  } else {
    request.set_event_id(NewFeedbackEventId());
  }

  auto stub = v1::AllianceService::NewStub(env.channel);
  grpc::ClientContext context;
  SetDeadline(env, &context);
  v1::RecordPromptFeedbackResponse response;
  const grpc::Status status =
      stub->RecordPromptFeedback(&context, request, &response);
  if (!status.ok()) {
    const int code = ReportRpcError(env, status);
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      env.err << "attunectl: feedback: safe to retry with --event-id "
              << request.event_id() << "\n";
    }
    return code;
  }
  if (absl::Status printed = WriteJson(response, line.Has("pretty"), env.out);
      !printed.ok()) {
    env.err << "attunectl: feedback: " << printed.message() << "\n";
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace attune::ctl
