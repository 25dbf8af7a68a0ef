// Sources: routine feedback helps most for the clients who are not on track
// (d = 0.17-0.29; de Jong et al. 2021; Rognstad et al. 2023), and it needs
// the client's own end-of-session rating (SRS: Duncan et al. 2003).
// held_sessions_without_measure (default 2) is CLINICAL.md's "last 2 held
// sessions".
#include "plugins/builtin/feedback_adherence/feedback_adherence_module.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "plugins/builtin/common/alliance_series.h"
#include "plugins/builtin/common/prompt_parts.h"
#include "plugins/builtin/common/references.h"

namespace attune::builtin {
namespace {

constexpr int kPriority = 20;

bool HasClientAllianceMeasure(const engine::SessionRecord& record) {
  return std::any_of(record.measures.begin(), record.measures.end(),
                     IsClientAlliance);
}

}  // namespace

absl::Status FeedbackAdherenceModule::Evaluate(
    const engine::RuleInput& input, engine::RuleOutput& output) const {
  const int needed =
      input.config.feedback_adherence().held_sessions_without_measure();
  if (needed <= 0 || input.history.closed()) return absl::OkStatus();
  if (input.history.sessions_held() < needed) return absl::OkStatus();

  // Latest held sessions in a row without a client alliance rating.
  std::vector<int> missing;
  const auto& sessions = input.history.sessions();
  for (auto it = sessions.rbegin(); it != sessions.rend(); ++it) {
    const engine::SessionRecord& record = it->second;
    if (!record.is_held()) continue;
    if (HasClientAllianceMeasure(record)) break;
    missing.push_back(record.number);
  }
  if (missing.size() < static_cast<std::size_t>(needed)) {
    return absl::OkStatus();
  }
  std::reverse(missing.begin(), missing.end());

  engine::ProposedPrompt p =
      NewPrompt(kCollectFeedback, v1::SEVERITY_INFO, kPriority);
  v1::Prompt& prompt = p.prompt;
  SetSummary(prompt, absl::StrCat("No client alliance rating in the last ",
                                  missing.size(),
                                  " sessions: ask for end-of-session "
                                  "feedback."));
  prompt.set_detail(absl::StrCat(
      "Held sessions without a client-rated alliance measure: ",
      absl::StrJoin(missing, ", "), " (prompt after ", needed,
      " in a row). Attune can only notice a strained alliance through the "
      "client's own ratings, and routine feedback helps most with the "
      "clients who are not on track."));
  AddAction(prompt, "collect_feedback",
            "Ask for the alliance rating at the end of the next session");
  AddAction(prompt, "explain_feedback",
            "Tell the client why their feedback matters to you");
  prompt.set_reflective_question(
      "How do you make it safe for the client to tell you honestly what is "
      "not working?");
  *prompt.add_evidence() = ThresholdEvidence(
      "sessions_without_alliance_measure", missing.size(), ">=", needed,
      missing.back(), "latest held sessions in a row");
  AddReference(prompt, refs::kDeJong2021);
  AddReference(prompt, refs::kRognstad2023);
  AddReference(prompt, refs::kDuncan2003);
  p.strength = missing.size();
  output.prompts.push_back(std::move(p));
  return absl::OkStatus();
}

}  // namespace attune::builtin
