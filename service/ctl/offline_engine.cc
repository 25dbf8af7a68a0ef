#include "service/ctl/offline_engine.h"

#include <algorithm>
#include <fstream>
#include <utility>

#include "absl/time/clock.h"
#include "service/common/status_macros.h"
#include "service/ctl/store_log.h"
#include "service/engine/episode_history.h"
#include "service/engine/module_set.h"

namespace attune::ctl {
namespace {

// Events per SubmitBatch call: big enough to group commits, small enough to
// keep the engine's per-batch state modest.
constexpr std::size_t kChunk = 500;

}  // namespace

absl::StatusOr<EventLog> ReadEventLog(
    const std::string& path, const std::string& tenant,
    const std::optional<std::string>& key_file, const std::string& env_keys) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(path + ": cannot be read");
  EventLog log;
  if (!IsSqliteFile(path)) {
    log.lines = ReadEventLines(in, path);
    return log;
  }
  absl::StatusOr<std::shared_ptr<const security::KeyRing>> keys =
      LoadReadKeys(key_file, env_keys);
  if (!keys.ok()) return keys.status();
  log.keys = *std::move(keys);
  absl::StatusOr<std::unique_ptr<store::Store>> db =
      OpenExistingStore(path, log.keys);
  if (!db.ok()) return db.status();
  std::vector<v1::SessionEvent> stored;
  ATTUNE_RETURN_IF_ERROR(
      ForEachStoredEvent(**db, tenant, [&stored](v1::SessionEvent& event) {
        stored.push_back(std::move(event));
        return absl::OkStatus();
      }));
  // Numbered as they happened, across episodes (store_log.h).
  for (v1::SessionEvent& event : InterleaveByTime(std::move(stored))) {
    log.lines.events.push_back(
        {static_cast<int>(log.lines.events.size()) + 1, std::move(event)});
  }
  return log;
}

absl::StatusOr<std::unique_ptr<engine::AllianceEngine>> MakeOfflineEngine(
    store::Store* store, const v1::ServerConfig& config,
    const std::vector<NumberedEvent>& events) {
  absl::StatusOr<std::vector<std::unique_ptr<engine::RuleModule>>> modules =
      engine::LoadRuleModules(config);
  if (!modules.ok()) return modules.status();
  absl::Time latest = absl::InfinitePast();
  for (const NumberedEvent& e : events) {
    latest = std::max(latest, engine::ToTime(e.event.occurred_at()));
  }
  const absl::Time floor = latest + absl::Hours(1);
  engine::Clock clock = [floor] { return std::max(absl::Now(), floor); };
  return engine::AllianceEngine::Create(store, config, *std::move(modules),
                                        clock);
}

void SubmitInOrder(
    engine::AllianceEngine& engine, const std::string& tenant,
    const std::vector<NumberedEvent>& events,
    const std::function<void(const NumberedEvent&,
                             const absl::StatusOr<v1::SubmitEventResponse>&)>&
        on_result) {
  for (std::size_t begin = 0; begin < events.size(); begin += kChunk) {
    const std::size_t end = std::min(events.size(), begin + kChunk);
    std::vector<v1::SessionEvent> chunk;
    for (std::size_t i = begin; i < end; ++i) chunk.push_back(events[i].event);
    std::vector<absl::StatusOr<v1::SubmitEventResponse>> responses =
        engine.SubmitBatch(tenant, chunk);
    for (std::size_t i = begin; i < end; ++i) {
      on_result(events[i], responses[i - begin]);
    }
  }
}

}  // namespace attune::ctl
