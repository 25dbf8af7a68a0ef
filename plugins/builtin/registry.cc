#include "plugins/builtin/registry.h"

#include "plugins/builtin/alliance/alliance_module.h"
#include "plugins/builtin/bordin/bordin_module.h"
#include "plugins/builtin/clinician_load/clinician_load_module.h"
#include "plugins/builtin/dropout_risk/dropout_risk_module.h"
#include "plugins/builtin/feedback_adherence/feedback_adherence_module.h"
#include "plugins/builtin/phase/phase_module.h"
#include "plugins/builtin/rater_discrepancy/rater_discrepancy_module.h"
#include "plugins/builtin/repair/repair_module.h"
#include "plugins/builtin/rupture/rupture_module.h"

namespace attune::builtin {

std::vector<std::unique_ptr<engine::RuleModule>> MakeBuiltinModules() {
  std::vector<std::unique_ptr<engine::RuleModule>> modules;
  modules.push_back(std::make_unique<AllianceModule>());
  modules.push_back(std::make_unique<PhaseModule>());
  modules.push_back(std::make_unique<RuptureModule>());
  modules.push_back(std::make_unique<RepairModule>());
  modules.push_back(std::make_unique<DropoutRiskModule>());
  modules.push_back(std::make_unique<RaterDiscrepancyModule>());
  modules.push_back(std::make_unique<BordinModule>());
  modules.push_back(std::make_unique<FeedbackAdherenceModule>());
  modules.push_back(std::make_unique<ClinicianLoadModule>());
  return modules;
}

}  // namespace attune::builtin
