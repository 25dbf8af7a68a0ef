#include "service/server/rate_limiter.h"

#include <algorithm>
#include <utility>

namespace attune::server {

TokenBucket::TokenBucket(double rate, double burst, absl::Time now)
    : rate_(rate), burst_(burst), tokens_(burst), updated_(now) {}

void TokenBucket::Refill(absl::Time now) {
  if (now <= updated_) return;
  tokens_ =
      std::min(burst_, tokens_ + absl::ToDoubleSeconds(now - updated_) * rate_);
  updated_ = now;
}

absl::Duration TokenBucket::Take(absl::Time now) {
  Refill(now);
  if (tokens_ >= 1) {
    tokens_ -= 1;
    return absl::ZeroDuration();
  }
  return absl::Seconds((1 - tokens_) / rate_);
}

bool TokenBucket::FullAt(absl::Time now, absl::Duration* until_full) const {
  double tokens = tokens_;
  if (now > updated_) {
    tokens += absl::ToDoubleSeconds(now - updated_) * rate_;
  }
  if (tokens >= burst_) return true;
  *until_full = absl::Seconds((burst_ - tokens) / rate_);
  return false;
}

TenantRateLimiter::TenantRateLimiter(RateLimitOptions options, Clock clock)
    : options_(options), clock_(std::move(clock)) {}

absl::Duration TenantRateLimiter::Acquire(absl::string_view tenant) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_();
  auto it = buckets_.find(tenant);
  if (it == buckets_.end()) {
    if (buckets_.size() >= options_.max_tenants) {
      if (now >= next_sweep_) SweepLocked(now);
      if (buckets_.size() >= options_.max_tenants) {
        return std::max(next_sweep_ - now, absl::Milliseconds(1));
      }
    }
    it = buckets_
             .emplace(
                 std::string(tenant),
                 TokenBucket(options_.calls_per_second, options_.burst, now))
             .first;
  }
  return it->second.Take(now);
}

size_t TenantRateLimiter::tenants() const {
  absl::MutexLock lock(&mu_);
  return buckets_.size();
}

void TenantRateLimiter::SweepLocked(absl::Time now) {
  absl::Duration soonest = absl::InfiniteDuration();
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    absl::Duration until_full;
    if (it->second.FullAt(now, &until_full)) {
      // erase() leaves the other iterators valid.
      buckets_.erase(it++);
    } else {
      soonest = std::min(soonest, until_full);
      ++it;
    }
  }
  // Still full: no bucket can be added, so none can refill before the
  // soonest of these. Otherwise the next time the table fills up (after as
  // many new tenants as it has room for) it is swept again.
  next_sweep_ = buckets_.size() >= options_.max_tenants ? now + soonest
                                                        : absl::InfinitePast();
}

}  // namespace attune::server
