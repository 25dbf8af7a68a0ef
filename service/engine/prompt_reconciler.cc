#include "service/engine/prompt_reconciler.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>

#include "absl/strings/str_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "service/engine/episode_history.h"

namespace attune::engine {
namespace {

bool Visible(v1::PromptStatus s) {
  return s == v1::PROMPT_STATUS_ACTIVE || s == v1::PROMPT_STATUS_ACKNOWLEDGED;
}

// Copies what a module decides (content) onto a stored prompt.
void CopyContent(const v1::Prompt& from, v1::Prompt& to) {
  to.set_severity(from.severity());
  to.set_summary(from.summary());
  to.set_detail(from.detail());
  *to.mutable_actions() = from.actions();
  to.set_reflective_question(from.reflective_question());
  *to.mutable_evidence() = from.evidence();
  *to.mutable_references() = from.references();
  to.set_priority(from.priority());
  to.set_scope(from.scope() == v1::PROMPT_SCOPE_UNSPECIFIED
                   ? v1::PROMPT_SCOPE_EPISODE
                   : from.scope());
}

bool CooldownOver(const v1::Prompt& p, const ReconcileInput& in) {
  if (p.status() == v1::PROMPT_STATUS_SNOOZED) {
    return in.now >= ToTime(p.snoozed_until());
  }
  return in.session - p.updated_at_session() >=
         in.budget.dismiss_cooldown_sessions();
}

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
  std::vector<v1::Prompt> before = prompts;
  google::protobuf::Timestamp now = ToProto(in.now);
  absl::Duration ttl = absl::Hours(24) * in.budget.prompt_ttl_days();

  // Open (non-terminal) prompt index by kind; count of all by kind for ids.
  std::map<std::string, size_t> open;
  std::map<std::string, int> ordinal;
  for (size_t i = 0; i < prompts.size(); ++i) {
    v1::Prompt& p = prompts[i];
    ++ordinal[p.kind()];
    // A dismissed or snoozed prompt never expires: it is off screen, and
    // when its quiet period ends it either comes back (same id) or
    // resolves, below.
    bool quiet = p.status() == v1::PROMPT_STATUS_DISMISSED ||
                 p.status() == v1::PROMPT_STATUS_SNOOZED;
    if (!IsTerminal(p.status()) && p.scope() != v1::PROMPT_SCOPE_CLINICIAN &&
        !google::protobuf::util::MessageDifferencer::Equals(p.episode(),
                                                            in.episode)) {
      // The episode's current reference (a transfer changes the clinician).
      *p.mutable_episode() = in.episode;
    }
    if (!IsTerminal(p.status()) && !quiet && in.now >= ToTime(p.expires_at())) {
      p.set_status(v1::PROMPT_STATUS_EXPIRED);
      p.set_updated_at_session(in.session);
      *p.mutable_updated_at() = now;
    }
    if (!IsTerminal(p.status())) open[p.kind()] = i;
  }

  std::map<std::string, bool> proposed;
  for (const ModuleProposal& mp : in.proposals) {
    const v1::Prompt& content = mp.proposal.prompt;
    proposed[content.kind()] = true;
    auto it = open.find(content.kind());
    if (it == open.end()) {
      v1::Prompt p;
      // Shadow prompts have ids of their own, so a module moving between
      // shadow and live never takes over the other side's prompt.
      p.set_id(MakePromptId(in.tenant,
                            in.shadow ? "shadow:" + in.episode.episode_id()
                                      : in.episode.episode_id(),
                            content.kind(), ++ordinal[content.kind()]));
      p.set_shadow(in.shadow);
      p.set_kind(content.kind());
      CopyContent(content, p);
      p.set_module_id(mp.module_id);
      p.set_module_version(mp.module_version);
      p.set_status(v1::PROMPT_STATUS_QUEUED);  // the budget decides below
      *p.mutable_episode() = in.episode;
      p.set_raised_at_session(std::max(in.session, in.raised_session));
      p.set_updated_at_session(in.session);
      *p.mutable_created_at() = now;
      *p.mutable_updated_at() = now;
      *p.mutable_expires_at() = ToProto(in.now + ttl);
      p.set_strength(mp.proposal.strength);
      open[p.kind()] = prompts.size();
      prompts.push_back(std::move(p));
      continue;
    }
    v1::Prompt& p = prompts[it->second];
    bool quiet = p.status() == v1::PROMPT_STATUS_DISMISSED ||
                 p.status() == v1::PROMPT_STATUS_SNOOZED;
    bool stronger = content.severity() > p.severity() ||
                    mp.proposal.strength > p.strength();
    if (quiet && !stronger && !CooldownOver(p, in)) continue;
    v1::Prompt updated = p;
    CopyContent(content, updated);
    updated.set_module_version(mp.module_version);
    updated.set_strength(std::max(updated.strength(), mp.proposal.strength));
    if (quiet) {
      updated.set_status(v1::PROMPT_STATUS_QUEUED);
      updated.clear_snoozed_until();
      updated.set_strength(mp.proposal.strength);
    } else if (updated.status() == v1::PROMPT_STATUS_ACKNOWLEDGED &&
               content.severity() > p.severity()) {
      updated.set_status(v1::PROMPT_STATUS_QUEUED);  // escalated: show again
    }
    if (!google::protobuf::util::MessageDifferencer::Equals(updated, p)) {
      updated.set_updated_at_session(in.session);
      *updated.mutable_updated_at() = now;
      *updated.mutable_expires_at() = ToProto(in.now + ttl);
      p = std::move(updated);
    }
  }

  // Conditions that cleared. A dismissed or snoozed prompt keeps its status
  // through the cool-down, so that a quick recurrence stays quiet.
  std::set<std::string> failed(in.failed_modules.begin(),
                               in.failed_modules.end());
  for (auto& [kind, index] : open) {
    if (proposed.count(kind)) continue;
    v1::Prompt& p = prompts[index];
    if (failed.count(p.module_id())) continue;
    bool quiet = p.status() == v1::PROMPT_STATUS_DISMISSED ||
                 p.status() == v1::PROMPT_STATUS_SNOOZED;
    if (quiet && !CooldownOver(p, in)) continue;
    p.set_status(v1::PROMPT_STATUS_RESOLVED);
    p.set_updated_at_session(in.session);
    *p.mutable_updated_at() = now;
  }

  // The budget: at most N prompts per episode ask for attention (ACTIVE),
  // by priority; the rest wait (QUEUED). Acknowledged prompts stay visible
  // without taking a slot: the clinician has already taken them in.
  int slots = in.budget.max_visible_per_episode();
  std::vector<size_t> candidates;
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
    if (i >= before.size() ||
        !google::protobuf::util::MessageDifferencer::Equals(prompts[i],
                                                            before[i])) {
      result.changed.push_back(prompts[i]);
    }
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
