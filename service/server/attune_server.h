// AttuneServer: wires store, engine and gRPC services into a running server.
//
//   auto server = AttuneServer::Start(config, std::move(store), modules,
//                                     ConfigSource{path, load});
//   ... (*server)->port() ...
//   (*server)->Reload();  // SIGHUP, RuleAdmin.ReloadModules
//   (*server)->Shutdown(absl::Seconds(10));
//
// Health (grpc.health.v1) reports SERVING only after the store is open and
// the modules are loaded, and NOT_SERVING as soon as shutdown begins. Each
// module of the set in force has its own health service,
// "attune.module.<id>": SERVING unless the module is failing or its circuit
// is open (module_reports.h). A background thread refreshes them every
// 500 ms and after each reload; a module that left the set is NOT_SERVING
// (the health service cannot forget a name).
//
// Transport and callers: with `tls` in the configuration the port speaks TLS
// (1.2 or 1.3) with the configured certificate, and with client_ca_file only
// clients whose certificate verifies get through the handshake; without it,
// plain text (the caller of Start decides whether the address allows that).
// Every AllianceService and RuleAdmin call passes CallerResolver (caller.h);
// health and reflection do not.
//
// Audit: every such call, refused ones included, is recorded in the store's
// audit log through an AuditTrail (audit_trail.h) that lives as long as the
// server; Shutdown flushes it after the last call has finished, before the
// store can close. With storage keys, object pseudonyms and caller subjects
// are keyed with them and stay the same across restarts.
//
// Data: attune.v1.DataAdmin (data_admin_service.h) erases a client's
// records on request. With retention.episode_days > 0 a sweeper thread
// deletes episodes whose last event is older than that, right after start
// and then every retention.sweep_interval_seconds (default 3600), in
// batches, logging counts only; Shutdown stops it after the batch in hand.
//
// Operations (service/ops/README.md): every call passes an interceptor that
// gives it a request id (RequestIdOf in service/ops/request_id.h) and
// observes its latency; the store is wrapped in a MeteredStore; prompt
// changes are counted off the prompt bus. With ops.listen_address set, an
// HTTP endpoint serves /metrics, /livez (200 until Shutdown returns) and
// /readyz (200 from the end of Start until BeginDrain). Start fails with
// the endpoint's error when it cannot listen.
//
// Drain: BeginDrain turns readiness and every health status to not serving
// while calls keep being served; Shutdown (which begins the drain itself
// when needed) then stops accepting and lets calls finish.
//
// Threading: Reload, BeginDrain and Shutdown may be called from any thread;
// reloads run one at a time. Shutdown must not race with the destructor.
#ifndef ATTUNE_SERVICE_SERVER_ATTUNE_SERVER_H_
#define ATTUNE_SERVICE_SERVER_ATTUNE_SERVER_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attune/v1/config.pb.h"
#include "grpcpp/server.h"
#include "service/engine/alliance_engine.h"
#include "service/ops/http_endpoint.h"
#include "service/ops/metered_store.h"
#include "service/ops/metrics.h"
#include "service/server/alliance_service.h"
#include "service/server/audit_trail.h"
#include "service/server/caller.h"
#include "service/server/data_admin_service.h"
#include "service/server/reload.h"
#include "service/server/rule_admin_service.h"
#include "service/server/worker_pool.h"
#include "service/store/store.h"

namespace attune::server {

// Where a reload reads the configuration from.
struct ConfigSource {
  // The configuration file, named in reload errors.
  std::string path;
  // Reads the effective configuration as at start-up (the file over the
  // defaults, the same flag overrides), validated. Errors name the file and
  // field. Called on the reloading thread.
  std::function<absl::StatusOr<v1::ServerConfig>()> load;
};

class AttuneServer {
 public:
  // `source`: where Reload reads the configuration; without one (no
  // configuration file) Reload fails with FAILED_PRECONDITION. `keys`: the
  // storage keys the store was opened with (null: none), for the audit
  // log's pseudonyms.
  static absl::StatusOr<std::unique_ptr<AttuneServer>> Start(
      const v1::ServerConfig& config, std::unique_ptr<store::Store> store,
      std::vector<std::unique_ptr<engine::RuleModule>> modules,
      ConfigSource source = {},
      std::shared_ptr<const security::KeyRing> keys = nullptr);
  ~AttuneServer();

  // The bound port (useful with ":0").
  int port() const { return port_; }
  // The operations endpoint's bound port; 0 when ops.listen_address is
  // empty.
  int ops_port() const {
    return ops_endpoint_ != nullptr ? ops_endpoint_->port() : 0;
  }
  ops::Metrics& metrics() { return *metrics_; }
  // True from the end of Start until the drain begins (/readyz).
  bool ready() const { return ready_.load(); }
  engine::AllianceEngine& engine() { return *engine_; }
  // The audit rows of the calls (Flush in tests).
  AuditTrail& audit() { return *audit_; }

  // Re-reads the configuration and swaps in the module set it describes
  // (rules, tenants, plugins, remote modules); calls in flight finish on the
  // set they started with. Settings that need a restart are listed, logged
  // and otherwise ignored. On any failure the current set keeps serving and
  // the error is returned (and logged): FAILED_PRECONDITION without a
  // configuration file; the loader's errors (INVALID_ARGUMENT, NOT_FOUND...
  // naming the file and field); the module set's (a plugin that will not
  // load, settings naming an unknown module), prefixed with the file's path.
  // One reload at a time: a second caller waits for the first.
  absl::StatusOr<ReloadOutcome> Reload();

  // The first step of shutdown (SIGTERM): /readyz 503 and every health
  // status NOT_SERVING, the retention sweeper stopped; calls, new ones
  // included, are still served, so load balancers can move traffic away
  // first (shutdown_drain_seconds). Idempotent.
  void BeginDrain();

  // BeginDrain unless done, end watch streams, stop accepting calls and let
  // in-flight ones finish within `grace`, then stop (the ops endpoint
  // last). Idempotent.
  void Shutdown(absl::Duration grace);

  // One retention sweep as of `now`: erases, in every tenant, the episodes
  // whose last commit was more than retention.episode_days before `now`, in
  // batches of kRetentionBatch until none is left (or shutdown begins), and
  // returns what it erased (zero counts when retention is off). Sweeps run
  // one at a time. The sweeper thread calls it with the current time; tests
  // call it with a later one. Errors: the store's (logged, code only).
  absl::StatusOr<store::EraseCounts> SweepRetentionNow(
      absl::Time now = absl::Now());
  static constexpr int kRetentionBatch = 500;

 private:
  AttuneServer() = default;

  absl::StatusOr<ReloadOutcome> ReloadLocked();
  // Sets every module's health service from the set in force.
  void UpdateModuleHealth();
  void HealthLoop();
  void StopHealthThread();
  void RetentionLoop();
  void StopRetentionThread();

  // Before everything that reports to it: the store decorator, the prompt
  // bus's observer, the RPC interceptor.
  std::unique_ptr<ops::Metrics> metrics_;
  // A MeteredStore around the real one.
  std::unique_ptr<store::Store> store_;
  ops::MeteredStore* metered_store_ = nullptr;  // store_, as its real type
  // After the store (closed before it), before the services (which hold it).
  std::unique_ptr<AuditTrail> audit_;
  std::unique_ptr<engine::AllianceEngine> engine_;
  // Prompts other replicas commit, relayed onto engine_'s bus
  // (prompt_feed.h); null for a single-process store (SQLite). After the
  // engine, so it stops before the bus goes.
  std::unique_ptr<store::PromptFeed> prompt_feed_;
  std::unique_ptr<WorkerPool> pool_;
  // Before the services, which hold it.
  std::unique_ptr<CallerResolver> callers_;
  std::unique_ptr<AllianceServiceImpl> service_;
  std::unique_ptr<RuleAdminServiceImpl> admin_;
  std::unique_ptr<DataAdminServiceImpl> data_admin_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;

  ConfigSource source_;
  std::mutex reload_mu_;  // held for a whole reload

  std::mutex health_mu_;
  std::condition_variable health_cv_;
  bool health_stop_ = false;  // guarded by health_mu_
  // Module ids given a health service so far; guarded by health_update_mu_.
  std::mutex health_update_mu_;
  std::set<std::string> health_known_;
  bool health_closed_ = false;  // guarded by health_update_mu_
  std::thread health_thread_;

  v1::RetentionConfig retention_;
  std::mutex retention_mu_;  // held for a whole sweep
  std::mutex retention_wait_mu_;
  std::condition_variable retention_cv_;
  // Set (under retention_wait_mu_) when shutdown begins; a sweep checks it
  // between batches.
  std::atomic<bool> retention_stop_{false};
  std::thread retention_thread_;

  std::atomic<bool> ready_{false};
  std::atomic<bool> draining_{false};
  // Last: its handlers read the engine and the store, so it stops first.
  std::unique_ptr<ops::HttpEndpoint> ops_endpoint_;
};

}  // namespace attune::server

#endif  // ATTUNE_SERVICE_SERVER_ATTUNE_SERVER_H_
