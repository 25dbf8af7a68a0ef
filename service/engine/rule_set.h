// RuleSet: one loaded, immutable rule configuration — the modules, the
// instrument registry and the rules in force for each tenant. The engine
// holds the current set behind a shared pointer; a reload builds a new set
// and swaps it in, and every request keeps the set it started with until it
// finishes, so a swap never fails or mixes a request.
#ifndef ATTUNE_SERVICE_ENGINE_RULE_SET_H_
#define ATTUNE_SERVICE_ENGINE_RULE_SET_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attune/v1/config.pb.h"
#include "service/engine/instrument_registry.h"
#include "service/engine/rule_pipeline.h"

namespace attune::engine {

class RuleSet {
 public:
  // Builds a set from a validated configuration (config::ValidateConfig) and
  // the modules it describes. Fails when module settings or policies (the
  // server's or a tenant's) name a module that is not loaded, or the
  // instruments are invalid. `previous` lends its module counters and fixes
  // the generation (previous + 1; 1 without one).
  static absl::StatusOr<std::shared_ptr<const RuleSet>> Create(
      v1::ServerConfig config, std::vector<std::unique_ptr<RuleModule>> modules,
      const RuleSet* previous = nullptr, absl::Time loaded_at = absl::Now());

  int64_t generation() const { return generation_; }
  absl::Time loaded_at() const { return loaded_at_; }
  // The configuration the set was built from.
  const v1::ServerConfig& config() const { return config_; }
  const InstrumentRegistry& instruments() const { return instruments_; }
  const RulePipeline& pipeline() const { return pipeline_; }
  // The server's rules with the tenant's override merged over them.
  const v1::RulesConfig& RulesFor(const std::string& tenant) const;

 private:
  RuleSet(v1::ServerConfig config, InstrumentRegistry instruments,
          std::vector<std::unique_ptr<RuleModule>> modules,
          const RuleSet* previous, absl::Time loaded_at);

  v1::ServerConfig config_;
  InstrumentRegistry instruments_;
  RulePipeline pipeline_;
  std::map<std::string, v1::RulesConfig> tenant_rules_;
  int64_t generation_ = 1;
  absl::Time loaded_at_;
};

}  // namespace attune::engine

#endif  // ATTUNE_SERVICE_ENGINE_RULE_SET_H_
