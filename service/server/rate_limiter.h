// Per-tenant rate limiting at the gRPC edge (LimitsConfig
// tenant_calls_per_second / tenant_burst): one token bucket per tenant, one
// token per call (a SubmitEvents batch is one call).
//
//   TenantRateLimiter limiter({.calls_per_second = 1000, .burst = 2000});
//   absl::Duration wait = limiter.Acquire(caller.tenant);
//   if (wait > absl::ZeroDuration()) ... RESOURCE_EXHAUSTED, retry after wait
//
// Memory: a bucket that has refilled to `burst` behaves exactly like a new
// one, so it is dropped when the table is full; the table never holds more
// than `max_tenants` buckets. When every bucket in a full table is still
// refilling (more than max_tenants tenants busy at once, which only holders
// of valid credentials can cause), a tenant without a bucket is refused until
// the first of them has refilled: memory stays bounded and the tenants
// already served keep their limits.
//
// Threading: thread-safe; one mutex around the table (a call holds it for a
// hash lookup and a few arithmetic operations, or for one sweep of the table
// at most once per refill time).
#ifndef ATTUNE_SERVICE_SERVER_RATE_LIMITER_H_
#define ATTUNE_SERVICE_SERVER_RATE_LIMITER_H_

#include <cstddef>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace attune::server {

// A token bucket: holds up to `burst` tokens, refills at `rate` tokens per
// second, starts full. Not thread-safe (TenantRateLimiter locks around it).
class TokenBucket {
 public:
  // `rate` > 0 and `burst` >= 1 (the configuration is validated before).
  TokenBucket(double rate, double burst, absl::Time now);

  // Takes one token: zero when there was one, else how long until there is
  // one (nothing is taken then). A clock that goes backwards refills nothing.
  absl::Duration Take(absl::Time now);

  // Whether the bucket has refilled completely by `now` (it then behaves as a
  // new bucket would); otherwise sets `*until_full` to the time until it has.
  bool FullAt(absl::Time now, absl::Duration* until_full) const;

 private:
  void Refill(absl::Time now);

  double rate_;
  double burst_;
  double tokens_;
  absl::Time updated_;
};

struct RateLimitOptions {
  // Sustained calls per second per tenant; > 0.
  double calls_per_second = 1000;
  // Calls a tenant may make at once after being idle; >= 1.
  double burst = 2000;
  // Most buckets kept at once (see the header comment).
  size_t max_tenants = 10000;
};

class TenantRateLimiter {
 public:
  using Clock = std::function<absl::Time()>;

  // `clock` is called once per Acquire, under the lock.
  explicit TenantRateLimiter(RateLimitOptions options,
                             Clock clock = &absl::Now);

  // Counts one call of `tenant`: zero when it may go ahead, else the time
  // after which a retry can succeed (the call must then do nothing).
  absl::Duration Acquire(absl::string_view tenant);

  // Buckets held now (tests).
  size_t tenants() const;

 private:
  // Drops the buckets that have refilled. When none has, sets next_sweep_
  // to when the first of them will have.
  void SweepLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RateLimitOptions options_;
  const Clock clock_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, TokenBucket> buckets_ ABSL_GUARDED_BY(mu_);
  // A table that a sweep left full is not swept again before this time:
  // until then no bucket in it can have refilled.
  absl::Time next_sweep_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace attune::server

#endif  // ATTUNE_SERVICE_SERVER_RATE_LIMITER_H_
