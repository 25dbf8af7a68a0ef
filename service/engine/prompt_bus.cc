#include "service/engine/prompt_bus.h"

namespace attune::engine {

bool PromptFilter::Matches(const std::string& prompt_tenant,
                           const v1::Prompt& p) const {
  if (prompt_tenant != tenant) return false;
  if (!episode_id.empty()) return p.episode().episode_id() == episode_id;
  return p.episode().clinician_id() == clinician_id;
}

int64_t PromptBus::Subscribe(PromptFilter filter, Callback on_prompt,
                             CloseCallback on_close) {
  std::unique_lock<std::mutex> lock(mu_);
  if (closed_) {
    lock.unlock();
    on_close();
    return 0;
  }
  int64_t token = next_token_++;
  subscribers_[token] =
      Subscriber{std::move(filter), std::move(on_prompt), std::move(on_close)};
  return token;
}

void PromptBus::Unsubscribe(int64_t token) {
  std::lock_guard<std::mutex> lock(mu_);
  subscribers_.erase(token);
}

void PromptBus::SetObserver(Callback observer) {
  std::lock_guard<std::mutex> lock(mu_);
  observer_ = std::move(observer);
}

void PromptBus::Publish(const std::string& tenant, const v1::Prompt& prompt) {
  Deliver(tenant, prompt, /*observe=*/true);
}

void PromptBus::PublishRelayed(const std::string& tenant,
                               const v1::Prompt& prompt) {
  Deliver(tenant, prompt, /*observe=*/false);
}

void PromptBus::Deliver(const std::string& tenant, const v1::Prompt& prompt,
                        bool observe) {
  std::lock_guard<std::mutex> lock(mu_);
  if (observe && observer_) observer_(prompt);
  for (auto& [token, sub] : subscribers_) {
    if (sub.filter.Matches(tenant, prompt)) sub.on_prompt(prompt);
  }
}

void PromptBus::Close() {
  // on_close runs under the lock, like on_prompt in Publish, so a subscriber
  // that unsubscribes concurrently (and frees itself) is never called after.
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  for (auto& [token, sub] : subscribers_) sub.on_close();
  subscribers_.clear();
}

size_t PromptBus::subscriber_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return subscribers_.size();
}

}  // namespace attune::engine
