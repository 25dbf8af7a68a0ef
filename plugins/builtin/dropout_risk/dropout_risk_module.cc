// Sources: about one client in five ends therapy prematurely (19.7% across
// 669 studies; Swift & Greenberg 2012); a weak alliance predicts dropout
// (d = .55; Sharf, Primavera & Diener 2010); unaddressed ruptures are linked
// to dropout (Eubanks-Carter, Muran & Safran 2015). weak_early_by_session
// (default 5) is the end of the "coming together" phase (CLINICAL.md).
// Which misses count is config: count_late_cancellation, count_no_show.
#include "plugins/builtin/dropout_risk/dropout_risk_module.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "plugins/builtin/common/alliance_series.h"
#include "plugins/builtin/common/episode_facts.h"
#include "plugins/builtin/common/prompt_parts.h"
#include "plugins/builtin/common/references.h"

namespace attune::builtin {
namespace {

constexpr int kPriority = 80;

enum class Miss { kNone, kLateCancellation, kNoShow };

Miss MissOf(const engine::SessionRecord& record,
            const v1::DropoutRiskConfig& config) {
  if (record.is_held()) return Miss::kNone;
  if (record.no_show && config.count_no_show()) return Miss::kNoShow;
  if (record.cancelled && record.cancelled->late() &&
      record.cancelled->cancelled_by() == v1::CANCELLED_BY_CLIENT &&
      config.count_late_cancellation()) {
    return Miss::kLateCancellation;
  }
  return Miss::kNone;
}

// Qualifying misses after `after` that no held session has followed.
struct RecentMisses {
  int count = 0;
  int latest = 0;
  Miss latest_kind = Miss::kNone;
};

RecentMisses FindMisses(const engine::EpisodeHistory& history, int after,
                        const v1::DropoutRiskConfig& config) {
  RecentMisses misses;
  const int last_held = LatestHeldSession(history);
  for (const auto& [number, record] : history.sessions()) {
    if (number <= after || number <= last_held) continue;
    Miss kind = MissOf(record, config);
    if (kind == Miss::kNone) continue;
    ++misses.count;
    misses.latest = number;
    misses.latest_kind = kind;
  }
  return misses;
}

std::string MissText(const RecentMisses& m) {
  return absl::StrCat(m.latest_kind == Miss::kNoShow ? "did not attend session "
                                                     : "cancelled session ",
                      m.latest,
                      m.latest_kind == Miss::kNoShow ? "" : " at short notice");
}

}  // namespace

absl::Status DropoutRiskModule::Evaluate(const engine::RuleInput& input,
                                         engine::RuleOutput& output) const {
  const v1::DropoutRiskConfig& config = input.config.dropout_risk();
  const v1::Assessment& assessment = *output.assessment;
  if (input.history.closed()) return absl::OkStatus();

  const v1::RuptureState& rupture = assessment.rupture();
  const bool open_rupture = rupture.status() == v1::RUPTURE_STATUS_SUSPECTED ||
                            rupture.status() == v1::RUPTURE_STATUS_REPAIRING;
  std::optional<AllianceSeries> storage;
  const AllianceSeries& series = AllianceSeries::For(input, storage);
  const v1::PhaseState& phase = assessment.phase();
  const bool weak_early = phase.phase() == v1::PHASE_COMING_TOGETHER &&
                          !phase.alliance_established() && !series.empty() &&
                          series.has_cutoff();

  RecentMisses misses;
  std::string reason;
  if (open_rupture) {
    misses = FindMisses(input.history, rupture.detected_session(), config);
    reason =
        absl::StrCat("A rupture was suspected in session ",
                     rupture.detected_session(), " and has not been repaired.");
  }
  if (misses.count == 0 && weak_early) {
    misses =
        FindMisses(input.history, config.weak_early_by_session() - 1, config);
    reason = absl::StrCat(
        "The alliance had not been established by session ",
        config.weak_early_by_session(), " (latest client ", series.label(),
        ": ", Num(series.latest().total), " in session ",
        series.latest().session, "; cut-off ", Num(series.cutoff()),
        phase.goals_agreed() ? "" : "; no goals agreed", ").");
  }
  if (misses.count == 0) return absl::OkStatus();

  engine::ProposedPrompt p =
      NewPrompt(kReachOut, v1::SEVERITY_WARNING, kPriority);
  v1::Prompt& prompt = p.prompt;
  SetSummary(prompt, absl::StrCat("Risk of premature ending: the client ",
                                  MissText(misses),
                                  open_rupture ? " after a possible rupture"
                                               : " while the alliance is weak",
                                  ". Reach out."));
  prompt.set_detail(absl::StrCat(
      reason, " Since then the client ", MissText(misses),
      misses.count > 1
          ? absl::StrCat(" (", misses.count, " missed sessions in a row)")
          : "",
      " and no session has been held. About one client in five ends therapy "
      "early (19.7%), a weak alliance predicts dropout (d = .55) and "
      "unaddressed ruptures are linked to it. A personal contact now opens "
      "the door to talk about what is not working."));
  AddAction(prompt, "reach_out", "Contact the client personally");
  AddAction(prompt, "offer_review",
            "Offer a session to review how therapy is going");
  prompt.set_reflective_question(
      "What would make it easy for the client to tell you that something is "
      "not working for them?");
  *prompt.add_evidence() = ValueEvidence(
      "missed_sessions", misses.count, misses.latest,
      absl::StrCat(
          "in a row, latest a ",
          misses.latest_kind == Miss::kNoShow ? "no-show" : "late cancellation",
          "; no session held since"));
  if (open_rupture) {
    *prompt.add_evidence() =
        ValueEvidence("rupture_detected_session", rupture.detected_session(),
                      rupture.detected_session(), "unrepaired rupture");
  } else {
    *prompt.add_evidence() = ThresholdEvidence(
        TotalName(series.key()), series.latest().total,
        series.IsConcern(series.latest().total) ? series.ConcernComparison()
                                                : series.MeetsComparison(),
        series.cutoff(), series.latest().session,
        phase.goals_agreed() ? "latest client rating"
                             : "latest client rating; no goals agreed");
  }
  AddReference(prompt, refs::kSwift2012);
  AddReference(prompt, refs::kSharf2010);
  AddReference(prompt, refs::kEubanksCarter2015);
  // Missed sessions in a row since the client was last seen.
  p.strength = misses.count;
  output.prompts.push_back(std::move(p));
  return absl::OkStatus();
}

}  // namespace attune::builtin
