// EpisodeCache: episodes kept in memory between their events, so the next
// event of a recently seen episode is not re-read (and re-decrypted and
// re-parsed) from the store.
//
// The engine takes an entry out while it holds the episode's lock, checks
// it against the stored version (Store::EpisodeVersion), works on it and
// puts it back once every commit it prepared from it is durable. An entry
// is therefore never shared: whoever took it owns it until Put. Anything
// that leaves an entry's state in doubt (a failed or conflicting commit)
// simply does not put it back; the next event loads the episode afresh.
//
// Bounded by an estimate of the memory the entries use (their protobuf
// messages' SpaceUsedLong, long lists from a few evenly spaced samples, plus
// bookkeeping); least recently used entries are dropped first. Thread-safe.
#ifndef ATTUNE_SERVICE_ENGINE_EPISODE_CACHE_H_
#define ATTUNE_SERVICE_ENGINE_EPISODE_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "service/store/store.h"

namespace attune::engine {

struct EpisodeCacheStats {
  int64_t hits = 0;
  int64_t misses = 0;
  // Entries taken out but found older than the stored episode.
  int64_t stale = 0;
  int64_t evictions = 0;
  int64_t entries = 0;
  int64_t bytes = 0;
};

class EpisodeCache {
 public:
  // `max_bytes` 0: a cache that never holds anything.
  explicit EpisodeCache(size_t max_bytes);

  EpisodeCache(const EpisodeCache&) = delete;
  EpisodeCache& operator=(const EpisodeCache&) = delete;

  // Removes the entry and gives it to the caller (nullopt on a miss).
  std::optional<store::EpisodeSnapshot> Take(const std::string& tenant,
                                             const std::string& episode_id);
  // Keeps `snapshot` (replacing any entry for the episode), then drops least
  // recently used entries until the estimate fits. An episode larger than
  // an eighth of the budget is not kept.
  void Put(const std::string& tenant, const std::string& episode_id,
           store::EpisodeSnapshot snapshot);
  // Counts an entry the caller took but found stale.
  void CountStale();
  // Drops every entry (after an erasure, say).
  void Clear();

  EpisodeCacheStats stats() const;
  size_t max_bytes() const { return max_bytes_; }

  // The estimate Put uses for one snapshot.
  static size_t EstimateBytes(const store::EpisodeSnapshot& snapshot);

 private:
  struct Entry {
    std::string key;
    store::EpisodeSnapshot snapshot;
    size_t bytes = 0;
  };
  using Lru = std::list<Entry>;  // most recently used first

  static std::string Key(const std::string& tenant,
                         const std::string& episode_id);

  const size_t max_bytes_;
  mutable std::mutex mu_;
  Lru lru_;
  std::unordered_map<std::string, Lru::iterator> index_;
  size_t bytes_ = 0;
  EpisodeCacheStats stats_;
};

}  // namespace attune::engine

#endif  // ATTUNE_SERVICE_ENGINE_EPISODE_CACHE_H_
