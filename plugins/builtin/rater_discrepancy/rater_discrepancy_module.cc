// Clients usually rate the alliance higher than their therapists do
// (d = .63, client-therapist r = .36; Tryon, Blackwell & Hammel 2007), so a
// client rating clearly below the therapist's is the unusual, informative
// case. "Clearly" is min_gap_percent of the instrument's range (default 10,
// a local default so rounding differences stay quiet). Percent of range
// (oriented higher = better) makes the two raters comparable on any
// instrument.
#include "plugins/builtin/rater_discrepancy/rater_discrepancy_module.h"

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "plugins/builtin/common/alliance_series.h"
#include "plugins/builtin/common/prompt_parts.h"
#include "plugins/builtin/common/references.h"
#include "service/engine/instrument_registry.h"

namespace attune::builtin {
namespace {

constexpr int kPriority = 50;

struct Pair {
  const engine::ScoredMeasure* client = nullptr;
  const engine::ScoredMeasure* therapist = nullptr;
  double gap() const { return therapist->percent - client->percent; }
};

// Whether the session has an alliance rating by each rater: else it has no
// pair (a cheap test before PairsOf).
bool HasBothRaters(const engine::SessionRecord& record) {
  bool client = false;
  bool therapist = false;
  for (const engine::ScoredMeasure& m : record.measures) {
    if (m.construct != v1::CONSTRUCT_ALLIANCE) continue;
    client = client || m.rater == v1::RATER_CLIENT;
    therapist = therapist || m.rater == v1::RATER_THERAPIST;
  }
  return client && therapist;
}

// Per instrument key, the last client and last therapist alliance rating of
// the session.
std::map<std::string, Pair> PairsOf(const engine::SessionRecord& record) {
  std::map<std::string, Pair> pairs;
  for (const engine::ScoredMeasure& m : record.measures) {
    if (m.construct != v1::CONSTRUCT_ALLIANCE) continue;
    if (m.rater == v1::RATER_CLIENT) pairs[m.instrument_key].client = &m;
    if (m.rater == v1::RATER_THERAPIST) pairs[m.instrument_key].therapist = &m;
  }
  return pairs;
}

}  // namespace

absl::Status RaterDiscrepancyModule::Evaluate(
    const engine::RuleInput& input, engine::RuleOutput& output) const {
  if (input.history.closed()) return absl::OkStatus();
  const double min_gap = input.config.rater_discrepancy().min_gap_percent();
  const auto& sessions = input.history.sessions();
  for (auto it = sessions.rbegin(); it != sessions.rend(); ++it) {
    if (!HasBothRaters(it->second)) continue;
    const Pair* widest = nullptr;
    std::map<std::string, Pair> pairs = PairsOf(it->second);
    for (const auto& [key, pair] : pairs) {
      if (pair.client == nullptr || pair.therapist == nullptr) continue;
      if (widest == nullptr || pair.gap() > widest->gap()) widest = &pair;
    }
    if (widest == nullptr) continue;
    // The latest session with both ratings decides, even when it is quiet.
    if (!(widest->client->percent < widest->therapist->percent - min_gap)) {
      return absl::OkStatus();
    }
    const engine::ScoredMeasure& client = *widest->client;
    const engine::ScoredMeasure& therapist = *widest->therapist;
    const std::string label = engine::InstrumentRegistry::DisplayName(
        client.instrument, client.definition.custom_name());
    const int session = it->first;

    engine::ProposedPrompt p =
        NewPrompt(kClientBelowTherapist, v1::SEVERITY_INFO, kPriority);
    v1::Prompt& prompt = p.prompt;
    SetSummary(prompt,
               absl::StrCat("The client rated the alliance well below you in "
                            "session ",
                            session, " (", label, " ", Pct(client.percent),
                            " vs ", Pct(therapist.percent), ")."));
    prompt.set_detail(absl::StrCat(
        "In session ", session, " the client's ", label, " was ",
        Num(client.total), " (", Pct(client.percent),
        " of the range) and the therapist's was ", Num(therapist.total), " (",
        Pct(therapist.percent), "): the client is ", Num(widest->gap()),
        " percentage points lower, beyond the ", Num(min_gap),
        "-point margin. Clients usually rate the alliance higher than their "
        "therapists do (d = .63), so a lower client rating is unusual and "
        "worth exploring with curiosity."));
    AddAction(prompt, "explore_experience",
              "Ask what would make the sessions more useful");
    AddAction(prompt, "review_items",
              "Look at the item ratings together with the client");
    prompt.set_reflective_question(
        "What might the client be experiencing in your sessions that you "
        "have not yet fully understood?");
    *prompt.add_evidence() = ThresholdEvidence(
        absl::StrCat(client.instrument_key, "_client_percent"), client.percent,
        "<", therapist.percent - min_gap, session,
        absl::StrCat("therapist ", Pct(therapist.percent), " minus ",
                     Num(min_gap), " points"));
    *prompt.add_evidence() =
        ValueEvidence(absl::StrCat(client.instrument_key, "_therapist_percent"),
                      therapist.percent, session, "therapist's rating");
    AddReference(prompt, refs::kTryon2007);
    AddReference(prompt, refs::kRogersQualities);
    // Percentage points by which the client is below the therapist.
    p.strength = widest->gap();
    output.prompts.push_back(std::move(p));
    return absl::OkStatus();
  }
  return absl::OkStatus();
}

}  // namespace attune::builtin
