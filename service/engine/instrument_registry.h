// InstrumentRegistry: which rating scales Attune knows, and how a recorded
// measure is checked and scored against its instrument.
//
// The built-in definitions (SRS, ORS, WAI-SR, SAI) come from the rules
// configuration; a custom instrument travels with each measure as a
// CustomInstrument declaration and is checked here before use.
#ifndef ATTUNE_SERVICE_ENGINE_INSTRUMENT_REGISTRY_H_
#define ATTUNE_SERVICE_ENGINE_INSTRUMENT_REGISTRY_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "attune/v1/config.pb.h"
#include "attune/v1/event.pb.h"

namespace attune::engine {

// A measure checked against its instrument, with its total and its place on
// the instrument's range.
struct ScoredMeasure {
  int session = 0;
  v1::Instrument instrument = v1::INSTRUMENT_UNSPECIFIED;
  // "srs", "ors", "wai_sr", "sai" or "custom:<name>": compare measures by it.
  std::string instrument_key;
  v1::Construct construct = v1::CONSTRUCT_UNSPECIFIED;
  v1::Rater rater = v1::RATER_UNSPECIFIED;
  double total = 0;
  // Total as percent of the total range, 0-100, oriented so that higher is
  // better whatever the instrument's direction.
  double percent = 0;
  std::vector<double> items;
  // Subscale name -> mean of its items (only when items were sent).
  std::map<std::string, double> subscale_means;
  // The instrument definition used (copy: small, and keeps this
  // self-contained).
  v1::InstrumentDefinition definition;
  // event_id of the measure, for evidence and tie-breaking.
  std::string event_id;
};

class InstrumentRegistry {
 public:
  // Checks every definition (ranges ordered, subscale items in range).
  // Errors name the instrument and the field.
  static absl::StatusOr<InstrumentRegistry> Create(
      const v1::RulesConfig& config);

  // The definition for a measure: from configuration for built-in
  // instruments, from the measure's declaration for custom ones.
  // INVALID_ARGUMENT (naming the field) when unknown or ill-declared.
  absl::StatusOr<v1::InstrumentDefinition> Resolve(
      const v1::MeasureRecorded& measure) const;

  // Checks item count, item and total ranges and item/total agreement, and
  // scores the measure. Field paths in errors are relative to
  // `field_prefix` (e.g. "measure_recorded").
  absl::StatusOr<ScoredMeasure> Score(const v1::MeasureRecorded& measure,
                                      absl::string_view field_prefix) const;
  // Score() into `out`, a default-constructed ScoredMeasure, without the
  // moves a returned value costs (EpisodeHistory::Fold scores every
  // measure of the episode per event). `out` is unspecified on error.
  absl::Status ScoreInto(const v1::MeasureRecorded& measure,
                         absl::string_view field_prefix,
                         ScoredMeasure& out) const;

  // The configured definition of a built-in instrument, or nullptr.
  const v1::InstrumentDefinition* Find(v1::Instrument instrument) const;

  static std::string KeyOf(v1::Instrument instrument,
                           absl::string_view custom_name);
  // "SRS", "WAI-SR", … or the custom name: for messages and prompt text.
  static std::string DisplayName(v1::Instrument instrument,
                                 absl::string_view custom_name);

 private:
  // Resolve() without a copy: `out` points at the configured definition,
  // or at `custom`, filled from the measure's declaration.
  absl::Status ResolveTo(const v1::MeasureRecorded& measure,
                         v1::InstrumentDefinition& custom,
                         const v1::InstrumentDefinition*& out) const;

  std::map<int, v1::InstrumentDefinition> builtin_;
};

}  // namespace attune::engine

#endif  // ATTUNE_SERVICE_ENGINE_INSTRUMENT_REGISTRY_H_
