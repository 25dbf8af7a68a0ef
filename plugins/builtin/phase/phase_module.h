// attune.phase: fills the phase section and nudges the "coming together"
// phase along — an info when no goals are agreed by the expected session, a
// warning when the alliance is still not established after the expected
// session (CLINICAL.md, module 1).
#ifndef ATTUNE_PLUGINS_BUILTIN_PHASE_PHASE_MODULE_H_
#define ATTUNE_PLUGINS_BUILTIN_PHASE_PHASE_MODULE_H_

#include <string_view>

#include "service/engine/rule_module.h"

namespace attune::builtin {

class PhaseModule : public engine::RuleModule {
 public:
  static constexpr char kId[] = "attune.phase";
  static constexpr char kAgreeGoals[] = "attune.phase/agree_goals";
  static constexpr char kNotEstablished[] =
      "attune.phase/alliance_not_established";

  std::string_view id() const override { return kId; }
  std::string_view version() const override { return "1.0.0"; }
  bool Enabled(const v1::RulesConfig& config) const override {
    return config.phase().enabled();
  }
  absl::Status Evaluate(const engine::RuleInput& input,
                        engine::RuleOutput& output) const override;
  // Never fails: writes in place (see RuleModule::WritesOnlyOnSuccess).
  bool WritesOnlyOnSuccess() const override { return true; }
};

}  // namespace attune::builtin

#endif  // ATTUNE_PLUGINS_BUILTIN_PHASE_PHASE_MODULE_H_
