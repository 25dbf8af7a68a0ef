#include "plugins/builtin/common/prompt_parts.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace attune::builtin {

namespace {

// Below this magnitude a double's tenths fit an int64_t exactly, and
// printf's "%.0f" / "%.1f" of a value rounded to tenths print exactly those
// tenths (the value's binary error is far below 0.05): integer formatting
// gives the same text without the cost of StrFormat, which prompt text and
// evidence notes call many times per event.
constexpr double kFastFormatLimit = 1e14;

}  // namespace

std::string Num(double value) {
  double rounded = std::round(value * 10.0) / 10.0;
  if (rounded == 0) rounded = 0;  // no "-0"
  const bool whole = rounded == std::floor(rounded);
  if (!(std::abs(rounded) < kFastFormatLimit)) {  // also NaN
    return whole ? absl::StrFormat("%.0f", rounded)
                 : absl::StrFormat("%.1f", rounded);
  }
  if (whole) return absl::StrCat(static_cast<int64_t>(rounded));
  const int64_t tenths = std::llround(rounded * 10.0);
  const int64_t magnitude = tenths < 0 ? -tenths : tenths;
  return absl::StrCat(tenths < 0 ? "-" : "", magnitude / 10, ".",
                      magnitude % 10);
}

std::string Pct(double percent) {
  const double rounded = std::round(percent);
  // printf prints a negative zero as "-0".
  if (!(std::abs(rounded) < kFastFormatLimit) ||
      (rounded == 0 && std::signbit(rounded))) {
    return absl::StrFormat("%.0f%%", rounded);
  }
  return absl::StrCat(static_cast<int64_t>(rounded), "%");
}

engine::ProposedPrompt NewPrompt(absl::string_view kind, v1::Severity severity,
                                 int priority, v1::PromptScope scope) {
  engine::ProposedPrompt p;
  p.prompt.set_kind(std::string(kind));
  p.prompt.set_severity(severity);
  p.prompt.set_priority(priority);
  p.prompt.set_scope(scope);
  return p;
}

void SetSummary(v1::Prompt& prompt, std::string summary) {
  constexpr std::size_t kLimit = kMaxSummaryChars - 1;
  if (summary.size() > kLimit) {
    constexpr absl::string_view kEllipsis = "...";
    std::size_t cut = summary.rfind(' ', kLimit - kEllipsis.size());
    if (cut == std::string::npos) cut = kLimit - kEllipsis.size();
    // Never split a UTF-8 sequence.
    while (cut > 0 &&
           (static_cast<unsigned char>(summary[cut]) & 0xC0) == 0x80) {
      --cut;
    }
    summary.resize(cut);
    summary.append(kEllipsis.data(), kEllipsis.size());
  }
  prompt.set_summary(std::move(summary));
}

void AddAction(v1::Prompt& prompt, absl::string_view id,
               absl::string_view label) {
  v1::SuggestedAction* action = prompt.add_actions();
  action->set_id(std::string(id));
  action->set_label(std::string(label));
}

void AddReference(v1::Prompt& prompt, absl::string_view citation) {
  prompt.add_references()->set_citation(std::string(citation));
}

namespace {

// Evidence is shown to people: 6.9, not 6.8999999999999986 (a difference of
// two scores in binary floating point). Four decimals keep any real
// precision of the instruments.
double Tidy(double v) { return std::round(v * 1e4) / 1e4; }

}  // namespace

v1::Evidence ValueEvidence(absl::string_view name, double value, int session,
                           absl::string_view note) {
  v1::Evidence e;
  e.set_name(std::string(name));
  e.set_value(Tidy(value));
  e.set_session_number(session);
  e.set_note(std::string(note));
  return e;
}

v1::Evidence ThresholdEvidence(absl::string_view name, double value,
                               absl::string_view comparison, double threshold,
                               int session, absl::string_view note) {
  v1::Evidence e = ValueEvidence(name, value, session, note);
  e.set_threshold(Tidy(threshold));
  e.set_has_threshold(true);
  e.set_comparison(std::string(comparison));
  return e;
}

std::string TotalName(absl::string_view instrument_key) {
  return absl::StrCat(instrument_key, "_total");
}

}  // namespace attune::builtin
