// attune.alliance: the alliance section of the assessment — the latest
// client-rated alliance score, its band and its trend. Raises no prompts;
// later modules (rupture, bordin) refine the section.
#ifndef ATTUNE_PLUGINS_BUILTIN_ALLIANCE_ALLIANCE_MODULE_H_
#define ATTUNE_PLUGINS_BUILTIN_ALLIANCE_ALLIANCE_MODULE_H_

#include <string_view>

#include "service/engine/rule_module.h"

namespace attune::builtin {

class AllianceModule : public engine::RuleModule {
 public:
  static constexpr char kId[] = "attune.alliance";

  std::string_view id() const override { return kId; }
  std::string_view version() const override { return "1.0.0"; }
  // Always on: the other modules and the host rely on the section.
  bool Enabled(const v1::RulesConfig&) const override { return true; }
  absl::Status Evaluate(const engine::RuleInput& input,
                        engine::RuleOutput& output) const override;
  // Never fails: writes in place (see RuleModule::WritesOnlyOnSuccess).
  bool WritesOnlyOnSuccess() const override { return true; }
};

}  // namespace attune::builtin

#endif  // ATTUNE_PLUGINS_BUILTIN_ALLIANCE_ALLIANCE_MODULE_H_
