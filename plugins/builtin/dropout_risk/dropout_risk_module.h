// attune.dropout_risk: warns "risk of premature ending: reach out" when an
// unrepaired rupture or a weak early alliance is followed by a late client
// cancellation or a no-show, and the client has not been back since
// (CLINICAL.md, module 4). Reads the phase and rupture sections.
//
// The two paths:
// - Rupture: rupture status SUSPECTED or REPAIRING, and the miss is for a
//   session after the one in which the rupture was detected.
// - Weak early alliance: phase still COMING_TOGETHER with the alliance not
//   established, the client has rated the alliance on an instrument with a
//   cut-off (weakness measured, not assumed from missing data), and the miss
//   is for session weak_early_by_session or later. The missed session itself
//   counts: by the time session W was due the alliance had had W - 1
//   sessions to form. Earlier misses are left to the rupture path, since the
//   alliance is still expected to be forming then. This path reads the
//   phase section, so it is off when attune.phase is disabled.
#ifndef ATTUNE_PLUGINS_BUILTIN_DROPOUT_RISK_DROPOUT_RISK_MODULE_H_
#define ATTUNE_PLUGINS_BUILTIN_DROPOUT_RISK_DROPOUT_RISK_MODULE_H_

#include <string_view>

#include "service/engine/rule_module.h"

namespace attune::builtin {

class DropoutRiskModule : public engine::RuleModule {
 public:
  static constexpr char kId[] = "attune.dropout_risk";
  static constexpr char kReachOut[] = "attune.dropout_risk/reach_out";

  std::string_view id() const override { return kId; }
  std::string_view version() const override { return "1.0.0"; }
  bool Enabled(const v1::RulesConfig& config) const override {
    return config.dropout_risk().enabled();
  }
  absl::Status Evaluate(const engine::RuleInput& input,
                        engine::RuleOutput& output) const override;
  // Never fails: writes in place (see RuleModule::WritesOnlyOnSuccess).
  bool WritesOnlyOnSuccess() const override { return true; }
};

}  // namespace attune::builtin

#endif  // ATTUNE_PLUGINS_BUILTIN_DROPOUT_RISK_DROPOUT_RISK_MODULE_H_
