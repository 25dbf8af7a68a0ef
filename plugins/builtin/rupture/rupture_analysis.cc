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
#include <set>

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

Candidate Hit(v1::RuptureSignal signal, int session, v1::Evidence evidence,
              std::string text, std::optional<double> pre_drop) {
  return {{signal, session, std::move(evidence), std::move(text)}, pre_drop};
}

// The signals a rating raises against the ratings before it.
std::vector<Candidate> RatingSignals(const AllianceSeries& series,
                                     std::size_t i,
                                     const v1::RuptureConfig& config) {
  std::vector<Candidate> out;
  if (i == 0) return out;
  const auto& p = series.points();
  const AlliancePoint& cur = p[i];
  const AlliancePoint& prev = p[i - 1];
  const std::string total_name = TotalName(series.key());
  const std::string drop_name = absl::StrCat(series.key(), "_drop");
  const double drop = series.Drop(prev.total, cur.total);

  if (series.MeetsCutoff(prev.total) && series.IsConcern(cur.total)) {
    out.push_back(Hit(
        v1::RUPTURE_SIGNAL_BELOW_CUTOFF, cur.session,
        ThresholdEvidence(
            total_name, cur.total, series.ConcernComparison(), series.cutoff(),
            cur.session,
            absl::StrCat("below the cut-off after ", Num(prev.total),
                         " in session ", prev.session)),
        absl::StrCat("fell below the cut-off of ", Num(series.cutoff()), " (",
                     Num(prev.total), " in session ", prev.session, ", ",
                     Num(cur.total), " in session ", cur.session, ")"),
        prev.total));
  }

  std::optional<double> reliable = series.reliable_drop();
  if (!reliable || drop <= 0) return out;
  const std::size_t min_prior =
      static_cast<std::size_t>(std::max(0, config.min_prior_ratings_for_sd()));
  if (i >= min_prior) {
    const double sd = series.SdBefore(i);
    const double sd_size = config.sd_multiplier() * sd;
    if (drop + kEpsilon >= sd_size && drop + kEpsilon >= *reliable) {
      std::string rule = absl::StrCat(Num(config.sd_multiplier()), " SD of ", i,
                                      " earlier ratings = ", Num(sd_size),
                                      "; reliable drop ", Num(*reliable));
      out.push_back(Hit(
          v1::RUPTURE_SIGNAL_SD_DROP, cur.session,
          ThresholdEvidence(drop_name, drop, "drop>=",
                            std::max(sd_size, *reliable), cur.session, rule),
          absl::StrCat("dropped ", Num(drop), " points from ", Num(prev.total),
                       " to ", Num(cur.total), " in session ", cur.session,
                       " (", rule, ")"),
          prev.total));
    }
  } else if (drop + kEpsilon >= *reliable) {
    out.push_back(Hit(
        v1::RUPTURE_SIGNAL_RELIABLE_DROP, cur.session,
        ThresholdEvidence(drop_name, drop, "drop>=", *reliable, cur.session,
                          absl::StrCat("reliable drop; only ", i,
                                       " earlier ratings, too few for an SD")),
        absl::StrCat("dropped ", Num(drop), " points from ", Num(prev.total),
                     " to ", Num(cur.total), " in session ", cur.session,
                     " (reliable drop ", Num(*reliable), ")"),
        prev.total));
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
      out.push_back(Hit(
          v1::RUPTURE_SIGNAL_STEADY_DECLINE, cur.session,
          ThresholdEvidence(drop_name, fall, "drop>=", needed, cur.session,
                            absl::StrCat(run, " falls in a row since session ",
                                         start.session)),
          absl::StrCat("fell in ", run, " rated sessions in a row, ", Num(fall),
                       " points in all (", Num(start.total), " in session ",
                       start.session, " to ", Num(cur.total), " in session ",
                       cur.session, "; threshold ", Num(needed), ")"),
          start.total));
    }
  }
  return out;
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

// Clinician-coded markers for a session. The level to return to is the
// last rating before the session, else the cut-off.
std::vector<Candidate> MarkerSignals(const AllianceSeries& series,
                                     const engine::SessionRecord& record) {
  std::vector<Candidate> out;
  std::optional<double> pre;
  for (const AlliancePoint& point : series.points()) {
    if (point.session < record.number) pre = point.total;
  }
  if (!pre && series.has_cutoff()) pre = series.cutoff();
  for (const v1::RuptureMarker& marker : record.markers) {
    std::string addressed = marker.addressed_in_session()
                                ? ", noted as addressed in the session"
                                : "";
    out.push_back(
        Hit(v1::RUPTURE_SIGNAL_CLINICIAN_MARKER, record.number,
            ValueEvidence("rupture_marker", marker.type(), record.number,
                          absl::StrCat(MarkerTypeName(marker.type()),
                                       " marker coded", addressed)),
            absl::StrCat(MarkerWord(marker.type()),
                         " marker was coded for session ", record.number,
                         addressed),
            pre));
    out.back().marker_type = marker.type();
  }
  return out;
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
    std::set<int> sessions;
    for (const AlliancePoint& p : series_.points()) sessions.insert(p.session);
    for (const auto& [number, record] : history_.sessions()) {
      if (!record.markers.empty()) sessions.insert(number);
    }
    for (int session : sessions) Step(session);
    Finish();
    return std::move(a_);
  }

 private:
  void Step(int session) {
    std::optional<std::size_t> index = series_.IndexOf(session);
    std::vector<Candidate> found;
    if (index) found = RatingSignals(series_, *index, config_.rupture());
    const engine::SessionRecord* record = history_.session(session);
    if (record != nullptr && !record->markers.empty()) {
      std::vector<Candidate> markers = MarkerSignals(series_, *record);
      found.insert(found.end(), markers.begin(), markers.end());
    }
    std::optional<double> total;
    if (index) total = series_.points()[*index].total;
    if (!found.empty()) {
      Signal(session, total, found);
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
    for (const RuptureHit& hit : a_.hits) {
      *a_.state.add_evidence() = hit.evidence;
    }
    for (const v1::Evidence& e : repair) *a_.state.add_evidence() = e;
  }

  const engine::EpisodeHistory& history_;
  const AllianceSeries& series_;
  const v1::RulesConfig& config_;
  RuptureAnalysis a_;
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

}  // namespace attune::builtin
