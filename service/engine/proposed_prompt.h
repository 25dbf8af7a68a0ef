// The checks every prompt from an external rule module passes (a native
// plugin's or a remote module's), so both are held to one contract:
//
//   absl::StatusOr<ProposedPrompt> p =
//       CheckProposedPrompt("acme.long_gap", std::move(prompt), 1);
//
// A prompt must have kind "<module id>/<name>", a severity, and a summary of
// 1-139 bytes (the CDS Hooks card limit); strength, when set, must be finite
// (0 means "by severity": 1 info, 2 warning, 3 critical). The module may fill
// kind, severity, summary, detail, actions, reflective question, evidence,
// references, scope, priority and strength; everything the engine owns (id,
// module id/version, status, episode, sessions, times, shadow) is cleared
// whatever the module put there. Stateless and thread-safe.
#ifndef ATTUNE_SERVICE_ENGINE_PROPOSED_PROMPT_H_
#define ATTUNE_SERVICE_ENGINE_PROPOSED_PROMPT_H_

#include <cstddef>
#include <string_view>

#include "absl/status/statusor.h"
#include "attune/v1/prompt.pb.h"
#include "service/engine/rule_module.h"

namespace attune::engine {

// Summaries are shorter than this many bytes.
inline constexpr std::size_t kMaxPromptSummaryBytes = 140;
// Largest prompt a module may propose, serialised (native plugins are also
// held to 64 KiB of JSON per prompt).
inline constexpr std::size_t kMaxProposedPromptBytes = 64 * 1024;

// `prompt` checked and stripped as described above, or INTERNAL
// "module <id>: prompt <n>: <rule>" (n counts from 1). The message names the
// rule broken, never the prompt's content: it may hold identifiers.
absl::StatusOr<ProposedPrompt> CheckProposedPrompt(std::string_view module_id,
                                                   v1::Prompt prompt,
                                                   std::size_t n);

// True for a module version: MAJOR.MINOR.PATCH, then an optional -pre or
// +build suffix of [A-Za-z0-9.+-], 64 bytes at most.
bool IsValidModuleVersion(std::string_view version);

}  // namespace attune::engine

#endif  // ATTUNE_SERVICE_ENGINE_PROPOSED_PROMPT_H_
