// Load generation against an attune.v1.AllianceService over real gRPC.
//
//   LoadOptions o;
//   o.address = "127.0.0.1:40123";
//   o.rpc = Rpc::kSubmitEvent;
//   o.concurrency = 16;              // closed loop: 16 calls always in flight
//   o.feed = &feed;
//   absl::StatusOr<LoadResult> r = RunLoad(o);
//
// `workers` threads each own one channel (its own connection: the channels
// use a local subchannel pool) and one completion queue, and keep their
// share of the calls in flight with the async API. Every call has a
// deadline and its status is checked; for SubmitEvents the per-event
// results are checked too.
//
// Closed loop (rate == 0): `concurrency` calls in flight; a call that ends
// starts the next one. Calls that complete inside the measured window
// (after `warmup`, for `duration`) count, and their latency is send to
// completion.
//
// Open loop (rate > 0): calls are due at a fixed rate whatever the server
// does; latency is measured from the time a call was due, not from when it
// could be sent, so a server that falls behind shows its queueing delay
// (no coordinated omission). At most `concurrency` calls are in flight: a
// due call waits in the client, and its wait counts. Calls due inside the
// window count; those still unsent `drain_limit` after the window are
// reported as not sent.
//
// Events come from `feed` (see workload.h): one SubmitEvent per call from
// an episode that has no other call in flight; SubmitEvents batches of
// whole episode prefixes (the first half of each fresh episode, the
// backfill a later SubmitEvent run continues); GetAssessment reads one of
// `assessment_episodes` at random.
#ifndef ATTUNE_TESTS_BENCH_LOAD_H_
#define ATTUNE_TESTS_BENCH_LOAD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/bench/workload.h"

namespace attune::bench {

enum class Rpc { kSubmitEvent, kSubmitEvents, kGetAssessment };

const char* RpcName(Rpc rpc);

struct LoadOptions {
  std::string address;
  Rpc rpc = Rpc::kSubmitEvent;
  int concurrency = 1;
  double rate = 0;
  int workers = 2;
  absl::Duration warmup = absl::Milliseconds(500);
  absl::Duration duration = absl::Seconds(3);
  absl::Duration call_deadline = absl::Seconds(30);
  absl::Duration drain_limit = absl::Seconds(10);
  int batch_events = 500;
  // At least this many calls are measured: a closed loop runs past the
  // window (up to drain_limit) until each worker has its share, an open
  // loop's window is long enough for that many to fall due. For smoke runs
  // on a slow machine; 0 = the window alone.
  int min_calls = 0;
  EpisodeFeed* feed = nullptr;
  std::vector<int64_t> assessment_episodes;
  uint64_t seed = 1;
};

// Latency percentiles of the calls measured (nearest rank over all of
// them: exact, no buckets).
struct LatencySummary {
  int64_t count = 0;
  double p50_ms = 0;
  double p90_ms = 0;
  double p99_ms = 0;
  double p999_ms = 0;
  double max_ms = 0;
};

LatencySummary Summarize(std::vector<int64_t> latencies_ns);

struct LoadResult {
  // Calls that completed in the window.
  int64_t calls = 0;
  // Calls (any time, warm-up included) whose status was not OK, and events
  // a SubmitEvents response rejected.
  int64_t failed_calls = 0;
  int64_t rejected_events = 0;
  // Open loop: calls due in the window that were never sent.
  int64_t not_sent = 0;
  // Events carried by the calls counted in `calls`.
  int64_t events = 0;
  // The measured window (longer than `duration` when min_calls asked).
  double seconds = 0;
  double calls_per_second = 0;
  double events_per_second = 0;
  LatencySummary latency;
  // "<CODE>: <message>" of the first failure (never PHI: the server's
  // messages name fields, not values).
  std::string first_error;
};

// Fails only when the channels cannot connect; call failures are counted
// in the result.
absl::StatusOr<LoadResult> RunLoad(const LoadOptions& options);

}  // namespace attune::bench

#endif  // ATTUNE_TESTS_BENCH_LOAD_H_
