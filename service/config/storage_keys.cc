#include "service/config/storage_keys.h"

#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace attune::config {

std::optional<std::string> StorageKeysFromEnvironment() {
  const char* value = std::getenv(security::kStorageKeysEnv);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

absl::StatusOr<StorageKeys> LoadStorageKeys(
    const v1::ServerConfig& config,
    const std::optional<std::string>& env_keys) {
  const v1::StoreConfig& store = config.store();
  if (!store.key_file().empty()) {
    absl::StatusOr<std::shared_ptr<const security::KeyRing>> ring =
        security::KeyRing::FromFile(store.key_file());
    if (!ring.ok()) {
      // KeyRing's messages name the path and line, never key material.
      return absl::Status(
          ring.status().code(),
          absl::StrCat("store.key_file: ", ring.status().message()));
    }
    return StorageKeys{*std::move(ring), "store.key_file"};
  }
  if (env_keys.has_value()) {
    absl::StatusOr<std::shared_ptr<const security::KeyRing>> ring =
        security::KeyRing::FromText(*env_keys, security::kStorageKeysEnv);
    if (!ring.ok()) return ring.status();
    return StorageKeys{*std::move(ring), security::kStorageKeysEnv};
  }
  if (store.allow_plaintext()) return StorageKeys{};
  return absl::FailedPreconditionError(
      "store.key_file: required: storage keys protect identifiers at rest "
      "(generate a file with `attunectl keys generate --out FILE`), or set "
      "store.allow_plaintext: true for synthetic data");
}

}  // namespace attune::config
