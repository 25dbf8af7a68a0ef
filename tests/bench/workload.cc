#include "tests/bench/workload.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace attune::bench {
namespace {

// splitmix64: tiny, fast and the same on every platform, so Episode(i) is
// the same everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // [lo, hi]
  int Int(int lo, int hi) {
    return lo + static_cast<int>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  bool Chance(double p) { return Uniform() < p; }

 private:
  uint64_t state_;
};

google::protobuf::Timestamp Ts(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  return ts;
}

double Round1(double v) { return std::round(v * 10) / 10; }

// `count` items whose sum is near `total`, each within [lo, hi], rounded to
// `step` (0.1 for visual-analogue scales, 1 for Likert items).
std::vector<double> Items(Rng& rng, int count, double total, double lo,
                          double hi, double step) {
  std::vector<double> items;
  for (int i = 0; i < count; ++i) {
    double v = total / count + (rng.Uniform() - 0.5) * 4 * step;
    v = std::round(v / step) * step;
    items.push_back(std::clamp(v, lo, hi));
  }
  return items;
}

}  // namespace

Workload::Workload(WorkloadOptions options) : options_(std::move(options)) {
  absl::Time end = options_.end_before;
  if (end == absl::InfinitePast()) {
    end = absl::FromCivil(absl::ToCivilDay(absl::Now(), absl::UTCTimeZone()),
                          absl::UTCTimeZone());
  }
  // Room for the longest episode (one session a week, closed a day after
  // the last) starting on the last of 120 start days.
  base_ = end - absl::Hours(24) * (options_.max_sessions * 7 + 2 + 120);
}

std::string Workload::EpisodeId(int64_t index) const {
  return absl::StrCat("e-", options_.id_prefix, "-", index);
}

std::vector<v1::SessionEvent> Workload::Episode(int64_t index) const {
  return Generate(index, SIZE_MAX);
}

std::vector<v1::SessionEvent> Workload::EpisodePrefix(int64_t index,
                                                      size_t n) const {
  std::vector<v1::SessionEvent> events = Generate(index, n);
  if (events.size() > n) events.resize(n);
  return events;
}

std::vector<v1::SessionEvent> Workload::Generate(int64_t index,
                                                 size_t limit) const {
  Rng rng(options_.seed ^
          (static_cast<uint64_t>(index) * 0xD6E8FEB86659FD93ull));
  const int sessions = rng.Int(options_.min_sessions, options_.max_sessions);
  const absl::Time first =
      base_ + absl::Hours(24) * rng.Int(0, 119) + absl::Hours(rng.Int(8, 17));
  const double srs_base = 33 + rng.Int(0, 60) / 10.0;
  const double ors_base = 14 + rng.Int(0, 80) / 10.0;
  const bool has_dip = sessions >= 8 && rng.Chance(0.35);
  const int dip_session = has_dip ? rng.Int(4, sessions - 3) : 0;
  const double dip_depth = 5 + rng.Int(0, 30) / 10.0;
  const bool dip_marker = rng.Chance(0.5);

  v1::EpisodeRef ref;
  ref.set_client_id(absl::StrCat("c-", options_.id_prefix, "-", index));
  ref.set_clinician_id(absl::StrCat("t-", options_.id_prefix, "-",
                                    index / options_.episodes_per_clinician));
  ref.set_episode_id(EpisodeId(index));

  std::vector<v1::SessionEvent> events;
  auto add = [&](absl::Time at) -> v1::SessionEvent& {
    v1::SessionEvent& e = events.emplace_back();
    e.set_event_id(
        absl::StrCat(options_.id_prefix, "-", index, "-", events.size()));
    *e.mutable_occurred_at() = Ts(at);
    *e.mutable_episode() = ref;
    return e;
  };
  auto measure = [&](absl::Time at, int s, v1::Instrument instrument,
                     v1::Rater rater, std::vector<double> items) {
    v1::MeasureRecorded* m = add(at).mutable_measure_recorded();
    m->set_session_number(s);
    m->set_instrument(instrument);
    m->set_rater(rater);
    double total = 0;
    for (double v : items) {
      m->add_items(v);
      total += v;
    }
    m->set_total(Round1(total));
    m->set_has_total(true);
  };

  int missed = 0;
  absl::Time last_end = first;
  for (int s = 1; s <= sessions; ++s) {
    const absl::Time start = first + absl::Hours(24 * 7) * (s - 1);
    const absl::Time end = start + absl::Minutes(50);
    v1::SessionScheduled* booked =
        add(s == 1 ? start - absl::Hours(24 * 6)
                   : start - absl::Hours(24 * 7) + absl::Minutes(55))
            .mutable_session_scheduled();
    booked->set_session_number(s);
    *booked->mutable_scheduled_start() = Ts(start);
    booked->set_planned_minutes(50);

    if (s > 1 && s < sessions - 2 && rng.Chance(0.04)) {
      v1::SessionCancelled* c =
          add(start - absl::Hours(2)).mutable_session_cancelled();
      c->set_session_number(s);
      c->set_cancelled_by(v1::CANCELLED_BY_CLIENT);
      c->set_late(true);
      ++missed;
      continue;
    }
    if (s > 1 && s < sessions - 2 && rng.Chance(0.03)) {
      add(start + absl::Minutes(20)).mutable_no_show()->set_session_number(s);
      ++missed;
      continue;
    }

    double srs = srs_base + 0.1 * s + (rng.Uniform() - 0.5) * 2;
    double wai_mean = 4.1;
    if (s == dip_session) {
      srs -= dip_depth;
      wai_mean = 2.6;
    } else if (s == dip_session + 1) {
      srs -= dip_depth / 2;
      wai_mean = 3.4;
    }
    srs = std::clamp(srs, 4.0, 40.0);
    const double ors =
        std::clamp(ors_base + 0.4 * s + (rng.Uniform() - 0.5) * 3, 2.0, 38.0);

    measure(start + absl::Minutes(1), s, v1::INSTRUMENT_ORS, v1::RATER_CLIENT,
            Items(rng, 4, ors, 0, 10, 0.1));
    if (s == 2 || (s == sessions / 2 + 1 && rng.Chance(0.3))) {
      v1::GoalsAgreed* g = add(end - absl::Minutes(10)).mutable_goals_agreed();
      g->set_goal_count(rng.Int(1, 3));
      g->set_tasks_agreed(true);
      g->set_revision(s != 2);
      g->set_session_number(s);
    }
    if (s == dip_session && dip_marker) {
      v1::RuptureMarker* r =
          add(end - absl::Minutes(8)).mutable_rupture_marker();
      r->set_session_number(s);
      r->set_type(rng.Chance(0.7) ? v1::RUPTURE_TYPE_WITHDRAWAL
                                  : v1::RUPTURE_TYPE_CONFRONTATION);
      r->set_addressed_in_session(rng.Chance(0.5));
    }
    if (s % 4 == 0) {
      measure(end - absl::Minutes(4), s, v1::INSTRUMENT_WAI_SR,
              v1::RATER_CLIENT, Items(rng, 12, 12 * wai_mean, 1, 5, 1));
    }
    if (s % 3 == 0) {
      const double sai = 36 * srs / 40;
      measure(end - absl::Minutes(3), s, v1::INSTRUMENT_SAI, v1::RATER_CLIENT,
              Items(rng, 6, sai, 0, 6, 1));
      measure(end - absl::Minutes(2), s, v1::INSTRUMENT_SAI,
              v1::RATER_THERAPIST, Items(rng, 6, 28, 0, 6, 1));
    }
    measure(end - absl::Minutes(1), s, v1::INSTRUMENT_SRS, v1::RATER_CLIENT,
            Items(rng, 4, srs, 0, 10, 0.1));
    v1::SessionHeld* held = add(end).mutable_session_held();
    held->set_session_number(s);
    *held->mutable_start() = Ts(start);
    *held->mutable_end() = Ts(end);
    held->set_modality(rng.Chance(0.2) ? v1::MODALITY_VIDEO
                                       : v1::MODALITY_IN_PERSON);
    held->set_challenging_interventions(rng.Chance(0.2));
    if (s == sessions - 2) {
      add(end + absl::Minutes(2))
          .mutable_ending_planned()
          ->set_final_session_number(sessions);
    }
    last_end = end;
    // Sessions are generated in time order: a prefix can stop early.
    if (events.size() >= limit) return events;
  }
  add(last_end + absl::Hours(24))
      .mutable_episode_closed()
      ->set_reason(missed >= 2 ? v1::ENDING_REASON_DROPOUT
                               : v1::ENDING_REASON_PLANNED);
  // Generated in time order already (each session's events follow its
  // booking, which follows the previous session's end).
  return events;
}

EpisodeFeed::Lease EpisodeFeed::Take() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!resumable_.empty()) {
      Lease lease = std::move(resumable_.front());
      resumable_.pop_front();
      return lease;
    }
  }
  return TakeFresh();
}

EpisodeFeed::Lease EpisodeFeed::TakeFresh() {
  Lease lease;
  {
    std::lock_guard<std::mutex> lock(mu_);
    lease.index = next_fresh_++;
  }
  lease.events = workload_->Episode(lease.index);
  return lease;
}

void EpisodeFeed::Return(Lease lease) {
  std::lock_guard<std::mutex> lock(mu_);
  if (lease.next > 0 && touched_set_.insert(lease.index).second) {
    touched_.push_back(lease.index);
  }
  if (lease.next < lease.events.size()) resumable_.push_back(std::move(lease));
}

std::vector<int64_t> EpisodeFeed::TouchedEpisodes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return touched_;
}

}  // namespace attune::bench
