// attune.bordin: Bordin's three alliance components from the latest client
// measure that has bond/goals/tasks subscales (the WAI-SR). Fills
// assessment.alliance.components and raises an info when a component is low
// (CLINICAL.md, module 6):
// - bond low                       -> "attune.bordin/attend_to_bond"
// - goals or tasks low, bond fine  -> "attune.bordin/revisit_agreement"
// Both are INFO, not WARNING: low_item_mean is a local default (the scale
// midpoint), not a validated cut-off, and warnings are kept for the
// evidence-based rupture and dropout signals (CLINICAL.md, alert budget).
#ifndef ATTUNE_PLUGINS_BUILTIN_BORDIN_BORDIN_MODULE_H_
#define ATTUNE_PLUGINS_BUILTIN_BORDIN_BORDIN_MODULE_H_

#include <string_view>

#include "service/engine/rule_module.h"

namespace attune::builtin {

class BordinModule : public engine::RuleModule {
 public:
  static constexpr char kId[] = "attune.bordin";
  static constexpr char kRevisitAgreement[] = "attune.bordin/revisit_agreement";
  static constexpr char kAttendToBond[] = "attune.bordin/attend_to_bond";

  std::string_view id() const override { return kId; }
  std::string_view version() const override { return "1.0.0"; }
  bool Enabled(const v1::RulesConfig& config) const override {
    return config.bordin().enabled();
  }
  absl::Status Evaluate(const engine::RuleInput& input,
                        engine::RuleOutput& output) const override;
  // Never fails: writes in place (see RuleModule::WritesOnlyOnSuccess).
  bool WritesOnlyOnSuccess() const override { return true; }
};

}  // namespace attune::builtin

#endif  // ATTUNE_PLUGINS_BUILTIN_BORDIN_BORDIN_MODULE_H_
