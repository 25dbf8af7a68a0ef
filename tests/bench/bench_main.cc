// attune-bench: the performance report of attuned, measured against its
// floors in the same run. tests/bench/README.md explains every line of the
// report; tests/bench/run.sh is the entry point (Release build, the
// microbenchmarks, then this).
//
//   attune-bench [--repetitions=3] [--duration=3s] [--concurrency=1,8,32]
//                [--microbench_json=FILE] [--smoke] [--check]
//
// Each repetition starts a fresh attuned (its own SQLite file in a temp
// dir) and the null server, then runs every scenario against both, one
// after the other (the order alternates between repetitions):
//   backfill       SubmitEvents batches of whole episode prefixes
//   SubmitEvent    closed loop at each --concurrency, continuing the
//                  backfilled episodes mid-course
//   open loop      SubmitEvent at half of attuned's closed-loop peak of that
//                  repetition (or --open_rate)
//   GetAssessment  closed loop over the episodes stored so far
//   raw store      the same rows straight into SQLite, --raw_batches per
//                  transaction
// Then, once: a database of --startup_events events written through the
// Store API, attuned's start-up time on it (median of 3 starts), and its
// resident memory after --memory_episodes episodes received an event.
//
// Progress goes to stderr, the report to stdout. With --check the exit
// status is 1 when any call failed, any event was rejected or any scenario
// measured no throughput.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "attune/v1/alliance_service.grpc.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "service/common/log.h"
#include "tests/bench/load.h"
#include "tests/bench/server_process.h"
#include "tests/bench/store_floor.h"
#include "tests/bench/workload.h"

ABSL_FLAG(std::string, attuned, ATTUNE_BENCH_ATTUNED, "attuned binary");
ABSL_FLAG(std::string, null_server, ATTUNE_BENCH_NULL_SERVER,
          "attune-null-server binary");
ABSL_FLAG(int, repetitions, 3,
          "Repetitions of every gRPC and store scenario; 0 skips them");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(2),
          "Measured time of each scenario, per target and repetition");
ABSL_FLAG(absl::Duration, warmup, absl::Milliseconds(500),
          "Unmeasured lead-in of each scenario");
ABSL_FLAG(std::vector<std::string>, concurrency,
          std::vector<std::string>({"1", "8", "32"}),
          "Calls in flight of the closed-loop SubmitEvent runs");
ABSL_FLAG(int, workers, 2,
          "Client threads, each with its own channel (connection)");
ABSL_FLAG(int, batch, 500, "Events per SubmitEvents call (backfill)");
ABSL_FLAG(int, batch_concurrency, 2, "SubmitEvents calls in flight");
ABSL_FLAG(int, get_concurrency, 8, "GetAssessment calls in flight");
ABSL_FLAG(double, open_rate, 0,
          "Open-loop SubmitEvent calls/s; 0 = half of attuned's closed-loop "
          "peak in the same repetition");
ABSL_FLAG(int, open_max_in_flight, 1000,
          "Open loop: most calls in flight; later ones wait in the client "
          "(and their wait counts)");
ABSL_FLAG(std::vector<std::string>, raw_batches,
          std::vector<std::string>({"1", "500"}),
          "Events per transaction of the raw SQLite floor");
ABSL_FLAG(int64_t, raw_max_events, 200000,
          "Most events one raw-floor run inserts (it also stops after "
          "--duration)");
ABSL_FLAG(int64_t, startup_events, 1000000,
          "Events in the start-up database; 0 skips start-up and memory");
ABSL_FLAG(std::vector<std::string>, memory_episodes,
          std::vector<std::string>({"10000", "100000"}),
          "Resident memory after this many episodes received an event; "
          "empty skips");
ABSL_FLAG(int, touch_concurrency, 32,
          "SubmitEvent calls in flight while touching episodes for the "
          "memory measurement");
ABSL_FLAG(absl::Duration, touch_time_limit, absl::Seconds(60),
          "Stop touching episodes for the memory measurement after this long "
          "(the report says how many were reached)");
ABSL_FLAG(absl::Duration, fill_time_limit, absl::Seconds(60),
          "Stop writing the start-up database after this long");
ABSL_FLAG(std::string, microbench_json, "",
          "attune-microbench --benchmark_out JSON to include in the report");
ABSL_FLAG(bool, smoke, false,
          "A ~1 s run of every code path with tiny sizes (the ctest smoke "
          "test); overrides the size flags");
ABSL_FLAG(bool, check, false,
          "Exit 1 when any call failed, any event was rejected or a scenario "
          "measured no throughput");
ABSL_FLAG(bool, keep_dirs, false, "Keep the temp dirs (databases, logs)");

namespace attune::bench {
namespace {

// --- settings ---------------------------------------------------------------

struct Settings {
  std::string attuned;
  std::string null_server;
  int repetitions = 3;
  absl::Duration duration;
  absl::Duration warmup;
  std::vector<int> concurrency;
  int workers = 2;
  int batch = 500;
  int batch_concurrency = 2;
  int get_concurrency = 8;
  double open_rate = 0;
  int open_max_in_flight = 1000;
  std::vector<int> raw_batches;
  int64_t raw_max_events = 0;
  int64_t startup_events = 0;
  std::vector<int64_t> memory_episodes;
  int touch_concurrency = 32;
  absl::Duration touch_time_limit;
  absl::Duration fill_time_limit;
  std::string microbench_json;
  bool smoke = false;
  bool check = false;
  bool keep_dirs = false;
};

absl::StatusOr<std::vector<int64_t>> ParseList(
    const std::vector<std::string>& items, const char* flag) {
  std::vector<int64_t> out;
  for (const std::string& s : items) {
    int64_t v = 0;
    if (s.empty()) continue;
    if (!absl::SimpleAtoi(s, &v) || v < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, ": '", s, "' is not a positive integer"));
    }
    out.push_back(v);
  }
  return out;
}

absl::StatusOr<Settings> ReadSettings() {
  Settings s;
  s.attuned = absl::GetFlag(FLAGS_attuned);
  s.null_server = absl::GetFlag(FLAGS_null_server);
  s.repetitions = std::max(0, absl::GetFlag(FLAGS_repetitions));
  s.duration = absl::GetFlag(FLAGS_duration);
  s.warmup = absl::GetFlag(FLAGS_warmup);
  s.workers = std::max(1, absl::GetFlag(FLAGS_workers));
  s.batch = std::clamp(absl::GetFlag(FLAGS_batch), 1, 1000);
  s.batch_concurrency = std::max(1, absl::GetFlag(FLAGS_batch_concurrency));
  s.get_concurrency = std::max(1, absl::GetFlag(FLAGS_get_concurrency));
  s.open_rate = absl::GetFlag(FLAGS_open_rate);
  s.open_max_in_flight = std::max(1, absl::GetFlag(FLAGS_open_max_in_flight));
  s.raw_max_events = std::max<int64_t>(1, absl::GetFlag(FLAGS_raw_max_events));
  s.startup_events = std::max<int64_t>(0, absl::GetFlag(FLAGS_startup_events));
  s.fill_time_limit = absl::GetFlag(FLAGS_fill_time_limit);
  s.touch_concurrency = std::max(1, absl::GetFlag(FLAGS_touch_concurrency));
  s.touch_time_limit = absl::GetFlag(FLAGS_touch_time_limit);
  s.microbench_json = absl::GetFlag(FLAGS_microbench_json);
  s.smoke = absl::GetFlag(FLAGS_smoke);
  s.check = absl::GetFlag(FLAGS_check);
  s.keep_dirs = absl::GetFlag(FLAGS_keep_dirs);
  auto conc = ParseList(absl::GetFlag(FLAGS_concurrency), "concurrency");
  if (!conc.ok()) return conc.status();
  for (int64_t c : *conc) s.concurrency.push_back(static_cast<int>(c));
  auto raw = ParseList(absl::GetFlag(FLAGS_raw_batches), "raw_batches");
  if (!raw.ok()) return raw.status();
  for (int64_t b : *raw) s.raw_batches.push_back(static_cast<int>(b));
  auto mem = ParseList(absl::GetFlag(FLAGS_memory_episodes), "memory_episodes");
  if (!mem.ok()) return mem.status();
  s.memory_episodes = *mem;
  if (s.smoke) {
    s.repetitions = 1;
    s.duration = absl::Milliseconds(250);
    s.warmup = absl::Milliseconds(50);
    s.concurrency = {4};
    s.batch = 50;
    s.get_concurrency = 2;
    s.raw_batches = {1, 50};
    s.raw_max_events = 500;
    s.startup_events = 1000;
    s.memory_episodes = {100, 200};
    s.fill_time_limit = absl::Seconds(30);
    s.touch_concurrency = 4;
  }
  if (s.concurrency.empty()) {
    return absl::InvalidArgumentError("--concurrency: needs at least one");
  }
  std::sort(s.memory_episodes.begin(), s.memory_episodes.end());
  return s;
}

void Progress(const std::string& line) {
  std::cerr << "[attune-bench] " << line << std::endl;
}

// --- statistics
// ---------------------------------------------------------------

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double SafeRatio(double a, double b) { return b > 0 ? a / b : 0; }

// One scenario's runs against both targets, one pair per repetition.
struct Scenario {
  std::string name;
  std::string load;        // "c=8", "240/s", "2x500" (no spaces)
  bool per_event = false;  // rate in events/s rather than calls/s
  std::vector<LoadResult> attune;
  std::vector<LoadResult> null;

  double Rate(const LoadResult& r) const {
    return per_event ? r.events_per_second : r.calls_per_second;
  }
  template <typename F>
  double MedianOf(const std::vector<LoadResult>& runs, F f) const {
    std::vector<double> v;
    for (const LoadResult& r : runs) v.push_back(f(r));
    return Median(v);
  }
  // Median over repetitions of attune ÷ null, each measured side by side.
  template <typename F>
  double MedianRatio(F f) const {
    std::vector<double> v;
    for (size_t i = 0; i < attune.size() && i < null.size(); ++i) {
      v.push_back(SafeRatio(f(attune[i]), f(null[i])));
    }
    return Median(v);
  }
};

struct Failures {
  int64_t calls = 0;
  int64_t rejected = 0;
  int64_t not_sent = 0;
  std::vector<std::string> empty_scenarios;
  std::string first_error;

  void Add(const std::string& what, const LoadResult& r) {
    calls += r.failed_calls;
    rejected += r.rejected_events;
    not_sent += r.not_sent;
    if (first_error.empty() && !r.first_error.empty()) {
      first_error = absl::StrCat(what, ": ", r.first_error);
    }
    if (r.calls == 0) empty_scenarios.push_back(what);
  }
  bool ok() const {
    return calls == 0 && rejected == 0 && not_sent == 0 &&
           empty_scenarios.empty();
  }
};

// --- the typical responses the null server returns
// -----------------------------

struct Canned {
  std::string dir;
  size_t submit_event_request = 0;
  size_t submit_event_response = 0;
  size_t submit_events_request = 0;
  size_t submit_events_response = 0;
  size_t get_assessment_response = 0;
};

absl::Status WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

// attuned's configuration: the defaults with the per-tenant rate limit off,
// so the report measures the engine, not the limiter (the bench's single
// tenant makes far more calls than the default 1000 a second). The store is
// plaintext (synthetic data) like the store floor's, which fills the
// database attuned then opens: with keys attuned would seal it in place at
// its first start and the start-up figures would measure that.
constexpr char kAttunedConfig[] =
    "limits { tenant_calls_per_second: 0 }\n"
    "store { allow_plaintext: true }\n";
// For the memory measurement: an episode cache large enough to keep every
// episode touched (the default 64 MiB would cap the growth and hide the
// cost per cached episode).
constexpr char kResidencyConfig[] =
    "limits { tenant_calls_per_second: 0 }\n"
    "store { allow_plaintext: true episode_cache_mib: 16384 }\n";

// attuned's arguments: loopback, the database `db`, and `config_text`
// written to `dir`.
absl::StatusOr<std::vector<std::string>> AttunedArgs(
    const std::string& dir, const std::string& db,
    const char* config_text = kAttunedConfig) {
  const std::string config = dir + "/attuned.textproto";
  if (auto st = WriteFile(config, config_text); !st.ok()) return st;
  std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--db", db};
  args.insert(args.end(), {"--config", config});
  return args;
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(30));
  return ctx;
}

// Responses of attuned to a warm-up episode: the median-sized SubmitEvent
// response of its first 40 events, its assessment, and a results_only
// SubmitEvents response to a batch built as the backfill builds them.
absl::Status CaptureCanned(const std::string& address, const Settings& s,
                           Canned& canned) {
  auto channel =
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto stub = v1::AllianceService::NewStub(channel);
  Workload warm({.id_prefix = "warm"});
  std::vector<std::pair<size_t, v1::SubmitEventResponse>> responses;
  std::vector<size_t> request_sizes;
  for (const v1::SessionEvent& e : warm.EpisodePrefix(0, 40)) {
    v1::SubmitEventRequest req;
    *req.mutable_event() = e;
    v1::SubmitEventResponse resp;
    grpc::Status st = stub->SubmitEvent(Context().get(), req, &resp);
    if (!st.ok()) {
      return absl::InternalError(absl::StrCat(
          "warm-up SubmitEvent: ", st.error_code(), ": ", st.error_message()));
    }
    request_sizes.push_back(req.ByteSizeLong());
    responses.emplace_back(resp.ByteSizeLong(), std::move(resp));
  }
  std::sort(responses.begin(), responses.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::sort(request_sizes.begin(), request_sizes.end());
  const v1::SubmitEventResponse& typical =
      responses[responses.size() / 2].second;
  canned.submit_event_request = request_sizes[request_sizes.size() / 2];
  canned.submit_event_response = typical.ByteSizeLong();

  v1::GetAssessmentRequest get;
  get.set_episode_id(warm.EpisodeId(0));
  v1::GetAssessmentResponse assessment;
  grpc::Status st = stub->GetAssessment(Context().get(), get, &assessment);
  if (!st.ok()) {
    return absl::InternalError(
        absl::StrCat("warm-up GetAssessment: ", st.error_message()));
  }
  canned.get_assessment_response = assessment.ByteSizeLong();

  v1::SubmitEventsRequest batch;
  batch.set_results_only(true);
  for (int64_t i = 1; batch.events_size() < s.batch; ++i) {
    std::vector<v1::SessionEvent> events = warm.Episode(i);
    size_t prefix = std::max<size_t>(1, events.size() / 2);
    const size_t room = static_cast<size_t>(s.batch - batch.events_size());
    if (prefix > room) {
      if (batch.events_size() > 0) break;
      prefix = room;
    }
    for (size_t k = 0; k < prefix; ++k) *batch.add_events() = events[k];
  }
  v1::SubmitEventsResponse batch_resp;
  st = stub->SubmitEvents(Context().get(), batch, &batch_resp);
  if (!st.ok() || batch_resp.rejected() > 0) {
    return absl::InternalError(
        absl::StrCat("warm-up SubmitEvents: ", st.error_message(), " rejected ",
                     batch_resp.rejected()));
  }
  canned.submit_events_request = batch.ByteSizeLong();
  canned.submit_events_response = batch_resp.ByteSizeLong();

  for (auto [name, bytes] :
       {std::pair<const char*, std::string>{"submit_event.binpb",
                                            typical.SerializeAsString()},
        {"submit_events.binpb", batch_resp.SerializeAsString()},
        {"get_assessment.binpb", assessment.SerializeAsString()}}) {
    if (auto w = WriteFile(canned.dir + "/" + name, bytes); !w.ok()) return w;
  }
  return absl::OkStatus();
}

// --- one repetition
// ---------------------------------------------------------------

struct Run {
  std::map<std::string, Scenario> scenarios;
  std::vector<std::string> order;  // scenario keys in report order
  std::map<int, std::vector<StoreRunResult>> raw;  // by batch size
  std::vector<double> open_rates;
  Failures failures;

  Scenario& Get(const std::string& key, const std::string& name,
                const std::string& load, bool per_event) {
    auto it = scenarios.find(key);
    if (it == scenarios.end()) {
      order.push_back(key);
      it =
          scenarios.emplace(key, Scenario{name, load, per_event, {}, {}}).first;
    }
    return it->second;
  }
};

struct Target {
  const char* name;
  ServerProcess* process;
  EpisodeFeed* feed;
};

absl::Status RunRepetition(const Settings& s, int rep, Canned& canned,
                           const EpisodeTemplate& sizes, Run& run) {
  absl::StatusOr<std::string> dir = MakeTempDir("attune-bench");
  if (!dir.ok()) return dir.status();
  absl::StatusOr<std::vector<std::string>> args =
      AttunedArgs(*dir, *dir + "/attune.db");
  if (!args.ok()) return args.status();
  ServerProcess attuned(s.attuned, *args, *dir + "/attuned.log");
  if (auto st = attuned.Start(); !st.ok()) return st;
  if (rep == 0) {
    Progress("capturing attuned's typical responses for the null server");
    if (auto st = CaptureCanned(attuned.address(), s, canned); !st.ok()) {
      return st;
    }
  }
  ServerProcess null(s.null_server,
                     {"--listen", "127.0.0.1:0", "--canned_dir", canned.dir},
                     *dir + "/null.log");
  if (auto st = null.Start(); !st.ok()) return st;

  Workload wa({.id_prefix = absl::StrCat("r", rep, "a")});
  Workload wn({.id_prefix = absl::StrCat("r", rep, "n")});
  EpisodeFeed fa(&wa), fn(&wn);
  std::vector<Target> targets = {{"attune", &attuned, &fa},
                                 {"null", &null, &fn}};
  if (rep % 2 == 1) std::swap(targets[0], targets[1]);

  auto run_both = [&](const std::string& key, const std::string& name,
                      const std::string& load, bool per_event,
                      const std::function<LoadOptions(const Target&)>& make)
      -> absl::Status {
    Scenario& sc = run.Get(key, name, load, per_event);
    for (const Target& t : targets) {
      LoadOptions o = make(t);
      o.address = t.process->address();
      o.feed = t.feed;
      o.workers = s.workers;
      o.warmup = s.warmup;
      o.duration = s.duration;
      o.seed = static_cast<uint64_t>(rep) + 1;
      o.min_calls = s.smoke ? 3 : 0;
      absl::StatusOr<LoadResult> r = RunLoad(o);
      if (!r.ok()) return r.status();
      const std::string what = absl::StrCat(name, " ", load, " (", t.name, ")");
      Progress(absl::StrFormat(
          "rep %d  %-34s %9.0f %s/s  p50 %.2f ms  p99 %.2f ms  failed %d",
          rep + 1, what, per_event ? r->events_per_second : r->calls_per_second,
          per_event ? "events" : "calls", r->latency.p50_ms, r->latency.p99_ms,
          r->failed_calls + r->rejected_events));
      run.failures.Add(what, *r);
      (std::string(t.name) == "attune" ? sc.attune : sc.null)
          .push_back(*std::move(r));
    }
    return absl::OkStatus();
  };

  // Backfill first: the SubmitEvent runs continue its episodes mid-course.
  const std::string batch_load =
      absl::StrCat(s.batch_concurrency, "x", s.batch);
  if (auto st = run_both("backfill", "SubmitEvents backfill", batch_load, true,
                         [&](const Target&) {
                           LoadOptions o;
                           o.rpc = Rpc::kSubmitEvents;
                           o.concurrency = s.batch_concurrency;
                           o.batch_events = s.batch;
                           return o;
                         });
      !st.ok()) {
    return st;
  }
  double peak = 0;
  for (int c : s.concurrency) {
    const std::string key = absl::StrCat("submit-c", c);
    if (auto st = run_both(key, "SubmitEvent", absl::StrCat("c=", c), false,
                           [&](const Target&) {
                             LoadOptions o;
                             o.rpc = Rpc::kSubmitEvent;
                             o.concurrency = c;
                             return o;
                           });
        !st.ok()) {
      return st;
    }
    peak = std::max(peak, run.scenarios[key].attune.back().calls_per_second);
  }
  const double rate = s.open_rate > 0 ? s.open_rate : std::max(1.0, peak / 2);
  run.open_rates.push_back(rate);
  if (auto st = run_both("open", "SubmitEvent open loop",
                         s.open_rate > 0 ? absl::StrFormat("%.0f/s", rate)
                                         : std::string("peak/2"),
                         false,
                         [&](const Target&) {
                           LoadOptions o;
                           o.rpc = Rpc::kSubmitEvent;
                           o.rate = rate;
                           o.concurrency = s.open_max_in_flight;
                           return o;
                         });
      !st.ok()) {
    return st;
  }
  if (auto st = run_both("get", "GetAssessment",
                         absl::StrCat("c=", s.get_concurrency), false,
                         [&](const Target& t) {
                           LoadOptions o;
                           o.rpc = Rpc::kGetAssessment;
                           o.concurrency = s.get_concurrency;
                           o.assessment_episodes = t.feed->TouchedEpisodes();
                           return o;
                         });
      !st.ok()) {
    return st;
  }
  null.Stop();
  attuned.Stop();

  Workload wr({.id_prefix = absl::StrCat("r", rep, "s")});
  for (int b : s.raw_batches) {
    RawStoreOptions o;
    o.dir = *dir;
    o.batch = b;
    o.max_events =
        b == 1 ? std::min<int64_t>(s.raw_max_events, 20000) : s.raw_max_events;
    o.duration = s.duration;
    o.workload = &wr;
    o.sizes = &sizes;
    absl::StatusOr<StoreRunResult> r = RunRawStoreFloor(o);
    if (!r.ok()) return r.status();
    Progress(
        absl::StrFormat("rep %d  raw SQLite, %d per transaction: %.0f "
                        "events/s",
                        rep + 1, b, r->events_per_second));
    run.raw[b].push_back(*r);
  }
  if (!s.keep_dirs) RemoveTree(*dir);
  return absl::OkStatus();
}

// --- start-up and memory
// ------------------------------------------------------------

struct MemoryPoint {
  int64_t wanted = 0;    // --memory_episodes
  int64_t episodes = 0;  // touched (fewer when out of time or episodes)
  int64_t rss = 0;
  double touch_events_per_second = 0;
};

struct Residency {
  bool ran = false;
  StoreRunResult fill;
  int events_per_episode = 0;
  int64_t episodes = 0;
  std::vector<double> startup_seconds;
  int64_t rss_serving = 0;
  int64_t rss_peak = 0;
  std::vector<MemoryPoint> points;
  int64_t failed = 0;
  std::string first_error;
};

// Sends the next event of episodes [from, to) of `w` (each has `stored`
// events), one SubmitEvent per episode with `in_flight` calls at a time
// (one blocking call per thread): attuned commits each episode on its own,
// so concurrent calls are what lets group commit share the fsyncs. Stops
// taking episodes at `deadline`; returns the end of the range touched.
int64_t TouchEpisodes(const std::string& address, const Workload& w,
                      int64_t from, int64_t to, int stored, int in_flight,
                      absl::Time deadline, Residency& res) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int c = 0; c < 2; ++c) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("attune.bench.worker", c);
    channels.push_back(grpc::CreateCustomChannel(
        address, grpc::InsecureChannelCredentials(), args));
  }
  std::atomic<int64_t> next{from};
  std::atomic<int64_t> failed{0};
  std::mutex mu;
  std::string first_error;
  std::vector<std::thread> pool;
  for (int t = 0; t < in_flight; ++t) {
    pool.emplace_back([&, t] {
      auto stub = v1::AllianceService::NewStub(channels[t % channels.size()]);
      // The deadline is checked before an episode is taken, so every
      // episode taken below `to` is sent.
      while (absl::Now() < deadline) {
        const int64_t i = next++;
        if (i >= to) break;
        v1::SubmitEventRequest req;
        *req.mutable_event() =
            w.EpisodePrefix(i, static_cast<size_t>(stored) + 1).back();
        v1::SubmitEventResponse resp;
        grpc::Status st = stub->SubmitEvent(Context().get(), req, &resp);
        if (!st.ok()) {
          ++failed;
          std::lock_guard<std::mutex> lock(mu);
          if (first_error.empty()) {
            first_error =
                absl::StrCat(st.error_code(), ": ", st.error_message());
          }
        }
      }
    });
  }
  for (std::thread& t : pool) t.join();
  res.failed += failed;
  if (res.first_error.empty()) res.first_error = first_error;
  return std::min<int64_t>(next, to);
}

absl::Status MeasureResidency(const Settings& s, const EpisodeTemplate& sizes,
                              Residency& res) {
  if (s.startup_events == 0 && s.memory_episodes.empty()) return {};
  absl::StatusOr<std::string> dir = MakeTempDir("attune-bench-fill");
  if (!dir.ok()) return dir.status();
  res.ran = true;
  const int64_t most = s.memory_episodes.empty() ? 0 : s.memory_episodes.back();
  // One event per episode at least; ten when the events allow (an episode
  // at about its second session).
  res.episodes = std::max<int64_t>(
      1, most > 0 ? most : std::max<int64_t>(1, s.startup_events / 10));
  res.events_per_episode = static_cast<int>(
      std::clamp<int64_t>(s.startup_events / res.episodes, 1,
                          static_cast<int64_t>(sizes.responses.size()) - 1));
  Workload wf({.id_prefix = "fill"});
  Progress(absl::StrFormat(
      "writing %d episodes x %d events through the Store API (limit %s)",
      res.episodes, res.events_per_episode,
      absl::FormatDuration(s.fill_time_limit)));
  FillOptions fo;
  fo.db_path = *dir + "/attune.db";
  fo.workload = &wf;
  fo.episodes = res.episodes;
  fo.events_per_episode = res.events_per_episode;
  fo.time_limit = s.fill_time_limit;
  fo.sizes = &sizes;
  absl::StatusOr<StoreRunResult> fill = FillStore(fo);
  if (!fill.ok()) return fill.status();
  res.fill = *fill;
  const int64_t complete = fill->events / res.events_per_episode;
  Progress(absl::StrFormat("stored %d events in %.1f s (%.0f events/s), %d MiB",
                           fill->events, fill->seconds, fill->events_per_second,
                           fill->db_bytes >> 20));

  absl::StatusOr<std::vector<std::string>> args =
      AttunedArgs(*dir, fo.db_path, kResidencyConfig);
  if (!args.ok()) return args.status();
  std::unique_ptr<ServerProcess> attuned;
  for (int i = 0; i < 3; ++i) {
    attuned = std::make_unique<ServerProcess>(s.attuned, *args,
                                              *dir + "/attuned.log");
    if (auto st = attuned->Start(); !st.ok()) return st;
    res.startup_seconds.push_back(absl::ToDoubleSeconds(attuned->startup()));
    Progress(absl::StrFormat("start-up to SERVING: %.3f s",
                             res.startup_seconds.back()));
    if (i < 2) attuned->Stop();
  }
  absl::StatusOr<int64_t> rss = attuned->ResidentBytes();
  if (!rss.ok()) return rss.status();
  res.rss_serving = *rss;
  int64_t touched = 0;
  const absl::Time touch_deadline = absl::Now() + s.touch_time_limit;
  for (int64_t n : s.memory_episodes) {
    const absl::Time began = absl::Now();
    const int64_t to = TouchEpisodes(
        attuned->address(), wf, touched, std::min(n, complete),
        res.events_per_episode, s.touch_concurrency, touch_deadline, res);
    const double seconds = absl::ToDoubleSeconds(absl::Now() - began);
    const double rate = seconds > 0 ? (to - touched) / seconds : 0;
    touched = to;
    rss = attuned->ResidentBytes();
    if (!rss.ok()) return rss.status();
    res.points.push_back({n, to, *rss, rate});
    Progress(absl::StrFormat("%d episodes touched: RSS %.1f MiB", to,
                             *rss / 1048576.0));
    if (to < n) break;  // out of time or of stored episodes
  }
  absl::StatusOr<int64_t> peak = attuned->PeakResidentBytes();
  if (peak.ok()) res.rss_peak = *peak;
  attuned->Stop();
  if (!s.keep_dirs) RemoveTree(*dir);
  return absl::OkStatus();
}

// --- microbenchmarks (Google Benchmark JSON)
// -----------------------------------------

struct Micro {
  std::string name;
  double real_ns = 0;
  double cpu_ns = 0;
};

double ToNanos(double v, const std::string& unit) {
  if (unit == "us") return v * 1e3;
  if (unit == "ms") return v * 1e6;
  if (unit == "s") return v * 1e9;
  return v;
}

absl::StatusOr<std::vector<Micro>> ReadMicrobench(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  google::protobuf::Struct doc;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(text.str(), &doc, opts)
           .ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not JSON"));
  }
  std::vector<Micro> out;
  const auto& fields = doc.fields();
  auto it = fields.find("benchmarks");
  if (it == fields.end()) return out;
  // Medians when the run had repetitions, else the single runs.
  bool has_median = false;
  for (const auto& v : it->second.list_value().values()) {
    const auto& f = v.struct_value().fields();
    auto agg = f.find("aggregate_name");
    if (agg != f.end() && agg->second.string_value() == "median") {
      has_median = true;
    }
  }
  for (const auto& v : it->second.list_value().values()) {
    const auto& f = v.struct_value().fields();
    auto get = [&](const char* k) -> const google::protobuf::Value* {
      auto i = f.find(k);
      return i == f.end() ? nullptr : &i->second;
    };
    const auto* agg = get("aggregate_name");
    const bool is_median = agg != nullptr && agg->string_value() == "median";
    if (has_median != is_median) continue;
    if (!has_median && agg != nullptr && !agg->string_value().empty()) continue;
    const auto* name = get(has_median ? "run_name" : "name");
    const auto* real = get("real_time");
    const auto* cpu = get("cpu_time");
    const auto* unit = get("time_unit");
    if (name == nullptr || real == nullptr || cpu == nullptr) continue;
    const std::string u = unit != nullptr ? unit->string_value() : "ns";
    out.push_back({name->string_value(), ToNanos(real->number_value(), u),
                   ToNanos(cpu->number_value(), u)});
  }
  return out;
}

// --- the report
// -------------------------------------------------------------------------

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return absl::StrCat(a, " ", b, " ", c);
}

std::string Mib(int64_t bytes) {
  return absl::StrFormat("%.1f MiB", bytes / 1048576.0);
}

void PrintReport(const Settings& s, const Run& run, const Canned& canned,
                 const Residency& res, const std::vector<Micro>& micro,
                 const std::string& micro_error, const std::string& load_start,
                 absl::Duration elapsed) {
  std::ostringstream o;
  o << absl::StrFormat(
      "Attune performance report (%s build, %u cores)\n"
      "  load average at start %s, at end %s; %s total\n"
      "  %d repetition(s), medians; each scenario %s measured after %s "
      "warm-up, attuned and the null server side by side\n"
      "  client: %d worker threads, one channel (connection) each; "
      "every call's status checked\n"
      "  null server responses (captured from attuned): SubmitEvent %u B "
      "(request %u B), SubmitEvents %u B (request %u B), GetAssessment %u B\n",
      ATTUNE_BENCH_BUILD_TYPE, std::thread::hardware_concurrency(), load_start,
      LoadAverage(),
      absl::FormatDuration(absl::Trunc(elapsed, absl::Seconds(1))),
      s.repetitions, absl::FormatDuration(s.duration),
      absl::FormatDuration(s.warmup), s.workers, canned.submit_event_response,
      canned.submit_event_request, canned.submit_events_response,
      canned.submit_events_request, canned.get_assessment_response);

  o << "\n== gRPC: attuned vs the null server (rate: calls/s, or events/s "
       "for SubmitEvents; latency ms)\n";
  o << absl::StrFormat(
      "%-22s %-8s | %9s %7s %7s %7s %7s | %9s %7s %7s %7s %7s | %6s %6s\n",
      "scenario", "load", "attune", "p50", "p90", "p99", "p99.9", "null", "p50",
      "p90", "p99", "p99.9", "rate÷", "p99÷");
  for (const std::string& key : run.order) {
    const Scenario& sc = run.scenarios.at(key);
    auto rate = [&](const LoadResult& r) { return sc.Rate(r); };
    auto p = [](double LatencySummary::*m) {
      return [m](const LoadResult& r) { return r.latency.*m; };
    };
    std::string load = sc.load;
    if (key == "open") {
      load = absl::StrFormat("%.0f/s", Median(run.open_rates));
    }
    o << absl::StrFormat(
        "%-22s %-8s | %9.0f %7.2f %7.2f %7.2f %7.2f | %9.0f %7.2f %7.2f "
        "%7.2f %7.2f | %6.3f %6.2f\n",
        sc.name, load, sc.MedianOf(sc.attune, rate),
        sc.MedianOf(sc.attune, p(&LatencySummary::p50_ms)),
        sc.MedianOf(sc.attune, p(&LatencySummary::p90_ms)),
        sc.MedianOf(sc.attune, p(&LatencySummary::p99_ms)),
        sc.MedianOf(sc.attune, p(&LatencySummary::p999_ms)),
        sc.MedianOf(sc.null, rate),
        sc.MedianOf(sc.null, p(&LatencySummary::p50_ms)),
        sc.MedianOf(sc.null, p(&LatencySummary::p90_ms)),
        sc.MedianOf(sc.null, p(&LatencySummary::p99_ms)),
        sc.MedianOf(sc.null, p(&LatencySummary::p999_ms)), sc.MedianRatio(rate),
        sc.MedianRatio(p(&LatencySummary::p99_ms)));
  }
  o << absl::StrFormat(
      "failed calls %d, rejected events %d, open-loop calls not sent %d%s\n",
      run.failures.calls, run.failures.rejected, run.failures.not_sent,
      run.failures.first_error.empty()
          ? ""
          : absl::StrCat(" (first: ", run.failures.first_error, ")"));

  o << "\n== Store floor: the same rows straight into SQLite (WAL, "
       "synchronous=FULL), in process\n";
  const Scenario* backfill =
      run.scenarios.count("backfill") ? &run.scenarios.at("backfill") : nullptr;
  const double backfill_rate =
      backfill == nullptr
          ? 0
          : backfill->MedianOf(backfill->attune, [](const LoadResult& r) {
              return r.events_per_second;
            });
  for (const auto& [batch, results] : run.raw) {
    std::vector<double> rates;
    for (const StoreRunResult& r : results)
      rates.push_back(r.events_per_second);
    const double m = Median(rates);
    o << absl::StrFormat(
        "raw inserts, %4d events per transaction %12.0f events/s%s\n", batch, m,
        batch == s.batch && backfill != nullptr
            ? absl::StrFormat("   backfill (same batch) ÷ this %.3f",
                              SafeRatio(backfill_rate, m))
            : "");
  }
  if (res.ran) {
    o << absl::StrFormat(
        "Store API (SqliteStore group commit, no rules) %10.0f events/s   "
        "(the start-up database below)\n",
        res.fill.events_per_second);
  }

  o << "\n== Microbenchmarks (attune-microbench, median; µs per operation: "
       "CPU time, and wall time, which a busy machine inflates)\n";
  if (micro.empty()) {
    o << (micro_error.empty() ? "not run (tests/bench/run.sh runs them)"
                              : micro_error)
      << "\n";
  }
  for (const Micro& m : micro) {
    o << absl::StrFormat("%-36s %10.2f µs cpu %10.2f µs wall\n", m.name,
                         m.cpu_ns / 1e3, m.real_ns / 1e3);
  }

  if (res.ran) {
    o << "\n== Start-up and memory (attuned on a database written through "
         "the Store API)\n";
    o << absl::StrFormat(
        "database: %d events (%d episodes x %d), %s on disk, written in "
        "%.1f s\n",
        res.fill.events, res.fill.events / std::max(1, res.events_per_episode),
        res.events_per_episode, Mib(res.fill.db_bytes), res.fill.seconds);
    o << absl::StrFormat("start-up to SERVING (median of %d): %.3f s\n",
                         res.startup_seconds.size(),
                         Median(res.startup_seconds));
    o << absl::StrFormat("RSS at SERVING: %s\n", Mib(res.rss_serving));
    for (const MemoryPoint& p : res.points) {
      o << absl::StrFormat(
          "RSS after %7d episodes received an event: %s (+%.0f B per "
          "cached episode; SubmitEvent at %.0f/s)%s\n",
          p.episodes, Mib(p.rss),
          SafeRatio(static_cast<double>(p.rss - res.rss_serving), p.episodes),
          p.touch_events_per_second,
          p.episodes < p.wanted
              ? absl::StrFormat("  [%d wanted: out of time (--touch_time_limit)"
                                " or stored episodes]",
                                p.wanted)
              : "");
    }
    o << absl::StrFormat("peak RSS: %s; failed events %d%s\n",
                         Mib(res.rss_peak), res.failed,
                         res.first_error.empty()
                             ? ""
                             : absl::StrCat(" (first: ", res.first_error, ")"));
  }

  o << "\n== Targets (issue 6)\n";
  o << absl::StrFormat("%-58s %14s %12s  %s\n", "target", "measured", "target",
                       "met");
  auto row = [&](const std::string& what, const std::string& measured,
                 const std::string& target, const char* met) {
    o << absl::StrFormat("%-58s %14s %12s  %s\n", what, measured, target, met);
  };
  auto yes = [](bool b) { return b ? "yes" : "NO"; };
  if (!run.scenarios.empty()) {
    // Attuned's peak concurrency, and the side-by-side ratio there.
    const Scenario* best = nullptr;
    double best_rate = -1;
    for (int c : s.concurrency) {
      const Scenario& sc = run.scenarios.at(absl::StrCat("submit-c", c));
      const double r = sc.MedianOf(
          sc.attune, [](const LoadResult& x) { return x.calls_per_second; });
      if (r > best_rate) {
        best_rate = r;
        best = &sc;
      }
    }
    const double ratio = best->MedianRatio(
        [](const LoadResult& x) { return x.calls_per_second; });
    row(absl::StrCat("SubmitEvent peak ÷ null at the same concurrency (",
                     best->load, ")"),
        absl::StrFormat("%.3f", ratio), ">= 0.70", yes(ratio >= 0.7));
  }
  if (run.scenarios.count("open")) {
    const Scenario& sc = run.scenarios.at("open");
    const double ratio =
        sc.MedianRatio([](const LoadResult& x) { return x.latency.p99_ms; });
    row(absl::StrFormat("p99 at half attuned's peak (%.0f/s) ÷ null p99",
                        Median(run.open_rates)),
        absl::StrFormat("%.2f", ratio), "<= 2.00", yes(ratio <= 2.0));
  }
  {
    const Micro* pipeline = nullptr;
    for (const Micro& m : micro) {
      if (m.name == "BM_Pipeline/20") pipeline = &m;
    }
    if (pipeline != nullptr) {
      row("built-in pipeline per event, 20-session episode (cpu)",
          absl::StrFormat("%.2f µs", pipeline->cpu_ns / 1e3), "<= 10 µs",
          yes(pipeline->cpu_ns <= 10'000));
    } else {
      row("built-in pipeline per event, 20-session episode (cpu)", "not run",
          "<= 10 µs", "-");
    }
  }
  if (backfill != nullptr) {
    row(absl::StrFormat("backfill via SubmitEvents (%d per call)", s.batch),
        absl::StrFormat("%.0f ev/s", backfill_rate), ">= 50000",
        yes(backfill_rate >= 50000));
  }
  if (res.ran && !res.points.empty()) {
    const MemoryPoint& p = res.points.back();
    const double per =
        SafeRatio(static_cast<double>(p.rss - res.rss_serving), p.episodes);
    row(absl::StrFormat("RSS per cached active episode (%d%s, %d events)",
                        p.episodes, p.episodes < p.wanted ? "*" : "",
                        res.events_per_episode + 1),
        absl::StrFormat("%.2f KiB", per / 1024), "<= 2 KiB", yes(per <= 2048));
  }
  if (res.ran && !res.points.empty() &&
      res.points.back().episodes < res.points.back().wanted) {
    o << absl::StrFormat(
        "  * fewer than the %d episodes asked for (see "
        "above)\n",
        res.points.back().wanted);
  }
  if (res.ran && !res.startup_seconds.empty()) {
    const double t = Median(res.startup_seconds);
    row(absl::StrFormat("start-up to SERVING, %d stored events",
                        res.fill.events),
        absl::StrFormat("%.3f s", t), "<= 1 s (1M)",
        res.fill.events >= 1000000 ? yes(t <= 1.0)
                                   : (t <= 1.0 ? "yes*" : "NO"));
    if (res.fill.events < 1000000) {
      o << "  * on fewer events than the target's million (--startup_events "
           "or --fill_time_limit)\n";
    }
  }
  std::cout << o.str() << std::flush;
}

int Main() {
  absl::StatusOr<Settings> settings = ReadSettings();
  if (!settings.ok()) {
    std::cerr << "attune-bench: " << settings.status().message() << "\n";
    return 2;
  }
  const Settings& s = *settings;
  // The in-process store and engine (floors, template) log at INFO.
  SetMinLogLevel(LogLevel::kWarning);
  const absl::Time started = absl::Now();
  const std::string load_start = LoadAverage();

  absl::StatusOr<std::string> canned_dir = MakeTempDir("attune-bench-canned");
  if (!canned_dir.ok()) {
    std::cerr << "attune-bench: " << canned_dir.status().message() << "\n";
    return 2;
  }
  Canned canned;
  canned.dir = *canned_dir;

  auto fail = [&](const absl::Status& st) {
    std::cerr << "attune-bench: " << st.message() << "\n";
    if (!s.keep_dirs) RemoveTree(canned.dir);
    return 2;
  };

  // Real response sizes for the store floors.
  Progress("capturing an episode's responses from the in-process engine");
  Workload template_workload({.id_prefix = "tpl"});
  absl::StatusOr<EpisodeTemplate> sizes =
      CaptureTemplate(template_workload, 40, canned.dir);
  if (!sizes.ok()) return fail(sizes.status());

  Run run;
  for (int rep = 0; rep < s.repetitions; ++rep) {
    if (auto st = RunRepetition(s, rep, canned, *sizes, run); !st.ok()) {
      return fail(st);
    }
  }
  Residency res;
  if (auto st = MeasureResidency(s, *sizes, res); !st.ok()) return fail(st);

  std::vector<Micro> micro;
  std::string micro_error;
  if (!s.microbench_json.empty()) {
    auto m = ReadMicrobench(s.microbench_json);
    if (m.ok()) {
      micro = *std::move(m);
    } else {
      micro_error = std::string(m.status().message());
    }
  }
  PrintReport(s, run, canned, res, micro, micro_error, load_start,
              absl::Now() - started);
  if (!s.keep_dirs) RemoveTree(canned.dir);

  if (s.check) {
    bool ok = run.failures.ok() && res.failed == 0;
    for (const auto& [batch, results] : run.raw) {
      for (const StoreRunResult& r : results) ok = ok && r.events > 0;
    }
    if (!ok) {
      std::cerr << "attune-bench --check: failed calls " << run.failures.calls
                << ", rejected events " << run.failures.rejected + res.failed
                << ", not sent " << run.failures.not_sent
                << ", scenarios without throughput: "
                << absl::StrJoin(run.failures.empty_scenarios, "; ") << "\n";
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace attune::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Attune's performance report: attuned against a null gRPC server and "
      "raw SQLite, start-up and memory. See tests/bench/README.md.");
  absl::ParseCommandLine(argc, argv);
  return attune::bench::Main();
}
