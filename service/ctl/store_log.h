// Reading a stored event log straight from an attuned database file, for
// `attunectl export` and `attunectl replay <file.db>`.
#ifndef ATTUNE_SERVICE_CTL_STORE_LOG_H_
#define ATTUNE_SERVICE_CTL_STORE_LOG_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "attune/v1/event.pb.h"
#include "service/security/key_ring.h"
#include "service/store/sqlite/connection.h"
#include "service/store/store.h"

namespace attune::ctl {

// True when the file starts with the SQLite header.
bool IsSqliteFile(const std::string& path);

// The storage keys to read a sealed database with: the key file `key_file`
// (the --key-file flag; nullopt when not given), else `env_keys` (the text
// of ATTUNE_STORAGE_KEYS) when not empty, else null. Errors are KeyRing's
// (a missing, group-readable or malformed file or variable), prefixed
// "--key-file: " for the file; they never contain key material.
absl::StatusOr<std::shared_ptr<const security::KeyRing>> LoadReadKeys(
    const std::optional<std::string>& key_file, const std::string& env_keys);

// A query-only connection to an existing attuned SQLite database whose
// schema version is between `min_version` and this build's latest; never
// creates or migrates anything. NOT_FOUND without the file,
// INVALID_ARGUMENT for a file that is not an attuned database,
// FAILED_PRECONDITION for a newer schema or one older than `min_version`
// ("<path>: schema version N<too_old_hint>; start the matching attuned on it
// once to migrate it").
absl::StatusOr<std::unique_ptr<store::sqlite::Connection>> OpenReadOnlyDatabase(
    const std::string& path, int64_t min_version,
    absl::string_view too_old_hint);

// Opens an existing attuned SQLite database to read it. NOT_FOUND when there
// is no such file (a new, empty database is never created by mistake);
// FAILED_PRECONDITION when its schema is not exactly this build's (this tool
// never migrates a database, which attuned may be serving; reading is safe
// while it does). A sealed database needs `keys` (FAILED_PRECONDITION
// naming --key-file without them; the store refuses keys other than those
// that wrote it, naming the key id). `keys` are not used on a plaintext
// database: given them, the store would seal it in place, and a reading
// tool never rewrites a database.
absl::StatusOr<std::unique_ptr<store::Store>> OpenExistingStore(
    const std::string& path,
    std::shared_ptr<const security::KeyRing> keys = nullptr);

// The events of several episodes in one timeline, as they happened: each
// episode's events keep their stored order (the order attuned received
// them), and episodes interleave by occurred_at, so cross-episode rules
// (clinician days, clinician prompts) see what the live server saw and the
// episode ids' alphabetical order shows nowhere.
std::vector<v1::SessionEvent> InterleaveByTime(
    std::vector<v1::SessionEvent> events);

// Calls `fn` for every event of `tenant`, episode by episode, each episode's
// events in the order they were stored. Stops at the first error of `fn`.
absl::Status ForEachStoredEvent(
    store::Store& store, const std::string& tenant,
    const std::function<absl::Status(v1::SessionEvent&)>& fn);

}  // namespace attune::ctl

#endif  // ATTUNE_SERVICE_CTL_STORE_LOG_H_
