#include "service/server/attune_server.h"

#include <chrono>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "service/common/log.h"
#include "service/common/status_macros.h"
#include "service/engine/module_set.h"
#include "service/ops/rpc_interceptor.h"
#include "service/server/module_reports.h"
#include "service/server/prompt_feed.h"

namespace attune::server {
namespace {

constexpr char kServiceName[] = "attune.v1.AllianceService";
// Enough threads that concurrent requests wait for the same group commit.
constexpr int kWorkerThreads = 16;
constexpr auto kHealthPollInterval = std::chrono::milliseconds(500);
// retention.sweep_interval_seconds when unset.
constexpr int kDefaultSweepIntervalSeconds = 3600;
// How long shutdown waits for the last audit rows to be written.
constexpr absl::Duration kAuditCloseTimeout = absl::Seconds(10);

using google::protobuf::util::MessageDifferencer;

// Collects the paths of differing fields ("store.sqlite_path").
class FieldPathCollector : public MessageDifferencer::Reporter {
 public:
  void ReportAdded(
      const google::protobuf::Message&, const google::protobuf::Message&,
      const std::vector<MessageDifferencer::SpecificField>& path) override {
    Add(path);
  }
  void ReportDeleted(
      const google::protobuf::Message&, const google::protobuf::Message&,
      const std::vector<MessageDifferencer::SpecificField>& path) override {
    Add(path);
  }
  void ReportModified(
      const google::protobuf::Message&, const google::protobuf::Message&,
      const std::vector<MessageDifferencer::SpecificField>& path) override {
    Add(path);
  }

  // The innermost fields only: a changed message field is reported itself
  // too, and "store" says less than "store.sqlite_path".
  std::vector<std::string> paths() const {
    std::vector<std::string> out;
    for (auto it = paths_.begin(); it != paths_.end(); ++it) {
      auto next = std::next(it);
      if (next != paths_.end() && absl::StartsWith(*next, *it + ".")) continue;
      out.push_back(*it);
    }
    return out;
  }

 private:
  void Add(const std::vector<MessageDifferencer::SpecificField>& path) {
    std::vector<std::string> names;
    for (const MessageDifferencer::SpecificField& f : path) {
      if (f.field != nullptr) names.push_back(f.field->name());
    }
    if (!names.empty()) paths_.insert(absl::StrJoin(names, "."));
  }

  std::set<std::string> paths_;
};

// The settings that only take effect on restart: everything but what a
// module set is built from.
std::vector<std::string> RestartRequired(const v1::ServerConfig& running,
                                         const v1::ServerConfig& loaded) {
  MessageDifferencer differencer;
  const google::protobuf::Descriptor* d = v1::ServerConfig::descriptor();
  for (const char* reloadable :
       {"rules", "tenants", "plugins", "remote_modules"}) {
    differencer.IgnoreField(d->FindFieldByName(reloadable));
  }
  FieldPathCollector collector;
  differencer.ReportDifferencesTo(&collector);
  differencer.Compare(running, loaded);
  return collector.paths();
}

// The plugin or remote module a module-set error is about, as a field path
// ("plugins[1]"), found by the path or address the loader's message names;
// empty when it names none.
std::string ModuleFieldOf(const v1::ServerConfig& config,
                          const std::string& message) {
  std::string field;
  size_t matched = 0;
  auto consider = [&](const std::string& name, const std::string& path) {
    if (!name.empty() && name.size() > matched &&
        message.find(name) != std::string::npos) {
      matched = name.size();
      field = path;
    }
  };
  for (int i = 0; i < config.plugins_size(); ++i) {
    consider(config.plugins(i).path(), absl::StrCat("plugins[", i, "]"));
  }
  for (int i = 0; i < config.remote_modules_size(); ++i) {
    consider(config.remote_modules(i).address(),
             absl::StrCat("remote_modules[", i, "]"));
  }
  return field;
}

absl::StatusOr<std::string> ReadPem(const std::string& field,
                                    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat(field, ": cannot read ", path));
  }
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// Plain text without `tls`; TLS (gRPC: 1.2 minimum) with it, and mutual TLS
// with a client CA.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> CredentialsFor(
    const v1::ServerConfig& config) {
  if (!config.has_tls()) return grpc::InsecureServerCredentials();
  const v1::TlsConfig& tls = config.tls();
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ATTUNE_ASSIGN_OR_RETURN(pair.cert_chain,
                          ReadPem("tls.cert_file", tls.cert_file()));
  ATTUNE_ASSIGN_OR_RETURN(pair.private_key,
                          ReadPem("tls.key_file", tls.key_file()));
  options.pem_key_cert_pairs.push_back(std::move(pair));
  if (!tls.client_ca_file().empty()) {
    ATTUNE_ASSIGN_OR_RETURN(
        options.pem_root_certs,
        ReadPem("tls.client_ca_file", tls.client_ca_file()));
    options.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

const char* TransportName(const v1::ServerConfig& config) {
  if (!config.has_tls()) return "plaintext";
  return config.tls().client_ca_file().empty() ? "tls" : "mtls";
}

// LimitsConfig as HTTP/2 channel arguments. A field left unset (only in a
// config not built by the loader, which merges defaults.textproto) keeps
// gRPC's own default. Validation keeps every value * 1000 within int.
void ApplyConnectionLimits(const v1::LimitsConfig& limits,
                           grpc::ServerBuilder& builder) {
  auto ms = [&](bool set, int32_t seconds, const char* arg) {
    if (set) builder.AddChannelArgument(arg, seconds * 1000);
  };
  if (limits.has_max_concurrent_streams()) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                               limits.max_concurrent_streams());
  }
  ms(limits.has_min_client_ping_interval_seconds(),
     limits.min_client_ping_interval_seconds(),
     GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS);
  if (limits.has_max_ping_strikes()) {
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES,
                               limits.max_ping_strikes());
  }
  ms(limits.has_keepalive_time_seconds(), limits.keepalive_time_seconds(),
     GRPC_ARG_KEEPALIVE_TIME_MS);
  ms(limits.has_keepalive_timeout_seconds(), limits.keepalive_timeout_seconds(),
     GRPC_ARG_KEEPALIVE_TIMEOUT_MS);
  // Pings on connections without calls are allowed at the interval above
  // (gRPC would otherwise allow one per 2 hours and strike the rest), and
  // attuned's keepalive pings do not stop after two without data: a
  // WatchPrompts stream may carry nothing for hours and its peer must still
  // be checked.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  ms(limits.has_max_connection_age_seconds(),
     limits.max_connection_age_seconds(), GRPC_ARG_MAX_CONNECTION_AGE_MS);
  ms(limits.has_max_connection_age_grace_seconds(),
     limits.max_connection_age_grace_seconds(),
     GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS);
  ms(limits.has_max_connection_idle_seconds(),
     limits.max_connection_idle_seconds(), GRPC_ARG_MAX_CONNECTION_IDLE_MS);
}

// The methods the RPC interceptor labels by name; anything else a client
// asks for is "other".
std::set<std::string> ServedMethods() {
  std::set<std::string> methods = ops::MethodsOf(
      {kServiceName, "attune.v1.RuleAdmin", "attune.v1.DataAdmin"});
  // Health and reflection are not in the generated descriptor pool.
  for (const char* m :
       {"grpc.health.v1.Health/Check", "grpc.health.v1.Health/Watch",
        "grpc.reflection.v1alpha.ServerReflection/"
        "ServerReflectionInfo"}) {
    methods.insert(m);
  }
  return methods;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AttuneServer>> AttuneServer::Start(
    const v1::ServerConfig& config, std::unique_ptr<store::Store> store,
    std::vector<std::unique_ptr<engine::RuleModule>> modules,
    ConfigSource source, std::shared_ptr<const security::KeyRing> keys) {
  std::unique_ptr<AttuneServer> s(new AttuneServer());
  s->metrics_ = std::make_unique<ops::Metrics>();
  auto metered =
      std::make_unique<ops::MeteredStore>(std::move(store), s->metrics_.get());
  s->metered_store_ = metered.get();
  s->store_ = std::move(metered);
  s->audit_ = std::make_unique<AuditTrail>(s->store_.get(), keys);
  s->source_ = std::move(source);
  ATTUNE_ASSIGN_OR_RETURN(
      s->engine_, engine::AllianceEngine::Create(s->store_.get(), config,
                                                 std::move(modules)));
  ATTUNE_ASSIGN_OR_RETURN(
      s->prompt_feed_,
      RelayCommittedPrompts(s->metered_store_->inner(), s->engine_->bus()));
  ATTUNE_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                          CredentialsFor(config));
  ATTUNE_ASSIGN_OR_RETURN(s->callers_, CallerResolver::Create(config));
  if (keys != nullptr) {
    s->callers_->set_subject_pseudonym(StableSubjectPseudonyms(keys));
  }
  s->pool_ = std::make_unique<WorkerPool>(kWorkerThreads);
  s->service_ = std::make_unique<AllianceServiceImpl>(
      s->engine_.get(), s->pool_.get(), s->callers_.get(), s->audit_.get());
  AttuneServer* self = s.get();
  s->admin_ = std::make_unique<RuleAdminServiceImpl>(
      s->engine_.get(), s->store_.get(), s->pool_.get(),
      [self] { return self->Reload(); }, s->callers_.get(), s->audit_.get());
  s->data_admin_ = std::make_unique<DataAdminServiceImpl>(
      s->store_.get(), s->pool_.get(), s->callers_.get(), s->audit_.get(),
      [self] { self->engine_->ForgetCachedEpisodes(); });

  // Metrics: prompt changes as they are published (module, severity and
  // status only), the rest read from the engine and store on each scrape.
  ops::Metrics* metrics = s->metrics_.get();
  s->engine_->bus().SetObserver([metrics](const v1::Prompt& p) {
    metrics->CountPromptChange(p.module_id(), ops::SeverityLabel(p.severity()),
                               ops::PromptStatusLabel(p.status()));
  });
  ops::ScrapeSources sources;
  sources.events = [self] {
    const engine::EngineStats& stats = self->engine_->stats();
    return ops::EventCounts{stats.events_accepted.load(),
                            stats.events_replayed.load(),
                            stats.events_rejected.load()};
  };
  sources.modules = [self] {
    std::shared_ptr<const engine::RuleSet> set = self->engine_->rules();
    std::vector<ops::ModuleCounts> out;
    for (const engine::ModuleHealth& h :
         set->pipeline().Health(set->config().rules())) {
      out.push_back({h.module_id, h.evaluations, h.errors, h.timeouts});
    }
    return out;
  };
  sources.store_batches = [self] { return self->metered_store_->batches(); };
  sources.episode_cache = [self] {
    const engine::EpisodeCacheStats c = self->engine_->episode_cache_stats();
    return ops::EpisodeCacheCounts{c.hits,      c.misses,  c.stale,
                                   c.evictions, c.entries, c.bytes};
  };
  s->metrics_->SetSources(std::move(sources));
  // Before the gRPC port opens, so a bad ops address fails the start
  // cleanly; /readyz says 503 until the end of Start.
  if (!config.ops().listen_address().empty()) {
    ops::HttpEndpoint::Options ops_options;
    ops_options.listen_address = config.ops().listen_address();
    ops_options.routes["/metrics"] = [metrics] {
      return ops::HttpResponse{200, metrics->Scrape(),
                               "text/plain; version=0.0.4; charset=utf-8"};
    };
    ops_options.routes["/livez"] = [] {
      return ops::HttpResponse{200, "ok\n"};
    };
    ops_options.routes["/readyz"] = [self] {
      return self->ready() ? ops::HttpResponse{200, "ready\n"}
                           : ops::HttpResponse{503, "not ready\n"};
    };
    ATTUNE_ASSIGN_OR_RETURN(s->ops_endpoint_,
                            ops::HttpEndpoint::Start(std::move(ops_options)));
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen_address(), credentials, &s->port_);
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(
      ops::MakeRpcInterceptorFactory(metrics, ServedMethods()));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.RegisterService(s->service_.get());
  builder.RegisterService(s->admin_.get());
  builder.RegisterService(s->data_admin_.get());
  builder.SetMaxReceiveMessageSize(config.max_message_bytes());
  builder.SetMaxSendMessageSize(config.max_send_message_bytes());
  ApplyConnectionLimits(config.limits(), builder);
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "listen_address: cannot listen on ", config.listen_address()));
  }
  grpc::HealthCheckServiceInterface* health =
      s->server_->GetHealthCheckService();
  health->SetServingStatus(kServiceName, true);
  // Sets every service known so far: the modules' come after.
  health->SetServingStatus(true);
  s->UpdateModuleHealth();
  s->health_thread_ = std::thread([self] { self->HealthLoop(); });
  s->retention_ = config.retention();
  if (s->retention_.episode_days() > 0) {
    s->retention_thread_ = std::thread([self] { self->RetentionLoop(); });
  }
  s->ready_ = true;
  ATTUNE_LOG(INFO)
      << "attuned serving" << LogField("port", s->port_)
      << LogField("transport", TransportName(config))
      << LogField("auth", config.has_auth() ? "jwt" : "none")
      << LogField("modules",
                  s->engine_->rules()->pipeline().Health(config.rules()).size())
      << LogField("ops_port", s->ops_port());
  return s;
}

absl::StatusOr<ReloadOutcome> AttuneServer::Reload() {
  std::lock_guard<std::mutex> lock(reload_mu_);
  const int64_t serving = engine_->rules()->generation();
  absl::StatusOr<ReloadOutcome> outcome = ReloadLocked();
  if (!outcome.ok()) {
    // Messages name files, fields and module ids, never event data.
    ATTUNE_LOG(WARNING) << "reload refused; the current module set keeps "
                           "serving: "
                        << outcome.status().message()
                        << LogField("generation", serving);
    return outcome;
  }
  ATTUNE_LOG(INFO) << "module set reloaded"
                   << LogField("generation", outcome->rules->generation())
                   << LogField("modules",
                               outcome->rules->pipeline()
                                   .Health(outcome->rules->config().rules())
                                   .size());
  if (!outcome->restart_required.empty()) {
    ATTUNE_LOG(WARNING) << "settings changed that take effect only on restart"
                        << LogField(
                               "fields",
                               absl::StrJoin(outcome->restart_required, ","));
  }
  UpdateModuleHealth();
  return outcome;
}

absl::StatusOr<ReloadOutcome> AttuneServer::ReloadLocked() {
  if (!source_.load) {
    return absl::FailedPreconditionError("no configuration file to reload");
  }
  absl::StatusOr<v1::ServerConfig> config = source_.load();
  if (!config.ok()) return config.status();
  std::shared_ptr<const engine::RuleSet> current = engine_->rules();
  absl::StatusOr<std::shared_ptr<const engine::RuleSet>> next =
      engine::LoadRuleSet(*config, current.get());
  if (!next.ok()) {
    const std::string message(next.status().message());
    const std::string field = ModuleFieldOf(*config, message);
    return absl::Status(next.status().code(),
                        absl::StrCat(source_.path, ": ", field,
                                     field.empty() ? "" : ": ", message));
  }
  ATTUNE_RETURN_IF_ERROR(engine_->InstallRules(*next));
  ReloadOutcome outcome;
  outcome.rules = *std::move(next);
  outcome.restart_required = RestartRequired(engine_->config(), *config);
  return outcome;
}

void AttuneServer::UpdateModuleHealth() {
  std::lock_guard<std::mutex> lock(health_update_mu_);
  if (health_closed_) return;
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  std::shared_ptr<const engine::RuleSet> set = engine_->rules();
  std::set<std::string> current;
  for (const engine::ModuleHealth& h :
       set->pipeline().Health(set->config().rules())) {
    const std::string name = ModuleHealthServiceName(h.module_id);
    health->SetServingStatus(name, ModuleServing(ModuleStateOf(h)));
    current.insert(name);
  }
  for (const std::string& name : health_known_) {
    if (!current.count(name)) health->SetServingStatus(name, false);
  }
  health_known_.insert(current.begin(), current.end());
}

void AttuneServer::HealthLoop() {
  std::unique_lock<std::mutex> lock(health_mu_);
  while (!health_cv_.wait_for(lock, kHealthPollInterval,
                              [this] { return health_stop_; })) {
    lock.unlock();
    UpdateModuleHealth();
    lock.lock();
  }
}

void AttuneServer::StopHealthThread() {
  {
    std::lock_guard<std::mutex> lock(health_mu_);
    health_stop_ = true;
  }
  health_cv_.notify_all();
  if (health_thread_.joinable()) health_thread_.join();
  std::lock_guard<std::mutex> lock(health_update_mu_);
  health_closed_ = true;
}

void AttuneServer::BeginDrain() {
  if (draining_.exchange(true)) return;
  // Before the statuses below, which the poller would otherwise overwrite.
  StopHealthThread();
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  health->SetServingStatus(kServiceName, false);
  health->SetServingStatus(false);
  // After gRPC health: whoever sees /readyz turn 503 sees NOT_SERVING too.
  ready_ = false;
  ATTUNE_LOG(INFO) << "draining: not ready, still serving";
  // No erase starts once shutdown has begun.
  StopRetentionThread();
}

void AttuneServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  BeginDrain();
  ATTUNE_LOG(INFO) << "shutting down" << LogField("grace", grace);
  engine_->bus().Close();
  server_->Shutdown(std::chrono::system_clock::now() +
                    absl::ToChronoMilliseconds(grace));
  server_->Wait();
  pool_.reset();  // finishes queued work
  // Every call has recorded its rows by now; write them before the store
  // closes (it logs the audit head when it does).
  audit_->Close(kAuditCloseTimeout);
  // Last: liveness holds until the process is about to exit.
  if (ops_endpoint_ != nullptr) ops_endpoint_->Stop();
}

absl::StatusOr<store::EraseCounts> AttuneServer::SweepRetentionNow(
    absl::Time now) {
  store::EraseCounts total;
  if (retention_.episode_days() <= 0) return total;
  std::lock_guard<std::mutex> lock(retention_mu_);
  const absl::Time cutoff = now - absl::Hours(24) * retention_.episode_days();
  // The sweep deletes episode data of every tenant: one audit row per sweep
  // that erased something or failed, by attuned itself on no one object.
  auto audit_sweep = [this](absl::StatusCode code) {
    store::AuditRecord record;
    record.tenant = "-";
    record.caller = "attuned";
    record.action = "retention.erase";
    record.outcome = absl::StatusCodeToString(code);
    audit_->Record(std::move(record));
  };
  // Batches keep each write transaction short: commits queue behind it.
  while (!retention_stop_.load()) {
    absl::StatusOr<store::EraseCounts> batch =
        store_->EraseInactiveEpisodes(cutoff, kRetentionBatch);
    if (!batch.ok()) {
      ATTUNE_LOG(WARNING) << "retention sweep failed"
                          << LogField("code", absl::StatusCodeToString(
                                                  batch.status().code()))
                          << LogField("episodes", total.episodes);
      audit_sweep(batch.status().code());
      return batch.status();
    }
    total.episodes += batch->episodes;
    total.events += batch->events;
    total.prompts += batch->prompts;
    if (batch->episodes < kRetentionBatch) break;
  }
  if (total.episodes > 0) {
    engine_->ForgetCachedEpisodes();
    ATTUNE_LOG(INFO) << "retention sweep erased inactive episodes"
                     << LogField("episode_days", retention_.episode_days())
                     << LogField("episodes", total.episodes)
                     << LogField("events", total.events)
                     << LogField("prompts", total.prompts);
    audit_sweep(absl::StatusCode::kOk);
  }
  return total;
}

void AttuneServer::RetentionLoop() {
  const int interval_seconds = retention_.has_sweep_interval_seconds()
                                   ? retention_.sweep_interval_seconds()
                                   : kDefaultSweepIntervalSeconds;
  const auto interval = std::chrono::seconds(interval_seconds);
  std::unique_lock<std::mutex> lock(retention_wait_mu_);
  while (!retention_stop_.load()) {
    lock.unlock();
    // Failures are logged by the sweep; the next one tries again.
    SweepRetentionNow(absl::Now()).IgnoreError();
    lock.lock();
    retention_cv_.wait_for(lock, interval,
                           [this] { return retention_stop_.load(); });
  }
}

void AttuneServer::StopRetentionThread() {
  {
    std::lock_guard<std::mutex> lock(retention_wait_mu_);
    retention_stop_.store(true);
  }
  retention_cv_.notify_all();
  if (retention_thread_.joinable()) retention_thread_.join();
}

AttuneServer::~AttuneServer() {
  if (server_ != nullptr) Shutdown(absl::Seconds(5));
}

}  // namespace attune::server
