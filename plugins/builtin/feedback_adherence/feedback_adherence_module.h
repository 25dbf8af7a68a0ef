// attune.feedback_adherence: an info "collect end-of-session feedback" when
// the latest held sessions have no client-rated alliance measure
// (CLINICAL.md, module 7). Without the client's ratings the other modules
// cannot see the alliance at all.
//
// Any client-rated alliance instrument counts, not just the series one. A
// measure sent for a session after that session's SessionHeld event clears
// the prompt when it arrives (events may come in any order).
#ifndef ATTUNE_PLUGINS_BUILTIN_FEEDBACK_ADHERENCE_FEEDBACK_ADHERENCE_MODULE_H_
#define ATTUNE_PLUGINS_BUILTIN_FEEDBACK_ADHERENCE_FEEDBACK_ADHERENCE_MODULE_H_

#include <string_view>

#include "service/engine/rule_module.h"

namespace attune::builtin {

class FeedbackAdherenceModule : public engine::RuleModule {
 public:
  static constexpr char kId[] = "attune.feedback_adherence";
  static constexpr char kCollectFeedback[] =
      "attune.feedback_adherence/collect_feedback";

  std::string_view id() const override { return kId; }
  std::string_view version() const override { return "1.0.0"; }
  bool Enabled(const v1::RulesConfig& config) const override {
    return config.feedback_adherence().enabled();
  }
  absl::Status Evaluate(const engine::RuleInput& input,
                        engine::RuleOutput& output) const override;
  // Never fails: writes in place (see RuleModule::WritesOnlyOnSuccess).
  bool WritesOnlyOnSuccess() const override { return true; }
};

}  // namespace attune::builtin

#endif  // ATTUNE_PLUGINS_BUILTIN_FEEDBACK_ADHERENCE_FEEDBACK_ADHERENCE_MODULE_H_
