// Workload: realistic, valid event streams for the benchmarks.
//
//   Workload w({.id_prefix = "r0a"});
//   std::vector<v1::SessionEvent> events = w.Episode(17);  // deterministic
//
// Each episode is a course of 10-40 weekly sessions of one client with one
// clinician (25 episodes per clinician): every session is booked, then held
// (or, now and then, cancelled late or missed); a held session has a client
// ORS at the start and a client SRS at the end, a client WAI-SR every fourth
// session and a client and a therapist SAI every third. Goals are agreed in
// session 2, about a third of the episodes have an alliance dip (with a
// rupture marker half of the time) that recovers over two sessions, an
// ending is planned two sessions before the last, and the episode closes
// (planned, or now and then a dropout) a day after it. About 4.9 events per
// session, 120 per episode on average. Every event passes the server's
// validation with the default configuration, in order.
//
// Episode(i) depends only on (seed, i); the id prefix keeps runs that share
// a database apart. Identifiers are synthetic ("c-<prefix>-<i>"): no PHI.
//
// Thread-safe: Episode() is const and allocates its own generator.
#ifndef ATTUNE_TESTS_BENCH_WORKLOAD_H_
#define ATTUNE_TESTS_BENCH_WORKLOAD_H_

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "attune/v1/event.pb.h"

namespace attune::bench {

struct WorkloadOptions {
  uint64_t seed = 20240601;
  // Prefix of every event, client, clinician and episode id.
  std::string id_prefix = "b";
  int min_sessions = 10;
  int max_sessions = 40;
  int episodes_per_clinician = 25;
  // Every episode ends before this time (the server rejects events more
  // than a day in the future). Default: the start of the current UTC day.
  absl::Time end_before = absl::InfinitePast();
};

class Workload {
 public:
  explicit Workload(WorkloadOptions options);

  // All events of episode `index`, in occurred_at order.
  std::vector<v1::SessionEvent> Episode(int64_t index) const;
  // The first `n` events of Episode(index) (all when it has fewer), made
  // without generating the rest.
  std::vector<v1::SessionEvent> EpisodePrefix(int64_t index, size_t n) const;
  std::string EpisodeId(int64_t index) const;
  const WorkloadOptions& options() const { return options_; }

 private:
  // Episode(index), stopping after the session in which the `limit`th
  // event falls.
  std::vector<v1::SessionEvent> Generate(int64_t index, size_t limit) const;

  WorkloadOptions options_;
  absl::Time base_;  // earliest first session
};

// Hands out the episodes a load run sends, so that no two calls in flight
// carry events of the same episode and no event is sent twice:
//  - a backfill takes whole episode prefixes (NextFresh) and reports what was
//    stored (Resume), so later runs continue those episodes mid-course;
//  - a SubmitEvent run takes a resumable episode (else a fresh one), sends
//    its remaining events one call at a time and gives back what is left.
// Thread-safe.
class EpisodeFeed {
 public:
  struct Lease {
    int64_t index = -1;
    std::vector<v1::SessionEvent> events;
    size_t next = 0;  // the first event not yet sent
  };

  explicit EpisodeFeed(const Workload* workload) : workload_(workload) {}

  // A resumable episode, else a fresh one (all events).
  Lease Take();
  // A fresh episode, whole.
  Lease TakeFresh();
  // Gives back an episode once its calls have completed: with events left
  // to send it becomes resumable; finished ones are dropped. Episodes with
  // at least one event sent are remembered (TouchedEpisodes).
  void Return(Lease lease);
  // Indexes of the episodes that had events sent, in first-return order:
  // each has stored events once every call sent for it succeeded.
  std::vector<int64_t> TouchedEpisodes() const;
  const Workload& workload() const { return *workload_; }

 private:
  const Workload* workload_;
  mutable std::mutex mu_;
  std::deque<Lease> resumable_;
  int64_t next_fresh_ = 0;
  std::vector<int64_t> touched_;
  absl::flat_hash_set<int64_t> touched_set_;
};

}  // namespace attune::bench

#endif  // ATTUNE_TESTS_BENCH_WORKLOAD_H_
