// attune-null-server: the floor the benchmarks compare attuned against.
//
// It serves attune.v1.AllianceService with the same gRPC framework and
// settings as attuned (callback API, health and reflection, message size
// limits from the same compiled-in defaults), and its handlers do nothing:
// each answers at once, on gRPC's own thread, with a pre-built response. So
// requests and responses have the size attuned's have, and what is left
// between this server and attuned is Attune's own work (worker hand-off,
// validation, the store, the rules).
//
//   attune-null-server [--listen 127.0.0.1:0] [--canned_dir DIR]
//
// DIR may hold submit_event.binpb, submit_events.binpb and
// get_assessment.binpb: binary responses captured from attuned (attune-bench
// writes them); a missing file means an empty response. Prints "null
// serving on HOST:PORT" on stdout once it serves; stops on SIGTERM/SIGINT.
#include <signal.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "attune/v1/alliance_service.grpc.pb.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "service/config/config_loader.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "host:port to listen on");
ABSL_FLAG(std::string, canned_dir, "",
          "Directory with the pre-built responses (see the file comment)");

namespace {

using attune::v1::AllianceService;

template <typename Message>
bool LoadCanned(const std::string& dir, const char* name, Message* out) {
  if (dir.empty()) return true;
  std::ifstream in(dir + "/" + name, std::ios::binary);
  if (!in) return true;  // none captured: an empty response
  std::stringstream bytes;
  bytes << in.rdbuf();
  return out->ParseFromString(bytes.str());
}

class NullService final : public AllianceService::CallbackService {
 public:
  bool Load(const std::string& dir) {
    return LoadCanned(dir, "submit_event.binpb", &submit_event_) &&
           LoadCanned(dir, "submit_events.binpb", &submit_events_) &&
           LoadCanned(dir, "get_assessment.binpb", &get_assessment_);
  }

  grpc::ServerUnaryReactor* SubmitEvent(
      grpc::CallbackServerContext* ctx, const attune::v1::SubmitEventRequest*,
      attune::v1::SubmitEventResponse* resp) override {
    *resp = submit_event_;
    return Done(ctx);
  }
  grpc::ServerUnaryReactor* SubmitEvents(
      grpc::CallbackServerContext* ctx, const attune::v1::SubmitEventsRequest*,
      attune::v1::SubmitEventsResponse* resp) override {
    *resp = submit_events_;
    return Done(ctx);
  }
  grpc::ServerUnaryReactor* GetAssessment(
      grpc::CallbackServerContext* ctx, const attune::v1::GetAssessmentRequest*,
      attune::v1::GetAssessmentResponse* resp) override {
    *resp = get_assessment_;
    return Done(ctx);
  }

 private:
  static grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* ctx) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  attune::v1::SubmitEventResponse submit_event_;
  attune::v1::SubmitEventsResponse submit_events_;
  attune::v1::GetAssessmentResponse get_assessment_;
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  auto config = attune::config::DefaultConfig();
  if (!config.ok()) {
    std::cerr << "attune-null-server: " << config.status() << "\n";
    return 1;
  }
  NullService service;
  if (!service.Load(absl::GetFlag(FLAGS_canned_dir))) {
    std::cerr << "attune-null-server: canned_dir: a response does not parse\n";
    return 1;
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // The same builder settings as service/server/attune_server.cc.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen),
                           grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(config->max_message_bytes());
  builder.SetMaxSendMessageSize(config->max_send_message_bytes());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::cerr << "attune-null-server: cannot listen on "
              << absl::GetFlag(FLAGS_listen) << "\n";
    return 1;
  }
  server->GetHealthCheckService()->SetServingStatus(true);
  const std::string listen = absl::GetFlag(FLAGS_listen);
  std::cout << "null serving on " << listen.substr(0, listen.rfind(':')) << ":"
            << port << std::endl;

  int sig = 0;
  sigwait(&signals, &sig);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server->Wait();
  return 0;
}
