// attune-microbench: the engine's per-event CPU work, without gRPC or
// storage (Google Benchmark).
//
//   attune-microbench [--benchmark_filter=Pipeline] [--benchmark_min_time=1]
//
// Histories are workload.h episodes with exactly 5, 20 or 100 sessions,
// cut after the last session's `session_held`, which is the trigger (it
// runs every module, the clinician-load rules included). The rule set is the
// compiled-in default configuration with the built-in modules, as attuned
// runs it.
//
//   BM_Fold/N              EpisodeHistory::Fold of the events (copied, as
//                          the engine does)
//   BM_CopyEvents/N        only that copy of the events and freeing it: the
//                          part of BM_Fold that is the caller's, not the fold's
//   BM_Pipeline/N          the built-in rule pipeline on a folded history
//   BM_FoldAndPipeline/N   both: the engine's per-event rule work
//   BM_Reconcile           the alert budget over a 20-session episode's
//                          prompts and proposals
//   BM_PluginJson/N        the history and trigger as the proto3 JSON a
//                          native plugin receives
//   BM_NativePlugin/...    one call of plugins/examples/safety_item_c through
//                          the native adapter (JSON both ways), 20 sessions:
//                          quiet (no prompt) and fires (one prompt parsed)
//   BM_WorkloadEpisode     the load generator's cost to make one episode
//   BM_SubmitEvent/sessions:20/cache_mib:N
//                          AllianceEngine::Submit of one event (a late SRS
//                          for the last session) into an episode of 20
//                          sessions, against a real SQLite store in a temp
//                          dir (WAL, synchronous=FULL, plaintext as the
//                          harness runs attuned): validation, idempotency
//                          lookup, load, fold, pipeline, reconcile, commit;
//                          with the episode cache off (0) and at its
//                          default (64 MiB, the episode kept in memory)
//   BM_SubmitBatch/20      AllianceEngine::SubmitBatch of 500 events (whole
//                          20-session episodes, as a backfill sends them)
//                          against the same kind of store; per event
//
// The two store benchmarks wait for fsync: their wall time is the measure
// (CPU time is this thread's only, not the store's writer thread).
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "attune/v1/rule_module.pb.h"
#include "benchmark/benchmark.h"
#include "google/protobuf/util/json_util.h"
#include "plugins/builtin/registry.h"
#include "service/config/config_loader.h"
#include "service/engine/alliance_engine.h"
#include "service/engine/episode_history.h"
#include "service/engine/native_plugin.h"
#include "service/engine/prompt_reconciler.h"
#include "service/engine/rule_pipeline.h"
#include "service/engine/rule_set.h"
#include "service/store/sqlite/sqlite_store.h"
#include "tests/bench/workload.h"

namespace attune::bench {
namespace {

constexpr char kTenant[] = "default";

const engine::RuleSet& Rules() {
  static const std::shared_ptr<const engine::RuleSet> set = [] {
    auto config = config::DefaultConfig();
    if (!config.ok()) std::abort();
    auto made = engine::RuleSet::Create(*config, builtin::MakeBuiltinModules());
    if (!made.ok()) std::abort();
    return *made;
  }();
  return *set;
}

// Episode `index` with exactly `sessions` sessions, up to and including the
// last session_held.
std::vector<v1::SessionEvent> History(int sessions, int64_t index = 0) {
  Workload w(
      {.id_prefix = "m", .min_sessions = sessions, .max_sessions = sessions});
  std::vector<v1::SessionEvent> events = w.Episode(index);
  while (!events.empty() && !events.back().has_session_held()) {
    events.pop_back();
  }
  return events;
}

engine::ClinicianDay DayOf(const v1::SessionEvent& held) {
  engine::ClinicianDay day;
  day.sessions.push_back({engine::ToTime(held.session_held().start()),
                          engine::ToTime(held.session_held().end())});
  return day;
}

void BM_Fold(benchmark::State& state) {
  const std::vector<v1::SessionEvent> events =
      History(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    engine::EpisodeHistory h =
        engine::EpisodeHistory::Fold(events, Rules().instruments());
    benchmark::DoNotOptimize(h.sessions_held());
  }
  state.counters["events"] = static_cast<double>(events.size());
}
BENCHMARK(BM_Fold)->Arg(5)->Arg(20)->Arg(100);

void BM_CopyEvents(benchmark::State& state) {
  const std::vector<v1::SessionEvent> events =
      History(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    std::vector<v1::SessionEvent> copy = events;
    benchmark::DoNotOptimize(copy.data());
  }
  state.counters["events"] = static_cast<double>(events.size());
}
BENCHMARK(BM_CopyEvents)->Arg(5)->Arg(20)->Arg(100);

void BM_Pipeline(benchmark::State& state) {
  const std::vector<v1::SessionEvent> events =
      History(static_cast<int>(state.range(0)));
  const engine::EpisodeHistory history =
      engine::EpisodeHistory::Fold(events, Rules().instruments());
  const engine::ClinicianDay day = DayOf(events.back());
  const engine::RuleInput input{history, events.back(),
                                Rules().RulesFor(kTenant), day};
  for (auto _ : state) {
    engine::PipelineResult r = Rules().pipeline().Run(input);
    benchmark::DoNotOptimize(r.proposals.size());
  }
  state.counters["events"] = static_cast<double>(events.size());
}
BENCHMARK(BM_Pipeline)->Arg(5)->Arg(20)->Arg(100);

void BM_FoldAndPipeline(benchmark::State& state) {
  const std::vector<v1::SessionEvent> events =
      History(static_cast<int>(state.range(0)));
  const engine::ClinicianDay day = DayOf(events.back());
  for (auto _ : state) {
    engine::EpisodeHistory history =
        engine::EpisodeHistory::Fold(events, Rules().instruments());
    engine::PipelineResult r = Rules().pipeline().Run(
        {history, events.back(), Rules().RulesFor(kTenant), day});
    benchmark::DoNotOptimize(r.proposals.size());
  }
  state.counters["events"] = static_cast<double>(events.size());
}
BENCHMARK(BM_FoldAndPipeline)->Arg(5)->Arg(20)->Arg(100);

// The prompts a 20-session episode has raised by its last session (every
// prefix run and reconciled as the engine does), and the last proposals.
struct ReconcileCase {
  engine::ReconcileInput input;
};

ReconcileCase MakeReconcileCase() {
  const v1::RulesConfig& rules = Rules().RulesFor(kTenant);
  ReconcileCase best;
  // The first episodes with a dip raise prompts; take the one with most.
  for (int64_t index = 0; index < 20; ++index) {
    const std::vector<v1::SessionEvent> events = History(20, index);
    std::vector<v1::Prompt> prompts;
    engine::ReconcileInput last;
    for (size_t n = 1; n <= events.size(); ++n) {
      std::vector<v1::SessionEvent> prefix(events.begin(), events.begin() + n);
      engine::EpisodeHistory history =
          engine::EpisodeHistory::Fold(prefix, Rules().instruments());
      engine::ClinicianDay day;
      if (events[n - 1].has_session_held()) day = DayOf(events[n - 1]);
      engine::PipelineResult r =
          Rules().pipeline().Run({history, events[n - 1], rules, day});
      engine::ReconcileInput in;
      in.tenant = kTenant;
      in.episode = history.episode();
      in.existing = prompts;
      for (auto& p : r.proposals) {
        if (p.proposal.prompt.scope() != v1::PROMPT_SCOPE_CLINICIAN) {
          in.proposals.push_back(p);
        }
      }
      in.now = history.latest_time();
      in.session = history.sessions_held();
      in.budget = rules.budget();
      last = in;
      prompts = engine::Reconcile(std::move(in)).prompts;
    }
    if (last.existing.size() > best.input.existing.size()) best.input = last;
  }
  return best;
}

void BM_Reconcile(benchmark::State& state) {
  static const ReconcileCase c = MakeReconcileCase();
  for (auto _ : state) {
    engine::ReconcileResult r = engine::Reconcile(c.input);
    benchmark::DoNotOptimize(r.prompts.size());
  }
  state.counters["prompts"] = static_cast<double>(c.input.existing.size());
  state.counters["proposals"] = static_cast<double>(c.input.proposals.size());
}
BENCHMARK(BM_Reconcile);

std::string ToJson(const google::protobuf::Message& m) {
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(m, &json).ok()) {
    std::abort();
  }
  return json;
}

// What NativeRuleModule::Evaluate builds before it calls the plugin.
void BM_PluginJson(benchmark::State& state) {
  const std::vector<v1::SessionEvent> events =
      History(static_cast<int>(state.range(0)));
  const engine::EpisodeHistory history =
      engine::EpisodeHistory::Fold(events, Rules().instruments());
  int64_t bytes = 0;
  for (auto _ : state) {
    // As the native adapter encodes it (native_plugin.cc): the history in
    // one EvaluateRequest with only episode and events set.
    v1::EvaluateRequest wrapper;
    *wrapper.mutable_episode() = history.episode();
    for (const v1::SessionEvent& e : history.events()) {
      *wrapper.add_events() = e;
    }
    std::string json = ToJson(wrapper);
    std::string trigger = ToJson(events.back());
    bytes = static_cast<int64_t>(json.size() + trigger.size());
    benchmark::DoNotOptimize(json.data());
  }
  state.SetBytesProcessed(state.iterations() * bytes);
  state.counters["events"] = static_cast<double>(events.size());
}
BENCHMARK(BM_PluginJson)->Arg(5)->Arg(20)->Arg(100);

void BM_NativePlugin(benchmark::State& state, bool fires) {
  static const std::vector<std::unique_ptr<engine::RuleModule>>* modules = [] {
    auto loaded = engine::LoadNativePlugin(
        ATTUNE_BENCH_SAFETY_PLUGIN,
        R"({"instrument": "custom:acme.phq9", "item": 9, "min_score": 1})");
    if (!loaded.ok() || loaded->size() != 1) {
      std::fprintf(stderr, "cannot load %s\n", ATTUNE_BENCH_SAFETY_PLUGIN);
      std::abort();
    }
    return new std::vector<std::unique_ptr<engine::RuleModule>>(
        *std::move(loaded));
  }();
  std::vector<v1::SessionEvent> events = History(20);
  v1::SessionEvent phq = events.back();
  phq.clear_session_held();
  phq.set_event_id(phq.event_id() + "-phq");
  v1::MeasureRecorded* m = phq.mutable_measure_recorded();
  m->set_session_number(20);
  m->set_instrument(v1::INSTRUMENT_CUSTOM);
  m->set_rater(v1::RATER_CLIENT);
  v1::CustomInstrument* custom = m->mutable_custom();
  custom->set_name("acme.phq9");
  custom->set_construct(v1::CONSTRUCT_OUTCOME);
  custom->set_item_count(9);
  custom->set_item_min(0);
  custom->set_item_max(3);
  custom->set_total_min(0);
  custom->set_total_max(27);
  for (double v : {1, 2, 1, 1, 0, 1, 2, 1, 2}) m->add_items(v);
  if (fires) events.push_back(phq);
  const engine::EpisodeHistory history =
      engine::EpisodeHistory::Fold(events, Rules().instruments());
  const engine::ClinicianDay day;
  const engine::RuleInput input{history, events.back(),
                                Rules().RulesFor(kTenant), day};
  for (auto _ : state) {
    engine::RuleOutput out;
    v1::Assessment assessment;
    out.assessment = &assessment;
    absl::Status s = (*modules)[0]->Evaluate(input, out);
    if (!s.ok() || out.prompts.size() != (fires ? 1u : 0u)) {
      state.SkipWithError("the plugin did not answer as expected");
      break;
    }
  }
  state.counters["events"] = static_cast<double>(events.size());
}
BENCHMARK_CAPTURE(BM_NativePlugin, quiet, false);
BENCHMARK_CAPTURE(BM_NativePlugin, fires, true);

void BM_WorkloadEpisode(benchmark::State& state) {
  Workload w({.id_prefix = "w"});
  int64_t i = 0;
  int64_t events = 0;
  for (auto _ : state) {
    std::vector<v1::SessionEvent> e = w.Episode(i++);
    events += static_cast<int64_t>(e.size());
  }
  state.SetItemsProcessed(events);
}
BENCHMARK(BM_WorkloadEpisode);

// An engine as attuned runs it (default configuration, built-in modules)
// over a SQLite store in a fresh temp dir, removed with it.
class StoreEngine {
 public:
  // `cache_mib`: store.episode_cache_mib (0: every event reloads its
  // episode from the store).
  explicit StoreEngine(int cache_mib = 64) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
        "/attune-microbench-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    dir_ = pattern;
    store::SqliteStoreOptions options;
    options.path = dir_ + "/attune.db";
    auto store = store::SqliteStore::Open(options);
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
      std::abort();
    }
    store_ = *std::move(store);
    auto config = config::DefaultConfig();
    if (!config.ok()) std::abort();
    config->mutable_store()->set_episode_cache_mib(cache_mib);
    auto engine = engine::AllianceEngine::Create(store_.get(), *config,
                                                 builtin::MakeBuiltinModules());
    if (!engine.ok()) std::abort();
    engine_ = *std::move(engine);
  }
  ~StoreEngine() {
    engine_.reset();
    store_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  StoreEngine(const StoreEngine&) = delete;
  StoreEngine& operator=(const StoreEngine&) = delete;

  engine::AllianceEngine& engine() { return *engine_; }
  store::SqliteStore& store() { return *store_; }

  // Submits `events` in batches of at most 500; false when any failed.
  bool Load(const std::vector<v1::SessionEvent>& events) {
    for (size_t i = 0; i < events.size(); i += 500) {
      std::vector<v1::SessionEvent> batch(
          events.begin() + static_cast<std::ptrdiff_t>(i),
          events.begin() +
              static_cast<std::ptrdiff_t>(std::min(events.size(), i + 500)));
      for (const auto& r : engine_->SubmitBatch(kTenant, batch)) {
        if (!r.ok()) {
          std::fprintf(stderr, "%s\n", r.status().ToString().c_str());
          return false;
        }
      }
    }
    return true;
  }

 private:
  std::string dir_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<engine::AllianceEngine> engine_;
};

// Episodes kept at `sessions` sessions that BM_SubmitEvent adds to in turn
// (each grows by iterations / kEpisodes late measures).
constexpr int kSubmitEpisodes = 32;

void BM_SubmitEvent(benchmark::State& state) {
  const int sessions = static_cast<int>(state.range(0));
  StoreEngine s(static_cast<int>(state.range(1)));
  std::vector<v1::SessionEvent> srs;  // each episode's last client SRS
  std::vector<v1::SessionEvent> all;
  for (int64_t i = 0; i < kSubmitEpisodes; ++i) {
    std::vector<v1::SessionEvent> events = History(sessions, i);
    for (auto it = events.rbegin(); it != events.rend(); ++it) {
      if (it->has_measure_recorded() &&
          it->measure_recorded().instrument() == v1::INSTRUMENT_SRS) {
        srs.push_back(*it);
        break;
      }
    }
    all.insert(all.end(), events.begin(), events.end());
  }
  if (srs.size() != static_cast<size_t>(kSubmitEpisodes) || !s.Load(all)) {
    state.SkipWithError("could not load the episodes");
    return;
  }
  int64_t n = 0;
  for (auto _ : state) {
    v1::SessionEvent e = srs[static_cast<size_t>(n % kSubmitEpisodes)];
    e.set_event_id(absl::StrCat(e.event_id(), "-late-", n++));
    absl::StatusOr<v1::SubmitEventResponse> r = s.engine().Submit(kTenant, e);
    if (!r.ok() || r->replayed()) {
      state.SkipWithError(r.ok() ? "replayed" : r.status().ToString().c_str());
      break;
    }
  }
  state.counters["events"] = static_cast<double>(all.size()) / kSubmitEpisodes;
}
BENCHMARK(BM_SubmitEvent)
    ->ArgNames({"sessions", "cache_mib"})
    ->Args({20, 0})
    ->Args({20, 64})
    ->UseRealTime();

void BM_SubmitBatch(benchmark::State& state) {
  constexpr size_t kBatch = 500;
  const int sessions = static_cast<int>(state.range(0));
  StoreEngine s;
  Workload w(
      {.id_prefix = "mb", .min_sessions = sessions, .max_sessions = sessions});
  int64_t next = 0;
  int64_t events = 0;
  const int64_t transactions_before = s.store().stats().batches;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<v1::SessionEvent> batch;
    while (batch.size() < kBatch) {
      std::vector<v1::SessionEvent> episode =
          w.EpisodePrefix(next++, kBatch - batch.size());
      batch.insert(batch.end(), episode.begin(), episode.end());
    }
    state.ResumeTiming();
    for (const auto& r : s.engine().SubmitBatch(kTenant, batch)) {
      if (!r.ok()) {
        state.SkipWithError(r.status().ToString().c_str());
        break;
      }
    }
    events += static_cast<int64_t>(batch.size());
  }
  state.SetItemsProcessed(events);
  // Write transactions (fsyncs) per SubmitBatch call.
  state.counters["transactions"] = benchmark::Counter(
      static_cast<double>(s.store().stats().batches - transactions_before),
      benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_SubmitBatch)
    ->Arg(20)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace attune::bench

BENCHMARK_MAIN();
