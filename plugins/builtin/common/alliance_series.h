// AllianceSeries: the client-rated alliance scores of one episode, one point
// per session, on one instrument. Most built-in modules reason over it.
//
//   std::optional<AllianceSeries> storage;
//   const AllianceSeries& series = AllianceSeries::For(input, storage);
//   if (!series.empty() && series.IsConcern(series.latest().total)) ...
//
// The instrument is the first of `config.alliance_preference()` for which the
// episode has client ratings (construct ALLIANCE, rater CLIENT). Listing
// INSTRUMENT_CUSTOM there selects the first custom alliance instrument the
// episode used (by session). A session rated more than once contributes its
// last rating in event order.
//
// Direction: "drop", "worse" and the cut-off test follow the instrument's
// higher_is_better, so a lower-is-better custom scale works unchanged.
#ifndef ATTUNE_PLUGINS_BUILTIN_COMMON_ALLIANCE_SERIES_H_
#define ATTUNE_PLUGINS_BUILTIN_COMMON_ALLIANCE_SERIES_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "attune/v1/config.pb.h"
#include "attune/v1/event.pb.h"
#include "service/engine/episode_history.h"
#include "service/engine/rule_module.h"

namespace attune::builtin {

// One rated session.
struct AlliancePoint {
  int session = 0;
  // Raw total on the instrument's scale.
  double total = 0;
  // Total as 0-100 percent of the range, higher = better.
  double percent = 0;
};

class AllianceSeries {
 public:
  static AllianceSeries Build(const engine::EpisodeHistory& history,
                              const v1::RulesConfig& config);
  // The series of input.history under input.config. Built once per
  // evaluation and shared through input.cache by the modules that need it;
  // without a cache it is built into `storage`. The reference lives as long
  // as the cache or `storage`.
  static const AllianceSeries& For(const engine::RuleInput& input,
                                   std::optional<AllianceSeries>& storage);

  bool empty() const { return points_.empty(); }
  std::size_t size() const { return points_.size(); }
  // In session order.
  const std::vector<AlliancePoint>& points() const { return points_; }
  // Requires !empty().
  const AlliancePoint& latest() const { return points_.back(); }

  v1::Instrument instrument() const { return definition_.instrument(); }
  // Declared name for INSTRUMENT_CUSTOM, empty otherwise.
  const std::string& custom_name() const { return definition_.custom_name(); }
  // The instrument's ScoredMeasure::instrument_key ("srs", "custom:x", ...).
  const std::string& key() const { return key_; }
  // Name for prompt text: "SRS", "WAI-SR", the custom name...
  const std::string& label() const { return label_; }
  // Definition used to score the latest point.
  const v1::InstrumentDefinition& definition() const { return definition_; }

  // Whether the instrument has a concern cut-off (concern_below_total).
  bool has_cutoff() const { return definition_.has_concern_below_total(); }
  double cutoff() const { return definition_.concern_below_total(); }
  // A total in the concern zone: below the cut-off (at it too when
  // concern_inclusive). False when there is no cut-off.
  bool IsConcern(double total) const;
  // At or above the cut-off (the complement of IsConcern). False when there
  // is no cut-off: without one, nothing can be said to meet it.
  bool MeetsCutoff(double total) const;
  // "<" or "<=": how a concern total compares to the cut-off, for evidence.
  const char* ConcernComparison() const;
  // ">=" or ">": how a total that meets the cut-off compares to it.
  const char* MeetsComparison() const;

  // The instrument's reliable_drop when set and positive.
  std::optional<double> reliable_drop() const { return reliable_drop_; }
  // How much worse `to` is than `from`, in total points (negative: better).
  double Drop(double from, double to) const;
  // The worse / better of two totals.
  double Worse(double a, double b) const { return Drop(a, b) > 0 ? b : a; }
  double Better(double a, double b) const { return Drop(a, b) > 0 ? a : b; }

  // Mean and sample SD (n - 1) of the totals of points [0, end). SD is 0 for
  // fewer than two points.
  double MeanBefore(std::size_t end) const;
  double SdBefore(std::size_t end) const;

  // Index of the point for `session`, if it was rated.
  std::optional<std::size_t> IndexOf(int session) const;

 private:
  std::vector<AlliancePoint> points_;
  v1::InstrumentDefinition definition_;
  std::string key_;
  std::string label_;
  // From definition_, worked out once: the rupture walk asks per rating.
  std::optional<double> reliable_drop_;
};

// Whether a measure is a client-rated alliance measure.
bool IsClientAlliance(const engine::ScoredMeasure& measure);

}  // namespace attune::builtin

#endif  // ATTUNE_PLUGINS_BUILTIN_COMMON_ALLIANCE_SERIES_H_
