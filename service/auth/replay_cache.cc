#include "service/auth/replay_cache.h"

#include <string>
#include <utility>

namespace attune::auth {

JtiReplayCache::Result JtiReplayCache::Insert(std::string_view issuer,
                                              std::string_view jti,
                                              absl::Time forget_after,
                                              absl::Time now) {
  // Length-prefixed so ("ab", "c") and ("a", "bc") stay distinct.
  std::string id = std::to_string(issuer.size());
  id += ':';
  id += issuer;
  id += jti;
  absl::MutexLock lock(&mu_);
  DropExpired(now);
  if (ids_.contains(id)) return Result::kReplayed;
  if (ids_.size() >= max_entries_) return Result::kFull;
  ids_.insert(id);
  by_expiry_.emplace(forget_after, std::move(id));
  return Result::kFirstUse;
}

size_t JtiReplayCache::size() const {
  absl::MutexLock lock(&mu_);
  return ids_.size();
}

void JtiReplayCache::DropExpired(absl::Time now) {
  while (!by_expiry_.empty() && by_expiry_.begin()->first <= now) {
    ids_.erase(by_expiry_.begin()->second);
    by_expiry_.erase(by_expiry_.begin());
  }
}

}  // namespace attune::auth
