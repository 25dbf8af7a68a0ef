// attune.clinician_load: an info addressed to the clinician about their own
// day — many sessions, a long run of back-to-back sessions, or a long day
// (CLINICAL.md, module 8). Scope CLINICIAN; the text carries no client data.
//
// Runs only when the triggering event is a SessionHeld (the day changed).
// Limits, each checked only when configured above 0:
// - sessions in the day      >  max_sessions_per_day
// - back-to-back run length  >  max_back_to_back, where two sessions are
//   back to back when the gap from one's end to the next's start is
//   strictly less than back_to_back_gap_minutes (overlaps count)
// - first start to last end  >  max_day_span_hours
// All are "more than the maximum": the defaults describe a day that is
// still fine (8 sessions, 4 in a row, 10 hours).
#ifndef ATTUNE_PLUGINS_BUILTIN_CLINICIAN_LOAD_CLINICIAN_LOAD_MODULE_H_
#define ATTUNE_PLUGINS_BUILTIN_CLINICIAN_LOAD_CLINICIAN_LOAD_MODULE_H_

#include <string_view>

#include "service/engine/rule_module.h"

namespace attune::builtin {

class ClinicianLoadModule : public engine::RuleModule {
 public:
  static constexpr char kId[] = "attune.clinician_load";
  static constexpr char kHeavyDay[] = "attune.clinician_load/heavy_day";

  std::string_view id() const override { return kId; }
  std::string_view version() const override { return "1.0.0"; }
  bool Enabled(const v1::RulesConfig& config) const override {
    return config.clinician_load().enabled();
  }
  absl::Status Evaluate(const engine::RuleInput& input,
                        engine::RuleOutput& output) const override;
  // Never fails: writes in place (see RuleModule::WritesOnlyOnSuccess).
  bool WritesOnlyOnSuccess() const override { return true; }
};

}  // namespace attune::builtin

#endif  // ATTUNE_PLUGINS_BUILTIN_CLINICIAN_LOAD_CLINICIAN_LOAD_MODULE_H_
