// The storage side of the benchmarks, in process (no gRPC):
//
//  - RunRawStoreFloor: the raw store floor. The rows attuned writes for an
//    event (the event with its fingerprint and stored response, the
//    episode's version and assessment, the held-session row), inserted
//    straight into SQLite with the same schema and durability (WAL,
//    synchronous=FULL, foreign keys on), `batch` events per transaction.
//    Prompt rows are left out: they change on a minority of events.
//  - CaptureTemplate: real responses for one episode, from the engine with
//    the built-in modules over a scratch store (the sizes the other two
//    write).
//  - FillStore: a database with many stored events, written through the
//    Store API (SqliteStore, group commit) without running the rules: the
//    start-up and memory measurements need a large database quickly.
#ifndef ATTUNE_TESTS_BENCH_STORE_FLOOR_H_
#define ATTUNE_TESTS_BENCH_STORE_FLOOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attune/v1/alliance_service.pb.h"
#include "tests/bench/workload.h"

namespace attune::bench {

// attuned's responses to the first events of one episode, in order.
struct EpisodeTemplate {
  std::vector<v1::SubmitEventResponse> responses;
};

// Runs the first `events` events of `workload`'s episode 0 through an
// in-process engine (default configuration, built-in modules) storing in
// `dir`.
absl::StatusOr<EpisodeTemplate> CaptureTemplate(const Workload& workload,
                                                int events,
                                                const std::string& dir);

struct RawStoreOptions {
  // The database file is created here.
  std::string dir;
  int batch = 500;
  // Inserts stop after `max_events` or `duration`, whichever comes first.
  int64_t max_events = 100000;
  absl::Duration duration = absl::Seconds(3);
  const Workload* workload = nullptr;
  // Stored with every event (its size is what matters).
  const EpisodeTemplate* sizes = nullptr;
};

struct StoreRunResult {
  int64_t events = 0;
  double seconds = 0;
  double events_per_second = 0;
  int64_t db_bytes = 0;
};

absl::StatusOr<StoreRunResult> RunRawStoreFloor(const RawStoreOptions& options);

struct FillOptions {
  std::string db_path;
  const Workload* workload = nullptr;
  // Episodes 0..episodes-1, the first `events_per_episode` events of each
  // (responses and assessments copied from `sizes`, which needs that many;
  // no prompt rows). Stops early, at an episode boundary, after `time_limit`.
  int64_t episodes = 0;
  int events_per_episode = 10;
  absl::Duration time_limit = absl::Seconds(60);
  const EpisodeTemplate* sizes = nullptr;
};

// `events` is what was stored; every episode in [0, events /
// events_per_episode) is complete.
absl::StatusOr<StoreRunResult> FillStore(const FillOptions& options);

}  // namespace attune::bench

#endif  // ATTUNE_TESTS_BENCH_STORE_FLOOR_H_
