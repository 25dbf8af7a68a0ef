#include "plugins/builtin/common/alliance_series.h"

#include <cmath>

#include "service/engine/instrument_registry.h"

namespace attune::builtin {
namespace {

// The first client alliance measure on `instrument`, by session then event
// order; nullptr when the episode has none.
const engine::ScoredMeasure* FirstFor(const engine::EpisodeHistory& history,
                                      v1::Instrument instrument) {
  for (const auto& [number, record] : history.sessions()) {
    for (const engine::ScoredMeasure& m : record.measures) {
      if (m.instrument == instrument && IsClientAlliance(m)) return &m;
    }
  }
  return nullptr;
}

}  // namespace

bool IsClientAlliance(const engine::ScoredMeasure& measure) {
  return measure.construct == v1::CONSTRUCT_ALLIANCE &&
         measure.rater == v1::RATER_CLIENT;
}

AllianceSeries AllianceSeries::Build(const engine::EpisodeHistory& history,
                                     const v1::RulesConfig& config) {
  AllianceSeries series;
  const engine::ScoredMeasure* first = nullptr;
  for (int preferred : config.alliance_preference()) {
    first = FirstFor(history, static_cast<v1::Instrument>(preferred));
    if (first != nullptr) break;
  }
  if (first == nullptr) return series;
  series.key_ = first->instrument_key;
  // The key names the instrument, and for a custom one its name too: compare
  // the enum first, the string only when it decides.
  const v1::Instrument instrument = first->instrument;
  const bool custom = instrument == v1::INSTRUMENT_CUSTOM;
  const engine::ScoredMeasure* latest = nullptr;
  series.points_.reserve(history.sessions().size());
  for (const auto& [number, record] : history.sessions()) {
    const engine::ScoredMeasure* last = nullptr;
    for (const engine::ScoredMeasure& m : record.measures) {
      if (m.instrument == instrument && IsClientAlliance(m) &&
          (!custom || m.instrument_key == series.key_)) {
        last = &m;
      }
    }
    if (last == nullptr) continue;
    series.points_.push_back({number, last->total, last->percent});
    latest = last;
  }
  series.definition_ = latest->definition;
  if (series.definition_.has_reliable_drop() &&
      !(series.definition_.reliable_drop() <= 0)) {
    series.reliable_drop_ = series.definition_.reliable_drop();
  }
  series.label_ = engine::InstrumentRegistry::DisplayName(
      series.definition_.instrument(), series.definition_.custom_name());
  return series;
}

const AllianceSeries& AllianceSeries::For(
    const engine::RuleInput& input, std::optional<AllianceSeries>& storage) {
  if (input.cache == nullptr) {
    return storage.emplace(Build(input.history, input.config));
  }
  return input.cache->GetOrMake<AllianceSeries>(
      [&input] { return Build(input.history, input.config); });
}

bool AllianceSeries::IsConcern(double total) const {
  if (!has_cutoff()) return false;
  double worse_by = Drop(cutoff(), total);
  return definition_.concern_inclusive() ? worse_by >= 0 : worse_by > 0;
}

bool AllianceSeries::MeetsCutoff(double total) const {
  return has_cutoff() && !IsConcern(total);
}

const char* AllianceSeries::ConcernComparison() const {
  bool higher = definition_.higher_is_better();
  if (definition_.concern_inclusive()) return higher ? "<=" : ">=";
  return higher ? "<" : ">";
}

const char* AllianceSeries::MeetsComparison() const {
  bool higher = definition_.higher_is_better();
  if (definition_.concern_inclusive()) return higher ? ">" : "<";
  return higher ? ">=" : "<=";
}

double AllianceSeries::Drop(double from, double to) const {
  return definition_.higher_is_better() ? from - to : to - from;
}

double AllianceSeries::MeanBefore(std::size_t end) const {
  if (end == 0) return 0;
  double sum = 0;
  for (std::size_t i = 0; i < end; ++i) sum += points_[i].total;
  return sum / static_cast<double>(end);
}

double AllianceSeries::SdBefore(std::size_t end) const {
  if (end < 2) return 0;
  double mean = MeanBefore(end);
  double sq = 0;
  for (std::size_t i = 0; i < end; ++i) {
    double d = points_[i].total - mean;
    sq += d * d;
  }
  return std::sqrt(sq / static_cast<double>(end - 1));
}

std::optional<std::size_t> AllianceSeries::IndexOf(int session) const {
  for (std::size_t i = 0; i < points_.size(); ++i) {
    if (points_[i].session == session) return i;
  }
  return std::nullopt;
}

}  // namespace attune::builtin
