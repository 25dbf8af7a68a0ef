#include "service/engine/prompt_reconciler.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/strings/str_format.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "google/protobuf/util/message_differencer.h"
#include "service/engine/episode_history.h"

namespace attune::engine {
namespace {

using google::protobuf::util::MessageDifferencer;

bool Visible(v1::PromptStatus s) {
  return s == v1::PROMPT_STATUS_ACTIVE || s == v1::PROMPT_STATUS_ACKNOWLEDGED;
}

bool Quiet(v1::PromptStatus s) {
  return s == v1::PROMPT_STATUS_DISMISSED || s == v1::PROMPT_STATUS_SNOOZED;
}

v1::PromptScope StoredScope(v1::PromptScope s) {
  return s == v1::PROMPT_SCOPE_UNSPECIFIED ? v1::PROMPT_SCOPE_EPISODE : s;
}

// Moves what a module decides (content) onto a stored prompt. `from` is the
// reconciler's own copy of the proposal, used once.
void MoveContent(v1::Prompt& from, v1::Prompt& to) {
  to.set_severity(from.severity());
  to.set_summary(std::move(*from.mutable_summary()));
  to.set_detail(std::move(*from.mutable_detail()));
  *to.mutable_actions() = std::move(*from.mutable_actions());
  to.set_reflective_question(std::move(*from.mutable_reflective_question()));
  *to.mutable_evidence() = std::move(*from.mutable_evidence());
  *to.mutable_references() = std::move(*from.mutable_references());
  to.set_priority(from.priority());
  to.set_scope(StoredScope(from.scope()));
}

bool CooldownOver(const v1::Prompt& p, const ReconcileInput& in) {
  if (p.status() == v1::PROMPT_STATUS_SNOOZED) {
    return in.now >= ToTime(p.snoozed_until());
  }
  return in.session - p.updated_at_session() >=
         in.budget.dismiss_cooldown_sessions();
}

// Equality exactly as MessageDifferencer::Equals sees it, without its
// reflection (which, with the copies it needed, was most of the cost of a
// reconciliation). Its default semantics, field by field:
//  - a proto3 scalar counts as set when non-zero; for a double that means
//    its bits, so -0.0 is set and differs from an unset 0.0;
//  - set doubles compare with ==, so NaN differs even from itself;
//  - unknown fields count: a message carrying any is left to the
//    differencer.
// prompt_reconciler_test pins the field counts of these messages, so a new
// field fails it until it is added here.
bool SameDouble(double a, double b) {
  const bool a_set = std::bit_cast<uint64_t>(a) != 0;
  const bool b_set = std::bit_cast<uint64_t>(b) != 0;
  return a_set == b_set && (!a_set || a == b);
}

template <typename M>
bool HasUnknown(const M& a, const M& b) {
  // Looked up once: GetReflection() goes through the descriptor pool.
  static const google::protobuf::Reflection* const reflection =
      M::GetReflection();
  return !reflection->GetUnknownFields(a).empty() ||
         !reflection->GetUnknownFields(b).empty();
}

bool Same(const v1::SuggestedAction& a, const v1::SuggestedAction& b) {
  if (HasUnknown(a, b)) return MessageDifferencer::Equals(a, b);
  return a.id() == b.id() && a.label() == b.label();
}

bool Same(const v1::Reference& a, const v1::Reference& b) {
  if (HasUnknown(a, b)) return MessageDifferencer::Equals(a, b);
  return a.citation() == b.citation() && a.url() == b.url();
}

bool Same(const v1::Evidence& a, const v1::Evidence& b) {
  if (HasUnknown(a, b)) return MessageDifferencer::Equals(a, b);
  return a.name() == b.name() && SameDouble(a.value(), b.value()) &&
         SameDouble(a.threshold(), b.threshold()) &&
         a.has_threshold() == b.has_threshold() &&
         a.comparison() == b.comparison() &&
         a.session_number() == b.session_number() && a.note() == b.note();
}

bool Same(const v1::EpisodeRef& a, const v1::EpisodeRef& b) {
  if (HasUnknown(a, b)) return MessageDifferencer::Equals(a, b);
  return a.client_id() == b.client_id() &&
         a.clinician_id() == b.clinician_id() &&
         a.episode_id() == b.episode_id();
}

// Repeated fields compare as lists, element by element.
template <typename M>
bool Same(const google::protobuf::RepeatedPtrField<M>& a,
          const google::protobuf::RepeatedPtrField<M>& b) {
  if (a.size() != b.size()) return false;
  for (int i = 0; i < a.size(); ++i) {
    if (!Same(a.Get(i), b.Get(i))) return false;
  }
  return true;
}

// True when copying `content` onto `p` (MoveContent) changes it.
bool ContentDiffers(const v1::Prompt& content, const v1::Prompt& p) {
  return content.severity() != p.severity() ||
         content.priority() != p.priority() ||
         StoredScope(content.scope()) != p.scope() ||
         content.summary() != p.summary() || content.detail() != p.detail() ||
         content.reflective_question() != p.reflective_question() ||
         !Same(content.actions(), p.actions()) ||
         !Same(content.evidence(), p.evidence()) ||
         !Same(content.references(), p.references());
}

// True when the differencer finds `p` unequal to an identical copy of
// itself: a NaN in one of its doubles. Such a prompt has always been
// reported as changed, and still is.
bool UnequalToItself(const v1::Prompt& p) {
  if (std::isnan(p.strength())) return true;
  for (const v1::Evidence& e : p.evidence()) {
    if (std::isnan(e.value()) || std::isnan(e.threshold())) return true;
  }
  return false;
}

// What the reconciler knows of one kind of prompt in this evaluation.
struct KindState {
  // Points into a prompt or a proposal of the kind; both outlive this.
  std::string_view kind;
  // Prompts of the kind so far, for the ordinal in new ids.
  int count = 0;
  // Index of the open (non-terminal) prompt, -1 for none.
  std::ptrdiff_t open = -1;
  // Proposals of the kind in this evaluation.
  int proposals = 0;
};

// How an existing prompt compares with what was passed in. A step that
// changes a prompt for good (a new episode reference, expiry, resolution, a
// single update) marks it `changed`; otherwise only its status can have
// moved (the budget) -- except for a prompt updated by several proposals of
// one kind, which is compared with a copy of what it was.
struct Track {
  v1::PromptStatus status = v1::PROMPT_STATUS_UNSPECIFIED;
  bool changed = false;
  // Index of the copy in `befores`, -1 for none.
  int before = -1;
};

}  // namespace

bool IsTerminal(v1::PromptStatus s) {
  return s == v1::PROMPT_STATUS_RESOLVED || s == v1::PROMPT_STATUS_EXPIRED;
}

bool HigherPriority(const v1::Prompt& a, const v1::Prompt& b) {
  if (a.severity() != b.severity()) return a.severity() > b.severity();
  if (a.priority() != b.priority()) return a.priority() > b.priority();
  if (a.created_at().seconds() != b.created_at().seconds()) {
    return a.created_at().seconds() < b.created_at().seconds();
  }
  return a.id() < b.id();
}

std::string MakePromptId(const std::string& tenant,
                         const std::string& scope_key, const std::string& kind,
                         int ordinal) {
  // FNV-1a 64 over the parts with separators: stable across runs and
  // platforms, unlike std::hash.
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](const std::string& s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ULL;
    }
    h ^= 0xff;
    h *= 1099511628211ULL;
  };
  mix(tenant);
  mix(scope_key);
  mix(kind);
  mix(std::to_string(ordinal));
  return absl::StrFormat("p-%016x", h);
}

std::string ClinicianPromptScope(const std::string& clinician_id,
                                 absl::CivilDay utc_day) {
  return absl::StrCat("clinician:", clinician_id, ":",
                      absl::FormatCivilTime(utc_day));
}

std::vector<v1::Prompt> VisiblePrompts(const std::vector<v1::Prompt>& prompts) {
  std::vector<v1::Prompt> out;
  for (const auto& p : prompts) {
    if (Visible(p.status())) out.push_back(p);
  }
  std::sort(out.begin(), out.end(), HigherPriority);
  return out;
}

ReconcileResult Reconcile(ReconcileInput in) {
  std::vector<v1::Prompt> prompts = std::move(in.existing);
  const size_t existing = prompts.size();
  const google::protobuf::Timestamp now = ToProto(in.now);
  const absl::Duration ttl = absl::Hours(24) * in.budget.prompt_ttl_days();
  const google::protobuf::Timestamp expires = ToProto(in.now + ttl);

  std::vector<Track> track(existing);
  for (size_t i = 0; i < existing; ++i) track[i].status = prompts[i].status();
  std::vector<v1::Prompt> befores;

  // One state per kind, sorted by kind for lookup: no strings copied, no
  // node allocations.
  std::vector<KindState> kinds;
  kinds.reserve(existing + in.proposals.size());
  for (const v1::Prompt& p : prompts) kinds.push_back({.kind = p.kind()});
  for (const ModuleProposal& mp : in.proposals) {
    kinds.push_back({.kind = mp.proposal.prompt.kind()});
  }
  std::sort(
      kinds.begin(), kinds.end(),
      [](const KindState& a, const KindState& b) { return a.kind < b.kind; });
  kinds.erase(std::unique(kinds.begin(), kinds.end(),
                          [](const KindState& a, const KindState& b) {
                            return a.kind == b.kind;
                          }),
              kinds.end());
  // Every kind looked up is in `kinds`.
  auto find = [&kinds](std::string_view kind) -> KindState& {
    return *std::lower_bound(
        kinds.begin(), kinds.end(), kind,
        [](const KindState& k, std::string_view v) { return k.kind < v; });
  };
  for (const ModuleProposal& mp : in.proposals) {
    ++find(mp.proposal.prompt.kind()).proposals;
  }

  // Open (non-terminal) prompt by kind; count of all by kind for ids.
  for (size_t i = 0; i < existing; ++i) {
    v1::Prompt& p = prompts[i];
    KindState& k = find(p.kind());
    ++k.count;
    // A dismissed or snoozed prompt never expires: it is off screen, and
    // when its quiet period ends it either comes back (same id) or
    // resolves, below.
    const bool quiet = Quiet(p.status());
    if (!IsTerminal(p.status()) && p.scope() != v1::PROMPT_SCOPE_CLINICIAN &&
        !Same(p.episode(), in.episode)) {
      // The episode's current reference (a transfer changes the clinician).
      *p.mutable_episode() = in.episode;
      track[i].changed = true;
    }
    if (!IsTerminal(p.status()) && !quiet && in.now >= ToTime(p.expires_at())) {
      p.set_status(v1::PROMPT_STATUS_EXPIRED);
      p.set_updated_at_session(in.session);
      *p.mutable_updated_at() = now;
      track[i].changed = true;
    }
    if (!IsTerminal(p.status())) k.open = static_cast<std::ptrdiff_t>(i);
  }

  // At most one new prompt per kind without an open one. Reserved so that
  // `prompts` never reallocates under the KindState views into it.
  size_t new_kinds = 0;
  for (const KindState& k : kinds) new_kinds += k.proposals > 0 && k.open < 0;
  if (new_kinds > 0) prompts.reserve(prompts.size() + new_kinds);

  std::optional<std::string> shadow_scope;
  for (ModuleProposal& mp : in.proposals) {
    v1::Prompt& content = mp.proposal.prompt;
    KindState& k = find(content.kind());
    if (k.open < 0) {
      v1::Prompt p;
      // Shadow prompts have ids of their own, so a module moving between
      // shadow and live never takes over the other side's prompt.
      if (in.shadow && !shadow_scope) {
        shadow_scope = "shadow:" + in.episode.episode_id();
      }
      p.set_id(MakePromptId(in.tenant,
                            in.shadow ? *shadow_scope : in.episode.episode_id(),
                            content.kind(), ++k.count));
      p.set_shadow(in.shadow);
      p.set_kind(content.kind());
      MoveContent(content, p);
      p.set_module_id(mp.module_id);
      p.set_module_version(mp.module_version);
      p.set_status(v1::PROMPT_STATUS_QUEUED);  // the budget decides below
      *p.mutable_episode() = in.episode;
      p.set_raised_at_session(std::max(in.session, in.raised_session));
      p.set_updated_at_session(in.session);
      *p.mutable_created_at() = now;
      *p.mutable_updated_at() = now;
      *p.mutable_expires_at() = expires;
      p.set_strength(mp.proposal.strength);
      k.open = static_cast<std::ptrdiff_t>(prompts.size());
      prompts.push_back(std::move(p));
      continue;
    }
    const size_t index = static_cast<size_t>(k.open);
    v1::Prompt& p = prompts[index];
    const bool quiet = Quiet(p.status());
    const bool stronger = content.severity() > p.severity() ||
                          mp.proposal.strength > p.strength();
    if (quiet && !stronger && !CooldownOver(p, in)) continue;
    // The update, decided before anything is copied: most repeats change
    // nothing.
    v1::PromptStatus status = p.status();
    if (quiet) {
      status = v1::PROMPT_STATUS_QUEUED;
    } else if (status == v1::PROMPT_STATUS_ACKNOWLEDGED &&
               content.severity() > p.severity()) {
      status = v1::PROMPT_STATUS_QUEUED;  // escalated: show again
    }
    const double strength = quiet
                                ? mp.proposal.strength
                                : std::max(p.strength(), mp.proposal.strength);
    if (status == p.status() && !(quiet && p.has_snoozed_until()) &&
        SameDouble(strength, p.strength()) &&
        mp.module_version == p.module_version() &&
        !ContentDiffers(content, p)) {
      continue;
    }
    if (index < existing) {
      Track& t = track[index];
      if (k.proposals == 1) {
        t.changed = true;
      } else if (!t.changed && t.before < 0) {
        // A later proposal of the kind may undo this one.
        t.before = static_cast<int>(befores.size());
        befores.push_back(p);
      }
    }
    MoveContent(content, p);
    p.set_module_version(mp.module_version);
    p.set_strength(strength);
    p.set_status(status);
    if (quiet) p.clear_snoozed_until();
    p.set_updated_at_session(in.session);
    *p.mutable_updated_at() = now;
    *p.mutable_expires_at() = expires;
  }

  // Conditions that cleared. A dismissed or snoozed prompt keeps its status
  // through the cool-down, so that a quick recurrence stays quiet.
  for (const KindState& k : kinds) {
    if (k.proposals > 0 || k.open < 0) continue;
    const size_t index = static_cast<size_t>(k.open);
    v1::Prompt& p = prompts[index];
    if (std::find(in.failed_modules.begin(), in.failed_modules.end(),
                  p.module_id()) != in.failed_modules.end()) {
      continue;
    }
    if (Quiet(p.status()) && !CooldownOver(p, in)) continue;
    p.set_status(v1::PROMPT_STATUS_RESOLVED);
    p.set_updated_at_session(in.session);
    *p.mutable_updated_at() = now;
    track[index].changed = true;  // only existing prompts can be unproposed
  }

  // The budget: at most N prompts per episode ask for attention (ACTIVE),
  // by priority; the rest wait (QUEUED). Acknowledged prompts stay visible
  // without taking a slot: the clinician has already taken them in.
  int slots = in.budget.max_visible_per_episode();
  std::vector<size_t> candidates;
  candidates.reserve(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    v1::PromptStatus s = prompts[i].status();
    if (s == v1::PROMPT_STATUS_ACTIVE || s == v1::PROMPT_STATUS_QUEUED) {
      candidates.push_back(i);
    }
  }
  std::sort(candidates.begin(), candidates.end(), [&](size_t a, size_t b) {
    return HigherPriority(prompts[a], prompts[b]);
  });
  for (size_t i : candidates) {
    prompts[i].set_status(slots-- > 0 ? v1::PROMPT_STATUS_ACTIVE
                                      : v1::PROMPT_STATUS_QUEUED);
  }

  ReconcileResult result;
  for (size_t i = 0; i < prompts.size(); ++i) {
    bool changed = true;  // new
    if (i < existing) {
      const Track& t = track[i];
      if (t.changed) {
        changed = true;
      } else if (t.before >= 0) {
        changed = !MessageDifferencer::Equals(prompts[i], befores[t.before]);
      } else {
        changed =
            prompts[i].status() != t.status || UnequalToItself(prompts[i]);
      }
    }
    if (changed) result.changed.push_back(prompts[i]);
  }
  result.prompts = std::move(prompts);
  return result;
}

absl::Status ApplyFeedback(const v1::PromptFeedback& feedback, absl::Time at,
                           int session, std::vector<v1::Prompt>& prompts,
                           v1::Prompt* changed) {
  for (v1::Prompt& p : prompts) {
    if (p.id() != feedback.prompt_id()) continue;
    if (IsTerminal(p.status())) {
      return absl::FailedPreconditionError(
          "prompt_feedback.prompt_id: the prompt is already resolved or "
          "expired");
    }
    switch (feedback.outcome()) {
      case v1::PromptFeedback::OUTCOME_ACCEPTED:
        p.set_status(v1::PROMPT_STATUS_ACKNOWLEDGED);
        break;
      case v1::PromptFeedback::OUTCOME_DISMISSED:
        p.set_status(v1::PROMPT_STATUS_DISMISSED);
        break;
      case v1::PromptFeedback::OUTCOME_SNOOZED:
        p.set_status(v1::PROMPT_STATUS_SNOOZED);
        *p.mutable_snoozed_until() = feedback.snooze_until();
        break;
      default:
        return absl::InvalidArgumentError(
            "prompt_feedback.outcome: is required");
    }
    p.set_updated_at_session(session);
    *p.mutable_updated_at() = ToProto(at);
    if (changed != nullptr) *changed = p;
    return absl::OkStatus();
  }
  return absl::NotFoundError(
      "prompt_feedback.prompt_id: no such prompt in this episode");
}

}  // namespace attune::engine
