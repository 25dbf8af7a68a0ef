#include "service/ctl/store_log.h"

#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <queue>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "service/common/status_macros.h"
#include "service/store/common/protection.h"
#include "service/store/sqlite/connection.h"
#include "service/store/sqlite/migrations.h"
#include "service/store/sqlite/sqlite_store.h"

namespace attune::ctl {
namespace {

constexpr int kPageSize = 1000;
constexpr char kSqliteMagic[] = "SQLite format 3";  // then a NUL

}  // namespace

bool IsSqliteFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char header[sizeof(kSqliteMagic)] = {};
  if (!in.read(header, sizeof(header))) return false;
  return std::string(header, sizeof(header)) ==
         std::string(kSqliteMagic, sizeof(kSqliteMagic));
}

absl::StatusOr<std::shared_ptr<const security::KeyRing>> LoadReadKeys(
    const std::optional<std::string>& key_file, const std::string& env_keys) {
  if (key_file.has_value()) {
    if (key_file->empty()) {
      return absl::InvalidArgumentError("--key-file: must name a file");
    }
    absl::StatusOr<std::shared_ptr<const security::KeyRing>> ring =
        security::KeyRing::FromFile(*key_file);
    if (!ring.ok()) {
      return absl::Status(
          ring.status().code(),
          absl::StrCat("--key-file: ", ring.status().message()));
    }
    return ring;
  }
  if (!env_keys.empty()) {
    return security::KeyRing::FromText(env_keys, security::kStorageKeysEnv);
  }
  return nullptr;
}

absl::StatusOr<std::unique_ptr<store::sqlite::Connection>> OpenReadOnlyDatabase(
    const std::string& path, int64_t min_version,
    absl::string_view too_old_hint) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such database file"));
  }
  if (!IsSqliteFile(path)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": is not an attuned SQLite database"));
  }
  store::sqlite::ConnectionOptions read_only;
  read_only.read_only = true;
  absl::StatusOr<std::unique_ptr<store::sqlite::Connection>> conn =
      store::sqlite::Connection::Open(path, read_only);
  if (!conn.ok()) return conn.status();
  absl::StatusOr<int64_t> version = (*conn)->QueryInt64(
      "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
      "schema_migrations: read version");
  if (!version.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": is not an attuned database (no schema version)"));
  }
  const int64_t latest = store::sqlite::LatestSchemaVersion();
  if (*version > latest) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": schema version ", *version, ", this attunectl reads ", latest,
        "; use the attunectl of the attuned that wrote it"));
  }
  if (*version < min_version) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": schema version ", *version, too_old_hint,
                     "; start the matching attuned on it once to migrate it"));
  }
  return conn;
}

absl::StatusOr<std::unique_ptr<store::Store>> OpenExistingStore(
    const std::string& path, std::shared_ptr<const security::KeyRing> keys) {
  // Read the schema version through a query-only connection first: this
  // tool must never migrate a database an older attuned is serving.
  {
    const int64_t latest = store::sqlite::LatestSchemaVersion();
    ATTUNE_ASSIGN_OR_RETURN(
        std::unique_ptr<store::sqlite::Connection> conn,
        OpenReadOnlyDatabase(path, latest,
                             absl::StrCat(", this attunectl reads ", latest)));
    // No row yet: no attuned has opened it since migration 3 (plaintext).
    absl::StatusOr<std::string> mode = conn->QueryText(
        "SELECT COALESCE((SELECT mode FROM store_protection WHERE id = 1),"
        " 'plaintext')",
        "store_protection: read mode");
    if (!mode.ok()) return mode.status();
    if (*mode != store::kModeSealed) {
      keys = nullptr;
    } else if (keys == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          path,
          ": is sealed with storage keys; give the key file attuned uses "
          "with --key-file FILE (or its text in ",
          security::kStorageKeysEnv, ")"));
    }
  }
  store::SqliteStoreOptions options;
  options.path = path;
  options.keys = std::move(keys);
  return store::OpenSqliteStore(options);
}

std::vector<v1::SessionEvent> InterleaveByTime(
    std::vector<v1::SessionEvent> events) {
  // Episodes in order of their first event; each keeps its stored order.
  std::vector<std::deque<v1::SessionEvent>> episodes;
  std::map<std::string, size_t> index;
  for (v1::SessionEvent& e : events) {
    auto [it, added] = index.emplace(e.episode().episode_id(), episodes.size());
    if (added) episodes.emplace_back();
    episodes[it->second].push_back(std::move(e));
  }
  auto key = [](const v1::SessionEvent& e) {
    return std::make_pair(e.occurred_at().seconds(), e.occurred_at().nanos());
  };
  // Next event of each episode, earliest first; ties by episode order.
  using Head = std::tuple<std::pair<int64_t, int32_t>, size_t>;
  std::priority_queue<Head, std::vector<Head>, std::greater<Head>> heads;
  for (size_t i = 0; i < episodes.size(); ++i) {
    heads.emplace(key(episodes[i].front()), i);
  }
  std::vector<v1::SessionEvent> out;
  out.reserve(events.size());
  while (!heads.empty()) {
    const size_t i = std::get<1>(heads.top());
    heads.pop();
    out.push_back(std::move(episodes[i].front()));
    episodes[i].pop_front();
    if (!episodes[i].empty()) heads.emplace(key(episodes[i].front()), i);
  }
  return out;
}

absl::Status ForEachStoredEvent(
    store::Store& store, const std::string& tenant,
    const std::function<absl::Status(v1::SessionEvent&)>& fn) {
  std::string token;
  do {
    absl::StatusOr<store::EventPage> page =
        store.ScanEvents(tenant, kPageSize, token);
    if (!page.ok()) return page.status();
    for (v1::SessionEvent& event : page->events) {
      absl::Status status = fn(event);
      if (!status.ok()) return status;
    }
    token = std::move(page->next_page_token);
  } while (!token.empty());
  return absl::OkStatus();
}

}  // namespace attune::ctl
