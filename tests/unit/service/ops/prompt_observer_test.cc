// PromptBus's observer, what attune_prompts_total counts: every local
// publish of every tenant, subscribed or not; never a relayed one.
#include <string>
#include <vector>

#include "attune/v1/prompt.pb.h"
#include "gtest/gtest.h"
#include "service/engine/prompt_bus.h"

namespace attune::engine {
namespace {

v1::Prompt PromptOn(const std::string& episode, const std::string& id) {
  v1::Prompt p;
  p.set_id(id);
  p.mutable_episode()->set_episode_id(episode);
  return p;
}

TEST(PromptObserverTest, SeesEveryLocalPublishButNoRelayedOne) {
  PromptBus bus;
  std::vector<std::string> observed;
  std::vector<std::string> delivered;
  bus.SetObserver([&](const v1::Prompt& p) { observed.push_back(p.id()); });
  bus.Subscribe(
      PromptFilter{"t1", "ep-1", ""},
      [&](const v1::Prompt& p) { delivered.push_back(p.id()); }, [] {});
  bus.Publish("t1", PromptOn("ep-1", "p-1"));
  bus.Publish("t2", PromptOn("ep-9", "p-2"));  // no subscriber: still seen
  bus.PublishRelayed("t1", PromptOn("ep-1", "p-3"));
  EXPECT_EQ(observed, (std::vector<std::string>{"p-1", "p-2"}));
  EXPECT_EQ(delivered, (std::vector<std::string>{"p-1", "p-3"}));

  bus.SetObserver(nullptr);
  bus.Publish("t1", PromptOn("ep-1", "p-4"));
  EXPECT_EQ(observed.size(), 2u);
}

}  // namespace
}  // namespace attune::engine
