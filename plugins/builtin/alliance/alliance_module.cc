#include "plugins/builtin/alliance/alliance_module.h"

#include <cstddef>
#include <optional>

#include "absl/strings/str_cat.h"
#include "plugins/builtin/common/alliance_series.h"
#include "plugins/builtin/common/prompt_parts.h"

namespace attune::builtin {
namespace {

// STRONG needs the cut-off met in each of the last 3 rated sessions: the
// band definition in assessment.proto, mirroring the 3-session window of the
// "established" rule (CLINICAL.md, module 1).
constexpr std::size_t kStrongWindow = 3;
// A trend needs two changes, so three ratings (assessment.proto, Trend).
constexpr std::size_t kTrendMinPoints = 3;

v1::AllianceBand Band(const AllianceSeries& series) {
  if (series.empty()) return v1::ALLIANCE_BAND_UNKNOWN;
  // Without a cut-off there is no concern zone to fall into; the rupture
  // module still marks a suspected rupture as RUPTURED.
  if (!series.has_cutoff()) return v1::ALLIANCE_BAND_ADEQUATE;
  const auto& points = series.points();
  if (!series.MeetsCutoff(series.latest().total)) {
    return v1::ALLIANCE_BAND_FRAGILE;
  }
  if (points.size() >= kStrongWindow) {
    bool all = true;
    for (std::size_t i = points.size() - kStrongWindow; i < points.size();
         ++i) {
      all = all && series.MeetsCutoff(points[i].total);
    }
    if (all) return v1::ALLIANCE_BAND_STRONG;
  }
  return v1::ALLIANCE_BAND_ADEQUATE;
}

v1::Trend TrendOf(const AllianceSeries& series) {
  const auto& p = series.points();
  if (p.size() < kTrendMinPoints) return v1::TREND_UNKNOWN;
  std::size_t n = p.size();
  double first = series.Drop(p[n - 3].total, p[n - 2].total);
  double second = series.Drop(p[n - 2].total, p[n - 1].total);
  if (first > 0 && second > 0) return v1::TREND_DECLINING;
  if (first < 0 && second < 0) return v1::TREND_IMPROVING;
  return v1::TREND_STABLE;
}

}  // namespace

absl::Status AllianceModule::Evaluate(const engine::RuleInput& input,
                                      engine::RuleOutput& output) const {
  // This module owns the section and runs first: start it afresh so a
  // reused assessment never accumulates evidence.
  v1::AllianceQuality* alliance = output.assessment->mutable_alliance();
  alliance->Clear();
  std::optional<AllianceSeries> storage;
  const AllianceSeries& series = AllianceSeries::For(input, storage);
  alliance->set_band(Band(series));
  alliance->set_trend(TrendOf(series));
  if (series.empty()) return absl::OkStatus();

  const AlliancePoint& latest = series.latest();
  alliance->set_score(latest.percent);
  alliance->set_raw_total(latest.total);
  alliance->set_instrument(series.instrument());
  alliance->set_custom_instrument(series.custom_name());
  alliance->set_session_number(latest.session);

  std::string name = TotalName(series.key());
  if (series.has_cutoff()) {
    bool concern = series.IsConcern(latest.total);
    *alliance->add_evidence() = ThresholdEvidence(
        name, latest.total,
        concern ? series.ConcernComparison() : series.MeetsComparison(),
        series.cutoff(), latest.session,
        concern ? "latest client rating in the concern zone"
                : "latest client rating at or above the cut-off");
  } else {
    *alliance->add_evidence() = ValueEvidence(
        name, latest.total, latest.session,
        absl::StrCat("latest client rating; no cut-off configured for ",
                     series.label()));
  }
  const auto& points = series.points();
  if (points.size() >= 2) {
    const AlliancePoint& previous = points[points.size() - 2];
    *alliance->add_evidence() = ValueEvidence(
        name, previous.total, previous.session, "previous client rating");
  }
  return absl::OkStatus();
}

}  // namespace attune::builtin
