// Building blocks for the prompts and evidence the built-in modules emit:
// one way to format numbers, evidence entries, actions and references.
//
//   engine::ProposedPrompt p = NewPrompt("attune.x/y", v1::SEVERITY_INFO, 30);
//   AddAction(p.prompt, "discuss_goals", "Agree goals together");
//   *p.prompt.add_evidence() = ThresholdEvidence("srs_total", 30, "<", 36, 4);
#ifndef ATTUNE_PLUGINS_BUILTIN_COMMON_PROMPT_PARTS_H_
#define ATTUNE_PLUGINS_BUILTIN_COMMON_PROMPT_PARTS_H_

#include <string>

#include "absl/strings/string_view.h"
#include "attune/v1/assessment.pb.h"
#include "attune/v1/prompt.pb.h"
#include "service/engine/rule_module.h"

namespace attune::builtin {

// The CDS Hooks card limit on a summary (CLINICAL.md, alert budget).
inline constexpr int kMaxSummaryChars = 140;

// A number for prompt text: at most one decimal, no trailing ".0"
// ("36", "37.5", "0.4").
std::string Num(double value);
// A percentage for prompt text: "85%".
std::string Pct(double percent);

// A proposal with kind, severity, priority and scope set. `kind` is
// "<module id>/<name>".
engine::ProposedPrompt NewPrompt(
    absl::string_view kind, v1::Severity severity, int priority,
    v1::PromptScope scope = v1::PROMPT_SCOPE_EPISODE);

// Sets the summary, shortened at a word boundary (ending in "...") when it
// would reach kMaxSummaryChars bytes: a long custom instrument name must not
// break the card limit.
void SetSummary(v1::Prompt& prompt, std::string summary);

void AddAction(v1::Prompt& prompt, absl::string_view id,
               absl::string_view label);
void AddReference(v1::Prompt& prompt, absl::string_view citation);

// Evidence without a threshold.
v1::Evidence ValueEvidence(absl::string_view name, double value, int session,
                           absl::string_view note);
// Evidence compared to a threshold: `value comparison threshold` held.
v1::Evidence ThresholdEvidence(absl::string_view name, double value,
                               absl::string_view comparison, double threshold,
                               int session, absl::string_view note = "");

// Evidence name for a total on an instrument: "srs_total", "wai_sr_total",
// "custom:acme.a4_total".
std::string TotalName(absl::string_view instrument_key);

}  // namespace attune::builtin

#endif  // ATTUNE_PLUGINS_BUILTIN_COMMON_PROMPT_PARTS_H_
