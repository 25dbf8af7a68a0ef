#include "tests/unit/service/ctl/fake_alliance_service.h"

#include <thread>

#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace attune::ctl::testing {
namespace {

v1::SubmitEventResponse ResponseFor(const v1::SessionEvent& event) {
  v1::SubmitEventResponse response;
  *response.mutable_assessment()->mutable_episode() = event.episode();
  response.mutable_assessment()->set_event_count(1);
  return response;
}

}  // namespace

FakeAllianceService::Received FakeAllianceService::received() const {
  std::lock_guard<std::mutex> lock(mu_);
  return received_;
}

void FakeAllianceService::NoteDeadline(const grpc::ServerContext& context) {
  received_.time_left.push_back(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          context.deadline() - std::chrono::system_clock::now()));
}

v1::Prompt FakeAllianceService::MakePrompt(const std::string& id) {
  v1::Prompt prompt;
  prompt.set_id(id);
  prompt.set_kind("attune.rupture/check_rupture");
  prompt.set_severity(v1::SEVERITY_WARNING);
  prompt.set_status(v1::PROMPT_STATUS_ACTIVE);
  prompt.set_summary("Check for rupture");
  prompt.mutable_episode()->set_episode_id("ep-1");
  return prompt;
}

grpc::Status FakeAllianceService::SubmitEvent(
    grpc::ServerContext* context, const v1::SubmitEventRequest* request,
    v1::SubmitEventResponse* response) {
  std::lock_guard<std::mutex> lock(mu_);
  NoteDeadline(*context);
  received_.submitted.push_back(request->event());
  if (auto it = script_.reject.find(request->event().event_id());
      it != script_.reject.end()) {
    return it->second;
  }
  *response = ResponseFor(request->event());
  return grpc::Status::OK;
}

grpc::Status FakeAllianceService::SubmitEvents(
    grpc::ServerContext* context, const v1::SubmitEventsRequest* request,
    v1::SubmitEventsResponse* response) {
  std::lock_guard<std::mutex> lock(mu_);
  NoteDeadline(*context);
  received_.batches.push_back(*request);
  for (const v1::SessionEvent& event : request->events()) {
    v1::EventResult* result = response->add_results();
    result->set_event_id(event.event_id());
    if (auto it = script_.reject.find(event.event_id());
        it != script_.reject.end()) {
      result->set_code(static_cast<int>(it->second.error_code()));
      result->set_message(it->second.error_message());
      response->set_rejected(response->rejected() + 1);
    } else {
      *result->mutable_response() = ResponseFor(event);
      response->set_accepted(response->accepted() + 1);
    }
  }
  return grpc::Status::OK;
}

grpc::Status FakeAllianceService::GetAssessment(
    grpc::ServerContext* context, const v1::GetAssessmentRequest* request,
    v1::GetAssessmentResponse* response) {
  std::lock_guard<std::mutex> lock(mu_);
  NoteDeadline(*context);
  received_.assessments.push_back(*request);
  if (request->episode_id() != "ep-1") {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown episode");
  }
  v1::Assessment* assessment = response->mutable_assessment();
  assessment->mutable_episode()->set_episode_id("ep-1");
  assessment->mutable_rupture()->set_status(v1::RUPTURE_STATUS_SUSPECTED);
  assessment->set_sessions_held(6);
  return grpc::Status::OK;
}

grpc::Status FakeAllianceService::ListPrompts(
    grpc::ServerContext* context, const v1::ListPromptsRequest* request,
    v1::ListPromptsResponse* response) {
  std::lock_guard<std::mutex> lock(mu_);
  NoteDeadline(*context);
  received_.lists.push_back(*request);
  const int page =
      request->page_token().empty() ? 0 : std::stoi(request->page_token());
  *response->add_prompts() = MakePrompt("p-" + std::to_string(2 * page));
  *response->add_prompts() = MakePrompt("p-" + std::to_string(2 * page + 1));
  if (page + 1 < script_.prompt_pages) {
    response->set_next_page_token(std::to_string(page + 1));
  }
  return grpc::Status::OK;
}

grpc::Status FakeAllianceService::WatchPrompts(
    grpc::ServerContext* context, const v1::WatchPromptsRequest* request,
    grpc::ServerWriter<v1::PromptUpdate>* writer) {
  int updates = 0;
  std::function<void()> after_updates;
  {
    std::lock_guard<std::mutex> lock(mu_);
    NoteDeadline(*context);
    received_.watches.push_back(*request);
    updates = script_.watch_updates;
    after_updates = script_.after_watch_updates;
  }
  for (int i = 0; i < updates; ++i) {
    v1::PromptUpdate update;
    *update.mutable_prompt() = MakePrompt("w-" + std::to_string(i));
    update.set_initial(i == 0);
    if (!writer->Write(update)) break;
  }
  if (after_updates) after_updates();
  // A live stream stays open until the client goes away. Polling is fine
  // here: the test waits on the client's exit, not on this loop.
  while (!context->IsCancelled()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return grpc::Status::CANCELLED;
}

grpc::Status FakeAllianceService::RecordPromptFeedback(
    grpc::ServerContext* context,
    const v1::RecordPromptFeedbackRequest* request,
    v1::RecordPromptFeedbackResponse* response) {
  std::lock_guard<std::mutex> lock(mu_);
  NoteDeadline(*context);
  received_.feedback.push_back(*request);
  if (request->prompt_id() != "p-0") {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "store unreachable");
  }
  *response->mutable_prompt() = MakePrompt(request->prompt_id());
  response->mutable_prompt()->set_status(v1::PROMPT_STATUS_DISMISSED);
  return grpc::Status::OK;
}

FakeServer::FakeServer() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&service_);
  server_ = builder.BuildAndStart();
  address_ = "127.0.0.1:" + std::to_string(port);
}

FakeServer::~FakeServer() {
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
}

void FakeServer::SetServing(bool serving) {
  server_->GetHealthCheckService()->SetServingStatus(serving);
}

}  // namespace attune::ctl::testing
