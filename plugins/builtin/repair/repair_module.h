// attune.repair: after a suspected rupture, tells the clinician once that
// the alliance is back at its earlier level (CLINICAL.md, module 3). Reads
// the rupture section attune.rupture filled; the prompt is proposed only
// while the repairing rating is the latest, so it resolves at the next one.
#ifndef ATTUNE_PLUGINS_BUILTIN_REPAIR_REPAIR_MODULE_H_
#define ATTUNE_PLUGINS_BUILTIN_REPAIR_REPAIR_MODULE_H_

#include <string_view>

#include "service/engine/rule_module.h"

namespace attune::builtin {

class RepairModule : public engine::RuleModule {
 public:
  static constexpr char kId[] = "attune.repair";
  static constexpr char kRuptureRepaired[] = "attune.repair/rupture_repaired";

  std::string_view id() const override { return kId; }
  std::string_view version() const override { return "1.0.0"; }
  bool Enabled(const v1::RulesConfig& config) const override {
    return config.repair().enabled();
  }
  absl::Status Evaluate(const engine::RuleInput& input,
                        engine::RuleOutput& output) const override;
  // Never fails: writes in place (see RuleModule::WritesOnlyOnSuccess).
  bool WritesOnlyOnSuccess() const override { return true; }
};

}  // namespace attune::builtin

#endif  // ATTUNE_PLUGINS_BUILTIN_REPAIR_REPAIR_MODULE_H_
