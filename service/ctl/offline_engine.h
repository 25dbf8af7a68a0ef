// The pieces `attunectl replay` and `attunectl import` share: reading a
// recorded event log (JSON lines or an attuned SQLite file) and running the
// real engine over it in this process, against a store of the caller's
// choosing, with a clock that never runs behind the log.
#ifndef ATTUNE_SERVICE_CTL_OFFLINE_ENGINE_H_
#define ATTUNE_SERVICE_CTL_OFFLINE_ENGINE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "attune/v1/alliance_service.pb.h"
#include "attune/v1/config.pb.h"
#include "service/ctl/json_lines.h"
#include "service/engine/alliance_engine.h"
#include "service/security/key_ring.h"
#include "service/store/store.h"

namespace attune::ctl {

struct EventLog {
  EventLines lines;
  // The storage keys the log's database file was read with (null for a
  // JSON-lines file, or a plaintext database).
  std::shared_ptr<const security::KeyRing> keys;
};

// Reads `path`: an attuned SQLite database (the tenant's events, as they
// happened across episodes: store_log.h) or a JSON-lines file. `key_file`
// (the --key-file flag) or `env_keys` (ATTUNE_STORAGE_KEYS) unseal a
// database. Errors name the path or the flag; malformed JSON lines are
// returned in lines.errors, not as an error.
absl::StatusOr<EventLog> ReadEventLog(
    const std::string& path, const std::string& tenant,
    const std::optional<std::string>& key_file, const std::string& env_keys);

// An engine with `config`'s module set on `store` (which must outlive it).
// Its clock never runs behind the latest event of `events` (recorded events
// lie in the past; events too far after the clock are refused as future).
absl::StatusOr<std::unique_ptr<engine::AllianceEngine>> MakeOfflineEngine(
    store::Store* store, const v1::ServerConfig& config,
    const std::vector<NumberedEvent>& events);

// Submits `events` in order, in batches (SubmitBatch), and calls `on_result`
// with each event and its result, in order.
void SubmitInOrder(
    engine::AllianceEngine& engine, const std::string& tenant,
    const std::vector<NumberedEvent>& events,
    const std::function<void(const NumberedEvent&,
                             const absl::StatusOr<v1::SubmitEventResponse>&)>&
        on_result);

}  // namespace attune::ctl

#endif  // ATTUNE_SERVICE_CTL_OFFLINE_ENGINE_H_
