#include "service/engine/instrument_registry.h"

#include <cmath>
#include <cstddef>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "service/common/status_macros.h"

namespace attune::engine {
namespace {

// Item and total sums are compared with this tolerance: hosts send SRS/ORS
// marks measured in tenths of a centimetre.
constexpr double kSumTolerance = 0.05;

absl::Status Invalid(absl::string_view field, absl::string_view rule) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", rule));
}

bool ValidCustomName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '.' ||
          c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

absl::Status CheckDefinition(const v1::InstrumentDefinition& d,
                             absl::string_view where) {
  if (d.item_count() < 0 || d.item_count() > 100) {
    return Invalid(absl::StrCat(where, ".item_count"), "must be 0-100");
  }
  if (d.item_count() > 0 && !(d.item_min() < d.item_max())) {
    return Invalid(absl::StrCat(where, ".item_min"), "must be below item_max");
  }
  if (!(d.total_min() < d.total_max())) {
    return Invalid(absl::StrCat(where, ".total_min"),
                   "must be below total_max");
  }
  for (const auto& sub : d.subscales()) {
    for (int item : sub.items()) {
      if (item < 1 || item > d.item_count()) {
        return Invalid(
            absl::StrCat(where, ".subscales.", sub.name()),
            absl::StrCat("item ", item, " is outside 1-", d.item_count()));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string InstrumentRegistry::KeyOf(v1::Instrument instrument,
                                      absl::string_view custom_name) {
  switch (instrument) {
    case v1::INSTRUMENT_SRS:
      return "srs";
    case v1::INSTRUMENT_ORS:
      return "ors";
    case v1::INSTRUMENT_WAI_SR:
      return "wai_sr";
    case v1::INSTRUMENT_SAI:
      return "sai";
    case v1::INSTRUMENT_CUSTOM:
      return absl::StrCat("custom:", custom_name);
    default:
      return "unspecified";
  }
}

std::string InstrumentRegistry::DisplayName(v1::Instrument instrument,
                                            absl::string_view custom_name) {
  switch (instrument) {
    case v1::INSTRUMENT_SRS:
      return "SRS";
    case v1::INSTRUMENT_ORS:
      return "ORS";
    case v1::INSTRUMENT_WAI_SR:
      return "WAI-SR";
    case v1::INSTRUMENT_SAI:
      return "SAI";
    default:
      return std::string(custom_name);
  }
}

absl::StatusOr<InstrumentRegistry> InstrumentRegistry::Create(
    const v1::RulesConfig& config) {
  InstrumentRegistry registry;
  for (const auto& def : config.instruments()) {
    std::string where =
        absl::StrCat("rules.instruments[", KeyOf(def.instrument(), ""), "]");
    if (def.instrument() == v1::INSTRUMENT_UNSPECIFIED ||
        def.instrument() == v1::INSTRUMENT_CUSTOM) {
      return Invalid(where,
                     "configured instruments must be SRS, ORS, WAI_SR or SAI; "
                     "custom instruments are declared with each measure");
    }
    ATTUNE_RETURN_IF_ERROR(CheckDefinition(def, where));
    registry.builtin_[def.instrument()] = def;
  }
  return registry;
}

const v1::InstrumentDefinition* InstrumentRegistry::Find(
    v1::Instrument instrument) const {
  auto it = builtin_.find(instrument);
  return it == builtin_.end() ? nullptr : &it->second;
}

absl::Status InstrumentRegistry::ResolveTo(
    const v1::MeasureRecorded& m, v1::InstrumentDefinition& custom,
    const v1::InstrumentDefinition*& out) const {
  if (m.instrument() == v1::INSTRUMENT_UNSPECIFIED) {
    return Invalid("measure_recorded.instrument", "is required");
  }
  if (m.instrument() != v1::INSTRUMENT_CUSTOM) {
    if (m.has_custom()) {
      return Invalid("measure_recorded.custom",
                     "only allowed with INSTRUMENT_CUSTOM");
    }
    const v1::InstrumentDefinition* def = Find(m.instrument());
    if (def == nullptr) {
      return Invalid("measure_recorded.instrument",
                     "has no definition in the server configuration");
    }
    out = def;
    return absl::OkStatus();
  }
  if (!m.has_custom()) {
    return Invalid("measure_recorded.custom",
                   "is required for INSTRUMENT_CUSTOM (declare the "
                   "instrument's name and range)");
  }
  const v1::CustomInstrument& c = m.custom();
  if (!ValidCustomName(c.name())) {
    return Invalid("measure_recorded.custom.name",
                   "must be 1-64 characters of [a-z0-9._-]");
  }
  if (c.construct() == v1::CONSTRUCT_UNSPECIFIED) {
    return Invalid("measure_recorded.custom.construct", "is required");
  }
  v1::InstrumentDefinition& def = custom;
  def.Clear();
  def.set_instrument(v1::INSTRUMENT_CUSTOM);
  def.set_custom_name(c.name());
  def.set_construct(c.construct());
  def.set_item_count(c.item_count());
  def.set_item_min(c.item_min());
  def.set_item_max(c.item_max());
  def.set_total_min(c.total_min());
  def.set_total_max(c.total_max());
  def.set_higher_is_better(c.higher_is_better());
  if (c.item_count() < 0 || c.item_count() > 100) {
    return Invalid("measure_recorded.custom.item_count", "must be 0-100");
  }
  if (c.item_count() > 0 && !(c.item_min() < c.item_max())) {
    return Invalid("measure_recorded.custom.item_min",
                   "must be below item_max");
  }
  if (!(c.total_min() < c.total_max())) {
    return Invalid("measure_recorded.custom.total_min",
                   "must be below total_max (declare the total range)");
  }
  if (c.has_concern_cutoff()) {
    if (!std::isfinite(c.concern_below_total()) ||
        c.concern_below_total() < c.total_min() ||
        c.concern_below_total() > c.total_max()) {
      return Invalid("measure_recorded.custom.concern_below_total",
                     "must lie within the declared total range");
    }
    def.set_concern_below_total(c.concern_below_total());
    def.set_concern_inclusive(c.concern_inclusive());
  }
  if (c.reliable_drop() != 0) {
    if (!std::isfinite(c.reliable_drop()) || c.reliable_drop() < 0 ||
        c.reliable_drop() > c.total_max() - c.total_min()) {
      return Invalid("measure_recorded.custom.reliable_drop",
                     "must be above 0 and at most the total range");
    }
    def.set_reliable_drop(c.reliable_drop());
  }
  out = &def;
  return absl::OkStatus();
}

absl::StatusOr<v1::InstrumentDefinition> InstrumentRegistry::Resolve(
    const v1::MeasureRecorded& m) const {
  v1::InstrumentDefinition custom;
  const v1::InstrumentDefinition* def = nullptr;
  ATTUNE_RETURN_IF_ERROR(ResolveTo(m, custom, def));
  if (def == &custom) return custom;
  return *def;
}

absl::StatusOr<ScoredMeasure> InstrumentRegistry::Score(
    const v1::MeasureRecorded& m, absl::string_view prefix) const {
  ScoredMeasure s;
  ATTUNE_RETURN_IF_ERROR(ScoreInto(m, prefix, s));
  return s;
}

absl::Status InstrumentRegistry::ScoreInto(const v1::MeasureRecorded& m,
                                           absl::string_view prefix,
                                           ScoredMeasure& s) const {
  // A configured definition is copied once, into the result; a declared
  // one is built in `custom` and moved there.
  v1::InstrumentDefinition custom;
  const v1::InstrumentDefinition* resolved = nullptr;
  ATTUNE_RETURN_IF_ERROR(ResolveTo(m, custom, resolved));
  const v1::InstrumentDefinition& def = *resolved;
  if (m.session_number() < 1) {
    return Invalid(absl::StrCat(prefix, ".session_number"), "must be >= 1");
  }
  if (m.rater() == v1::RATER_UNSPECIFIED) {
    return Invalid(absl::StrCat(prefix, ".rater"),
                   "is required (RATER_CLIENT or RATER_THERAPIST)");
  }
  if (m.items().empty() && !m.has_total()) {
    return Invalid(absl::StrCat(prefix, ".items"),
                   "either items or a total (has_total) is required");
  }
  // For error messages only.
  auto name = [&def] {
    return DisplayName(def.instrument(), def.custom_name());
  };
  s.session = m.session_number();
  s.instrument = def.instrument();
  s.instrument_key = KeyOf(def.instrument(), def.custom_name());
  s.construct = def.construct();
  s.rater = m.rater();
  double sum = 0;
  if (!m.items().empty()) {
    s.items.reserve(static_cast<std::size_t>(m.items_size()));
    if (m.items_size() != def.item_count()) {
      return Invalid(absl::StrCat(prefix, ".items"),
                     absl::StrCat(name(), " has ", def.item_count(),
                                  " items, got ", m.items_size()));
    }
    for (int i = 0; i < m.items_size(); ++i) {
      double v = m.items(i);
      if (!std::isfinite(v) || v < def.item_min() || v > def.item_max()) {
        return Invalid(absl::StrCat(prefix, ".items[", i, "]"),
                       absl::StrCat(name(), " items must be within ",
                                    def.item_min(), "-", def.item_max()));
      }
      sum += v;
      s.items.push_back(v);
    }
  }
  if (m.has_total()) {
    double t = m.total();
    if (!std::isfinite(t) || t < def.total_min() || t > def.total_max()) {
      return Invalid(absl::StrCat(prefix, ".total"),
                     absl::StrCat(name(), " totals must be within ",
                                  def.total_min(), "-", def.total_max()));
    }
    if (!m.items().empty() && std::abs(t - sum) > kSumTolerance) {
      // The sum is client data: name the rule, not the values.
      return Invalid(absl::StrCat(prefix, ".total"),
                     "must equal the sum of the items within 0.05");
    }
    s.total = t;
  } else {
    s.total = sum;
  }
  double span = def.total_max() - def.total_min();
  double pct = 100.0 * (s.total - def.total_min()) / span;
  s.percent = def.higher_is_better() ? pct : 100.0 - pct;
  for (const auto& sub : def.subscales()) {
    if (s.items.empty() || sub.items().empty()) continue;
    double acc = 0;
    for (int item : sub.items()) acc += s.items[item - 1];
    s.subscale_means[sub.name()] = acc / sub.items_size();
  }
  if (resolved == &custom) {
    s.definition = std::move(custom);
  } else {
    s.definition = def;
  }
  return absl::OkStatus();
}

}  // namespace attune::engine
