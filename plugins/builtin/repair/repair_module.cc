// Repair = the V shape: a drop, then a return to (or above) the earlier
// level (Gumz et al. 2012, comparing Stiles et al. 2004 and Strauss et al.
// 2006). How far back counts is config.repair().return_fraction() (default
// 1.0, fully back), applied by attune.rupture. Telling the clinician matters
// because repair goes with better outcome (Safran, Muran & Eubanks-Carter
// 2011, r = .24) and naming it can consolidate it.
#include "plugins/builtin/repair/repair_module.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "plugins/builtin/common/alliance_series.h"
#include "plugins/builtin/common/prompt_parts.h"
#include "plugins/builtin/common/references.h"

namespace attune::builtin {
namespace {

constexpr int kPriority = 40;

// The worst rating from the detection up to (not including) the repair.
const AlliancePoint* LowPoint(const AllianceSeries& series,
                              const v1::RuptureState& rupture) {
  const AlliancePoint* low = nullptr;
  for (const AlliancePoint& p : series.points()) {
    if (p.session < rupture.detected_session() ||
        p.session >= rupture.repaired_session()) {
      continue;
    }
    if (low == nullptr || series.Drop(low->total, p.total) > 0) low = &p;
  }
  return low;
}

}  // namespace

absl::Status RepairModule::Evaluate(const engine::RuleInput& input,
                                    engine::RuleOutput& output) const {
  const v1::RuptureState& rupture = output.assessment->rupture();
  if (rupture.status() != v1::RUPTURE_STATUS_REPAIRED ||
      input.history.closed()) {
    return absl::OkStatus();
  }
  std::optional<AllianceSeries> storage;
  const AllianceSeries& series = AllianceSeries::For(input, storage);
  if (series.empty() || series.latest().session != rupture.repaired_session()) {
    return absl::OkStatus();
  }
  const AlliancePoint& now = series.latest();
  const AlliancePoint* low = LowPoint(series, rupture);

  // attune.rupture records the repair threshold as its last evidence.
  const v1::Evidence* target = nullptr;
  if (!rupture.evidence().empty()) {
    const v1::Evidence& last = *rupture.evidence().rbegin();
    if (last.has_threshold() && last.session_number() == now.session) {
      target = &last;
    }
  }

  engine::ProposedPrompt p =
      NewPrompt(kRuptureRepaired, v1::SEVERITY_INFO, kPriority);
  v1::Prompt& prompt = p.prompt;
  std::string dip = low == nullptr
                        ? absl::StrCat("after the rupture flagged in session ",
                                       rupture.detected_session())
                        : absl::StrCat("after a drop to ", Num(low->total),
                                       " in session ", low->session);
  // With a return_fraction below 1 the repair threshold sits under the
  // earlier level; say so rather than overclaim.
  const bool fully_back = series.Drop(rupture.pre_drop_level(), now.total) <= 0;
  SetSummary(prompt,
             absl::StrCat(fully_back ? "Alliance back at its earlier level: "
                                     : "Alliance largely recovered: ",
                          series.label(), " ", Num(now.total), " in session ",
                          now.session, " ", dip, "."));
  prompt.set_detail(absl::StrCat(
      "A rupture was suspected in session ", rupture.detected_session(),
      ". The client's ", series.label(), " was ", Num(rupture.pre_drop_level()),
      " before the drop",
      low == nullptr ? ""
                     : absl::StrCat(", fell to ", Num(low->total), " (session ",
                                    low->session, ")"),
      " and is now ", Num(now.total), " (session ", now.session, ")",
      target == nullptr ? ""
                        : absl::StrCat(", meeting the repair threshold of ",
                                       Num(target->threshold())),
      ". A drop followed by a "
      "return is what a repaired rupture looks like in session ratings, and "
      "repair goes with better outcome."));
  AddAction(prompt, "name_repair", "Name the repair with the client");
  AddAction(prompt, "note_what_helped", "Note what helped, for next time");
  prompt.set_reflective_question(
      "What did you do in the repair that the client may have felt was "
      "genuine, and how can you keep doing it?");
  for (const v1::Evidence& e : rupture.evidence()) {
    if (e.session_number() == now.session) *prompt.add_evidence() = e;
  }
  *prompt.add_evidence() =
      ValueEvidence("pre_drop_level", rupture.pre_drop_level(),
                    rupture.detected_session(), "level before the drop");
  AddReference(prompt, refs::kSafran2011);
  AddReference(prompt, refs::kGumz2012);
  // Points regained from the low point.
  p.strength = low == nullptr ? 0 : -series.Drop(low->total, now.total);
  output.prompts.push_back(std::move(p));
  return absl::OkStatus();
}

}  // namespace attune::builtin
