#include "service/engine/episode_cache.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace attune::engine {
namespace {

store::EpisodeSnapshot Episode(int version, int events) {
  store::EpisodeSnapshot s;
  s.exists = true;
  s.version = version;
  for (int i = 0; i < events; ++i) {
    v1::SessionEvent& e = s.events.emplace_back();
    e.set_event_id(absl::StrCat("event-", i));
    e.mutable_episode()->set_episode_id("episode");
  }
  return s;
}

TEST(EpisodeCacheTest, TakeGivesTheEntryOnceAndCounts) {
  EpisodeCache cache(1 << 20);
  EXPECT_FALSE(cache.Take("t", "a").has_value());
  cache.Put("t", "a", Episode(3, 2));
  std::optional<store::EpisodeSnapshot> got = cache.Take("t", "a");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->version, 3);
  EXPECT_EQ(got->events.size(), 2u);
  // Taken means owned by the caller: not there for anyone else.
  EXPECT_FALSE(cache.Take("t", "a").has_value());
  EpisodeCacheStats stats = cache.stats();
  EXPECT_EQ(stats.hits, 1);
  EXPECT_EQ(stats.misses, 2);
  EXPECT_EQ(stats.entries, 0);
  EXPECT_EQ(stats.bytes, 0);
}

TEST(EpisodeCacheTest, TenantsAndEpisodesAreSeparateKeys) {
  EpisodeCache cache(1 << 20);
  cache.Put("t1", "a", Episode(1, 1));
  cache.Put("t2", "a", Episode(2, 1));
  // A tenant/episode split elsewhere must not collide.
  cache.Put("t", "1a", Episode(3, 1));
  EXPECT_EQ(cache.Take("t2", "a")->version, 2);
  EXPECT_EQ(cache.Take("t1", "a")->version, 1);
  EXPECT_FALSE(cache.Take("t1", "1a").has_value());
  EXPECT_EQ(cache.Take("t", "1a")->version, 3);
}

TEST(EpisodeCacheTest, PutReplacesAndTheBudgetDropsTheLeastRecentlyUsed) {
  const size_t one = EpisodeCache::EstimateBytes(Episode(1, 10));
  // Room for about nine episodes of ten events.
  EpisodeCache cache(one * 9 + one / 2);
  for (int i = 0; i < 9; ++i)
    cache.Put("t", absl::StrCat("e", i), Episode(1, 10));
  EXPECT_EQ(cache.stats().entries, 9);
  cache.Put("t", "e0", Episode(2, 10));  // replaces, now most recent
  EXPECT_EQ(cache.stats().entries, 9);
  EXPECT_LE(static_cast<size_t>(cache.stats().bytes), cache.max_bytes());
  cache.Put("t", "e9", Episode(1, 10));  // over budget: e1 is the oldest
  EXPECT_EQ(cache.stats().entries, 9);
  EXPECT_EQ(cache.stats().evictions, 1);
  EXPECT_FALSE(cache.Take("t", "e1").has_value());
  EXPECT_EQ(cache.Take("t", "e0")->version, 2);
  EXPECT_TRUE(cache.Take("t", "e9").has_value());
}

TEST(EpisodeCacheTest, AnEpisodeOverAnEighthOfTheBudgetIsNotKept) {
  const size_t small = EpisodeCache::EstimateBytes(Episode(1, 1));
  EpisodeCache cache(small * 8);
  cache.Put("t", "big", Episode(1, 100));
  EXPECT_EQ(cache.stats().entries, 0);
  EXPECT_FALSE(cache.Take("t", "big").has_value());
  cache.Put("t", "small", Episode(1, 1));
  EXPECT_EQ(cache.stats().entries, 1);
}

TEST(EpisodeCacheTest, ClearAndAZeroBudgetHoldNothing) {
  EpisodeCache cache(1 << 20);
  cache.Put("t", "a", Episode(1, 3));
  cache.Put("t", "b", Episode(1, 3));
  cache.Clear();
  EXPECT_EQ(cache.stats().entries, 0);
  EXPECT_EQ(cache.stats().bytes, 0);
  EXPECT_FALSE(cache.Take("t", "a").has_value());

  EpisodeCache off(0);
  off.Put("t", "a", Episode(1, 1));
  EXPECT_FALSE(off.Take("t", "a").has_value());
  EXPECT_EQ(off.stats().entries, 0);
}

TEST(EpisodeCacheTest, EstimateGrowsWithTheEpisode) {
  EXPECT_LT(EpisodeCache::EstimateBytes(Episode(1, 1)),
            EpisodeCache::EstimateBytes(Episode(1, 20)));
}

}  // namespace
}  // namespace attune::engine
