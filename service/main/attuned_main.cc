// attuned: flags and wiring only. See service/server/attune_server.h.
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "google/protobuf/text_format.h"
#include "service/common/log.h"
#include "service/config/config_loader.h"
#include "service/config/storage_keys.h"
#include "service/engine/module_set.h"
#include "service/server/attune_server.h"
#include "service/store/postgres/postgres_store.h"
#include "service/store/sqlite/sqlite_store.h"

ABSL_FLAG(std::string, config, "",
          "Text-format attune.v1.ServerConfig merged over the built-in "
          "defaults (see deploy/local/attuned.textproto)");
ABSL_FLAG(std::string, listen, "",
          "host:port to listen on; overrides listen_address (default "
          "127.0.0.1:50051; port 0 picks a free port)");
ABSL_FLAG(std::string, db, "",
          "SQLite database file; overrides store.sqlite_path");
ABSL_FLAG(std::string, key_file, "",
          "Storage key file (0600; `attunectl keys generate --out FILE` "
          "makes one); overrides store.key_file. Without it and without "
          "store.key_file, the keys come from $ATTUNE_STORAGE_KEYS");
ABSL_FLAG(std::string, ops_listen, "",
          "host:port of the operations endpoint (/metrics, /livez, /readyz); "
          "overrides ops.listen_address (default 127.0.0.1:9464; port 0 "
          "picks a free port; \"none\" turns it off)");
ABSL_FLAG(bool, print_config, false,
          "Print the effective configuration and exit");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error");
ABSL_FLAG(bool, insecure_remote, false,
          "Allow listening on a non-loopback address without TLS (no tls in "
          "the configuration): only behind a proxy that terminates TLS on the "
          "same host");

namespace {

int Fail(const absl::Status& status) {
  ATTUNE_LOG(ERROR) << "attuned cannot start: " << status.message();
  std::cerr << "attuned: " << status.message() << "\n";
  return 1;
}

// Loopback and Unix sockets are the sidecar case; anything else without TLS
// would put health data on a network in clear text.
bool IsLocalAddress(const std::string& address) {
  if (address.rfind("unix:", 0) == 0) return true;
  for (const char* prefix : {"127.", "localhost:", "[::1]:"}) {
    if (address.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

// Flags that override a field of the configuration file (empty: not given).
struct FlagOverrides {
  std::string listen;
  std::string db;
  std::string key_file;
  std::string ops_listen;
};

// The effective configuration: the file over the defaults, then the flag
// overrides, validated. Start-up and every reload read it the same way.
absl::StatusOr<attune::v1::ServerConfig> LoadConfig(
    const std::string& path, const FlagOverrides& flags) {
  absl::StatusOr<attune::v1::ServerConfig> config =
      attune::config::LoadEffectiveConfig(path);
  if (!config.ok()) return config.status();
  if (!flags.listen.empty()) config->set_listen_address(flags.listen);
  if (!flags.db.empty()) config->mutable_store()->set_sqlite_path(flags.db);
  if (!flags.key_file.empty()) {
    config->mutable_store()->set_key_file(flags.key_file);
  }
  if (!flags.ops_listen.empty()) {
    config->mutable_ops()->set_listen_address(
        flags.ops_listen == "none" ? "" : flags.ops_listen);
  }
  if (absl::Status valid = attune::config::ValidateConfig(*config);
      !valid.ok()) {
    return valid;
  }
  return config;
}

std::string HostOf(const std::string& address) {
  auto colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

// The backend the configuration names: PostgreSQL when store.postgres_dsn
// is set (several replicas on one database), else the SQLite file. The log
// names the backend, never the DSN (it may hold a password) or the path.
absl::StatusOr<std::unique_ptr<attune::store::Store>> OpenStore(
    const attune::v1::StoreConfig& config,
    std::shared_ptr<const attune::security::KeyRing> keys) {
  if (config.has_postgres_dsn()) {
    attune::store::PostgresStoreOptions options;
    options.dsn = config.postgres_dsn();
    options.pool_size = config.postgres_pool_size();
    options.max_batch = config.group_commit_max_batch();
    options.keys = std::move(keys);
    ATTUNE_LOG(INFO) << "store: postgres"
                     << attune::LogField("pool_size", options.pool_size);
    return attune::store::OpenPostgresStore(options);
  }
  attune::store::SqliteStoreOptions options;
  options.path = config.sqlite_path();
  options.max_batch = config.group_commit_max_batch();
  options.keys = std::move(keys);
  ATTUNE_LOG(INFO) << "store: sqlite";
  return attune::store::OpenSqliteStore(options);
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Attune alliance sidecar.\n  attuned [--config FILE] [--listen "
      "HOST:PORT] [--db FILE] [--key_file FILE]");
  absl::ParseCommandLine(argc, argv);
  std::string level = absl::GetFlag(FLAGS_log_level);
  if (level == "debug") attune::SetMinLogLevel(attune::LogLevel::kDebug);
  if (level == "warning") attune::SetMinLogLevel(attune::LogLevel::kWarning);
  if (level == "error") attune::SetMinLogLevel(attune::LogLevel::kError);

  const std::string config_path = absl::GetFlag(FLAGS_config);
  const FlagOverrides overrides{
      absl::GetFlag(FLAGS_listen), absl::GetFlag(FLAGS_db),
      absl::GetFlag(FLAGS_key_file), absl::GetFlag(FLAGS_ops_listen)};
  absl::StatusOr<attune::v1::ServerConfig> config =
      LoadConfig(config_path, overrides);
  if (!config.ok()) return Fail(config.status());
  // From here on, every line in the configured format (a refused
  // configuration is reported in text: its format is unknown).
  if (config->ops().log_format() == "json") {
    attune::SetLogFormat(attune::LogFormat::kJson);
  }
  if (!IsLocalAddress(config->listen_address()) && !config->has_tls()) {
    if (!absl::GetFlag(FLAGS_insecure_remote)) {
      return Fail(absl::FailedPreconditionError(
          "listen_address: is not a loopback address and tls is not "
          "configured; configure tls, bind 127.0.0.1 (the sidecar default) "
          "or pass --insecure_remote behind a TLS-terminating proxy"));
    }
    ATTUNE_LOG(WARNING) << "INSECURE: listening beyond loopback without TLS "
                           "(--insecure_remote); health data travels in "
                           "clear text";
  }
  if (absl::GetFlag(FLAGS_print_config)) {
    std::string text;
    google::protobuf::TextFormat::PrintToString(*config, &text);
    std::cout << text;
    return 0;
  }

  // Keys before anything else starts: without them (and without an explicit
  // allow_plaintext) identifiers would be written in the clear.
  absl::StatusOr<attune::config::StorageKeys> keys =
      attune::config::LoadStorageKeys(
          *config, attune::config::StorageKeysFromEnvironment());
  if (!keys.ok()) return Fail(keys.status());
  if (keys->ring != nullptr) {
    // Key ids are labels, not secrets: they tell an operator which key a
    // rotation made active.
    ATTUNE_LOG(INFO) << "storage keys loaded"
                     << attune::LogField("source", keys->source)
                     << attune::LogField("active_key",
                                         keys->ring->active_key_id())
                     << attune::LogField("keys", keys->ring->key_ids().size());
  } else {
    ATTUNE_LOG(WARNING)
        << "PLAINTEXT STORAGE: no storage keys (store.allow_plaintext: "
           "true); client and clinician identifiers and scores are stored in "
           "the clear. Use only with synthetic data";
  }

  // Signals are taken by sigwait below, never by a handler on a random
  // thread: block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Plugins load before the store opens: a refused plugin leaves no trace.
  auto modules = attune::engine::LoadRuleModules(*config);
  if (!modules.ok()) return Fail(modules.status());

  auto store = OpenStore(config->store(), keys->ring);
  if (!store.ok()) return Fail(store.status());

  // Reloads (SIGHUP, RuleAdmin.ReloadModules) re-read the file with the
  // same flag overrides; without a file there is nothing to re-read.
  attune::server::ConfigSource source;
  if (!config_path.empty()) {
    source.path = config_path;
    source.load = [config_path, overrides] {
      return LoadConfig(config_path, overrides);
    };
  }
  // The keys also make the audit log's pseudonyms (and keep callers named
  // alike across restarts).
  auto server = attune::server::AttuneServer::Start(
      *config, *std::move(store), *std::move(modules), std::move(source),
      keys->ring);
  if (!server.ok()) return Fail(server.status());
  // Machine-readable lines on stdout: scripts and tests read the port from
  // the first, and the operations port from the second when there is one.
  // One write, so a reader that stops after the first line cannot make the
  // second fail.
  std::string ready_lines = "attuned serving on " +
                            HostOf(config->listen_address()) + ":" +
                            std::to_string((*server)->port()) + "\n";
  if ((*server)->ops_port() != 0) {
    ready_lines += "attuned ops on " + HostOf(config->ops().listen_address()) +
                   ":" + std::to_string((*server)->ops_port()) + "\n";
  }
  std::cout << ready_lines << std::flush;

  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    // Reload logs its outcome (and why it was refused).
    ATTUNE_LOG(INFO) << "SIGHUP: reloading the module set";
    (void)(*server)->Reload();
  }
  // Drain: not ready and NOT_SERVING while calls are still served, so load
  // balancers move traffic away before the port closes. A second SIGTERM
  // or SIGINT ends the wait; SIGHUP is ignored by now.
  (*server)->BeginDrain();
  const int drain_seconds = config->shutdown_drain_seconds();
  if (drain_seconds > 0) {
    ATTUNE_LOG(INFO) << "draining before shutdown"
                     << attune::LogField("seconds", drain_seconds);
    const absl::Time until = absl::Now() + absl::Seconds(drain_seconds);
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGHUP);
    while (absl::Now() < until) {
      const timespec left = absl::ToTimespec(until - absl::Now());
      const int got = sigtimedwait(&stop_signals, nullptr, &left);
      if (got == SIGTERM || got == SIGINT) break;
    }
  }
  (*server)->Shutdown(absl::Seconds(config->shutdown_grace_seconds()));
  ATTUNE_LOG(INFO) << "attuned stopped" << attune::LogField("signal", sig);
  return 0;
}
