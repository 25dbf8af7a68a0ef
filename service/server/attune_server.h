// AttuneServer: wires store, engine and gRPC services into a running server.
//
//   auto server = AttuneServer::Start(config, std::move(store), modules);
//   ... (*server)->port() ...
//   (*server)->Shutdown(absl::Seconds(10));
//
// Health (grpc.health.v1) reports SERVING only after the store is open and
// the modules are loaded, and NOT_SERVING as soon as shutdown begins.
#ifndef ATTUNE_SERVICE_SERVER_ATTUNE_SERVER_H_
#define ATTUNE_SERVICE_SERVER_ATTUNE_SERVER_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attune/v1/config.pb.h"
#include "grpcpp/server.h"
#include "service/engine/alliance_engine.h"
#include "service/server/alliance_service.h"
#include "service/server/rule_admin_service.h"
#include "service/server/worker_pool.h"
#include "service/store/store.h"

namespace attune::server {

class AttuneServer {
 public:
  static absl::StatusOr<std::unique_ptr<AttuneServer>> Start(
      const v1::ServerConfig& config, std::unique_ptr<store::Store> store,
      std::vector<std::unique_ptr<engine::RuleModule>> modules);
  ~AttuneServer();

  // The bound port (useful with ":0").
  int port() const { return port_; }
  engine::AllianceEngine& engine() { return *engine_; }

  // Health NOT_SERVING, end watch streams, let in-flight calls finish
  // within `grace`, then stop. Idempotent.
  void Shutdown(absl::Duration grace);

 private:
  AttuneServer() = default;

  std::unique_ptr<store::Store> store_;
  std::unique_ptr<engine::AllianceEngine> engine_;
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<AllianceServiceImpl> service_;
  std::unique_ptr<RuleAdminServiceImpl> admin_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace attune::server

#endif  // ATTUNE_SERVICE_SERVER_ATTUNE_SERVER_H_
