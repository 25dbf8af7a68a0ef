// Where attuned's storage keys come from: store.key_file, else the
// ATTUNE_STORAGE_KEYS environment variable, else nothing, which is allowed
// only with store.allow_plaintext (synthetic data).
//
//   ATTUNE_ASSIGN_OR_RETURN(
//       config::StorageKeys keys,
//       config::LoadStorageKeys(config, config::StorageKeysFromEnvironment()));
//   options.keys = keys.ring;  // null: plaintext
//
// Errors name the config field, the file or the variable, never key
// material. Kept free of process globals (the environment is a parameter)
// so that tests drive every branch.
#ifndef ATTUNE_SERVICE_CONFIG_STORAGE_KEYS_H_
#define ATTUNE_SERVICE_CONFIG_STORAGE_KEYS_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "attune/v1/config.pb.h"
#include "service/security/key_ring.h"

namespace attune::config {

struct StorageKeys {
  // The ring to seal storage with; null when plaintext is allowed and no
  // keys are configured.
  std::shared_ptr<const security::KeyRing> ring;
  // Where the ring came from, for the start-up log: "store.key_file" or
  // "ATTUNE_STORAGE_KEYS"; empty without a ring.
  std::string source;
};

// The value of ATTUNE_STORAGE_KEYS, or nullopt when it is unset or empty (an
// empty variable counts as unset, as ATTUNE_SERVER does for attunectl).
std::optional<std::string> StorageKeysFromEnvironment();

// The storage keys `config` asks for. `env_keys` is the text of
// ATTUNE_STORAGE_KEYS (nullopt: unset), used only when store.key_file is
// unset. Errors:
// - store.key_file set but unusable: its KeyRing::FromFile status, the
//   message prefixed "store.key_file: " (missing file, symbolic link, group-
//   or world-readable, malformed line "<path>:<line>: ...").
// - the variable malformed: INVALID_ARGUMENT "ATTUNE_STORAGE_KEYS:<line>:
//   ...".
// - neither, and store.allow_plaintext not true: FAILED_PRECONDITION
//   "store.key_file: required: ..." telling how to make a key file.
absl::StatusOr<StorageKeys> LoadStorageKeys(
    const v1::ServerConfig& config, const std::optional<std::string>& env_keys);

}  // namespace attune::config

#endif  // ATTUNE_SERVICE_CONFIG_STORAGE_KEYS_H_
