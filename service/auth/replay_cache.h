// A bounded set of token ids (JWT "jti") seen by this process, each kept
// until the token it came from can no longer be accepted.
//
//   JtiReplayCache cache(100000);
//   switch (cache.Insert(issuer, jti, token_expiry + skew, now)) { ... }
//
// Ids are per issuer (two issuers may mint the same jti). The cache is
// per process: replicas do not share it, so a token can be presented once to
// each replica. When full (after dropping expired entries) new ids are
// refused rather than old ones forgotten: forgetting an unexpired id would
// let that token be replayed, while refusing costs availability only until
// the oldest tokens expire (at most the verifier's max token lifetime plus
// skew), and only holders of validly signed tokens can fill the cache.
// Thread-safe.
#ifndef ATTUNE_SERVICE_AUTH_REPLAY_CACHE_H_
#define ATTUNE_SERVICE_AUTH_REPLAY_CACHE_H_

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace attune::auth {

class JtiReplayCache {
 public:
  enum class Result {
    kFirstUse,  // recorded; the token may be accepted
    kReplayed,  // seen before and not yet expired
    kFull,      // not recorded: the cache holds max_entries live ids
  };

  explicit JtiReplayCache(size_t max_entries) : max_entries_(max_entries) {}

  // Records (issuer, jti) until `forget_after`. Entries whose forget_after
  // is at or before `now` are dropped first.
  Result Insert(std::string_view issuer, std::string_view jti,
                absl::Time forget_after, absl::Time now);

  size_t size() const;

 private:
  void DropExpired(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t max_entries_;
  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> ids_ ABSL_GUARDED_BY(mu_);
  // forget_after -> id, oldest first, so expiry is a walk from the front.
  std::multimap<absl::Time, std::string> by_expiry_ ABSL_GUARDED_BY(mu_);
};

}  // namespace attune::auth

#endif  // ATTUNE_SERVICE_AUTH_REPLAY_CACHE_H_
