#include "service/engine/shadow_compare.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>

namespace attune::engine {
namespace {

struct EpisodePrompts {
  std::vector<v1::Prompt> shadow;
  std::vector<v1::Prompt> live;
};

bool BySession(const v1::Prompt& a, const v1::Prompt& b) {
  if (a.raised_at_session() != b.raised_at_session()) {
    return a.raised_at_session() < b.raised_at_session();
  }
  return a.id() < b.id();
}

}  // namespace

v1::CompareShadowResponse CompareShadowPrompts(std::vector<v1::Prompt> shadow,
                                               std::vector<v1::Prompt> live,
                                               int max_episodes) {
  // Ordered by episode_id: the order the response lists them in.
  std::map<std::string, EpisodePrompts> episodes;
  for (v1::Prompt& p : shadow) {
    std::string id = p.episode().episode_id();
    episodes[id].shadow.push_back(std::move(p));
  }
  for (v1::Prompt& p : live) {
    std::string id = p.episode().episode_id();
    episodes[id].live.push_back(std::move(p));
  }

  v1::CompareShadowResponse response;
  v1::ShadowSummary& summary = *response.mutable_summary();
  for (auto& [episode_id, prompts] : episodes) {
    std::sort(prompts.shadow.begin(), prompts.shadow.end(), BySession);
    std::sort(prompts.live.begin(), prompts.live.end(), BySession);
    const bool has_shadow = !prompts.shadow.empty();
    const bool has_live = !prompts.live.empty();
    summary.set_episodes_with_shadow(summary.episodes_with_shadow() +
                                     (has_shadow ? 1 : 0));
    summary.set_episodes_with_live(summary.episodes_with_live() +
                                   (has_live ? 1 : 0));
    summary.set_episodes_with_both(summary.episodes_with_both() +
                                   (has_shadow && has_live ? 1 : 0));
    summary.set_shadow_prompts(summary.shadow_prompts() +
                               static_cast<int64_t>(prompts.shadow.size()));
    summary.set_live_prompts(summary.live_prompts() +
                             static_cast<int64_t>(prompts.live.size()));

    std::set<int> live_sessions;
    for (const v1::Prompt& p : prompts.live) {
      live_sessions.insert(p.raised_at_session());
    }
    for (const v1::Prompt& p : prompts.shadow) {
      (*summary
            .mutable_shadow_by_severity())[v1::Severity_Name(p.severity())] +=
          1;
      if (live_sessions.count(p.raised_at_session()) > 0) {
        summary.set_shadow_agreeing(summary.shadow_agreeing() + 1);
      }
    }

    if (response.episodes_size() >= max_episodes) continue;
    v1::EpisodeComparison* listed = response.add_episodes();
    listed->set_episode_id(episode_id);
    for (v1::Prompt& p : prompts.shadow) {
      *listed->add_shadow_prompts() = std::move(p);
    }
    for (v1::Prompt& p : prompts.live) {
      *listed->add_live_prompts() = std::move(p);
    }
  }
  return response;
}

}  // namespace attune::engine
