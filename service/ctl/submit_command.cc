// attunectl submit: send the SessionEvents of a JSON-lines file, one
// SubmitEvent each or SubmitEvents in batches.
//
// The whole file is parsed before anything is sent, so a malformed file
// leaves the server untouched. stdout gets one SubmitEventResponse per
// accepted event, in input order, whatever the batching; stderr gets
// "line N: CODE: message" per rejected event and a closing summary.
#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "attune/v1/alliance_service.grpc.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"
#include "google/protobuf/timestamp.pb.h"
#include "service/ctl/commands.h"
#include "service/ctl/flag_values.h"
#include "service/ctl/json_lines.h"

namespace attune::ctl {
namespace {

// Parse errors shown before giving up; the rest are counted.
constexpr std::size_t kMaxParseErrorsShown = 20;
constexpr int kMaxBatch = 1000;

struct Tally {
  int sent = 0;
  int accepted = 0;
  int rejected = 0;
  // Line of the first event not sent because of --keep-going's absence.
  int stopped_before_line = 0;
};

// Prints an accepted response; a print failure counts as a rejection.
bool PrintResponse(const CommandEnv& env, int line,
                   const v1::SubmitEventResponse& response) {
  if (absl::Status printed = WriteJson(response, /*pretty=*/false, env.out);
      !printed.ok()) {
    env.err << "line " << line << ": " << printed.message() << "\n";
    return false;
  }
  return true;
}

void SubmitOneByOne(const CommandEnv& env, v1::AllianceService::Stub& stub,
                    const std::vector<NumberedEvent>& events, bool keep_going,
                    Tally* tally) {
  for (std::size_t i = 0; i < events.size(); ++i) {
    const NumberedEvent& event = events[i];
    grpc::ClientContext context;
    SetDeadline(env, &context);
    v1::SubmitEventRequest request;
    *request.mutable_event() = event.event;
    v1::SubmitEventResponse response;
    const grpc::Status status = stub.SubmitEvent(&context, request, &response);
    ++tally->sent;
    if (status.ok() && PrintResponse(env, event.line, response)) {
      ++tally->accepted;
      continue;
    }
    if (!status.ok()) {
      env.err << "line " << event.line << ": " << DescribeError(status) << "\n";
    }
    ++tally->rejected;
    if (!keep_going && i + 1 < events.size()) {
      tally->stopped_before_line = events[i + 1].line;
      return;
    }
  }
}

void SubmitInBatches(const CommandEnv& env, v1::AllianceService::Stub& stub,
                     const std::vector<NumberedEvent>& events, int batch,
                     bool keep_going, Tally* tally) {
  for (std::size_t begin = 0; begin < events.size();
       begin += static_cast<std::size_t>(batch)) {
    const std::size_t end =
        std::min(events.size(), begin + static_cast<std::size_t>(batch));
    v1::SubmitEventsRequest request;
    for (std::size_t i = begin; i < end; ++i) {
      *request.add_events() = events[i].event;
    }
    grpc::ClientContext context;
    SetDeadline(env, &context);
    v1::SubmitEventsResponse response;
    const grpc::Status status = stub.SubmitEvents(&context, request, &response);
    tally->sent += static_cast<int>(end - begin);
    bool failed = false;
    if (!status.ok()) {
      env.err << "lines " << events[begin].line << "-" << events[end - 1].line
              << ": " << DescribeError(status) << "\n";
      tally->rejected += static_cast<int>(end - begin);
      failed = true;
    } else {
      for (std::size_t i = begin; i < end; ++i) {
        const int line = events[i].line;
        const std::size_t at = i - begin;
        if (at >= static_cast<std::size_t>(response.results_size())) {
          env.err << "line " << line
                  << ": INTERNAL: the server returned no result for this "
                     "event\n";
          ++tally->rejected;
          failed = true;
          continue;
        }
        const v1::EventResult& result = response.results(static_cast<int>(at));
        if (result.code() != 0) {
          env.err << "line " << line << ": "
                  << DescribeError(result.code(), result.message()) << "\n";
          ++tally->rejected;
          failed = true;
        } else if (PrintResponse(env, line, result.response())) {
          ++tally->accepted;
        } else {
          ++tally->rejected;
          failed = true;
        }
      }
    }
    if (failed && !keep_going && end < events.size()) {
      tally->stopped_before_line = events[end].line;
      return;
    }
  }
}

// Adds `delta` to every google.protobuf.Timestamp inside `message`.
void ShiftTimestamps(google::protobuf::Message* message, absl::Duration delta) {
  const google::protobuf::Reflection* reflection = message->GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(*message, &fields);
  for (const google::protobuf::FieldDescriptor* field : fields) {
    if (field->cpp_type() !=
            google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE ||
        field->is_repeated()) {
      continue;
    }
    google::protobuf::Message* child =
        reflection->MutableMessage(message, field);
    if (field->message_type()->full_name() == "google.protobuf.Timestamp") {
      auto* ts = static_cast<google::protobuf::Timestamp*>(child);
      ts->set_seconds(ts->seconds() + absl::ToInt64Seconds(delta));
    } else {
      ShiftTimestamps(child, delta);
    }
  }
}

}  // namespace

int RunSubmit(const CommandEnv& env) {
  const std::string& path = env.line.arguments.at(0);
  const bool keep_going = env.line.Has("keep-going");
  int batch = 0;
  if (env.line.Has("batch")) {
    absl::StatusOr<int> parsed =
        ParseIntInRange("--batch", env.line.Get("batch"), 1, kMaxBatch);
    if (!parsed.ok()) return ReportUsageError(env, parsed.status());
    batch = *parsed;
  }

  EventLines lines;
  if (path == "-") {
    lines = ReadEventLines(env.in, "<stdin>");
  } else {
    std::ifstream file(path);
    if (!file) {
      env.err << "attunectl: submit: cannot open " << path << ": "
              << std::strerror(errno) << "\n";
      return kExitUsage;
    }
    lines = ReadEventLines(file, path);
  }
  if (!lines.errors.empty()) {
    for (std::size_t i = 0; i < lines.errors.size() && i < kMaxParseErrorsShown;
         ++i) {
      env.err << lines.errors[i] << "\n";
    }
    if (lines.errors.size() > kMaxParseErrorsShown) {
      env.err << "... and " << lines.errors.size() - kMaxParseErrorsShown
              << " more lines that do not parse\n";
    }
    env.err << "attunectl: submit: " << lines.errors.size()
            << " line(s) are not attune.v1.SessionEvent JSON; nothing sent\n";
    return kExitUsage;
  }
  if (lines.events.empty()) {
    env.err << "attunectl: submit: no events in "
            << (path == "-" ? "<stdin>" : path) << "; nothing sent\n";
    return kExitOk;
  }

  if (env.line.Has("shift-from")) {
    absl::StatusOr<google::protobuf::Timestamp> from =
        ParseRfc3339("--shift-from", env.line.Get("shift-from"));
    if (!from.ok()) return ReportUsageError(env, from.status());
    // Whole seconds keep the shifted events' ordering and spacing exact.
    const absl::Duration delta =
        absl::Seconds(absl::ToUnixSeconds(absl::Now()) - from->seconds());
    for (NumberedEvent& event : lines.events) {
      ShiftTimestamps(&event.event, delta);
    }
  }

  auto stub = v1::AllianceService::NewStub(env.channel);
  Tally tally;
  if (batch > 0) {
    SubmitInBatches(env, *stub, lines.events, batch, keep_going, &tally);
  } else {
    SubmitOneByOne(env, *stub, lines.events, keep_going, &tally);
  }
  env.out.flush();
  env.err << "attunectl: submit: " << tally.sent << " of "
          << lines.events.size() << " events sent, " << tally.accepted
          << " accepted, " << tally.rejected << " rejected";
  if (tally.stopped_before_line > 0) {
    env.err << "; stopped before line " << tally.stopped_before_line
            << " (--keep-going sends the rest)";
  }
  env.err << "\n";
  return tally.rejected == 0 ? kExitOk : kExitFailed;
}

}  // namespace attune::ctl
