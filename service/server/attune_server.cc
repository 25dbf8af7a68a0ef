#include "service/server/attune_server.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "service/common/log.h"
#include "service/common/status_macros.h"

namespace attune::server {
namespace {

constexpr char kServiceName[] = "attune.v1.AllianceService";
// Enough threads that concurrent requests wait for the same group commit.
constexpr int kWorkerThreads = 16;

}  // namespace

absl::StatusOr<std::unique_ptr<AttuneServer>> AttuneServer::Start(
    const v1::ServerConfig& config, std::unique_ptr<store::Store> store,
    std::vector<std::unique_ptr<engine::RuleModule>> modules) {
  std::unique_ptr<AttuneServer> s(new AttuneServer());
  s->store_ = std::move(store);
  ATTUNE_ASSIGN_OR_RETURN(
      s->engine_, engine::AllianceEngine::Create(s->store_.get(), config,
                                                 std::move(modules)));
  s->pool_ = std::make_unique<WorkerPool>(kWorkerThreads);
  s->service_ =
      std::make_unique<AllianceServiceImpl>(s->engine_.get(), s->pool_.get());
  s->admin_ = std::make_unique<RuleAdminServiceImpl>(
      s->engine_.get(), s->store_.get(), s->pool_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen_address(),
                           grpc::InsecureServerCredentials(), &s->port_);
  builder.RegisterService(s->service_.get());
  builder.RegisterService(s->admin_.get());
  builder.SetMaxReceiveMessageSize(config.max_message_bytes());
  builder.SetMaxSendMessageSize(config.max_send_message_bytes());
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "listen_address: cannot listen on ", config.listen_address()));
  }
  grpc::HealthCheckServiceInterface* health =
      s->server_->GetHealthCheckService();
  health->SetServingStatus(kServiceName, true);
  health->SetServingStatus(true);
  ATTUNE_LOG(INFO)
      << "attuned serving" << LogField("port", s->port_)
      << LogField(
             "modules",
             s->engine_->rules()->pipeline().Health(config.rules()).size());
  return s;
}

void AttuneServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  ATTUNE_LOG(INFO) << "shutting down" << LogField("grace", grace);
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  health->SetServingStatus(kServiceName, false);
  health->SetServingStatus(false);
  engine_->bus().Close();
  server_->Shutdown(std::chrono::system_clock::now() +
                    absl::ToChronoMilliseconds(grace));
  server_->Wait();
  pool_.reset();  // finishes queued work
}

AttuneServer::~AttuneServer() {
  if (server_ != nullptr) Shutdown(absl::Seconds(5));
}

}  // namespace attune::server
