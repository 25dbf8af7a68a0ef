// attunectl import: a tenant's events into another store (a SQLite file or
// a PostgreSQL database) through the engine, in this process. The way a
// clinic moves from the embedded store to a shared PostgreSQL: the target
// derives its assessments and prompts from the events exactly as the source
// did, and events already in the target are answered from it, so an
// interrupted import is finished by running it again.
//
// Output: counts only; rejected events by line number. Never an identifier
// or the connection string (it may hold a password).
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "service/config/config_loader.h"
#include "service/ctl/commands.h"
#include "service/ctl/json_lines.h"
#include "service/ctl/offline_engine.h"
#include "service/ctl/store_log.h"
#include "service/store/postgres/postgres_store.h"
#include "service/store/sqlite/sqlite_store.h"

namespace attune::ctl {
namespace {

constexpr std::size_t kMaxErrorsShown = 20;

// libpq takes URIs and key=value strings; a SQLite target is a file path.
bool IsPostgresTarget(const std::string& to) {
  return absl::StartsWith(to, "postgresql://") ||
         absl::StartsWith(to, "postgres://") ||
         absl::StrContains(to, "dbname=") || absl::StrContains(to, "host=");
}

absl::StatusOr<std::unique_ptr<store::Store>> OpenTarget(
    const std::string& to, std::shared_ptr<const security::KeyRing> keys) {
  if (IsPostgresTarget(to)) {
    store::PostgresStoreOptions options;
    options.dsn = to;
    options.pool_size = 2;
    options.keys = std::move(keys);
    absl::StatusOr<std::unique_ptr<store::Store>> opened =
        store::OpenPostgresStore(options);
    // The store's errors never repeat the connection string.
    if (!opened.ok()) {
      return absl::Status(opened.status().code(),
                          absl::StrCat("--to: ", opened.status().message()));
    }
    return opened;
  }
  store::SqliteStoreOptions options;
  options.path = to;
  options.keys = std::move(keys);
  // A tool never rewrites a plaintext file an attuned may be serving.
  options.seal_plaintext = false;
  absl::StatusOr<std::unique_ptr<store::Store>> opened =
      store::OpenSqliteStore(options);
  if (!opened.ok()) {
    return absl::Status(opened.status().code(),
                        absl::StrCat("--to: ", opened.status().message()));
  }
  return opened;
}

}  // namespace

int RunImport(const CommandEnv& env) {
  const std::string& path = env.line.arguments.at(0);
  if (!env.line.Has("to") || env.line.Get("to").empty()) {
    return ReportUsageError(
        env, absl::InvalidArgumentError(
                 "--to: is required (a SQLite file or a PostgreSQL "
                 "connection string)"));
  }
  const std::string to = env.line.Get("to");
  const std::string tenant = env.line.Get("tenant", "default");
  const std::optional<std::string> key_file =
      env.line.Has("key-file")
          ? std::optional<std::string>(env.line.Get("key-file"))
          : std::nullopt;

  absl::StatusOr<std::shared_ptr<const security::KeyRing>> keys =
      LoadReadKeys(key_file, env.storage_keys_env);
  if (!keys.ok()) return ReportUsageError(env, keys.status());
  if (*keys == nullptr && !env.line.Has("allow-plaintext")) {
    return ReportUsageError(
        env, absl::InvalidArgumentError(
                 "--key-file: no storage keys (nor ATTUNE_STORAGE_KEYS): the "
                 "target would hold identifiers in the clear; give attuned's "
                 "key file, or --allow-plaintext for synthetic data"));
  }
  absl::StatusOr<v1::ServerConfig> config =
      config::LoadEffectiveConfig(env.line.Get("config", ""));
  if (!config.ok()) return ReportUsageError(env, config.status());

  absl::StatusOr<EventLog> log =
      ReadEventLog(path, tenant, key_file, env.storage_keys_env);
  if (!log.ok()) return ReportUsageError(env, log.status());
  const EventLines& lines = log->lines;
  if (!lines.errors.empty()) {
    for (std::size_t i = 0; i < lines.errors.size() && i < kMaxErrorsShown;
         ++i) {
      env.err << lines.errors[i] << "\n";
    }
    return ReportUsageError(
        env, absl::InvalidArgumentError(path + ": malformed lines"));
  }

  absl::StatusOr<std::unique_ptr<store::Store>> target = OpenTarget(to, *keys);
  if (!target.ok()) return ReportUsageError(env, target.status());
  absl::StatusOr<std::unique_ptr<engine::AllianceEngine>> engine =
      MakeOfflineEngine(target->get(), *config, lines.events);
  if (!engine.ok()) return ReportUsageError(env, engine.status());

  int stored = 0;
  int already = 0;
  std::vector<std::string> rejected;
  std::set<std::string> episodes;
  SubmitInOrder(**engine, tenant, lines.events,
                [&](const NumberedEvent& e,
                    const absl::StatusOr<v1::SubmitEventResponse>& r) {
                  episodes.insert(e.event.episode().episode_id());
                  if (!r.ok()) {
                    rejected.push_back(absl::StrCat(
                        path, ":", e.line, ": ",
                        DescribeError(static_cast<int>(r.status().code()),
                                      std::string(r.status().message()))));
                  } else if (r->replayed()) {
                    ++already;
                  } else {
                    ++stored;
                  }
                });
  engine->reset();  // before the store it writes to
  target->reset();  // every commit durable, connections closed

  env.out << "import of " << path << ": " << lines.events.size()
          << " event(s) of " << episodes.size() << " episode(s): " << stored
          << " stored, " << already << " already there, " << rejected.size()
          << " rejected\n";
  for (std::size_t i = 0; i < rejected.size() && i < kMaxErrorsShown; ++i) {
    env.err << rejected[i] << "\n";
  }
  return rejected.empty() ? kExitOk : kExitFailed;
}

}  // namespace attune::ctl
