// Fuzz target: the host side of the plugin boundary. A native plugin hands
// the host a prompt as JSON (attune/plugin.h emit_prompt), which
// native_plugin.cc parses strictly as attune.v1.Prompt and checks with
// CheckProposedPrompt; a remote module sends the same Prompt as binary
// protobuf (remote_module.cc). The input is tried as both.
//
// Invariants:
//  - nothing crashes, whatever the bytes;
//  - a refusal is INTERNAL "module <id>: prompt <n>: <rule>";
//  - an accepted prompt keeps the contract of proposed_prompt.h: kind under
//    the module's prefix, a known severity, a 1-139 byte summary, a finite
//    non-zero strength, and every engine-owned field cleared; and it prints
//    as JSON (the host stores and serves it).
// The same bytes also exercise IsValidModuleVersion against a reference.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "attune/v1/prompt.pb.h"
#include "google/protobuf/util/json_util.h"
#include "service/engine/proposed_prompt.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_quiet_protobuf.h"

namespace {

using attune::engine::ProposedPrompt;
using attune::v1::Prompt;

constexpr std::string_view kModule = "fuzz.module";

void Check(Prompt prompt) {
  absl::StatusOr<ProposedPrompt> p =
      attune::engine::CheckProposedPrompt(kModule, std::move(prompt), 7);
  FUZZ_TRACE("check", p.status());
  if (!p.ok()) {
    FUZZ_CHECK(p.status().code() == absl::StatusCode::kInternal,
               "a refused prompt is INTERNAL");
    FUZZ_CHECK(absl::StartsWith(p.status().message(),
                                "module fuzz.module: prompt 7: "),
               "a refusal names the module and the prompt number");
    return;
  }
  const Prompt& out = p->prompt;
  FUZZ_CHECK(absl::StartsWith(out.kind(), "fuzz.module/") &&
                 out.kind().size() > kModule.size() + 1,
             "kind is <module id>/<name>");
  FUZZ_CHECK(out.severity() != attune::v1::SEVERITY_UNSPECIFIED &&
                 attune::v1::Severity_IsValid(out.severity()),
             "severity is a known, set value");
  FUZZ_CHECK(!out.summary().empty() &&
                 out.summary().size() < attune::engine::kMaxPromptSummaryBytes,
             "summary is 1-139 bytes");
  FUZZ_CHECK(std::isfinite(p->strength) && p->strength != 0,
             "strength is finite and set");
  FUZZ_CHECK(out.id().empty() && out.module_id().empty() &&
                 out.module_version().empty() && out.status() == 0 &&
                 !out.has_episode() && out.raised_at_session() == 0 &&
                 out.updated_at_session() == 0 && !out.has_created_at() &&
                 !out.has_updated_at() && !out.has_expires_at() &&
                 !out.has_snoozed_until() && out.strength() == 0 &&
                 !out.shadow(),
             "engine-owned fields are cleared");
  std::string json;
  FUZZ_CHECK(google::protobuf::util::MessageToJsonString(out, &json).ok(),
             "an accepted prompt prints as JSON");
}

// MAJOR.MINOR.PATCH (digits, each non-empty), then nothing or a '-'/'+'
// and [A-Za-z0-9.+-]*, 64 bytes at most: proposed_prompt.h in other words.
bool ReferenceVersion(std::string_view v) {
  if (v.size() > 64) return false;
  size_t i = 0;
  for (int part = 0; part < 3; ++part) {
    if (part > 0) {
      if (i >= v.size() || v[i] != '.') return false;
      ++i;
    }
    const size_t start = i;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i;
    if (i == start) return false;
  }
  if (i == v.size()) return true;
  if (v[i] != '-' && v[i] != '+') return false;
  for (++i; i < v.size(); ++i) {
    const char c = v[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '+' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);

  // native_plugin.cc: strict proto3 JSON, unknown fields refused.
  Prompt from_json;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto parsed =
      google::protobuf::util::JsonStringToMessage(bytes, &from_json, options);
  FUZZ_TRACE("json", parsed);
  if (parsed.ok()) Check(std::move(from_json));

  // remote_module.cc: the Prompt arrives as protobuf.
  Prompt from_binary;
  if (from_binary.ParseFromString(bytes)) {
    FUZZ_TRACE("binary", absl::OkStatus());
    Check(std::move(from_binary));
  }

  FUZZ_CHECK(
      attune::engine::IsValidModuleVersion(bytes) == ReferenceVersion(bytes),
      "IsValidModuleVersion matches its documented grammar");
  return 0;
}
