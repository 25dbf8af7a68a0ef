// Metrics: attuned's Prometheus metrics, and their text exposition.
//
//   ops::Metrics metrics;
//   metrics.ObserveRpc("attune.v1.AllianceService/SubmitEvent", "OK", 0.004);
//   metrics.SetSources({...});        // counters read from elsewhere
//   std::string text = metrics.Scrape();
//
// Families (README.md, "Metrics", has the PromQL):
//   attune_rpc_duration_seconds{method,code}          histogram
//   attune_events_total{outcome}                      counter, read on scrape
//   attune_prompts_total{module,severity,status}      counter
//   attune_prompt_feedback_total{module,outcome}      counter
//   attune_module_evaluations_total{module}           counter, read on scrape
//   attune_module_errors_total{module}                counter, read on scrape
//   attune_module_timeouts_total{module}              counter, read on scrape
//   attune_store_commit_duration_seconds{code}        histogram
//   attune_store_commits_total{code}                  counter
//   attune_store_batches_total                        counter, read on scrape
// Label values are method names, status code names, module ids, severities,
// prompt statuses and outcomes: never an identifier or anything a caller
// typed. Callers pass only such values; Metrics does not check them.
//
// Ownership: the sources given to SetSources must stay valid until the last
// Scrape returns. Threading: every method may be called from any thread;
// Observe and Count are lock-free after a label set's first use.
#ifndef ATTUNE_SERVICE_OPS_METRICS_H_
#define ATTUNE_SERVICE_OPS_METRICS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace attune::ops {

// Events by outcome since start (engine::EngineStats).
struct EventCounts {
  int64_t accepted = 0;
  int64_t replayed = 0;
  int64_t rejected = 0;
};

// The engine's in-memory episodes (engine::EpisodeCacheStats).
struct EpisodeCacheCounts {
  int64_t hits = 0;
  int64_t misses = 0;
  int64_t stale = 0;
  int64_t evictions = 0;
  int64_t entries = 0;
  int64_t bytes = 0;
};

// One rule module's counters (engine::ModuleHealth).
struct ModuleCounts {
  std::string module_id;
  int64_t evaluations = 0;
  int64_t errors = 0;
  int64_t timeouts = 0;
};

// Counters kept elsewhere, read on every scrape. Any may be empty.
struct ScrapeSources {
  std::function<EventCounts()> events;
  std::function<std::vector<ModuleCounts>()> modules;
  // Write transactions of the store's group commit; nullopt when the store
  // does not report them.
  std::function<std::optional<int64_t>()> store_batches;
  std::function<EpisodeCacheCounts()> episode_cache;
};

class Metrics {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // One finished call: `method` "package.Service/Method", `code` the gRPC
  // status code's name ("OK", "INVALID_ARGUMENT").
  void ObserveRpc(const std::string& method, const std::string& code,
                  double seconds);
  // One published prompt change: module id, severity ("info", "warning",
  // "critical") and the status it changed to ("active", "dismissed"...).
  void CountPromptChange(const std::string& module, const std::string& severity,
                         const std::string& status);
  // One stored clinician feedback: outcome "accepted", "dismissed" or
  // "snoozed".
  void CountFeedback(const std::string& module, const std::string& outcome);
  // One store commit, CommitAsync to its result; `code` as for ObserveRpc.
  void ObserveStoreCommit(const std::string& code, double seconds);

  void SetSources(ScrapeSources sources);

  // The Prometheus text exposition format (version 0.0.4) of every family.
  std::string Scrape();

  prometheus::Registry& registry() { return *registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Histogram>* rpc_duration_;
  prometheus::Family<prometheus::Counter>* prompts_;
  prometheus::Family<prometheus::Counter>* feedback_;
  prometheus::Family<prometheus::Histogram>* commit_duration_;
  prometheus::Family<prometheus::Counter>* commits_;

  std::mutex sources_mu_;
  ScrapeSources sources_;  // guarded by sources_mu_
};

// Lower-case names of the proto enums, as label values.
std::string SeverityLabel(int severity);        // v1::Severity
std::string PromptStatusLabel(int status);      // v1::PromptStatus
std::string FeedbackOutcomeLabel(int outcome);  // v1::PromptFeedback::Outcome

}  // namespace attune::ops

#endif  // ATTUNE_SERVICE_OPS_METRICS_H_
