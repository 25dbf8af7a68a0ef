// Sources of the signal rules (numbers in config.rupture() and the
// instrument definitions; defaults in defaults.textproto):
// - BELOW_CUTOFF: the instrument's concern cut-off (SRS < 36, CLINICAL.md).
// - SD_DROP: a drop of sd_multiplier (default 1) SDs of the client's own
//   earlier scores, the lenient criterion compared by Gumz et al. 2012
//   (Stiles et al. 2004; Strauss et al. 2006: 2 SD is the strict one); needs
//   min_prior_ratings_for_sd (3) earlier ratings (CLINICAL.md). The drop
//   must also reach the instrument's reliable_drop: with a tiny SD (a client
//   who always rates 38-39) a one-point wobble would otherwise fire, the
//   OpenFIT noise CLINICAL.md's alert budget rules out.
// - RELIABLE_DROP: before there are enough ratings for an SD, a drop of at
//   least reliable_drop (SRS 4 points, a local default between OpenFIT's 1
//   and the ORS's ~5).
// - STEADY_DECLINE: decline_run (3) falls in a row adding up to
//   decline_total_in_reliable_drops (1) x reliable_drop (CLINICAL.md).
// - CLINICIAN_MARKER: a withdrawal or confrontation marker (Safran & Muran).
// Repair is the V shape's return to the earlier level (Gumz et al. 2012;
// Safran, Muran & Eubanks-Carter 2011), config.repair().return_fraction().
#include "plugins/builtin/rupture/rupture_analysis.h"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "plugins/builtin/common/episode_facts.h"
#include "plugins/builtin/common/prompt_parts.h"

namespace attune::builtin {
namespace {

// Totals are sums of tenths; compare with a little slack.
constexpr double kEpsilon = 1e-9;

// A signal and the level before the drop it implies (none for a marker that
// has nothing to compare with).
struct Candidate {
  RuptureHit hit;
  std::optional<double> pre_drop;
  v1::RuptureType marker_type = v1::RUPTURE_TYPE_UNSPECIFIED;
};

// Appends the signals a rating raises against the ratings before it.
void RatingSignals(const AllianceSeries& series, std::size_t i,
                   const v1::RuptureConfig& config,
                   std::vector<Candidate>& out) {
  if (i == 0) return;
  const auto& p = series.points();
  const AlliancePoint& cur = p[i];
  const AlliancePoint& prev = p[i - 1];
  const double drop = series.Drop(prev.total, cur.total);
  auto add = [&](v1::RuptureSignal signal, double pre_drop) {
    Candidate& c = out.emplace_back();
    c.hit.signal = signal;
    c.hit.session = cur.session;
    c.hit.point = i;
    c.pre_drop = pre_drop;
  };

  if (series.MeetsCutoff(prev.total) && series.IsConcern(cur.total)) {
    add(v1::RUPTURE_SIGNAL_BELOW_CUTOFF, prev.total);
  }

  std::optional<double> reliable = series.reliable_drop();
  if (!reliable || drop <= 0) return;
  const std::size_t min_prior =
      static_cast<std::size_t>(std::max(0, config.min_prior_ratings_for_sd()));
  if (i >= min_prior) {
    const double sd = series.SdBefore(i);
    const double sd_size = config.sd_multiplier() * sd;
    if (drop + kEpsilon >= sd_size && drop + kEpsilon >= *reliable) {
      add(v1::RUPTURE_SIGNAL_SD_DROP, prev.total);
    }
  } else if (drop + kEpsilon >= *reliable) {
    add(v1::RUPTURE_SIGNAL_RELIABLE_DROP, prev.total);
  }

  const int run = config.decline_run();
  if (run >= 1 && i >= static_cast<std::size_t>(run)) {
    const AlliancePoint& start = p[i - run];
    bool falling = true;
    for (std::size_t j = i - run + 1; j <= i; ++j) {
      falling = falling && series.Drop(p[j - 1].total, p[j].total) > 0;
    }
    const double fall = series.Drop(start.total, cur.total);
    const double needed = config.decline_total_in_reliable_drops() * *reliable;
    if (falling && fall + kEpsilon >= needed) {
      add(v1::RUPTURE_SIGNAL_STEADY_DECLINE, start.total);
    }
  }
}

const char* MarkerWord(v1::RuptureType type) {
  switch (type) {
    case v1::RUPTURE_TYPE_WITHDRAWAL:
      return "a withdrawal";
    case v1::RUPTURE_TYPE_CONFRONTATION:
      return "a confrontation";
    default:
      return "a rupture";
  }
}

// Appends the clinician-coded markers of a session. The level to return to
// is the last rating before the session, else the cut-off.
void MarkerSignals(const AllianceSeries& series,
                   const engine::SessionRecord& record,
                   std::vector<Candidate>& out) {
  std::optional<double> pre;
  for (const AlliancePoint& point : series.points()) {
    if (point.session < record.number) pre = point.total;
  }
  if (!pre && series.has_cutoff()) pre = series.cutoff();
  for (const v1::RuptureMarker& marker : record.markers) {
    Candidate& c = out.emplace_back();
    c.hit.signal = v1::RUPTURE_SIGNAL_CLINICIAN_MARKER;
    c.hit.session = record.number;
    c.hit.marker = &marker;
    c.pre_drop = pre;
    c.marker_type = marker.type();
  }
}

// The evidence of a hit: the numbers are worked out again from the series
// exactly as RatingSignals did, for the few hits kept.
v1::Evidence HitEvidence(const RuptureHit& hit, const AllianceSeries& series,
                         const v1::RuptureConfig& config) {
  if (hit.signal == v1::RUPTURE_SIGNAL_CLINICIAN_MARKER) {
    const v1::RuptureMarker& marker = *hit.marker;
    return ValueEvidence(
        "rupture_marker", marker.type(), hit.session,
        absl::StrCat(MarkerTypeName(marker.type()), " marker coded",
                     marker.addressed_in_session()
                         ? ", noted as addressed in the session"
                         : ""));
  }
  const std::size_t i = hit.point;
  const auto& p = series.points();
  const AlliancePoint& cur = p[i];
  const AlliancePoint& prev = p[i - 1];
  const double drop = series.Drop(prev.total, cur.total);
  switch (hit.signal) {
    case v1::RUPTURE_SIGNAL_BELOW_CUTOFF:
      return ThresholdEvidence(
          TotalName(series.key()), cur.total, series.ConcernComparison(),
          series.cutoff(), cur.session,
          absl::StrCat("below the cut-off after ", Num(prev.total),
                       " in session ", prev.session));
    case v1::RUPTURE_SIGNAL_SD_DROP: {
      const double reliable = *series.reliable_drop();
      const double sd_size = config.sd_multiplier() * series.SdBefore(i);
      return ThresholdEvidence(
          absl::StrCat(series.key(), "_drop"), drop,
          "drop>=", std::max(sd_size, reliable), cur.session,
          absl::StrCat(Num(config.sd_multiplier()), " SD of ", i,
                       " earlier ratings = ", Num(sd_size), "; reliable drop ",
                       Num(reliable)));
    }
    case v1::RUPTURE_SIGNAL_RELIABLE_DROP:
      return ThresholdEvidence(
          absl::StrCat(series.key(), "_drop"), drop,
          "drop>=", *series.reliable_drop(), cur.session,
          absl::StrCat("reliable drop; only ", i,
                       " earlier ratings, too few for an SD"));
    case v1::RUPTURE_SIGNAL_STEADY_DECLINE: {
      const int run = config.decline_run();
      const AlliancePoint& start = p[i - run];
      return ThresholdEvidence(
          absl::StrCat(series.key(), "_drop"),
          series.Drop(start.total, cur.total), "drop>=",
          config.decline_total_in_reliable_drops() * *series.reliable_drop(),
          cur.session,
          absl::StrCat(run, " falls in a row since session ", start.session));
    }
    default:
      return v1::Evidence();
  }
}

bool Open(const v1::RuptureState& state) {
  return state.status() == v1::RUPTURE_STATUS_SUSPECTED ||
         state.status() == v1::RUPTURE_STATUS_REPAIRING;
}

// Walks the sessions; one instance per analysis.
class Walk {
 public:
  Walk(const engine::EpisodeHistory& history, const AllianceSeries& series,
       const v1::RulesConfig& config)
      : history_(history), series_(series), config_(config) {
    a_.state.set_status(v1::RUPTURE_STATUS_NONE);
  }

  RuptureAnalysis Run() {
    // The rated sessions and the sessions with markers, merged in session
    // order (both lists are sorted).
    const auto& points = series_.points();
    const auto& sessions = history_.sessions();
    std::size_t next_point = 0;
    auto record = sessions.begin();
    auto skip_unmarked = [&] {
      while (record != sessions.end() && record->second.markers.empty()) {
        ++record;
      }
    };
    skip_unmarked();
    while (next_point < points.size() || record != sessions.end()) {
      int session = record != sessions.end() ? record->first : 0;
      if (next_point < points.size() &&
          (record == sessions.end() || points[next_point].session < session)) {
        session = points[next_point].session;
      }
      std::optional<std::size_t> index;
      if (next_point < points.size() && points[next_point].session == session) {
        index = next_point++;
      }
      const engine::SessionRecord* marked = nullptr;
      if (record != sessions.end() && record->first == session) {
        marked = &record->second;
        ++record;
        skip_unmarked();
      }
      Step(session, index, marked);
    }
    Finish();
    return std::move(a_);
  }

 private:
  void Step(int session, std::optional<std::size_t> index,
            const engine::SessionRecord* marked) {
    found_.clear();
    if (index) RatingSignals(series_, *index, config_.rupture(), found_);
    if (marked != nullptr) MarkerSignals(series_, *marked, found_);
    std::optional<double> total;
    if (index) total = series_.points()[*index].total;
    if (!found_.empty()) {
      Signal(session, total, found_);
    } else if (total && Open(a_.state)) {
      Rated(session, *total);
    }
  }

  void Signal(int session, std::optional<double> total,
              const std::vector<Candidate>& found) {
    v1::RuptureState& state = a_.state;
    if (!Open(state)) {
      state.Clear();
      a_.hits.clear();
      a_.has_baseline = a_.has_low = false;
      a_.low = 0;
      a_.low_session = 0;
      state.set_detected_session(session);
      a_.challenging_session = ChallengingSessionBefore(history_, session);
      state.set_after_challenging_session(a_.challenging_session > 0);
    }
    state.set_status(v1::RUPTURE_STATUS_SUSPECTED);
    for (const Candidate& c : found) {
      // The level to return to is the best of the levels before each drop:
      // a steady decline reaches back to the start of its run.
      if (c.pre_drop) {
        double pre = a_.has_baseline
                         ? series_.Better(state.pre_drop_level(), *c.pre_drop)
                         : *c.pre_drop;
        state.set_pre_drop_level(pre);
        a_.has_baseline = true;
      }
      const auto& signals = state.signals();
      if (std::find(signals.begin(), signals.end(), c.hit.signal) ==
          signals.end()) {
        state.add_signals(c.hit.signal);
      }
      if (c.hit.signal == v1::RUPTURE_SIGNAL_CLINICIAN_MARKER) {
        state.set_marker_type(c.marker_type);
      }
      a_.hits.push_back(c.hit);
    }
    if (total) Lower(session, *total);
    if (a_.has_baseline) {
      // The low point is never above the level to return to.
      if (!a_.has_low) {
        a_.low = state.pre_drop_level();
        a_.has_low = true;
      } else if (series_.Drop(state.pre_drop_level(), a_.low) < 0) {
        a_.low = state.pre_drop_level();
        a_.low_session = 0;
      }
    }
    a_.last_signal_session = session;
  }

  // A rating without a signal while a rupture is open.
  void Rated(int session, double total) {
    v1::RuptureState& state = a_.state;
    if (!a_.has_baseline) {
      // A marker with no earlier rating and no cut-off: this first rating
      // is the level to hold; the rupture stays suspected until a later
      // rating is at least as good.
      state.set_pre_drop_level(total);
      a_.has_baseline = true;
      Lower(session, total);
      return;
    }
    const double target = Target();
    if (series_.Drop(target, total) <= kEpsilon) {
      state.set_status(v1::RUPTURE_STATUS_REPAIRED);
      state.set_repaired_session(session);
      *state.add_evidence() = ThresholdEvidence(
          TotalName(series_.key()), total,
          series_.definition().higher_is_better() ? ">=" : "<=", target,
          session, "back to the level before the drop");
    } else if (series_.Drop(a_.low, total) < 0) {
      state.set_status(v1::RUPTURE_STATUS_REPAIRING);
    } else {
      state.set_status(v1::RUPTURE_STATUS_SUSPECTED);
      Lower(session, total);
    }
  }

  void Lower(int session, double total) {
    if (!a_.has_low || series_.Drop(a_.low, total) > 0) {
      a_.low = total;
      a_.low_session = session;
      a_.has_low = true;
    }
  }

  double Target() const {
    const double pre = a_.state.pre_drop_level();
    return a_.low + ReturnFraction(config_) * (pre - a_.low);
  }

  void Finish() {
    if (a_.state.status() == v1::RUPTURE_STATUS_NONE) return;
    a_.repair_target = a_.has_baseline ? Target() : 0;
    // Signal evidence first, then the repair evidence added by Rated().
    google::protobuf::RepeatedPtrField<v1::Evidence> repair;
    repair.Swap(a_.state.mutable_evidence());
    a_.state.mutable_evidence()->Reserve(static_cast<int>(a_.hits.size()) +
                                         repair.size());
    for (const RuptureHit& hit : a_.hits) {
      *a_.state.add_evidence() = HitEvidence(hit, series_, config_.rupture());
    }
    for (v1::Evidence& e : repair) *a_.state.add_evidence() = std::move(e);
  }

  const engine::EpisodeHistory& history_;
  const AllianceSeries& series_;
  const v1::RulesConfig& config_;
  RuptureAnalysis a_;
  // Step()'s signals, kept to reuse the buffer.
  std::vector<Candidate> found_;
};

}  // namespace

double ReturnFraction(const v1::RulesConfig& config) {
  return config.repair().has_return_fraction()
             ? config.repair().return_fraction()
             : 1.0;
}

const char* MarkerTypeName(v1::RuptureType type) {
  switch (type) {
    case v1::RUPTURE_TYPE_WITHDRAWAL:
      return "withdrawal";
    case v1::RUPTURE_TYPE_CONFRONTATION:
      return "confrontation";
    default:
      return "rupture";
  }
}

RuptureAnalysis AnalyseRuptures(const engine::EpisodeHistory& history,
                                const AllianceSeries& series,
                                const v1::RulesConfig& config) {
  return Walk(history, series, config).Run();
}

std::string HitPhrase(const RuptureHit& hit, const AllianceSeries& series,
                      const v1::RulesConfig& rules) {
  if (hit.signal == v1::RUPTURE_SIGNAL_CLINICIAN_MARKER) {
    const v1::RuptureMarker& marker = *hit.marker;
    return absl::StrCat(MarkerWord(marker.type()),
                        " marker was coded for session ", hit.session,
                        marker.addressed_in_session()
                            ? ", noted as addressed in the session"
                            : "");
  }
  const v1::RuptureConfig& config = rules.rupture();
  const std::size_t i = hit.point;
  const auto& p = series.points();
  const AlliancePoint& cur = p[i];
  const AlliancePoint& prev = p[i - 1];
  const double drop = series.Drop(prev.total, cur.total);
  switch (hit.signal) {
    case v1::RUPTURE_SIGNAL_BELOW_CUTOFF:
      return absl::StrCat("fell below the cut-off of ", Num(series.cutoff()),
                          " (", Num(prev.total), " in session ", prev.session,
                          ", ", Num(cur.total), " in session ", cur.session,
                          ")");
    case v1::RUPTURE_SIGNAL_SD_DROP: {
      const double reliable = *series.reliable_drop();
      const double sd_size = config.sd_multiplier() * series.SdBefore(i);
      return absl::StrCat("dropped ", Num(drop), " points from ",
                          Num(prev.total), " to ", Num(cur.total),
                          " in session ", cur.session, " (",
                          Num(config.sd_multiplier()), " SD of ", i,
                          " earlier ratings = ", Num(sd_size),
                          "; reliable drop ", Num(reliable), ")");
    }
    case v1::RUPTURE_SIGNAL_RELIABLE_DROP:
      return absl::StrCat("dropped ", Num(drop), " points from ",
                          Num(prev.total), " to ", Num(cur.total),
                          " in session ", cur.session, " (reliable drop ",
                          Num(*series.reliable_drop()), ")");
    case v1::RUPTURE_SIGNAL_STEADY_DECLINE: {
      const int run = config.decline_run();
      const AlliancePoint& start = p[i - run];
      return absl::StrCat("fell in ", run, " rated sessions in a row, ",
                          Num(series.Drop(start.total, cur.total)),
                          " points in all (", Num(start.total), " in session ",
                          start.session, " to ", Num(cur.total), " in session ",
                          cur.session, "; threshold ",
                          Num(config.decline_total_in_reliable_drops() *
                              *series.reliable_drop()),
                          ")");
    }
    default:
      return "";
  }
}

}  // namespace attune::builtin
