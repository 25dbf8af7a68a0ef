#include "service/engine/proposed_prompt.h"

#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace attune::engine {
namespace {

double StrengthOf(v1::Severity severity) {
  switch (severity) {
    case v1::SEVERITY_CRITICAL:
      return 3;
    case v1::SEVERITY_WARNING:
      return 2;
    default:
      return 1;
  }
}

}  // namespace

absl::StatusOr<ProposedPrompt> CheckProposedPrompt(std::string_view module_id,
                                                   v1::Prompt prompt,
                                                   std::size_t n) {
  // Debian's absl::StrCat does not take std::string_view.
  const std::string id(module_id);
  auto invalid = [&](const std::string& why) {
    return absl::InternalError(
        absl::StrCat("module ", id, ": prompt ", n, ": ", why));
  };
  const std::string prefix = absl::StrCat(id, "/");
  if (!absl::StartsWith(prompt.kind(), prefix) ||
      prompt.kind().size() == prefix.size()) {
    return invalid(absl::StrCat("kind must start with \"", prefix, "\""));
  }
  if (prompt.severity() == v1::SEVERITY_UNSPECIFIED ||
      !v1::Severity_IsValid(prompt.severity())) {
    return invalid("severity is required");
  }
  if (prompt.summary().empty() ||
      prompt.summary().size() >= kMaxPromptSummaryBytes) {
    return invalid(absl::StrCat("summary must be 1-",
                                kMaxPromptSummaryBytes - 1, " bytes"));
  }
  if (!std::isfinite(prompt.strength())) {
    return invalid("strength must be a finite number");
  }
  if (!v1::PromptScope_IsValid(prompt.scope())) {
    return invalid("scope is not a PromptScope value");
  }
  // Whatever this build does not know is not stored or served.
  prompt.DiscardUnknownFields();
  if (prompt.ByteSizeLong() > kMaxProposedPromptBytes) {
    return invalid(
        absl::StrCat("is larger than ", kMaxProposedPromptBytes, " bytes"));
  }
  ProposedPrompt p;
  p.strength = prompt.strength() != 0 ? prompt.strength()
                                      : StrengthOf(prompt.severity());
  // What the engine owns, whatever the module put there.
  for (int field :
       {v1::Prompt::kIdFieldNumber, v1::Prompt::kModuleIdFieldNumber,
        v1::Prompt::kModuleVersionFieldNumber, v1::Prompt::kStatusFieldNumber,
        v1::Prompt::kEpisodeFieldNumber,
        v1::Prompt::kRaisedAtSessionFieldNumber,
        v1::Prompt::kUpdatedAtSessionFieldNumber,
        v1::Prompt::kCreatedAtFieldNumber, v1::Prompt::kUpdatedAtFieldNumber,
        v1::Prompt::kExpiresAtFieldNumber, v1::Prompt::kSnoozedUntilFieldNumber,
        v1::Prompt::kStrengthFieldNumber, v1::Prompt::kShadowFieldNumber}) {
    prompt.GetReflection()->ClearField(
        &prompt, prompt.GetDescriptor()->FindFieldByNumber(field));
  }
  p.prompt = std::move(prompt);
  return p;
}

bool IsValidModuleVersion(std::string_view v) {
  // First: a bare MAJOR.MINOR.PATCH returns before the suffix loop.
  if (v.size() > 64) return false;
  // MAJOR.MINOR.PATCH, then an optional -pre or +build suffix.
  int dots = 0;
  std::size_t i = 0;
  bool digit = false;
  for (; i < v.size(); ++i) {
    const char c = v[i];
    if (c >= '0' && c <= '9') {
      digit = true;
    } else if (c == '.' && digit && dots < 2) {
      ++dots;
      digit = false;
    } else {
      break;
    }
  }
  if (dots != 2 || !digit) return false;
  if (i == v.size()) return true;
  if (v[i] != '-' && v[i] != '+') return false;
  for (++i; i < v.size(); ++i) {
    const char c = v[i];
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' &&
        c != '-' && c != '+') {
      return false;
    }
  }
  return true;
}

}  // namespace attune::engine
