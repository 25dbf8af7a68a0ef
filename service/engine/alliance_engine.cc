#include "service/engine/alliance_engine.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/message_differencer.h"
#include "service/common/log.h"
#include "service/common/status_macros.h"
#include "service/engine/event_validator.h"
#include "service/engine/prompt_reconciler.h"
#include "service/engine/shadow_compare.h"

namespace attune::engine {
namespace {

constexpr int kMaxConflictRetries = 3;
// store.episode_cache_mib when a configuration leaves it unset; the same as
// service/config/defaults.textproto.
constexpr int kDefaultEpisodeCacheMib = 64;

// CompareShadow: episodes listed by default / at most, and prompts read per
// side (a bound on the memory one comparison takes).
constexpr int kDefaultShadowEpisodes = 100;
constexpr int kMaxShadowEpisodes = 1000;
constexpr int kMaxComparedPrompts = 50000;

bool IsSessionLifecycle(const v1::SessionEvent& e) {
  switch (e.payload_case()) {
    case v1::SessionEvent::kSessionScheduled:
    case v1::SessionEvent::kSessionHeld:
    case v1::SessionEvent::kSessionCancelled:
    case v1::SessionEvent::kNoShow:
    case v1::SessionEvent::kGoalsAgreed:
    case v1::SessionEvent::kEndingPlanned:
    case v1::SessionEvent::kEpisodeClosed:
      return true;
    default:
      return false;
  }
}

// The session an event is about (0 for episode-level events).
int LatestHeld(const EpisodeHistory& history) {
  std::vector<const SessionRecord*> held = history.HeldSessions();
  return held.empty() ? 0 : held.back()->number;
}

absl::Time UtcDayStart(absl::Time t) {
  absl::CivilDay day = absl::ToCivilDay(t, absl::UTCTimeZone());
  return absl::FromCivil(day, absl::UTCTimeZone());
}

}  // namespace

std::string Fingerprint(const v1::SessionEvent& event) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  event.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

absl::StatusOr<std::unique_ptr<AllianceEngine>> AllianceEngine::Create(
    store::Store* store, v1::ServerConfig config,
    std::vector<std::unique_ptr<RuleModule>> modules, Clock clock) {
  ATTUNE_ASSIGN_OR_RETURN(
      std::shared_ptr<const RuleSet> rules,
      RuleSet::Create(std::move(config), std::move(modules), nullptr, clock()));
  return Create(store, std::move(rules), std::move(clock));
}

std::unique_ptr<AllianceEngine> AllianceEngine::Create(
    store::Store* store, std::shared_ptr<const RuleSet> rules, Clock clock) {
  return std::unique_ptr<AllianceEngine>(
      new AllianceEngine(store, std::move(rules), std::move(clock)));
}

AllianceEngine::AllianceEngine(store::Store* store,
                               std::shared_ptr<const RuleSet> rules,
                               Clock clock)
    : store_(store),
      config_(rules->config()),
      rules_(std::move(rules)),
      clock_(std::move(clock)),
      // Unset (a configuration not merged over the defaults): the default.
      cache_(static_cast<size_t>(config_.store().has_episode_cache_mib()
                                     ? config_.store().episode_cache_mib()
                                     : kDefaultEpisodeCacheMib)
             << 20) {}

std::shared_ptr<const RuleSet> AllianceEngine::rules() const {
  std::lock_guard<std::mutex> lock(rules_mu_);
  return rules_;
}

absl::Status AllianceEngine::InstallRules(std::shared_ptr<const RuleSet> next) {
  std::shared_ptr<const RuleSet> old;
  {
    std::lock_guard<std::mutex> lock(rules_mu_);
    if (next->generation() <= rules_->generation()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "rule set generation ", next->generation(),
          " is not newer than the one serving (", rules_->generation(),
          "); another reload got there first"));
    }
    old = std::exchange(rules_, std::move(next));
  }
  // `old` is released here, outside the lock; requests still holding it
  // keep it alive until they finish.
  return absl::OkStatus();
}

size_t AllianceEngine::EpisodeStripe(const std::string& tenant,
                                     const std::string& episode_id) const {
  size_t h = std::hash<std::string>()(tenant) * 31 +
             std::hash<std::string>()(episode_id);
  return h % episode_locks_.size();
}

absl::Status AllianceEngine::CheckEpisodeConsistency(
    const v1::SessionEvent& event, const store::EpisodeSnapshot& snapshot,
    const EpisodeHistory::Prior& before) const {
  if (!snapshot.exists) return absl::OkStatus();
  // Identifiers are compared, never echoed.
  if (before.episode->client_id() != event.episode().client_id()) {
    return absl::InvalidArgumentError(
        "episode.client_id: differs from the client of this episode");
  }
  if (before.closed) {
    if (IsSessionLifecycle(event)) {
      return absl::FailedPreconditionError(
          "episode: is closed; only late measures, rupture markers and "
          "prompt feedback are accepted");
    }
    int n = SessionOfEvent(event);
    if (n > before.latest_session) {
      return absl::FailedPreconditionError(
          "episode: is closed; late measures and markers must refer to a "
          "session already recorded");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ClinicianDay> AllianceEngine::LoadClinicianDay(
    const std::string& tenant, const v1::SessionEvent& event,
    const BatchState& batch) {
  ClinicianDay day;
  if (!event.has_session_held()) return day;
  absl::Time start = ToTime(event.session_held().start());
  absl::Time from = UtcDayStart(start);
  absl::Time to = from + absl::Hours(24);
  const std::string& clinician_id = event.episode().clinician_id();
  const BatchState::HeldKey self{event.episode().episode_id(),
                                 event.session_held().session_number()};
  ATTUNE_ASSIGN_OR_RETURN(
      std::vector<store::HeldSession> held,
      store_->ListClinicianSessions(tenant, clinician_id, from, to));
  for (const auto& s : held) {
    const BatchState::HeldKey key{s.episode_id, s.session_number};
    // Replaced by the event being processed, or by one prepared earlier in
    // the batch (whose commit the store may not have applied yet).
    if (key == self || batch.held.count(key)) continue;
    day.sessions.push_back({s.start, s.end});
  }
  for (const auto& [key, s] : batch.held) {
    if (key == self || s.clinician_id != clinician_id || s.start < from ||
        s.start >= to) {
      continue;
    }
    day.sessions.push_back({s.start, s.end});
  }
  day.sessions.push_back({start, ToTime(event.session_held().end())});
  std::sort(day.sessions.begin(), day.sessions.end(),
            [](const ClinicianSession& a, const ClinicianSession& b) {
              return a.start < b.start;
            });
  return day;
}

void AllianceEngine::BatchState::Add(const store::EventCommit& commit) {
  event_ids.insert(commit.event.event_id());
  if (commit.event.has_session_held()) {
    const v1::SessionHeld& h = commit.event.session_held();
    held[{commit.event.episode().episode_id(), h.session_number()}] = {
        commit.event.episode().clinician_id(), ToTime(h.start()),
        ToTime(h.end())};
  }
  for (const v1::Prompt& p : commit.prompt_upserts) {
    if (!p.shadow() && p.scope() == v1::PROMPT_SCOPE_CLINICIAN) {
      clinician_prompts[p.id()] = p;
    }
  }
}

absl::StatusOr<AllianceEngine::Prepared> AllianceEngine::Prepare(
    const RuleSet& set, const std::string& tenant,
    const v1::SessionEvent& event, store::EpisodeSnapshot& snapshot,
    const BatchState& batch, bool server_stamped_time) {
  std::string fingerprint = Fingerprint(event);
  ATTUNE_ASSIGN_OR_RETURN(std::optional<store::StoredEvent> stored,
                          store_->FindEvent(tenant, event.event_id()));
  if (stored.has_value()) {
    if (stored->fingerprint != fingerprint && server_stamped_time) {
      // The server chose occurred_at (and the episode reference, from the
      // prompt) for this retry: compare what the caller sent.
      v1::SessionEvent same_time = event;
      *same_time.mutable_occurred_at() = stored->event.occurred_at();
      *same_time.mutable_episode() = stored->event.episode();
      if (Fingerprint(same_time) == stored->fingerprint) {
        fingerprint = stored->fingerprint;
      }
    }
    if (stored->fingerprint != fingerprint) {
      return absl::AlreadyExistsError(
          "event_id: already used for a different event");
    }
    Prepared replay;
    replay.response = std::move(stored->response);
    replay.response.set_replayed(true);
    replay.replayed = true;
    return replay;
  }
  for (const auto& e : snapshot.events) {
    if (e.event_id() == event.event_id()) {
      return absl::AlreadyExistsError(
          "event_id: appears more than once in this batch");
    }
  }
  // Prepared for another episode earlier in the batch: what FindEvent
  // reports once that commit is applied.
  if (batch.event_ids.count(event.event_id())) {
    return absl::AlreadyExistsError(
        "event_id: already used for a different event");
  }

  // One fold per event: the episode's events are moved in, this one added,
  // and the vector is moved back into `snapshot` whatever happens, without
  // this event unless it was prepared.
  std::vector<v1::SessionEvent> events = std::move(snapshot.events);
  events.push_back(event);
  EpisodeHistory history =
      EpisodeHistory::FoldWithNew(std::move(events), set.instruments());
  absl::StatusOr<Prepared> out =
      Evaluate(set, tenant, event, snapshot, batch, history);
  snapshot.events = std::move(history).ReleaseEvents();
  if (!out.ok()) {
    // Event ids are unique in the episode (checked above).
    auto it = std::find_if(snapshot.events.begin(), snapshot.events.end(),
                           [&](const v1::SessionEvent& e) {
                             return e.event_id() == event.event_id();
                           });
    if (it != snapshot.events.end()) snapshot.events.erase(it);
    return out;
  }
  out->commit.tenant = tenant;
  out->commit.fingerprint = std::move(fingerprint);
  out->commit.expected_version = snapshot.version;
  snapshot.exists = true;
  snapshot.version += 1;
  snapshot.prompts = std::move(out->prompts);
  out->prompts.clear();
  snapshot.assessment = out->commit.assessment;
  return out;
}

absl::StatusOr<AllianceEngine::Prepared> AllianceEngine::Evaluate(
    const RuleSet& set, const std::string& tenant,
    const v1::SessionEvent& event, const store::EpisodeSnapshot& snapshot,
    const BatchState& batch, const EpisodeHistory& history) {
  ATTUNE_RETURN_IF_ERROR(
      CheckEpisodeConsistency(event, snapshot, history.prior()));
  Prepared out;

  // Clinician-scoped prompts live beside the episode's but outside its
  // alert budget.
  // Shadow modules' would-be prompts are reconciled on their own and never
  // reach the response, the watchers or the budget of the live ones.
  std::vector<v1::Prompt> episode_prompts;
  std::vector<v1::Prompt> clinician_prompts;
  std::vector<v1::Prompt> shadow_prompts;
  for (const v1::Prompt& p : snapshot.prompts) {
    if (p.shadow()) {
      shadow_prompts.push_back(p);
      continue;
    }
    if (p.scope() == v1::PROMPT_SCOPE_CLINICIAN) {
      // Another episode of the batch may have changed it since it was read.
      auto pending = batch.clinician_prompts.find(p.id());
      clinician_prompts.push_back(
          pending == batch.clinician_prompts.end() ? p : pending->second);
      continue;
    }
    episode_prompts.push_back(p);
  }
  std::optional<v1::Prompt> feedback_changed;
  if (event.has_prompt_feedback()) {
    v1::Prompt changed;
    std::vector<v1::Prompt>& target =
        std::any_of(clinician_prompts.begin(), clinician_prompts.end(),
                    [&](const v1::Prompt& p) {
                      return p.id() == event.prompt_feedback().prompt_id();
                    })
            ? clinician_prompts
            : episode_prompts;
    ATTUNE_RETURN_IF_ERROR(
        ApplyFeedback(event.prompt_feedback(), ToTime(event.occurred_at()),
                      LatestHeld(history), target, &changed));
    feedback_changed = changed;
    store::FeedbackRecord record;
    record.prompt_id = changed.id();
    record.module_id = changed.module_id();
    record.kind = changed.kind();
    record.outcome = event.prompt_feedback().outcome();
    record.reason = event.prompt_feedback().reason();
    record.occurred_at = ToTime(event.occurred_at());
    out.commit.feedback = std::move(record);
  }

  ATTUNE_ASSIGN_OR_RETURN(ClinicianDay day,
                          LoadClinicianDay(tenant, event, batch));
  const v1::RulesConfig& rules = set.RulesFor(tenant);
  RuleInput input{history, event, rules, day};
  PipelineResult result = set.pipeline().Run(input);
  for (const std::string& failed : result.failed_modules) {
    // A shadow module is never allowed to affect what happens live.
    if (!result.shadow_modules.count(failed) && FailsRequests(rules, failed)) {
      return absl::UnavailableError(absl::StrCat(
          "rule module ", failed,
          " failed and its policy fails the request; nothing was stored, "
          "retry with the same event_id"));
    }
  }

  v1::Assessment& a = result.assessment;
  *a.mutable_episode() = history.episode();
  a.set_latest_session(history.latest_session());
  a.set_sessions_held(history.sessions_held());
  a.set_event_count(static_cast<int32_t>(history.events().size()));
  *a.mutable_as_of() = ToProto(history.latest_time());

  ReconcileInput rin;
  rin.tenant = tenant;
  rin.episode = history.episode();
  rin.existing = std::move(episode_prompts);
  rin.now = history.latest_clinical_time() == absl::InfinitePast()
                ? history.latest_time()
                : history.latest_clinical_time();
  rin.session = LatestHeld(history);
  rin.raised_session = SessionOfEvent(event);
  rin.failed_modules = result.failed_modules;
  rin.budget = rules.budget();
  // The same settings over the shadow prompts (built field by field: a copy
  // of `rin` would copy every live prompt only to discard it).
  ReconcileInput shadow_in;
  shadow_in.tenant = rin.tenant;
  shadow_in.episode = rin.episode;
  shadow_in.existing = std::move(shadow_prompts);
  shadow_in.now = rin.now;
  shadow_in.session = rin.session;
  shadow_in.raised_session = rin.raised_session;
  shadow_in.budget = rin.budget;
  shadow_in.failed_modules = rin.failed_modules;
  shadow_in.shadow = true;
  std::vector<ModuleProposal> clinician_proposals;
  for (ModuleProposal& mp : result.proposals) {
    if (mp.shadow) {
      shadow_in.proposals.push_back(std::move(mp));
      continue;
    }
    (mp.proposal.prompt.scope() == v1::PROMPT_SCOPE_CLINICIAN
         ? clinician_proposals
         : rin.proposals)
        .push_back(std::move(mp));
  }
  ReconcileResult reconciled = Reconcile(std::move(rin));
  std::vector<v1::Prompt> changed = std::move(reconciled.changed);
  ReconcileResult shadow = Reconcile(std::move(shadow_in));

  // A clinician prompt is one per (clinician, kind, UTC day), whichever
  // episode raised it.
  for (const ModuleProposal& mp : clinician_proposals) {
    absl::Time day_start = UtcDayStart(ToTime(event.occurred_at()));
    std::string id = MakePromptId(
        tenant,
        ClinicianPromptScope(event.episode().clinician_id(),
                             absl::ToCivilDay(day_start, absl::UTCTimeZone())),
        mp.proposal.prompt.kind(), 1);
    // This episode's copy first, then the batch's: they include changes
    // not yet committed (earlier events of the same batch). The clinician
    // locks held by SubmitBatch keep other batches from writing it
    // meanwhile.
    std::optional<v1::Prompt> existing;
    for (const v1::Prompt& c : clinician_prompts) {
      if (c.id() == id) existing = c;
    }
    if (!existing) {
      auto pending = batch.clinician_prompts.find(id);
      if (pending != batch.clinician_prompts.end()) existing = pending->second;
    }
    if (!existing) {
      ATTUNE_ASSIGN_OR_RETURN(existing, store_->GetPrompt(tenant, id));
    }
    v1::Prompt p = existing.value_or(mp.proposal.prompt);
    if (!existing) {
      p.set_id(id);
      p.set_status(v1::PROMPT_STATUS_ACTIVE);
      p.set_module_id(mp.module_id);
      p.set_module_version(mp.module_version);
      *p.mutable_episode() = event.episode();
      p.set_raised_at_session(LatestHeld(history));
      *p.mutable_created_at() = event.occurred_at();
      *p.mutable_expires_at() = ToProto(day_start + absl::Hours(48));
    } else if (IsTerminal(p.status())) {
      continue;
    } else {
      v1::Prompt content = mp.proposal.prompt;
      p.set_summary(content.summary());
      p.set_detail(content.detail());
      *p.mutable_evidence() = content.evidence();
    }
    p.set_scope(v1::PROMPT_SCOPE_CLINICIAN);
    p.set_strength(mp.proposal.strength);
    p.set_updated_at_session(LatestHeld(history));
    *p.mutable_updated_at() = event.occurred_at();
    if (existing &&
        google::protobuf::util::MessageDifferencer::Equals(*existing, p)) {
      continue;
    }
    bool replaced = false;
    for (v1::Prompt& c : clinician_prompts) {
      if (c.id() == p.id()) {
        c = p;
        replaced = true;
      }
    }
    if (!replaced && p.episode().episode_id() == event.episode().episode_id()) {
      clinician_prompts.push_back(p);
    }
    changed.push_back(std::move(p));
  }
  if (feedback_changed &&
      std::none_of(changed.begin(), changed.end(), [&](const v1::Prompt& p) {
        return p.id() == feedback_changed->id();
      })) {
    for (const auto& list : {reconciled.prompts, clinician_prompts}) {
      for (const v1::Prompt& p : list) {
        if (p.id() == feedback_changed->id()) changed.push_back(p);
      }
    }
  }

  std::vector<v1::Prompt> all = std::move(reconciled.prompts);
  all.insert(all.end(), clinician_prompts.begin(), clinician_prompts.end());
  for (v1::Prompt& p : VisiblePrompts(all)) {
    *out.response.add_prompts() = std::move(p);
  }
  for (const v1::Prompt& p : changed) *out.response.add_changed() = p;
  *out.response.mutable_assessment() = a;

  out.commit.event = event;
  out.commit.response = out.response;
  out.commit.assessment = std::move(a);
  out.commit.prompt_upserts = std::move(changed);
  out.commit.prompt_upserts.insert(
      out.commit.prompt_upserts.end(),
      std::make_move_iterator(shadow.changed.begin()),
      std::make_move_iterator(shadow.changed.end()));
  all.insert(all.end(), std::make_move_iterator(shadow.prompts.begin()),
             std::make_move_iterator(shadow.prompts.end()));
  out.prompts = std::move(all);
  return out;
}

absl::StatusOr<store::EpisodeSnapshot> AllianceEngine::LoadForUpdate(
    const std::string& tenant, const std::string& episode_id) {
  if (std::optional<store::EpisodeSnapshot> cached =
          cache_.Take(tenant, episode_id)) {
    ATTUNE_ASSIGN_OR_RETURN(int64_t stored,
                            store_->EpisodeVersion(tenant, episode_id));
    if (stored == cached->version) {
      // Another episode of the same clinician may have updated a
      // clinician-scoped prompt this one raised, without touching this
      // episode's version.
      std::vector<v1::Prompt>& prompts = cached->prompts;
      for (size_t i = 0; i < prompts.size();) {
        if (prompts[i].shadow() ||
            prompts[i].scope() != v1::PROMPT_SCOPE_CLINICIAN) {
          ++i;
          continue;
        }
        ATTUNE_ASSIGN_OR_RETURN(std::optional<v1::Prompt> fresh,
                                store_->GetPrompt(tenant, prompts[i].id()));
        if (fresh.has_value()) {
          prompts[i++] = *std::move(fresh);
        } else {
          prompts.erase(prompts.begin() + static_cast<ptrdiff_t>(i));
        }
      }
      return *std::move(cached);
    }
    // Written elsewhere (another replica, an erasure) since it was kept.
    cache_.CountStale();
  }
  return store_->LoadEpisode(tenant, episode_id);
}

void AllianceEngine::Publish(const std::string& tenant,
                             const std::vector<v1::Prompt>& changed) {
  stats_.prompts_changed.fetch_add(static_cast<int64_t>(changed.size()));
  for (const v1::Prompt& p : changed) bus_.Publish(tenant, p);
}

absl::StatusOr<v1::SubmitEventResponse> AllianceEngine::Submit(
    const std::string& tenant, const v1::SessionEvent& event,
    const DeadlinePassed& deadline_passed) {
  std::vector<absl::StatusOr<v1::SubmitEventResponse>> results =
      SubmitBatch(tenant, {event}, false, deadline_passed);
  return std::move(results.front());
}

bool AllianceEngine::FailsRequests(const v1::RulesConfig& rules,
                                   const std::string& module_id) {
  for (const v1::ModulePolicy& p : rules.module_policies()) {
    if (p.module_id() == module_id) {
      return p.on_error() == v1::ModulePolicy::ON_ERROR_FAIL;
    }
  }
  return false;
}

absl::StatusOr<v1::SubmitEventResponse> AllianceEngine::StoredReplay(
    const std::string& tenant, const v1::SessionEvent& event) {
  if (event.event_id().empty()) return absl::NotFoundError("no event_id");
  ATTUNE_ASSIGN_OR_RETURN(std::optional<store::StoredEvent> stored,
                          store_->FindEvent(tenant, event.event_id()));
  if (!stored || stored->fingerprint != Fingerprint(event)) {
    return absl::NotFoundError("not stored");
  }
  stored->response.set_replayed(true);
  return std::move(stored->response);
}

std::vector<std::unique_lock<std::mutex>> AllianceEngine::LockBatch(
    const std::string& tenant, const std::vector<v1::SessionEvent>& events,
    const std::vector<std::string>& episode_ids,
    const std::vector<size_t>& indexes) {
  // One global order for every caller: episode stripes ascending, then
  // clinician stripes ascending, each stripe once. Nobody waits for an
  // episode stripe while holding a clinician stripe, or for a lower stripe
  // while holding a higher one, so batches and single events never deadlock.
  std::set<size_t> episode_stripes;
  for (const std::string& episode_id : episode_ids) {
    episode_stripes.insert(EpisodeStripe(tenant, episode_id));
  }
  std::set<size_t> clinician_stripes;
  for (size_t i : indexes) {
    clinician_stripes.insert(
        (std::hash<std::string>()(tenant) * 31 +
         std::hash<std::string>()(events[i].episode().clinician_id())) %
        clinician_locks_.size());
  }
  std::vector<std::unique_lock<std::mutex>> locks;
  locks.reserve(episode_stripes.size() + clinician_stripes.size());
  for (size_t stripe : episode_stripes) {
    locks.emplace_back(episode_locks_[stripe]);
  }
  for (size_t stripe : clinician_stripes) {
    locks.emplace_back(clinician_locks_[stripe]);
  }
  return locks;
}

std::vector<absl::StatusOr<v1::SubmitEventResponse>>
AllianceEngine::SubmitBatch(const std::string& tenant,
                            const std::vector<v1::SessionEvent>& events,
                            bool server_stamped_time,
                            const DeadlinePassed& deadline_passed) {
  const absl::Status too_late = absl::DeadlineExceededError(
      "deadline exceeded before this event was processed; resubmit it");
  auto past_deadline = [&] { return deadline_passed && deadline_passed(); };
  if (past_deadline()) {
    return std::vector<absl::StatusOr<v1::SubmitEventResponse>>(events.size(),
                                                                too_late);
  }
  std::vector<absl::StatusOr<v1::SubmitEventResponse>> results(
      events.size(), absl::UnknownError("not processed"));
  // The whole batch runs on the rule set in force when it started.
  std::shared_ptr<const RuleSet> set = rules();
  ValidationLimits limits{
      clock_(), absl::Seconds(config_.max_future_skew_seconds()),
      absl::Hours(24) * set->RulesFor(tenant).budget().max_snooze_days()};

  // Valid events grouped by episode, keeping their order.
  std::vector<std::string> order;
  std::map<std::string, std::vector<size_t>> by_episode;
  std::vector<size_t> valid_indexes;
  for (size_t i = 0; i < events.size(); ++i) {
    absl::Status valid = ValidateEvent(events[i], set->instruments(), limits);
    if (!valid.ok()) {
      // An event stored earlier is answered from storage even if today's
      // configuration would reject it (an instrument removed, a lower
      // skew): idempotency outlives configuration changes.
      if (absl::StatusOr<v1::SubmitEventResponse> replay =
              StoredReplay(tenant, events[i]);
          replay.ok()) {
        stats_.events_replayed.fetch_add(1);
        results[i] = *std::move(replay);
        continue;
      }
      stats_.events_rejected.fetch_add(1);
      results[i] = valid;
      continue;
    }
    const std::string& ep = events[i].episode().episode_id();
    if (!by_episode.count(ep)) order.push_back(ep);
    by_episode[ep].push_back(i);
    valid_indexes.push_back(i);
  }
  if (order.empty()) return results;

  // Every lock the batch needs, held until all its commits are settled.
  std::vector<std::unique_lock<std::mutex>> locks =
      LockBatch(tenant, events, order, valid_indexes);

  // (episode, its events still to do), in the order episodes first appear.
  std::vector<std::pair<std::string, std::vector<size_t>>> work;
  work.reserve(order.size());
  for (const std::string& episode_id : order) {
    work.emplace_back(episode_id, std::move(by_episode[episode_id]));
  }
  std::vector<std::vector<v1::Prompt>> published(events.size());
  for (int attempt = 0; attempt < kMaxConflictRetries && !work.empty();
       ++attempt) {
    // Every episode is prepared and its commits queued before any commit is
    // waited for, so the store groups the whole batch into as few
    // transactions as it can. Later episodes read what earlier ones
    // prepared through `batch` (the store has not applied it yet).
    BatchState batch;
    std::vector<std::pair<size_t, store::EventCommit>> commits;
    // Each episode as it will be once this attempt's commits are durable:
    // kept in the cache then, unless one of its commits failed.
    std::map<std::string, store::EpisodeSnapshot> after;
    for (auto& [episode_id, todo] : work) {
      absl::StatusOr<store::EpisodeSnapshot> loaded =
          LoadForUpdate(tenant, episode_id);
      if (!loaded.ok()) {
        for (size_t i : todo) results[i] = loaded.status();
        continue;
      }
      store::EpisodeSnapshot snapshot = *std::move(loaded);
      for (size_t i : todo) {
        // Not retried: only events that lost a version race are.
        if (past_deadline()) {
          results[i] = too_late;
          continue;
        }
        absl::StatusOr<Prepared> prepared = Prepare(
            *set, tenant, events[i], snapshot, batch, server_stamped_time);
        if (!prepared.ok()) {
          stats_.events_rejected.fetch_add(1);
          results[i] = prepared.status();
          continue;
        }
        if (prepared->replayed) {
          results[i] = std::move(prepared->response);
          stats_.events_replayed.fetch_add(1);
          continue;
        }
        results[i] = std::move(prepared->response);
        // Shadow prompts are stored, never announced.
        published[i].clear();  // from an attempt that lost a version race
        for (const v1::Prompt& p : prepared->commit.prompt_upserts) {
          if (!p.shadow()) published[i].push_back(p);
        }
        batch.Add(prepared->commit);
        commits.emplace_back(i, std::move(prepared->commit));
      }
      if (snapshot.exists) after.emplace(episode_id, std::move(snapshot));
    }
    // Queued together once everything is prepared, so that the store's
    // writer finds them all waiting and groups them into as few
    // transactions (fsyncs) as it can: queued one by one as they were
    // prepared, a 500-event batch took 10-15 transactions, and wall time
    // was higher even though preparing overlapped the writing.
    std::vector<std::pair<size_t, std::future<absl::Status>>> pending;
    pending.reserve(commits.size());
    for (auto& [i, commit] : commits) {
      pending.emplace_back(i, store_->CommitAsync(std::move(commit)));
    }
    commits.clear();
    // Only events that lost a version race (another writer committed to
    // their episode first) are redone, on fresh state, episode by episode.
    std::map<std::string, std::vector<size_t>> retry;
    size_t retried = 0;
    for (auto& [i, future] : pending) {
      absl::Status committed = future.get();
      if (committed.ok()) {
        stats_.events_accepted.fetch_add(1);
        Publish(tenant, published[i]);
        continue;
      }
      // Its episode's prepared state is not what is stored.
      after.erase(events[i].episode().episode_id());
      if (absl::IsAborted(committed)) {
        retry[events[i].episode().episode_id()].push_back(i);
        ++retried;
      }
      results[i] = committed;
    }
    for (auto& [episode_id, snapshot] : after) {
      cache_.Put(tenant, episode_id, std::move(snapshot));
    }
    std::vector<std::pair<std::string, std::vector<size_t>>> next;
    for (const auto& done : work) {
      auto it = retry.find(done.first);
      if (it != retry.end()) {
        next.emplace_back(done.first, std::move(it->second));
      }
    }
    work = std::move(next);
    if (!work.empty()) {
      ATTUNE_LOG(WARNING) << "episode version conflict; retrying"
                          << LogField("attempt", attempt + 1)
                          << LogField("episodes", work.size())
                          << LogField("events", retried);
    }
  }
  return results;
}

absl::StatusOr<v1::Assessment> AllianceEngine::GetAssessment(
    const std::string& tenant, const std::string& episode_id) {
  if (episode_id.empty()) {
    return absl::InvalidArgumentError("episode_id: is required");
  }
  // From the episode cache when no event of the episode's lock stripe is
  // being processed (the entry is then neither taken nor about to change);
  // a read never waits for a batch, it reads the store instead.
  std::unique_lock<std::mutex> lock(
      episode_locks_[EpisodeStripe(tenant, episode_id)], std::try_to_lock);
  ATTUNE_ASSIGN_OR_RETURN(store::EpisodeSnapshot snapshot,
                          lock.owns_lock()
                              ? LoadForUpdate(tenant, episode_id)
                              : store_->LoadEpisode(tenant, episode_id));
  if (!snapshot.exists) {
    return absl::NotFoundError("episode_id: no such episode");
  }
  v1::Assessment assessment = snapshot.assessment;
  if (lock.owns_lock()) cache_.Put(tenant, episode_id, std::move(snapshot));
  return assessment;
}

absl::StatusOr<store::PromptPage> AllianceEngine::ListPrompts(
    store::PromptQuery query) {
  if (query.episode_id.empty() == query.clinician_id.empty()) {
    return absl::InvalidArgumentError(
        "episode_id: exactly one of episode_id and clinician_id is required");
  }
  if (query.page_size == 0) query.page_size = 100;
  if (query.page_size < 1 || query.page_size > 500) {
    return absl::InvalidArgumentError("page_size: must be 1-500");
  }
  if (query.statuses.empty()) {
    query.statuses = {v1::PROMPT_STATUS_ACTIVE, v1::PROMPT_STATUS_ACKNOWLEDGED};
  }
  ATTUNE_ASSIGN_OR_RETURN(store::PromptPage page, store_->ListPrompts(query));
  // Episode prompts expire on the episode's own clock (prompt.proto,
  // expires_at), applied when events arrive. A clinician prompt is about a
  // calendar day, so it expires by the wall clock when read.
  absl::Time now = clock_();
  std::vector<v1::Prompt> kept;
  for (v1::Prompt& p : page.prompts) {
    if (p.scope() == v1::PROMPT_SCOPE_CLINICIAN && !IsTerminal(p.status()) &&
        now >= ToTime(p.expires_at())) {
      p.set_status(v1::PROMPT_STATUS_EXPIRED);
    }
    if (std::find(query.statuses.begin(), query.statuses.end(), p.status()) !=
        query.statuses.end()) {
      kept.push_back(std::move(p));
    }
  }
  page.prompts = std::move(kept);
  return page;
}

absl::StatusOr<v1::Prompt> AllianceEngine::RecordFeedback(
    const std::string& tenant, const v1::RecordPromptFeedbackRequest& req) {
  if (req.prompt_id().empty()) {
    return absl::InvalidArgumentError("prompt_id: is required");
  }
  ATTUNE_ASSIGN_OR_RETURN(std::optional<v1::Prompt> prompt,
                          store_->GetPrompt(tenant, req.prompt_id()));
  // Shadow prompts were never shown: there is nothing to react to.
  if (!prompt.has_value() || prompt->shadow()) {
    return absl::NotFoundError("prompt_id: no such prompt");
  }
  v1::SessionEvent event;
  event.set_event_id(req.event_id());
  *event.mutable_occurred_at() =
      req.has_occurred_at() ? req.occurred_at() : ToProto(clock_());
  *event.mutable_episode() = prompt->episode();
  v1::PromptFeedback* fb = event.mutable_prompt_feedback();
  fb->set_prompt_id(req.prompt_id());
  fb->set_outcome(req.outcome());
  fb->set_reason(req.reason());
  if (req.has_snooze_until()) *fb->mutable_snooze_until() = req.snooze_until();
  std::vector<absl::StatusOr<v1::SubmitEventResponse>> results =
      SubmitBatch(tenant, {event}, !req.has_occurred_at());
  ATTUNE_ASSIGN_OR_RETURN(v1::SubmitEventResponse response,
                          std::move(results.front()));
  for (const v1::Prompt& p : response.changed()) {
    if (p.id() == req.prompt_id()) return p;
  }
  // A replayed feedback event: report the prompt as it is now.
  ATTUNE_ASSIGN_OR_RETURN(prompt, store_->GetPrompt(tenant, req.prompt_id()));
  return *prompt;
}

absl::StatusOr<v1::CompareShadowResponse> AllianceEngine::CompareShadow(
    const std::string& tenant, const v1::CompareShadowRequest& req) {
  if (req.shadow_module_id().empty()) {
    return absl::InvalidArgumentError("shadow_module_id: is required");
  }
  const int max_episodes =
      req.max_episodes() == 0 ? kDefaultShadowEpisodes : req.max_episodes();
  if (max_episodes < 1 || max_episodes > kMaxShadowEpisodes) {
    return absl::InvalidArgumentError(absl::StrCat("max_episodes: must be 1-",
                                                   kMaxShadowEpisodes, ", got ",
                                                   req.max_episodes()));
  }
  // Module ids are configuration, not PHI: naming them is safe. A module
  // need not be in shadow mode now: one promoted to live keeps the shadow
  // prompts it raised before.
  std::shared_ptr<const RuleSet> set = rules();
  if (set->pipeline().Find(req.shadow_module_id()) == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "shadow_module_id: no module ", req.shadow_module_id(), " is loaded"));
  }
  if (!req.live_module_id().empty() &&
      set->pipeline().Find(req.live_module_id()) == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "live_module_id: no module ", req.live_module_id(), " is loaded"));
  }
  auto too_many = [](const std::string& field, const std::string& module_id) {
    return absl::ResourceExhaustedError(absl::StrCat(
        field, ": module ", module_id, " has more than ", kMaxComparedPrompts,
        " prompts to compare; too many for one comparison"));
  };

  ATTUNE_ASSIGN_OR_RETURN(
      std::vector<v1::Prompt> shadow,
      store_->ListModulePrompts(tenant, req.shadow_module_id(),
                                /*shadow=*/true, kMaxComparedPrompts + 1));
  if (shadow.size() > static_cast<size_t>(kMaxComparedPrompts)) {
    return too_many("shadow_module_id", req.shadow_module_id());
  }
  std::vector<v1::Prompt> live;
  if (!req.live_module_id().empty()) {
    ATTUNE_ASSIGN_OR_RETURN(
        live,
        store_->ListModulePrompts(tenant, req.live_module_id(),
                                  /*shadow=*/false, kMaxComparedPrompts + 1));
    if (live.size() > static_cast<size_t>(kMaxComparedPrompts)) {
      return too_many("live_module_id", req.live_module_id());
    }
  } else {
    // Every live prompt, any status, of the episodes the shadow module
    // prompted in (ListPrompts never returns shadow prompts).
    std::set<std::string> episode_ids;
    for (const v1::Prompt& p : shadow) {
      episode_ids.insert(p.episode().episode_id());
    }
    for (const std::string& episode_id : episode_ids) {
      store::PromptQuery query;
      query.tenant = tenant;
      query.episode_id = episode_id;
      query.page_size = 500;
      do {
        ATTUNE_ASSIGN_OR_RETURN(store::PromptPage page,
                                store_->ListPrompts(query));
        for (v1::Prompt& p : page.prompts) live.push_back(std::move(p));
        query.page_token = std::move(page.next_page_token);
      } while (!query.page_token.empty());
      if (live.size() > static_cast<size_t>(kMaxComparedPrompts)) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "live_module_id: the episodes of module ", req.shadow_module_id(),
            " have more than ", kMaxComparedPrompts,
            " live prompts; name one live module to compare with"));
      }
    }
  }
  return CompareShadowPrompts(std::move(shadow), std::move(live), max_episodes);
}

}  // namespace attune::engine
