// attune-example-remote-module: a remote rule module, i.e. a gRPC server
// implementing attune.v1.RuleModule (proto/attune/v1/rule_module.proto).
//
//   attune-example-remote-module --listen 127.0.0.1:7001
//
// It serves one module, example.long_gap: an info prompt while the last two
// held sessions of an episode are further apart than `max_gap_days`.
// attuned calls Describe once when it loads its module set and Evaluate once
// per event; a module is a pure function of what Evaluate sends (the
// episode's events, the trigger, config_json): keep no state between calls.
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <string>

#include "attune/v1/rule_module.grpc.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"

namespace {

constexpr char kModuleId[] = "example.long_gap";
constexpr char kModuleVersion[] = "1.0.0";

// config_json: {"max_gap_days": 21}. 21 days is this example's local
// default, chosen for the demo; it is not a clinical threshold.
struct Settings {
  double max_gap_days = 21;
};

// INVALID_ARGUMENT naming the field when config_json is not usable: attuned
// then refuses to load the module set and reports the message.
grpc::Status ParseSettings(const std::string& json, Settings* out) {
  google::protobuf::Struct config;
  if (!google::protobuf::util::JsonStringToMessage(json.empty() ? "{}" : json,
                                                   &config)
           .ok()) {
    return {grpc::StatusCode::INVALID_ARGUMENT,
            "config_json: must be a JSON object"};
  }
  auto it = config.fields().find("max_gap_days");
  if (it == config.fields().end()) return grpc::Status::OK;
  if (!it->second.has_number_value() || it->second.number_value() < 1 ||
      it->second.number_value() > 365) {
    return {grpc::StatusCode::INVALID_ARGUMENT,
            "config_json.max_gap_days: must be a number of days, 1-365"};
  }
  out->max_gap_days = it->second.number_value();
  return grpc::Status::OK;
}

// The callback API: each method finishes its reactor and returns it. The
// handlers run concurrently; this module keeps no state, so nothing to lock.
class LongGapModule final : public attune::v1::RuleModule::CallbackService {
  grpc::ServerUnaryReactor* Describe(
      grpc::CallbackServerContext* context,
      const attune::v1::DescribeModulesRequest* request,
      attune::v1::DescribeModulesResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    Settings settings;
    grpc::Status status = ParseSettings(request->config_json(), &settings);
    if (status.ok()) {
      attune::v1::ModuleDescriptor* d = response->add_modules();
      d->set_id(kModuleId);
      d->set_version(kModuleVersion);
      d->set_description("Info prompt after a long break between sessions");
    }
    reactor->Finish(status);
    return reactor;
  }

  grpc::ServerUnaryReactor* Evaluate(
      grpc::CallbackServerContext* context,
      const attune::v1::EvaluateRequest* request,
      attune::v1::EvaluateResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    Settings settings;
    grpc::Status status = ParseSettings(request->config_json(), &settings);
    if (status.ok()) LongGap(*request, settings, response);
    reactor->Finish(status);
    return reactor;
  }

  // The rule itself. Proposing nothing while the condition holds would
  // resolve the prompt: a module proposes its prompt on every event for
  // which the condition is true.
  static void LongGap(const attune::v1::EvaluateRequest& request,
                      const Settings& settings,
                      attune::v1::EvaluateResponse* response) {
    // Start of each held session by session number (a later report of the
    // same session wins); std::map keeps them in session order.
    std::map<int32_t, int64_t> starts;
    for (const attune::v1::SessionEvent& event : request.events()) {
      if (!event.has_session_held()) continue;
      starts[event.session_held().session_number()] =
          event.session_held().start().seconds();
    }
    if (starts.size() < 2) return;
    auto last = std::prev(starts.end());
    auto previous = std::prev(last);
    const double gap_days = (last->second - previous->second) / 86400.0;
    if (gap_days <= settings.max_gap_days) return;

    const int days = static_cast<int>(gap_days);
    attune::v1::Prompt* p = response->add_prompts();
    // kind is "<module id>/<name>"; attuned refuses anything else.
    p->set_kind(std::string(kModuleId) + "/long_gap");
    p->set_severity(attune::v1::SEVERITY_INFO);
    // 1-139 bytes. Never put identifiers or free text from the events here.
    p->set_summary("Long break before the latest session (" +
                   std::to_string(days) + " days)");
    p->set_detail("Sessions " + std::to_string(previous->first) + " and " +
                  std::to_string(last->first) + " were " +
                  std::to_string(days) + " days apart, more than the " +
                  std::to_string(static_cast<int>(settings.max_gap_days)) +
                  " days configured for this example module.");
    p->set_reflective_question("What did the break mean for the client?");
    p->set_scope(attune::v1::PROMPT_SCOPE_EPISODE);
    // A longer break is stronger evidence (used against dismissals).
    p->set_strength(gap_days);
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--listen") listen = argv[i + 1];
  }
  // SIGINT/SIGTERM are taken with sigwait below, so block them before gRPC
  // starts its threads (they inherit the mask).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  LongGapModule service;
  int port = 0;
  grpc::ServerBuilder builder;
  // Plain text: keep it on loopback or a Unix socket, next to attuned.
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    std::cerr << "cannot listen on " << listen << "\n";
    return 1;
  }
  // The line a supervisor (or a test) waits for; port 0 picks a free one.
  std::string bound = listen;
  if (listen.rfind("unix:", 0) != 0) {
    bound = listen.substr(0, listen.rfind(':')) + ":" + std::to_string(port);
  }
  std::cout << "listening on " << bound << std::endl;

  int received = 0;
  sigwait(&stop_signals, &received);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return 0;
}
