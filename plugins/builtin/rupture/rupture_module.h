// attune.rupture: fills the rupture section, marks the alliance band
// RUPTURED while a rupture is open, and warns "check for rupture" while the
// suspicion is fresh (CLINICAL.md, module 2). See rupture_analysis.h for
// the signals.
#ifndef ATTUNE_PLUGINS_BUILTIN_RUPTURE_RUPTURE_MODULE_H_
#define ATTUNE_PLUGINS_BUILTIN_RUPTURE_RUPTURE_MODULE_H_

#include <string_view>

#include "service/engine/rule_module.h"

namespace attune::builtin {

class RuptureModule : public engine::RuleModule {
 public:
  static constexpr char kId[] = "attune.rupture";
  static constexpr char kCheckRupture[] = "attune.rupture/check_rupture";

  std::string_view id() const override { return kId; }
  std::string_view version() const override { return "1.0.0"; }
  bool Enabled(const v1::RulesConfig& config) const override {
    return config.rupture().enabled();
  }
  absl::Status Evaluate(const engine::RuleInput& input,
                        engine::RuleOutput& output) const override;
  // Never fails: writes in place (see RuleModule::WritesOnlyOnSuccess).
  bool WritesOnlyOnSuccess() const override { return true; }
};

}  // namespace attune::builtin

#endif  // ATTUNE_PLUGINS_BUILTIN_RUPTURE_RUPTURE_MODULE_H_
