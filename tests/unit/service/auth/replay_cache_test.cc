#include "service/auth/replay_cache.h"

#include "gtest/gtest.h"

namespace attune::auth {
namespace {

using Result = JtiReplayCache::Result;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

TEST(JtiReplayCacheTest, SecondUseIsAReplayUntilForgotten) {
  JtiReplayCache cache(10);
  absl::Time forget = kNow + absl::Minutes(5);
  EXPECT_EQ(cache.Insert("iss", "a", forget, kNow), Result::kFirstUse);
  EXPECT_EQ(cache.Insert("iss", "a", forget, kNow + absl::Minutes(4)),
            Result::kReplayed);
  EXPECT_EQ(cache.Insert("iss", "a", forget + absl::Minutes(5), forget),
            Result::kFirstUse);
}

TEST(JtiReplayCacheTest, IdsArePerIssuer) {
  JtiReplayCache cache(10);
  absl::Time forget = kNow + absl::Minutes(5);
  EXPECT_EQ(cache.Insert("ab", "c", forget, kNow), Result::kFirstUse);
  EXPECT_EQ(cache.Insert("a", "bc", forget, kNow), Result::kFirstUse);
  EXPECT_EQ(cache.Insert("other", "c", forget, kNow), Result::kFirstUse);
}

TEST(JtiReplayCacheTest, FullCacheRefusesNewIdsAndKeepsOldOnes) {
  JtiReplayCache cache(2);
  EXPECT_EQ(cache.Insert("iss", "a", kNow + absl::Minutes(1), kNow),
            Result::kFirstUse);
  EXPECT_EQ(cache.Insert("iss", "b", kNow + absl::Minutes(2), kNow),
            Result::kFirstUse);
  EXPECT_EQ(cache.Insert("iss", "c", kNow + absl::Minutes(2), kNow),
            Result::kFull);
  EXPECT_EQ(cache.Insert("iss", "a", kNow + absl::Minutes(1), kNow),
            Result::kReplayed);
  EXPECT_EQ(cache.size(), 2u);
  // "a" is forgotten at its time; that frees one place.
  absl::Time later = kNow + absl::Minutes(1);
  EXPECT_EQ(cache.Insert("iss", "c", kNow + absl::Minutes(3), later),
            Result::kFirstUse);
  EXPECT_EQ(cache.Insert("iss", "d", kNow + absl::Minutes(3), later),
            Result::kFull);
}

}  // namespace
}  // namespace attune::auth
