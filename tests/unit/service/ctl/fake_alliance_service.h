// A scripted AllianceService for attunectl's tests, served on 127.0.0.1:0
// together with gRPC's default health service. It records what it was sent
// and answers from the contract: no engine, no store.
#ifndef ATTUNE_TESTS_UNIT_SERVICE_CTL_FAKE_ALLIANCE_SERVICE_H_
#define ATTUNE_TESTS_UNIT_SERVICE_CTL_FAKE_ALLIANCE_SERVICE_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "attune/v1/alliance_service.grpc.pb.h"
#include "grpcpp/server.h"

namespace attune::ctl::testing {

class FakeAllianceService final : public v1::AllianceService::Service {
 public:
  // What the fake does. Set before the calls.
  struct Script {
    // event_id -> error returned for it (by SubmitEvent, or as the
    // EventResult of SubmitEvents).
    std::map<std::string, grpc::Status> reject;
    // ListPrompts answers this many pages of two prompts each.
    int prompt_pages = 1;
    // WatchPrompts sends this many updates, calls this (when set), then
    // waits for cancellation.
    int watch_updates = 3;
    std::function<void()> after_watch_updates;
  };

  // Everything received, in order.
  struct Received {
    std::vector<v1::SessionEvent> submitted;  // by SubmitEvent
    std::vector<v1::SubmitEventsRequest> batches;
    std::vector<v1::GetAssessmentRequest> assessments;
    std::vector<v1::ListPromptsRequest> lists;
    std::vector<v1::WatchPromptsRequest> watches;
    std::vector<v1::RecordPromptFeedbackRequest> feedback;
    // Time left until the deadline at the start of each call.
    std::vector<std::chrono::milliseconds> time_left;
  };

  Script& script() { return script_; }
  Received received() const;

  grpc::Status SubmitEvent(grpc::ServerContext* context,
                           const v1::SubmitEventRequest* request,
                           v1::SubmitEventResponse* response) override;
  grpc::Status SubmitEvents(grpc::ServerContext* context,
                            const v1::SubmitEventsRequest* request,
                            v1::SubmitEventsResponse* response) override;
  grpc::Status GetAssessment(grpc::ServerContext* context,
                             const v1::GetAssessmentRequest* request,
                             v1::GetAssessmentResponse* response) override;
  grpc::Status ListPrompts(grpc::ServerContext* context,
                           const v1::ListPromptsRequest* request,
                           v1::ListPromptsResponse* response) override;
  grpc::Status WatchPrompts(
      grpc::ServerContext* context, const v1::WatchPromptsRequest* request,
      grpc::ServerWriter<v1::PromptUpdate>* writer) override;
  grpc::Status RecordPromptFeedback(
      grpc::ServerContext* context,
      const v1::RecordPromptFeedbackRequest* request,
      v1::RecordPromptFeedbackResponse* response) override;

  // A prompt as the fake hands them out.
  static v1::Prompt MakePrompt(const std::string& id);

 private:
  void NoteDeadline(const grpc::ServerContext& context);

  Script script_;
  mutable std::mutex mu_;
  Received received_;
};

// The fake plus a server on 127.0.0.1:0.
class FakeServer {
 public:
  FakeServer();
  ~FakeServer();

  FakeAllianceService& service() { return service_; }
  // "127.0.0.1:<port>".
  const std::string& address() const { return address_; }
  void SetServing(bool serving);

 private:
  FakeAllianceService service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

}  // namespace attune::ctl::testing

#endif  // ATTUNE_TESTS_UNIT_SERVICE_CTL_FAKE_ALLIANCE_SERVICE_H_
