#include "service/engine/episode_cache.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace attune::engine {
namespace {

// Per entry: the key, the list node and the hash-map node, roughly.
constexpr size_t kEntryOverhead = 160;
// Messages measured per list: SpaceUsedLong walks a message by reflection
// (a whole 20-session episode cost more than the rest of a cached event),
// so a long list is estimated from evenly spaced samples.
constexpr size_t kSamples = 4;

// Heap memory of `messages` beyond the vector's own array.
template <typename M>
size_t EstimateList(const std::vector<M>& messages) {
  size_t bytes = messages.capacity() * sizeof(M);
  const size_t n = messages.size();
  if (n == 0) return bytes;
  const size_t samples = std::min(n, kSamples);
  size_t sampled = 0;
  for (size_t i = 0; i < samples; ++i) {
    const M& m = messages[i * n / samples];
    sampled += m.SpaceUsedLong() - sizeof(M);
  }
  return bytes + sampled * n / samples;
}

}  // namespace

EpisodeCache::EpisodeCache(size_t max_bytes) : max_bytes_(max_bytes) {}

std::string EpisodeCache::Key(const std::string& tenant,
                              const std::string& episode_id) {
  // Tenants are validated names without NUL, so the key is unambiguous.
  return absl::StrCat(tenant, std::string(1, '\0'), episode_id);
}

size_t EpisodeCache::EstimateBytes(const store::EpisodeSnapshot& snapshot) {
  size_t bytes = sizeof(store::EpisodeSnapshot) + kEntryOverhead;
  bytes += snapshot.assessment.SpaceUsedLong() - sizeof(v1::Assessment);
  bytes += EstimateList(snapshot.events);
  bytes += EstimateList(snapshot.prompts);
  return bytes;
}

std::optional<store::EpisodeSnapshot> EpisodeCache::Take(
    const std::string& tenant, const std::string& episode_id) {
  if (max_bytes_ == 0) return std::nullopt;
  const std::string key = Key(tenant, episode_id);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) {
    ++stats_.misses;
    return std::nullopt;
  }
  ++stats_.hits;
  Lru::iterator entry = it->second;
  index_.erase(it);
  bytes_ -= entry->bytes;
  store::EpisodeSnapshot out = std::move(entry->snapshot);
  lru_.erase(entry);
  return out;
}

void EpisodeCache::Put(const std::string& tenant, const std::string& episode_id,
                       store::EpisodeSnapshot snapshot) {
  if (max_bytes_ == 0) return;
  const size_t bytes = EstimateBytes(snapshot);
  std::string key = Key(tenant, episode_id);
  // Freed outside the lock: destroying protobuf messages is not free.
  Lru dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = index_.find(key); it != index_.end()) {
      bytes_ -= it->second->bytes;
      dropped.splice(dropped.end(), lru_, it->second);
      index_.erase(it);
    }
    if (bytes <= max_bytes_ / 8) {
      lru_.push_front(Entry{std::move(key), std::move(snapshot), bytes});
      index_.emplace(lru_.front().key, lru_.begin());
      bytes_ += bytes;
    }
    while (bytes_ > max_bytes_ && !lru_.empty()) {
      Lru::iterator last = std::prev(lru_.end());
      bytes_ -= last->bytes;
      index_.erase(last->key);
      dropped.splice(dropped.end(), lru_, last);
      ++stats_.evictions;
    }
  }
}

void EpisodeCache::CountStale() {
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.stale;
}

void EpisodeCache::Clear() {
  Lru dropped;
  std::lock_guard<std::mutex> lock(mu_);
  dropped.swap(lru_);
  index_.clear();
  bytes_ = 0;
}

EpisodeCacheStats EpisodeCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  EpisodeCacheStats out = stats_;
  out.entries = static_cast<int64_t>(index_.size());
  out.bytes = static_cast<int64_t>(bytes_);
  return out;
}

}  // namespace attune::engine
