#include "service/ctl/json_lines.h"

#include <cstddef>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"

namespace attune::ctl {
namespace {

constexpr absl::string_view kInvalidValue = "invalid value ";
constexpr absl::string_view kForType = " for type ";
constexpr absl::string_view kCannotFindField = ": Cannot find field.";
constexpr absl::string_view kTypeUrlPrefix = "type.googleapis.com/";

// "TYPE_DOUBLE" -> "number", "type.googleapis.com/attune.v1.Rater" ->
// "attune.v1.Rater".
std::string FriendlyTypeName(absl::string_view type) {
  if (absl::ConsumePrefix(&type, kTypeUrlPrefix)) return std::string(type);
  if (type == "TYPE_DOUBLE" || type == "TYPE_FLOAT") return "number";
  if (type == "TYPE_STRING") return "string";
  if (type == "TYPE_BOOL") return "bool";
  if (type == "TYPE_BYTES") return "base64 bytes";
  if (absl::StartsWith(type, "TYPE_INT") ||
      absl::StartsWith(type, "TYPE_UINT") ||
      absl::StartsWith(type, "TYPE_SINT") ||
      absl::StartsWith(type, "TYPE_FIXED") ||
      absl::StartsWith(type, "TYPE_SFIXED")) {
    std::string name(type.substr(5));
    for (char& c : name) c = static_cast<char>(c | 0x20);  // to lower
    return absl::StrCat("whole number (", name, ")");
  }
  return std::string(type);
}

// Drops every "..." quoted run: a last line of defence for messages this
// file does not know.
std::string DropQuoted(absl::string_view text) {
  std::string out;
  bool quoted = false;
  for (char c : text) {
    if (c == '"') {
      if (!quoted) out += "\"...\"";
      quoted = !quoted;
      continue;
    }
    if (!quoted) out += c;
  }
  return out;
}

}  // namespace

std::string SanitizeJsonParseError(absl::string_view message) {
  // Syntax errors append the input around the fault and a caret on the
  // following lines: keep the first line only.
  if (std::size_t newline = message.find('\n');
      newline != absl::string_view::npos) {
    message = message.substr(0, newline);
  }
  message = absl::StripAsciiWhitespace(message);

  // "<key>: Cannot find field." names a key of the input.
  if (absl::EndsWith(message, kCannotFindField)) {
    return "unknown field (name not shown; field names are those of "
           "attune.v1.SessionEvent, lowerCamel or snake_case)";
  }

  // "(path): invalid value <input> for type <type>": keep path and type.
  if (std::size_t at = message.find(kInvalidValue);
      at != absl::string_view::npos) {
    absl::string_view path = absl::StripSuffix(
        absl::StripAsciiWhitespace(message.substr(0, at)), ":");
    absl::string_view rest = message.substr(at + kInvalidValue.size());
    std::string where =
        path.empty()
            ? ""
            : absl::StrCat(absl::StripSuffix(absl::StripPrefix(path, "("), ")"),
                           ": ");
    if (absl::StartsWith(rest, "oneof field ")) {
      // Names only fields of the schema, e.g. "oneof field 'payload' is
      // already set. Cannot set 'session_held' for type oneof".
      absl::string_view text = absl::StripSuffix(rest, " for type oneof");
      return absl::StrCat(where, "more than one payload: ", DropQuoted(text));
    }
    std::size_t type_at = rest.rfind(kForType);
    if (type_at == absl::string_view::npos) {
      return absl::StrCat(where, "invalid value");
    }
    return absl::StrCat(
        where, "invalid value, expected ",
        FriendlyTypeName(rest.substr(type_at + kForType.size())));
  }
  std::string text = DropQuoted(message);
  absl::StrReplaceAll({{"\r", " "}, {"\t", " "}}, &text);
  return text;
}

absl::Status ParseEventJson(absl::string_view json, v1::SessionEvent* event) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  // protobuf 3.21 has its own Status type, not absl's.
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), event, options);
  if (status.ok()) return absl::OkStatus();
  const auto message = status.message();
  return absl::InvalidArgumentError(SanitizeJsonParseError(
      absl::string_view(message.data(), message.size())));
}

EventLines ReadEventLines(std::istream& in, const std::string& source) {
  EventLines result;
  std::string text;
  int number = 0;
  while (std::getline(in, text)) {
    ++number;
    absl::string_view line = text;
    if (number == 1) absl::ConsumePrefix(&line, "\xEF\xBB\xBF");  // UTF-8 BOM
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    NumberedEvent numbered;
    numbered.line = number;
    if (absl::Status status = ParseEventJson(line, &numbered.event);
        !status.ok()) {
      result.errors.push_back(
          absl::StrCat(source, ":", number, ": ", status.message()));
      continue;
    }
    result.events.push_back(std::move(numbered));
  }
  return result;
}

absl::Status WriteJson(const google::protobuf::Message& message, bool pretty,
                       std::ostream& out) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  std::string json;
  if (const auto status =
          google::protobuf::util::MessageToJsonString(message, &json, options);
      !status.ok()) {
    return absl::InternalError(absl::StrCat(
        "cannot print the response as JSON: ", status.message().ToString()));
  }
  while (!json.empty() && json.back() == '\n') json.pop_back();
  out << json << '\n';
  return absl::OkStatus();
}

}  // namespace attune::ctl
