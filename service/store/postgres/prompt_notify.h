// Cross-replica prompt notifications (Store::WatchCommittedPrompts) over
// PostgreSQL LISTEN/NOTIFY.
//
// Sending: the group commit (postgres_store.cc) calls pg_notify on
// kPromptChannel inside the batch's transaction, just before COMMIT, with
// the ids of the live prompts its successful commits upserted, grouped per
// tenant. PostgreSQL delivers a notification only when its transaction
// commits, so a rolled-back batch (or a commit rolled back to its
// savepoint, which is left out) notifies nothing. A payload holds only
// opaque ids: the sending store's origin id (random, per process), the
// tenant and prompt ids, never a prompt's contents; ids that do not fit in
// one payload are split over several, each under kMaxPromptPayload bytes
// (PostgreSQL refuses 8000 and more).
//
// Receiving: a PromptListener holds a dedicated connection of its own
// (outside the pool) that LISTENs on kPromptChannel, and one thread that
// waits on its socket. For each payload from another origin it reads every
// prompt through `fetch` (the store's GetPrompt, so sealed prompts are
// opened as usual), skips prompts that are gone or shadow, and calls the
// callback. When the connection is lost (server restart,
// pg_terminate_backend) it reconnects with a backoff (50 ms doubling to
// 5 s) and LISTENs again; notifications sent meanwhile are lost (PostgreSQL
// keeps none for a session that is not listening), which is logged: a
// WatchPrompts client that must not miss a change re-lists after its stream
// ends and now and then (store.h).
//
// Logs name counts and status codes only, never a tenant, prompt id or the
// DSN.
#ifndef ATTUNE_SERVICE_STORE_POSTGRES_PROMPT_NOTIFY_H_
#define ATTUNE_SERVICE_STORE_POSTGRES_PROMPT_NOTIFY_H_

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "attune/v1/prompt.pb.h"
#include "service/store/postgres/connection.h"
#include "service/store/store.h"

namespace attune::store::postgres {

// The channel, per database (NOTIFY does not cross databases).
inline constexpr char kPromptChannel[] = "attune_prompts";
// Largest payload sent, well under PostgreSQL's limit of 8000 bytes.
inline constexpr size_t kMaxPromptPayload = 7000;

// What one notification says.
struct PromptNotification {
  std::string origin;
  std::string tenant;
  std::vector<std::string> prompt_ids;
};

// The payloads announcing `prompt_ids` of `tenant` from `origin`: as few as
// fit, each at most `max_bytes` long; none when prompt_ids is empty. An id
// too long to fit in a payload on its own is left out (ids are short: the
// engine makes them).
std::vector<std::string> EncodePromptNotifications(
    const std::string& origin, const std::string& tenant,
    const std::vector<std::string>& prompt_ids,
    size_t max_bytes = kMaxPromptPayload);

// nullopt for a payload EncodePromptNotifications did not make.
std::optional<PromptNotification> DecodePromptNotification(
    absl::string_view payload);

// A random origin id (32 hex digits) for one store.
std::string NewOriginId();

// Listens for prompt notifications from other origins; see above.
// Threading: one thread of its own runs `fetch` and `on_prompt`; the
// destructor wakes and joins it. `fetch` must stay valid until then (the
// store outlives its feeds).
class PromptListener final : public PromptFeed {
 public:
  using Fetch = std::function<absl::StatusOr<std::optional<v1::Prompt>>(
      const std::string& tenant, const std::string& prompt_id)>;

  // Connects and LISTENs before returning, so every commit that finishes
  // after Start returns is seen (unless the connection is lost later).
  // UNAVAILABLE when the server cannot be reached; INTERNAL when no wake-up
  // descriptor can be made.
  static absl::StatusOr<std::unique_ptr<PromptListener>> Start(
      std::string dsn, absl::Duration connect_timeout, std::string origin,
      Fetch fetch, CommittedPromptCallback on_prompt);

  PromptListener(const PromptListener&) = delete;
  PromptListener& operator=(const PromptListener&) = delete;
  ~PromptListener() override;

 private:
  PromptListener(std::string dsn, absl::Duration connect_timeout,
                 std::string origin, Fetch fetch,
                 CommittedPromptCallback on_prompt, int wake_fd);

  absl::StatusOr<std::unique_ptr<Connection>> ConnectAndListen() const;
  void Loop();
  // Waits up to `timeout` (forever when infinite) for the connection's
  // socket (when `socket` >= 0) or the stop signal; true once stopping.
  bool WaitFor(int socket, absl::Duration timeout) const;
  void Deliver(const std::string& payload);

  const std::string dsn_;
  const absl::Duration connect_timeout_;
  const std::string origin_;
  const Fetch fetch_;
  const CommittedPromptCallback on_prompt_;
  // An eventfd written by the destructor.
  const int wake_fd_;
  std::atomic<bool> stopping_{false};
  // Used by the thread only once it has started.
  std::unique_ptr<Connection> conn_;
  std::thread thread_;
};

}  // namespace attune::store::postgres

#endif  // ATTUNE_SERVICE_STORE_POSTGRES_PROMPT_NOTIFY_H_
