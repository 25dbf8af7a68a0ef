// PromptBus: in-process fan-out of prompt changes to WatchPrompts streams.
//
// Publishing never blocks on a subscriber: callbacks must only enqueue.
// Callbacks run under the bus's lock; once Unsubscribe returns, no callback
// of that subscriber runs again.
#ifndef ATTUNE_SERVICE_ENGINE_PROMPT_BUS_H_
#define ATTUNE_SERVICE_ENGINE_PROMPT_BUS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "attune/v1/prompt.pb.h"

namespace attune::engine {

struct PromptFilter {
  std::string tenant;
  // Exactly one is set.
  std::string episode_id;
  std::string clinician_id;

  bool Matches(const std::string& prompt_tenant, const v1::Prompt& p) const;
};

class PromptBus {
 public:
  using Callback = std::function<void(const v1::Prompt&)>;
  using CloseCallback = std::function<void()>;

  // Returns a token for Unsubscribe. `on_close` runs once if the bus closes
  // while subscribed (server shutdown).
  int64_t Subscribe(PromptFilter filter, Callback on_prompt,
                    CloseCallback on_close);
  void Unsubscribe(int64_t token);
  // `observer` sees every published prompt, of every tenant, before the
  // subscribers, under the bus's lock: it must only count (metrics) and
  // never call back into the bus. Replaces the previous observer; empty
  // removes it.
  void SetObserver(Callback observer);
  void Publish(const std::string& tenant, const v1::Prompt& prompt);
  // Publish for a change another process made and already counted (a
  // prompt relayed from a shared store): subscribers get it, the observer
  // does not, so metrics summed over replicas count each change once.
  void PublishRelayed(const std::string& tenant, const v1::Prompt& prompt);
  // Tells every subscriber the stream is over; later subscriptions are
  // closed at once.
  void Close();
  size_t subscriber_count() const;

 private:
  struct Subscriber {
    PromptFilter filter;
    Callback on_prompt;
    CloseCallback on_close;
  };
  void Deliver(const std::string& tenant, const v1::Prompt& prompt,
               bool observe);

  mutable std::mutex mu_;
  std::map<int64_t, Subscriber> subscribers_;
  Callback observer_;
  int64_t next_token_ = 1;
  bool closed_ = false;
};

}  // namespace attune::engine

#endif  // ATTUNE_SERVICE_ENGINE_PROMPT_BUS_H_
