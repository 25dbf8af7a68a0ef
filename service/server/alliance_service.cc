#include "service/server/alliance_service.h"

#include <deque>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "service/server/status_conversion.h"

namespace attune::server {
namespace {

// Streams prompt changes to one WatchPrompts caller. Deletes itself in
// OnDone.
class PromptWatcher final : public grpc::ServerWriteReactor<v1::PromptUpdate> {
 public:
  // `audit` records the stream's end ("WatchPrompts.closed", on `object`,
  // with the final status); its start is recorded by the caller.
  PromptWatcher(engine::AllianceEngine* engine, WorkerPool* pool,
                engine::PromptFilter filter, CallAudit audit,
                std::string object)
      : engine_(engine), audit_(std::move(audit)), object_(std::move(object)) {
    token_ = engine_->bus().Subscribe(
        filter,
        [this](const v1::Prompt& p) {
          v1::PromptUpdate u;
          *u.mutable_prompt() = p;
          Enqueue(std::move(u), /*initial=*/false);
        },
        [this] { Close(grpc::Status::OK); });
    // The current state, read after subscribing so no change falls between;
    // live changes wait until it has been queued, so none is overtaken by an
    // older initial copy.
    pool->Run([this, filter] {
      store::PromptQuery q;
      q.tenant = filter.tenant;
      q.episode_id = filter.episode_id;
      q.clinician_id = filter.clinician_id;
      q.page_size = 500;
      do {
        absl::StatusOr<store::PromptPage> page = engine_->ListPrompts(q);
        if (!page.ok()) {
          Close(ToGrpcStatus(page.status()));
          break;
        }
        for (const v1::Prompt& p : page->prompts) {
          v1::PromptUpdate u;
          *u.mutable_prompt() = p;
          u.set_initial(true);
          Enqueue(std::move(u), /*initial=*/true);
        }
        q.page_token = page->next_page_token;
      } while (!q.page_token.empty());
      Release();
    });
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
      return;
    }
    NextLocked();
  }

  void OnCancel() override { Close(grpc::Status::CANCELLED); }

  void OnDone() override {
    engine_->bus().Unsubscribe(token_);
    std::unique_lock<std::mutex> lock(mu_);
    done_ = true;
    const absl::StatusCode closed_with = close_code_;
    lock.unlock();
    audit_.RecordAs("WatchPrompts.closed", object_, closed_with);
    lock.lock();
    // The initial listing may still hold `this`; it deletes us when done.
    if (pending_initial_) return;
    lock.unlock();
    delete this;
  }

 private:
  void Enqueue(v1::PromptUpdate update, bool initial) {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return;
    if (!initial && pending_initial_) {
      held_.push_back(std::move(update));
      return;
    }
    if (queue_.size() >= kMaxQueued) {
      // A client that stops reading must not grow the server's memory.
      closing_ = true;
      close_status_ = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                   "watch stream is not being read; "
                                   "reconnect to resume");
      queue_.clear();
    } else {
      queue_.push_back(std::move(update));
    }
    if (!writing_) NextLocked();
  }

  void Close(grpc::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
    close_status_ = std::move(status);
    if (!writing_) NextLocked();
  }

  void Release() {
    std::unique_lock<std::mutex> lock(mu_);
    pending_initial_ = false;
    if (!finished_) {
      for (auto& u : held_) queue_.push_back(std::move(u));
      held_.clear();
      if (!writing_) NextLocked();
    }
    if (!done_) return;
    lock.unlock();
    delete this;
  }

  void NextLocked() {
    if (finished_) return;
    if (!queue_.empty() && !closing_) {
      current_ = std::move(queue_.front());
      queue_.pop_front();
      writing_ = true;
      StartWrite(&current_);
      return;
    }
    if (closing_) FinishLocked(close_status_);
  }

  void FinishLocked(grpc::Status status) {
    if (finished_) return;
    finished_ = true;
    close_code_ = static_cast<absl::StatusCode>(status.error_code());
    Finish(std::move(status));
  }

  engine::AllianceEngine* engine_;
  const CallAudit audit_;
  const std::string object_;
  int64_t token_ = 0;
  std::mutex mu_;
  // The status the stream finished with, for the audit row.
  absl::StatusCode close_code_ = absl::StatusCode::kUnknown;
  static constexpr size_t kMaxQueued = 1000;
  std::deque<v1::PromptUpdate> queue_;
  // Live updates that arrived while the initial listing was running.
  std::vector<v1::PromptUpdate> held_;
  v1::PromptUpdate current_;
  bool writing_ = false;
  bool closing_ = false;
  bool finished_ = false;
  bool done_ = false;
  bool pending_initial_ = true;
  grpc::Status close_status_;
};

// A prompt listing or watch is on the episode or the clinician it names
// (on neither when it names both or none: INVALID_ARGUMENT).
template <typename Request>
std::string PromptsObject(const CallAudit& audit, const Request& req) {
  if (req.episode_id().empty() == req.clinician_id().empty()) return "";
  return req.episode_id().empty()
             ? audit.Object("clinician", req.clinician_id())
             : audit.Object("episode", req.episode_id());
}

absl::StatusCode CodeOf(const grpc::Status& status) {
  return static_cast<absl::StatusCode>(status.error_code());
}

// Records the call's row, then finishes it: the row is queued before the
// client can see the outcome.
void FinishAudited(grpc::ServerUnaryReactor* reactor, const CallAudit& audit,
                   std::string object, const grpc::Status& status) {
  audit.Record(std::move(object), CodeOf(status));
  reactor->Finish(status);
}

}  // namespace

absl::StatusOr<Caller> ResolveCaller(const CallerResolver* callers,
                                     const grpc::CallbackServerContext* ctx,
                                     Rpc rpc, Caller* identified) {
  static const CallerResolver* const kNoConfiguration = new CallerResolver();
  return (callers != nullptr ? callers : kNoConfiguration)
      ->Resolve(*ctx, rpc, identified);
}

CallAudit AuditCaller(AuditTrail* trail, const CallerResolver* callers,
                      const grpc::CallbackServerContext* ctx, Rpc rpc,
                      absl::StatusOr<Caller>* caller) {
  Caller identified;
  *caller = ResolveCaller(callers, ctx, rpc, &identified);
  return CallAudit(trail, rpc, *caller, identified);
}

AllianceServiceImpl::AllianceServiceImpl(engine::AllianceEngine* engine,
                                         WorkerPool* pool,
                                         const CallerResolver* callers,
                                         AuditTrail* audit)
    : engine_(engine), pool_(pool), callers_(callers), audit_(audit) {}

grpc::ServerUnaryReactor* AllianceServiceImpl::SubmitEvent(
    grpc::CallbackServerContext* ctx, const v1::SubmitEventRequest* req,
    v1::SubmitEventResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  absl::StatusOr<Caller> caller;
  const CallAudit audit =
      AuditCaller(audit_, callers_, ctx, Rpc::kSubmitEvent, &caller);
  if (!caller.ok()) {
    FinishAudited(reactor, audit,
                  audit.Object("episode", req->event().episode().episode_id()),
                  ToGrpcStatus(caller.status()));
    return reactor;
  }
  std::string tenant = caller->tenant;
  const absl::Time deadline = caller->deadline;
  pool_->Run([this, tenant, deadline, req, resp, reactor, audit] {
    absl::StatusOr<v1::SubmitEventResponse> r = engine_->Submit(
        tenant, req->event(), [deadline] { return absl::Now() >= deadline; });
    if (r.ok()) *resp = *std::move(r);
    FinishAudited(reactor, audit,
                  audit.Object("episode", req->event().episode().episode_id()),
                  ToGrpcStatus(r.status()));
  });
  return reactor;
}

grpc::ServerUnaryReactor* AllianceServiceImpl::SubmitEvents(
    grpc::CallbackServerContext* ctx, const v1::SubmitEventsRequest* req,
    v1::SubmitEventsResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  // A refused call is one row on no object (its events were not looked
  // at); an accepted one is one row per event, with the event's outcome.
  absl::StatusOr<Caller> caller;
  const CallAudit audit =
      AuditCaller(audit_, callers_, ctx, Rpc::kSubmitEvents, &caller);
  if (!caller.ok()) {
    FinishAudited(reactor, audit, "", ToGrpcStatus(caller.status()));
    return reactor;
  }
  int max = engine_->config().max_batch_events();
  if (req->events_size() > max) {
    FinishAudited(reactor, audit, "",
                  grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                               absl::StrCat("events: at most ", max,
                                            " events per call")));
    return reactor;
  }
  std::string tenant = caller->tenant;
  const absl::Time deadline = caller->deadline;
  pool_->Run([this, tenant, deadline, req, resp, reactor, audit] {
    std::vector<v1::SessionEvent> events(req->events().begin(),
                                         req->events().end());
    // Stops between events at the call's deadline (limits.max_call_seconds
    // caps it); the events not reached report DEADLINE_EXCEEDED.
    auto results =
        engine_->SubmitBatch(tenant, events, /*server_stamped_time=*/false,
                             [deadline] { return absl::Now() >= deadline; });
    for (size_t i = 0; i < results.size(); ++i) {
      v1::EventResult* r = resp->add_results();
      r->set_event_id(events[i].event_id());
      if (results[i].ok()) {
        if (!req->results_only()) {
          *r->mutable_response() = *std::move(results[i]);
        }
        resp->set_accepted(resp->accepted() + 1);
      } else {
        r->set_code(static_cast<int>(results[i].status().code()));
        r->set_message(std::string(results[i].status().message()));
        resp->set_rejected(resp->rejected() + 1);
      }
      audit.Record(audit.Object("episode", events[i].episode().episode_id()),
                   results[i].status().code());
    }
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* AllianceServiceImpl::GetAssessment(
    grpc::CallbackServerContext* ctx, const v1::GetAssessmentRequest* req,
    v1::GetAssessmentResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  absl::StatusOr<Caller> caller;
  const CallAudit audit =
      AuditCaller(audit_, callers_, ctx, Rpc::kGetAssessment, &caller);
  if (!caller.ok()) {
    FinishAudited(reactor, audit, audit.Object("episode", req->episode_id()),
                  ToGrpcStatus(caller.status()));
    return reactor;
  }
  std::string tenant = caller->tenant;
  pool_->Run([this, tenant, req, resp, reactor, audit] {
    auto r = engine_->GetAssessment(tenant, req->episode_id());
    if (r.ok()) *resp->mutable_assessment() = *std::move(r);
    FinishAudited(reactor, audit, audit.Object("episode", req->episode_id()),
                  ToGrpcStatus(r.status()));
  });
  return reactor;
}

grpc::ServerUnaryReactor* AllianceServiceImpl::ListPrompts(
    grpc::CallbackServerContext* ctx, const v1::ListPromptsRequest* req,
    v1::ListPromptsResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  absl::StatusOr<Caller> caller;
  const CallAudit audit =
      AuditCaller(audit_, callers_, ctx, Rpc::kListPrompts, &caller);
  const std::string object = PromptsObject(audit, *req);
  if (!caller.ok()) {
    FinishAudited(reactor, audit, object, ToGrpcStatus(caller.status()));
    return reactor;
  }
  store::PromptQuery q;
  q.tenant = caller->tenant;
  q.episode_id = req->episode_id();
  q.clinician_id = req->clinician_id();
  for (int s : req->statuses()) {
    if (!v1::PromptStatus_IsValid(s) || s == v1::PROMPT_STATUS_UNSPECIFIED) {
      FinishAudited(reactor, audit, object,
                    grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "statuses: contains an unknown status"));
      return reactor;
    }
    q.statuses.push_back(static_cast<v1::PromptStatus>(s));
  }
  q.page_size = req->page_size();
  q.page_token = req->page_token();
  pool_->Run([this, q, resp, reactor, audit, object] {
    auto r = engine_->ListPrompts(q);
    if (r.ok()) {
      for (auto& p : r->prompts) *resp->add_prompts() = std::move(p);
      resp->set_next_page_token(r->next_page_token);
    }
    FinishAudited(reactor, audit, object, ToGrpcStatus(r.status()));
  });
  return reactor;
}

grpc::ServerWriteReactor<v1::PromptUpdate>* AllianceServiceImpl::WatchPrompts(
    grpc::CallbackServerContext* ctx, const v1::WatchPromptsRequest* req) {
  class Rejected : public grpc::ServerWriteReactor<v1::PromptUpdate> {
   public:
    explicit Rejected(grpc::Status status) { Finish(std::move(status)); }
    void OnDone() override { delete this; }
  };
  // One row when the stream opens (or is refused), one when it ends.
  absl::StatusOr<Caller> caller;
  const CallAudit audit =
      AuditCaller(audit_, callers_, ctx, Rpc::kWatchPrompts, &caller);
  const std::string object = PromptsObject(audit, *req);
  auto reject = [&](grpc::Status status) {
    audit.Record(object, CodeOf(status));
    return new Rejected(std::move(status));
  };
  if (!caller.ok()) return reject(ToGrpcStatus(caller.status()));
  if (req->episode_id().empty() == req->clinician_id().empty()) {
    return reject(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                               "episode_id: exactly one of episode_id "
                               "and clinician_id is required"));
  }
  engine::PromptFilter filter{caller->tenant, req->episode_id(),
                              req->clinician_id()};
  audit.Record(object, absl::StatusCode::kOk);
  return new PromptWatcher(engine_, pool_, std::move(filter), audit, object);
}

grpc::ServerUnaryReactor* AllianceServiceImpl::RecordPromptFeedback(
    grpc::CallbackServerContext* ctx,
    const v1::RecordPromptFeedbackRequest* req,
    v1::RecordPromptFeedbackResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  // The object is the prompt's episode once the prompt is found, else the
  // prompt.
  absl::StatusOr<Caller> caller;
  const CallAudit audit =
      AuditCaller(audit_, callers_, ctx, Rpc::kRecordPromptFeedback, &caller);
  if (!caller.ok()) {
    FinishAudited(reactor, audit, audit.Object("prompt", req->prompt_id()),
                  ToGrpcStatus(caller.status()));
    return reactor;
  }
  std::string tenant = caller->tenant;
  pool_->Run([this, tenant, req, resp, reactor, audit] {
    auto r = engine_->RecordFeedback(tenant, *req);
    if (r.ok()) *resp->mutable_prompt() = *std::move(r);
    FinishAudited(
        reactor, audit,
        r.ok() ? audit.Object("episode", resp->prompt().episode().episode_id())
               : audit.Object("prompt", req->prompt_id()),
        ToGrpcStatus(r.status()));
  });
  return reactor;
}

}  // namespace attune::server
