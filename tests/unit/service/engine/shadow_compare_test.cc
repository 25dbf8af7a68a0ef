// CompareShadowPrompts: grouping by episode, ordering, truncation and the
// summary, apart from any store.
#include "service/engine/shadow_compare.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace attune::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

v1::Prompt P(const std::string& id, const std::string& episode_id, int session,
             bool shadow, v1::Severity severity = v1::SEVERITY_WARNING) {
  v1::Prompt p;
  p.set_id(id);
  p.mutable_episode()->set_episode_id(episode_id);
  p.set_raised_at_session(session);
  p.set_shadow(shadow);
  p.set_severity(severity);
  return p;
}

std::vector<std::string> Ids(
    const google::protobuf::RepeatedPtrField<v1::Prompt>& prompts) {
  std::vector<std::string> ids;
  for (const v1::Prompt& p : prompts) ids.push_back(p.id());
  return ids;
}

std::vector<std::string> Episodes(const v1::CompareShadowResponse& response) {
  std::vector<std::string> ids;
  for (const v1::EpisodeComparison& e : response.episodes()) {
    ids.push_back(e.episode_id());
  }
  return ids;
}

TEST(CompareShadowPromptsTest, NothingToCompare) {
  v1::CompareShadowResponse r = CompareShadowPrompts({}, {}, 100);
  EXPECT_THAT(r.episodes(), IsEmpty());
  EXPECT_EQ(r.summary().ByteSizeLong(), 0u);
}

TEST(CompareShadowPromptsTest, GroupsByEpisodeAndOrdersBySession) {
  // Given out of order on purpose.
  std::vector<v1::Prompt> shadow = {
      P("s-3", "ep-b", 4, true),
      P("s-2", "ep-a", 6, true, v1::SEVERITY_INFO),
      P("s-1", "ep-a", 2, true),
      P("s-0", "ep-a", 6, true),
  };
  std::vector<v1::Prompt> live = {
      P("l-2", "ep-c", 1, false),
      P("l-1", "ep-a", 6, false),
      P("l-0", "ep-a", 3, false),
  };
  v1::CompareShadowResponse r = CompareShadowPrompts(shadow, live, 100);

  ASSERT_THAT(Episodes(r), ElementsAre("ep-a", "ep-b", "ep-c"));
  EXPECT_THAT(Ids(r.episodes(0).shadow_prompts()),
              ElementsAre("s-1", "s-0", "s-2"));
  EXPECT_THAT(Ids(r.episodes(0).live_prompts()), ElementsAre("l-0", "l-1"));
  EXPECT_THAT(Ids(r.episodes(1).shadow_prompts()), ElementsAre("s-3"));
  EXPECT_THAT(r.episodes(1).live_prompts(), IsEmpty());
  EXPECT_THAT(r.episodes(2).shadow_prompts(), IsEmpty());
  EXPECT_THAT(Ids(r.episodes(2).live_prompts()), ElementsAre("l-2"));
  // Prompts come back whole.
  EXPECT_TRUE(r.episodes(0).shadow_prompts(0).shadow());
  EXPECT_EQ(r.episodes(0).shadow_prompts(0).severity(), v1::SEVERITY_WARNING);

  const v1::ShadowSummary& s = r.summary();
  EXPECT_EQ(s.episodes_with_shadow(), 2);
  EXPECT_EQ(s.episodes_with_live(), 2);
  EXPECT_EQ(s.episodes_with_both(), 1);
  EXPECT_EQ(s.shadow_prompts(), 4);
  EXPECT_EQ(s.live_prompts(), 3);
  EXPECT_THAT(s.shadow_by_severity(),
              UnorderedElementsAre(Pair("SEVERITY_WARNING", 3),
                                   Pair("SEVERITY_INFO", 1)));
  // s-0 and s-2 share session 6 with l-1 in ep-a; s-1 (session 2) has no
  // live partner, and s-3 is in an episode without live prompts.
  EXPECT_EQ(s.shadow_agreeing(), 2);
}

TEST(CompareShadowPromptsTest, AgreementIsWithinTheSameEpisodeOnly) {
  v1::CompareShadowResponse r = CompareShadowPrompts(
      {P("s-1", "ep-a", 3, true)}, {P("l-1", "ep-b", 3, false)}, 100);
  EXPECT_EQ(r.summary().shadow_agreeing(), 0);
  EXPECT_EQ(r.summary().episodes_with_both(), 0);
}

TEST(CompareShadowPromptsTest, MaxEpisodesLimitsTheListNotTheSummary) {
  std::vector<v1::Prompt> shadow;
  std::vector<v1::Prompt> live;
  for (const char* ep : {"ep-5", "ep-2", "ep-4", "ep-1", "ep-3"}) {
    shadow.push_back(P(std::string("s-") + ep, ep, 1, true));
    live.push_back(P(std::string("l-") + ep, ep, 1, false));
  }
  v1::CompareShadowResponse r = CompareShadowPrompts(shadow, live, 2);
  EXPECT_THAT(Episodes(r), ElementsAre("ep-1", "ep-2"));
  EXPECT_EQ(r.summary().episodes_with_shadow(), 5);
  EXPECT_EQ(r.summary().episodes_with_both(), 5);
  EXPECT_EQ(r.summary().shadow_prompts(), 5);
  EXPECT_EQ(r.summary().live_prompts(), 5);
  EXPECT_EQ(r.summary().shadow_agreeing(), 5);

  EXPECT_THAT(Episodes(CompareShadowPrompts(shadow, live, 1)),
              ElementsAre("ep-1"));
  EXPECT_THAT(Episodes(CompareShadowPrompts(shadow, live, 5)),
              testing::SizeIs(5));
}

}  // namespace
}  // namespace attune::engine
