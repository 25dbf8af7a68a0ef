// JSON lines in and out: reading SessionEvents from a .jsonl file and
// printing protobuf messages in the proto3 JSON mapping.
//
//   EventLines lines = ReadEventLines(file, "episode.jsonl");
//   for (const std::string& error : lines.errors) std::cerr << error << "\n";
//   for (const NumberedEvent& e : lines.events) ...
//
// Input lines that are blank or start with '#' are skipped. Parse errors name
// the file and line and carry the JSON parser's message with any piece of the
// input removed: lines may hold identifiers, which must not reach a terminal
// or a log by way of an error.
#ifndef ATTUNE_SERVICE_CTL_JSON_LINES_H_
#define ATTUNE_SERVICE_CTL_JSON_LINES_H_

#include <istream>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "attune/v1/event.pb.h"
#include "google/protobuf/message.h"

namespace attune::ctl {

struct NumberedEvent {
  // 1-based line number in the source.
  int line = 0;
  v1::SessionEvent event;
};

struct EventLines {
  std::vector<NumberedEvent> events;
  // "<source>:<line>: <message>", one per line that did not parse.
  std::vector<std::string> errors;
};

// Reads every line of `in`; `source` names it in errors (a path or
// "<stdin>").
EventLines ReadEventLines(std::istream& in, const std::string& source);

// Parses one JSON text into a SessionEvent (unknown fields are errors). The
// error message is already sanitized.
absl::Status ParseEventJson(absl::string_view json, v1::SessionEvent* event);

// The first line of a protobuf JSON parser message, with input values,
// input keys and the input snippet removed.
std::string SanitizeJsonParseError(absl::string_view message);

// Prints `message` in the proto3 JSON mapping (lowerCamel names, enum names,
// default values omitted) followed by a newline: one line, or indented when
// `pretty`.
absl::Status WriteJson(const google::protobuf::Message& message, bool pretty,
                       std::ostream& out);

}  // namespace attune::ctl

#endif  // ATTUNE_SERVICE_CTL_JSON_LINES_H_
