#include "plugins/builtin/common/prompt_parts.h"

#include <cmath>
#include <cstddef>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace attune::builtin {

std::string Num(double value) {
  double rounded = std::round(value * 10.0) / 10.0;
  if (rounded == 0) rounded = 0;  // no "-0"
  if (rounded == std::floor(rounded)) {
    return absl::StrFormat("%.0f", rounded);
  }
  return absl::StrFormat("%.1f", rounded);
}

std::string Pct(double percent) {
  return absl::StrFormat("%.0f%%", std::round(percent));
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
