#include "service/server/rate_limiter.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace attune::server {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1700000000);

// Rates and times are powers of two, so the arithmetic is exact.
TEST(TokenBucketTest, StartsFullThenRefusesWithTheTimeUntilTheNextToken) {
  TokenBucket bucket(/*rate=*/4, /*burst=*/3, kStart);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(bucket.Take(kStart), absl::ZeroDuration()) << i;
  }
  // Empty: one token comes every 250 ms.
  EXPECT_EQ(bucket.Take(kStart), absl::Milliseconds(250));
  // A refused call takes nothing: 125 ms later the wait is 125 ms.
  EXPECT_EQ(bucket.Take(kStart + absl::Milliseconds(125)),
            absl::Milliseconds(125));
  EXPECT_EQ(bucket.Take(kStart + absl::Milliseconds(250)),
            absl::ZeroDuration());
  EXPECT_EQ(bucket.Take(kStart + absl::Milliseconds(250)),
            absl::Milliseconds(250));
}

TEST(TokenBucketTest, RefillsAtTheRateUpToTheBurst) {
  TokenBucket bucket(/*rate=*/2, /*burst=*/4, kStart);
  for (int i = 0; i < 4; ++i) bucket.Take(kStart);
  // An hour idle refills only up to the burst.
  const absl::Time later = kStart + absl::Hours(1);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(bucket.Take(later), absl::ZeroDuration()) << i;
  }
  EXPECT_EQ(bucket.Take(later), absl::Milliseconds(500));
  // Sustained: two calls a second.
  EXPECT_EQ(bucket.Take(later + absl::Seconds(1)), absl::ZeroDuration());
  EXPECT_EQ(bucket.Take(later + absl::Seconds(1)), absl::ZeroDuration());
  EXPECT_GT(bucket.Take(later + absl::Seconds(1)), absl::ZeroDuration());
}

TEST(TokenBucketTest, AClockGoingBackwardsRefillsNothing) {
  TokenBucket bucket(/*rate=*/1, /*burst=*/1, kStart);
  EXPECT_EQ(bucket.Take(kStart), absl::ZeroDuration());
  EXPECT_EQ(bucket.Take(kStart - absl::Hours(1)), absl::Seconds(1));
  EXPECT_EQ(bucket.Take(kStart + absl::Seconds(1)), absl::ZeroDuration());
}

TEST(TokenBucketTest, FullAtSaysWhenTheBucketIsLikeNewAgain) {
  TokenBucket bucket(/*rate=*/4, /*burst=*/2, kStart);
  absl::Duration until_full;
  EXPECT_TRUE(bucket.FullAt(kStart, &until_full));
  bucket.Take(kStart);
  bucket.Take(kStart);
  ASSERT_FALSE(bucket.FullAt(kStart, &until_full));
  EXPECT_EQ(until_full, absl::Milliseconds(500));
  EXPECT_TRUE(bucket.FullAt(kStart + absl::Milliseconds(500), &until_full));
}

class TenantRateLimiterTest : public ::testing::Test {
 protected:
  TenantRateLimiter::Clock Clock() {
    return [this] { return now_; };
  }
  absl::Time now_ = kStart;
};

TEST_F(TenantRateLimiterTest, TenantsHaveTheirOwnBuckets) {
  TenantRateLimiter limiter({.calls_per_second = 1, .burst = 2}, Clock());
  EXPECT_EQ(limiter.Acquire("a"), absl::ZeroDuration());
  EXPECT_EQ(limiter.Acquire("a"), absl::ZeroDuration());
  EXPECT_EQ(limiter.Acquire("a"), absl::Seconds(1));
  // b is not slowed down by a.
  EXPECT_EQ(limiter.Acquire("b"), absl::ZeroDuration());
  EXPECT_EQ(limiter.Acquire("b"), absl::ZeroDuration());
  EXPECT_EQ(limiter.Acquire("b"), absl::Seconds(1));
  now_ += absl::Seconds(1);
  EXPECT_EQ(limiter.Acquire("a"), absl::ZeroDuration());
  EXPECT_EQ(limiter.tenants(), 2u);
}

TEST_F(TenantRateLimiterTest, TableStaysBoundedAndForgetsOnlyRefilledBuckets) {
  TenantRateLimiter limiter(
      {.calls_per_second = 1, .burst = 2, .max_tenants = 3}, Clock());
  // Three busy tenants fill the table.
  for (const char* t : {"a", "b", "c"}) {
    EXPECT_EQ(limiter.Acquire(t), absl::ZeroDuration());
    EXPECT_EQ(limiter.Acquire(t), absl::ZeroDuration());
  }
  // A fourth is refused until the first bucket has refilled (2 tokens at
  // 1 a second), and the busy tenants keep their limits meanwhile.
  EXPECT_EQ(limiter.Acquire("d"), absl::Seconds(2));
  EXPECT_EQ(limiter.Acquire("a"), absl::Seconds(1));
  now_ += absl::Seconds(1);
  EXPECT_EQ(limiter.Acquire("a"), absl::ZeroDuration());
  EXPECT_EQ(limiter.Acquire("e"), absl::Seconds(1));
  EXPECT_EQ(limiter.tenants(), 3u);

  // a used a token at 1 s, so only b and c have refilled at 2 s.
  now_ += absl::Seconds(1);
  EXPECT_EQ(limiter.Acquire("d"), absl::ZeroDuration());
  EXPECT_EQ(limiter.Acquire("e"), absl::ZeroDuration());
  EXPECT_EQ(limiter.tenants(), 3u);
  // a's bucket was kept: it still has one token used.
  EXPECT_EQ(limiter.Acquire("a"), absl::ZeroDuration());
  EXPECT_EQ(limiter.Acquire("a"), absl::Seconds(1));
}

TEST_F(TenantRateLimiterTest, ManyIdleTenantsNeverGrowTheTable) {
  TenantRateLimiter limiter(
      {.calls_per_second = 128, .burst = 1, .max_tenants = 10}, Clock());
  for (int i = 0; i < 1000; ++i) {
    // Each bucket has refilled (1/128 s) by the next call.
    now_ += absl::Seconds(1) / 128;
    EXPECT_EQ(limiter.Acquire(absl::StrCat("tenant-", i)), absl::ZeroDuration())
        << i;
    EXPECT_LE(limiter.tenants(), 10u);
  }
}

}  // namespace
}  // namespace attune::server
