#include "service/ops/metrics.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "attune/v1/event.pb.h"
#include "attune/v1/prompt.pb.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"

namespace attune::ops {
namespace {

// Calls range from tens of microseconds (a replayed event) to the 30 s
// deadline cap; streams (WatchPrompts) land in +Inf.
const prometheus::Histogram::BucketBoundaries& RpcBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
      0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};
  return *buckets;
}

// A group commit is one fsync: from ~100 us (no fsync, tmpfs) to seconds
// on a stalled disk or a lost database connection.
const prometheus::Histogram::BucketBoundaries& CommitBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
      0.025,  0.05,    0.1,    0.25,  0.5,    1,     5};
  return *buckets;
}

// "SEVERITY_WARNING" -> "warning".
std::string EnumLabel(const std::string& name, const std::string& prefix) {
  std::string rest =
      name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
  if (rest.empty()) return "unspecified";
  absl::AsciiStrToLower(&rest);
  return rest;
}

prometheus::ClientMetric CounterMetric(
    std::vector<prometheus::ClientMetric::Label> labels, int64_t value) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = static_cast<double>(value);
  return m;
}

prometheus::MetricFamily CounterFamily(std::string name, std::string help) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = prometheus::MetricType::Counter;
  return f;
}

prometheus::MetricFamily GaugeFamily(std::string name, std::string help,
                                     int64_t value) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = prometheus::MetricType::Gauge;
  prometheus::ClientMetric m;
  m.gauge.value = static_cast<double>(value);
  f.metric.push_back(std::move(m));
  return f;
}

}  // namespace

std::string SeverityLabel(int severity) {
  if (!v1::Severity_IsValid(severity)) return "unknown";
  return EnumLabel(v1::Severity_Name(static_cast<v1::Severity>(severity)),
                   "SEVERITY_");
}

std::string PromptStatusLabel(int status) {
  if (!v1::PromptStatus_IsValid(status)) return "unknown";
  return EnumLabel(v1::PromptStatus_Name(static_cast<v1::PromptStatus>(status)),
                   "PROMPT_STATUS_");
}

std::string FeedbackOutcomeLabel(int outcome) {
  if (!v1::PromptFeedback::Outcome_IsValid(outcome)) return "unknown";
  return EnumLabel(v1::PromptFeedback::Outcome_Name(
                       static_cast<v1::PromptFeedback::Outcome>(outcome)),
                   "OUTCOME_");
}

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  rpc_duration_ =
      &prometheus::BuildHistogram()
           .Name("attune_rpc_duration_seconds")
           .Help(
               "gRPC calls served, by method and status code: from the "
               "call's arrival to its status (streams: when they close)")
           .Register(*registry_);
  prompts_ = &prometheus::BuildCounter()
                  .Name("attune_prompts_total")
                  .Help(
                      "Prompt changes published (raised, updated, "
                      "resolved, expired, fed back), by rule module, "
                      "severity and the status changed to")
                  .Register(*registry_);
  feedback_ = &prometheus::BuildCounter()
                   .Name("attune_prompt_feedback_total")
                   .Help(
                       "Clinician feedback on prompts, stored, by rule "
                       "module and outcome (accepted, dismissed, snoozed)")
                   .Register(*registry_);
  commit_duration_ =
      &prometheus::BuildHistogram()
           .Name("attune_store_commit_duration_seconds")
           .Help(
               "Store commits of one event, from queueing to durable (or "
               "failed), by status code")
           .Register(*registry_);
  commits_ = &prometheus::BuildCounter()
                  .Name("attune_store_commits_total")
                  .Help("Store commits of one event, by status code")
                  .Register(*registry_);
}

void Metrics::ObserveRpc(const std::string& method, const std::string& code,
                         double seconds) {
  rpc_duration_->Add({{"method", method}, {"code", code}}, RpcBuckets())
      .Observe(seconds);
}

void Metrics::CountPromptChange(const std::string& module,
                                const std::string& severity,
                                const std::string& status) {
  prompts_
      ->Add({{"module", module}, {"severity", severity}, {"status", status}})
      .Increment();
}

void Metrics::CountFeedback(const std::string& module,
                            const std::string& outcome) {
  feedback_->Add({{"module", module}, {"outcome", outcome}}).Increment();
}

void Metrics::ObserveStoreCommit(const std::string& code, double seconds) {
  commit_duration_->Add({{"code", code}}, CommitBuckets()).Observe(seconds);
  commits_->Add({{"code", code}}).Increment();
}

void Metrics::SetSources(ScrapeSources sources) {
  std::lock_guard<std::mutex> lock(sources_mu_);
  sources_ = std::move(sources);
}

std::string Metrics::Scrape() {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  std::lock_guard<std::mutex> lock(sources_mu_);
  if (sources_.events) {
    const EventCounts e = sources_.events();
    prometheus::MetricFamily f = CounterFamily(
        "attune_events_total",
        "Session events submitted, by outcome: accepted (stored), replayed "
        "(an event_id seen before, same content) or rejected");
    f.metric.push_back(CounterMetric({{"outcome", "accepted"}}, e.accepted));
    f.metric.push_back(CounterMetric({{"outcome", "replayed"}}, e.replayed));
    f.metric.push_back(CounterMetric({{"outcome", "rejected"}}, e.rejected));
    families.push_back(std::move(f));
  }
  if (sources_.modules) {
    prometheus::MetricFamily evaluations = CounterFamily(
        "attune_module_evaluations_total", "Rule module evaluations");
    prometheus::MetricFamily errors = CounterFamily(
        "attune_module_errors_total",
        "Rule module evaluations that failed (timeouts included)");
    prometheus::MetricFamily timeouts =
        CounterFamily("attune_module_timeouts_total",
                      "Rule module evaluations that ran out of time");
    for (const ModuleCounts& m : sources_.modules()) {
      evaluations.metric.push_back(
          CounterMetric({{"module", m.module_id}}, m.evaluations));
      errors.metric.push_back(
          CounterMetric({{"module", m.module_id}}, m.errors));
      timeouts.metric.push_back(
          CounterMetric({{"module", m.module_id}}, m.timeouts));
    }
    families.push_back(std::move(evaluations));
    families.push_back(std::move(errors));
    families.push_back(std::move(timeouts));
  }
  if (sources_.store_batches) {
    if (std::optional<int64_t> batches = sources_.store_batches()) {
      prometheus::MetricFamily f = CounterFamily(
          "attune_store_batches_total",
          "Store write transactions (group commits); commits per batch is "
          "rate(attune_store_commits_total) / rate(this)");
      f.metric.push_back(CounterMetric({}, *batches));
      families.push_back(std::move(f));
    }
  }
  if (sources_.episode_cache) {
    const EpisodeCacheCounts c = sources_.episode_cache();
    prometheus::MetricFamily lookups = CounterFamily(
        "attune_episode_cache_lookups_total",
        "Episodes looked up in memory before an event: hit, miss, or stale "
        "(kept but written elsewhere since, so read from the store)");
    lookups.metric.push_back(
        CounterMetric({{"result", "hit"}}, c.hits - c.stale));
    lookups.metric.push_back(CounterMetric({{"result", "miss"}}, c.misses));
    lookups.metric.push_back(CounterMetric({{"result", "stale"}}, c.stale));
    families.push_back(std::move(lookups));
    prometheus::MetricFamily evictions = CounterFamily(
        "attune_episode_cache_evictions_total",
        "Episodes dropped from memory to stay within store.episode_cache_mib");
    evictions.metric.push_back(CounterMetric({}, c.evictions));
    families.push_back(std::move(evictions));
    families.push_back(GaugeFamily("attune_episode_cache_entries",
                                   "Episodes held in memory", c.entries));
    families.push_back(
        GaugeFamily("attune_episode_cache_bytes",
                    "Estimated memory of the episodes held (bytes)", c.bytes));
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace attune::ops
