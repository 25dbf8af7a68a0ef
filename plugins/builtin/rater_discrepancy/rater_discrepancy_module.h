// attune.rater_discrepancy: an info when the client rates the alliance
// clearly below the therapist on the same instrument in the same session
// (CLINICAL.md, module 5). Uses the latest session that has both ratings.
#ifndef ATTUNE_PLUGINS_BUILTIN_RATER_DISCREPANCY_RATER_DISCREPANCY_MODULE_H_
#define ATTUNE_PLUGINS_BUILTIN_RATER_DISCREPANCY_RATER_DISCREPANCY_MODULE_H_

#include <string_view>

#include "service/engine/rule_module.h"

namespace attune::builtin {

class RaterDiscrepancyModule : public engine::RuleModule {
 public:
  static constexpr char kId[] = "attune.rater_discrepancy";
  static constexpr char kClientBelowTherapist[] =
      "attune.rater_discrepancy/client_below_therapist";

  std::string_view id() const override { return kId; }
  std::string_view version() const override { return "1.0.0"; }
  bool Enabled(const v1::RulesConfig& config) const override {
    return config.rater_discrepancy().enabled();
  }
  absl::Status Evaluate(const engine::RuleInput& input,
                        engine::RuleOutput& output) const override;
  // Never fails: writes in place (see RuleModule::WritesOnlyOnSuccess).
  bool WritesOnlyOnSuccess() const override { return true; }
};

}  // namespace attune::builtin

#endif  // ATTUNE_PLUGINS_BUILTIN_RATER_DISCREPANCY_RATER_DISCREPANCY_MODULE_H_
