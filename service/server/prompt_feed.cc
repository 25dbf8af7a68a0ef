#include "service/server/prompt_feed.h"

#include <string>

#include "service/common/log.h"

namespace attune::server {

absl::StatusOr<std::unique_ptr<store::PromptFeed>> RelayCommittedPrompts(
    store::Store& backend, engine::PromptBus& bus) {
  absl::StatusOr<std::unique_ptr<store::PromptFeed>> feed =
      backend.WatchCommittedPrompts(
          [&bus](const std::string& tenant, const v1::Prompt& prompt) {
            bus.PublishRelayed(tenant, prompt);
          });
  if (absl::IsUnimplemented(feed.status())) return nullptr;
  if (feed.ok()) {
    ATTUNE_LOG(INFO) << "relaying prompts committed by other replicas";
  }
  return feed;
}

}  // namespace attune::server
