// Sources: the alliance as bond plus agreement on goals and on tasks
// (Bordin 1979); the WAI-SR's Task/Bond/Goal subscales of four items rated
// 1-5 (Hatcher & Gillaspy 2006). low_item_mean (default 3.0) is a local
// default: the middle of the 1-5 rating scale.
#include "plugins/builtin/bordin/bordin_module.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "plugins/builtin/common/alliance_series.h"
#include "plugins/builtin/common/prompt_parts.h"
#include "plugins/builtin/common/references.h"
#include "service/engine/instrument_registry.h"

namespace attune::builtin {
namespace {

constexpr int kPriority = 60;
constexpr char kBond[] = "bond";
constexpr char kGoals[] = "goals";
constexpr char kTasks[] = "tasks";

bool HasComponents(const engine::ScoredMeasure& m) {
  if (m.subscale_means.empty()) return false;  // most instruments
  return m.subscale_means.count(kBond) > 0 ||
         m.subscale_means.count(kGoals) > 0 ||
         m.subscale_means.count(kTasks) > 0;
}

// The latest client measure with Bordin subscales, or nullptr.
const engine::ScoredMeasure* LatestWithComponents(
    const engine::EpisodeHistory& history) {
  const auto& sessions = history.sessions();
  for (auto it = sessions.rbegin(); it != sessions.rend(); ++it) {
    const auto& measures = it->second.measures;
    for (auto m = measures.rbegin(); m != measures.rend(); ++m) {
      if (m->rater == v1::RATER_CLIENT && HasComponents(*m)) return &*m;
    }
  }
  return nullptr;
}

// An item mean as percent of the item range, higher = better.
double ItemPercent(const v1::InstrumentDefinition& def, double mean) {
  const double span = def.item_max() - def.item_min();
  if (span <= 0) return 0;
  const double pct = 100.0 * (mean - def.item_min()) / span;
  return def.higher_is_better() ? pct : 100.0 - pct;
}

std::string MeansText(const engine::ScoredMeasure& m) {
  std::vector<std::string> parts;
  for (const char* name : {kBond, kGoals, kTasks}) {
    auto it = m.subscale_means.find(name);
    if (it != m.subscale_means.end()) {
      parts.push_back(absl::StrCat(name, " ", Num(it->second)));
    }
  }
  return absl::StrJoin(parts, ", ");
}

}  // namespace

absl::Status BordinModule::Evaluate(const engine::RuleInput& input,
                                    engine::RuleOutput& output) const {
  const engine::ScoredMeasure* m = LatestWithComponents(input.history);
  if (m == nullptr) return absl::OkStatus();
  const auto& means = m->subscale_means;
  const v1::InstrumentDefinition& def = m->definition;
  v1::BordinComponents* components =
      output.assessment->mutable_alliance()->mutable_components();
  components->set_session_number(m->session);
  if (auto it = means.find(kBond); it != means.end()) {
    components->set_bond(ItemPercent(def, it->second));
  }
  if (auto it = means.find(kGoals); it != means.end()) {
    components->set_goals(ItemPercent(def, it->second));
  }
  if (auto it = means.find(kTasks); it != means.end()) {
    components->set_tasks(ItemPercent(def, it->second));
  }
  if (input.history.closed()) return absl::OkStatus();

  const double low = input.config.bordin().low_item_mean();
  auto is_low = [&](const char* name) {
    auto it = means.find(name);
    return it != means.end() && it->second < low;
  };
  auto mean_of = [&](const char* name) { return means.at(name); };
  const bool bond_known = means.count(kBond) > 0;
  std::vector<std::string> low_agreement;
  if (is_low(kGoals)) low_agreement.push_back(kGoals);
  if (is_low(kTasks)) low_agreement.push_back(kTasks);
  if (!bond_known || (!is_low(kBond) && low_agreement.empty())) {
    return absl::OkStatus();
  }

  const std::string label =
      engine::InstrumentRegistry::DisplayName(m->instrument, def.custom_name());
  const std::string scale =
      absl::StrCat("items ", Num(def.item_min()), "-", Num(def.item_max()),
                   "; low = a mean below ", Num(low));
  engine::ProposedPrompt p;
  if (is_low(kBond)) {
    p = NewPrompt(kAttendToBond, v1::SEVERITY_INFO, kPriority);
    v1::Prompt& prompt = p.prompt;
    SetSummary(prompt,
               absl::StrCat("Bond scores low on the client's ", label, " (",
                            Num(mean_of(kBond)), " of ", Num(def.item_max()),
                            ", session ", m->session,
                            "): attend to trust and warmth."));
    prompt.set_detail(absl::StrCat(
        "Item means on the client's ", label, " from session ", m->session,
        ": ", MeansText(*m), " (", scale,
        "). The bond — trust, care and respect between you — is the ground "
        "the agreement on goals and tasks rests on.",
        low_agreement.empty()
            ? ""
            : absl::StrCat(" Agreement on ",
                           absl::StrJoin(low_agreement, " and "),
                           " is low as well.")));
    AddAction(prompt, "ask_about_relationship",
              "Ask how the client experiences working with you");
    AddAction(prompt, "seek_supervision", "Talk it through in supervision");
    prompt.set_reflective_question(
        "In what ways might the client be unsure that you accept them "
        "without judgement?");
    p.strength = low - mean_of(kBond);
  } else {
    p = NewPrompt(kRevisitAgreement, v1::SEVERITY_INFO, kPriority);
    v1::Prompt& prompt = p.prompt;
    const std::string what = absl::StrJoin(low_agreement, " and ");
    SetSummary(prompt, absl::StrCat("Agreement on ", what,
                                    " is low while the bond is fine (", label,
                                    ", session ", m->session,
                                    "): revisit it together."));
    prompt.set_detail(absl::StrCat(
        "Item means on the client's ", label, " from session ", m->session,
        ": ", MeansText(*m), " (", scale,
        "). The client seems to feel connected to you but less in agreement "
        "on ",
        what,
        ". Agreement on goals and on tasks are parts of the alliance in "
        "their own right; working them out together is a direct way to "
        "strengthen it."));
    AddAction(prompt, "revisit_goals", "Revisit the goals together");
    AddAction(prompt, "revisit_tasks",
              "Agree together how you will work towards them");
    prompt.set_reflective_question(
        "How much of the current plan did the client help to shape?");
    double lowest = low;
    for (const std::string& name : low_agreement) {
      lowest = std::min(lowest, means.at(name));
    }
    p.strength = low - lowest;
  }
  v1::Prompt& prompt = p.prompt;
  for (const char* name : {kBond, kGoals, kTasks}) {
    auto it = means.find(name);
    if (it == means.end()) continue;
    *prompt.add_evidence() = ThresholdEvidence(
        absl::StrCat(m->instrument_key, "_", name, "_mean"), it->second,
        it->second < low ? "<" : ">=", low, m->session, "item mean");
  }
  AddReference(prompt, refs::kBordin1979);
  AddReference(prompt, refs::kHatcher2006);
  output.prompts.push_back(std::move(p));
  return absl::OkStatus();
}

}  // namespace attune::builtin
