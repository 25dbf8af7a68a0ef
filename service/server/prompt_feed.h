// RelayCommittedPrompts: brings prompt changes that other attuned replicas
// committed to a shared store (Store::WatchCommittedPrompts) onto this
// process's PromptBus, so WatchPrompts on replica A sees a prompt raised by
// an event submitted to replica B.
//
//   ATTUNE_ASSIGN_OR_RETURN(feed, RelayCommittedPrompts(backend, bus));
//   ... // destroy `feed` before the bus and the store
//
// Best effort, as the store's hook says: a change committed while the
// store's notification connection was down is not relayed, so a
// WatchPrompts client that must not miss one re-lists (ListPrompts) after
// its stream ends and now and then. A relayed prompt passes the bus's
// observer like a local one (prompt metrics count it on every replica).
#ifndef ATTUNE_SERVICE_SERVER_PROMPT_FEED_H_
#define ATTUNE_SERVICE_SERVER_PROMPT_FEED_H_

#include <memory>

#include "absl/status/statusor.h"
#include "service/engine/prompt_bus.h"
#include "service/store/store.h"

namespace attune::server {

// Subscribes `bus` to the prompts other processes commit to `backend` (the
// real store, not a decorator that does not forward the hook). Returns null
// when the backend has no such feed (UNIMPLEMENTED: SQLite, one process),
// else the feed, which must be destroyed before `bus` and `backend`.
// Errors: the backend's (UNAVAILABLE when its server cannot be reached).
absl::StatusOr<std::unique_ptr<store::PromptFeed>> RelayCommittedPrompts(
    store::Store& backend, engine::PromptBus& bus);

}  // namespace attune::server

#endif  // ATTUNE_SERVICE_SERVER_PROMPT_FEED_H_
