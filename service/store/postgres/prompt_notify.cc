#include "service/store/postgres/prompt_notify.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <random>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "service/common/log.h"

namespace attune::store::postgres {
namespace {

// Payload format: "p1;" then length-prefixed fields ("<bytes>:<value>"):
// origin, tenant, then one per prompt id. Length prefixes keep any byte of
// an id or tenant from being read as a separator.
constexpr absl::string_view kPayloadPrefix = "p1;";

constexpr absl::Duration kFirstRetry = absl::Milliseconds(50);
constexpr absl::Duration kMaxRetry = absl::Seconds(5);

void AppendField(std::string* out, absl::string_view value) {
  absl::StrAppend(out, value.size(), ":", value);
}

size_t FieldSize(absl::string_view value) {
  return absl::StrCat(value.size()).size() + 1 + value.size();
}

// Reads one field off the front of `in`; false when malformed.
bool ReadField(absl::string_view* in, std::string* value) {
  const size_t colon = in->find(':');
  if (colon == absl::string_view::npos || colon == 0) return false;
  size_t length = 0;
  if (!absl::SimpleAtoi(in->substr(0, colon), &length)) return false;
  if (in->size() - colon - 1 < length) return false;
  *value = std::string(in->substr(colon + 1, length));
  in->remove_prefix(colon + 1 + length);
  return true;
}

}  // namespace

std::vector<std::string> EncodePromptNotifications(
    const std::string& origin, const std::string& tenant,
    const std::vector<std::string>& prompt_ids, size_t max_bytes) {
  std::vector<std::string> payloads;
  std::string header(kPayloadPrefix);
  AppendField(&header, origin);
  AppendField(&header, tenant);
  std::string current;
  for (const std::string& id : prompt_ids) {
    const size_t field = FieldSize(id);
    if (header.size() + field > max_bytes) continue;  // cannot fit at all
    if (!current.empty() && current.size() + field > max_bytes) {
      payloads.push_back(std::move(current));
      current.clear();
    }
    if (current.empty()) current = header;
    AppendField(&current, id);
  }
  if (!current.empty()) payloads.push_back(std::move(current));
  return payloads;
}

std::optional<PromptNotification> DecodePromptNotification(
    absl::string_view payload) {
  if (payload.substr(0, kPayloadPrefix.size()) != kPayloadPrefix) {
    return std::nullopt;
  }
  payload.remove_prefix(kPayloadPrefix.size());
  PromptNotification notification;
  if (!ReadField(&payload, &notification.origin) ||
      !ReadField(&payload, &notification.tenant)) {
    return std::nullopt;
  }
  while (!payload.empty()) {
    if (!ReadField(&payload, &notification.prompt_ids.emplace_back())) {
      return std::nullopt;
    }
  }
  if (notification.prompt_ids.empty()) return std::nullopt;
  return notification;
}

std::string NewOriginId() {
  std::random_device random;
  std::string id;
  for (int i = 0; i < 4; ++i) {
    absl::StrAppend(
        &id, absl::Hex(static_cast<uint32_t>(random()), absl::kZeroPad8));
  }
  return id;
}

absl::StatusOr<std::unique_ptr<PromptListener>> PromptListener::Start(
    std::string dsn, absl::Duration connect_timeout, std::string origin,
    Fetch fetch, CommittedPromptCallback on_prompt) {
  const int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) {
    return absl::InternalError(
        absl::StrCat("listen: eventfd failed, errno ", errno));
  }
  std::unique_ptr<PromptListener> listener(
      new PromptListener(std::move(dsn), connect_timeout, std::move(origin),
                         std::move(fetch), std::move(on_prompt), wake_fd));
  absl::StatusOr<std::unique_ptr<Connection>> conn =
      listener->ConnectAndListen();
  if (!conn.ok()) return conn.status();
  listener->conn_ = *std::move(conn);
  listener->thread_ = std::thread([l = listener.get()] { l->Loop(); });
  return listener;
}

PromptListener::PromptListener(std::string dsn, absl::Duration connect_timeout,
                               std::string origin, Fetch fetch,
                               CommittedPromptCallback on_prompt, int wake_fd)
    : dsn_(std::move(dsn)),
      connect_timeout_(connect_timeout),
      origin_(std::move(origin)),
      fetch_(std::move(fetch)),
      on_prompt_(std::move(on_prompt)),
      wake_fd_(wake_fd) {}

PromptListener::~PromptListener() {
  stopping_.store(true);
  const uint64_t one = 1;
  // Cannot fail short of a bug: the counter is far from overflowing.
  (void)!write(wake_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  close(wake_fd_);
}

absl::StatusOr<std::unique_ptr<Connection>> PromptListener::ConnectAndListen()
    const {
  absl::StatusOr<std::unique_ptr<Connection>> conn =
      Connection::Open(dsn_, connect_timeout_);
  if (!conn.ok()) return conn.status();
  absl::StatusOr<std::string> listening =
      (*conn)->Exec(absl::StrCat("LISTEN ", kPromptChannel), "listen");
  if (!listening.ok()) return listening.status();
  return conn;
}

bool PromptListener::WaitFor(int socket, absl::Duration timeout) const {
  pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {socket, POLLIN, 0}};
  const int timeout_ms =
      timeout == absl::InfiniteDuration()
          ? -1
          : static_cast<int>(absl::ToInt64Milliseconds(timeout));
  const int ready = poll(fds, socket >= 0 ? 2 : 1, timeout_ms);
  if (ready < 0 && errno != EINTR) {
    // Not expected with valid descriptors; the caller's next read of the
    // connection finds out whether it is still usable.
    ATTUNE_LOG(ERROR) << "postgres prompt listener: poll failed"
                      << LogField("errno", errno);
  }
  return stopping_.load();
}

void PromptListener::Loop() {
  absl::Duration retry = kFirstRetry;
  while (!stopping_.load()) {
    if (conn_ == nullptr) {
      if (WaitFor(-1, retry)) return;
      absl::StatusOr<std::unique_ptr<Connection>> conn = ConnectAndListen();
      if (!conn.ok()) {
        retry = std::min(retry * 2, kMaxRetry);
        ATTUNE_LOG(WARNING)
            << "postgres prompt listener cannot reconnect"
            << LogField("code", absl::StatusCodeToString(conn.status().code()))
            << LogField("retry_in", retry);
        continue;
      }
      conn_ = *std::move(conn);
      retry = kFirstRetry;
      ATTUNE_LOG(WARNING)
          << "postgres prompt listener reconnected: prompt changes other "
             "replicas committed while it was down were not relayed to "
             "WatchPrompts streams";
      // Fall through: notifications may already be waiting.
    } else if (WaitFor(conn_->socket(), absl::InfiniteDuration())) {
      return;
    }
    absl::StatusOr<std::vector<std::string>> payloads =
        conn_->ConsumeNotifications(kPromptChannel);
    if (!payloads.ok()) {
      ATTUNE_LOG(WARNING) << "postgres prompt listener lost its connection; "
                             "reconnecting";
      conn_.reset();
      continue;
    }
    for (const std::string& payload : *payloads) {
      if (stopping_.load()) return;
      Deliver(payload);
    }
  }
}

void PromptListener::Deliver(const std::string& payload) {
  std::optional<PromptNotification> notification =
      DecodePromptNotification(payload);
  if (!notification.has_value()) {
    ATTUNE_LOG(WARNING) << "postgres prompt listener: malformed payload"
                        << LogField("bytes", payload.size());
    return;
  }
  // This process's own commits were published by its engine already.
  if (notification->origin == origin_) return;
  for (const std::string& id : notification->prompt_ids) {
    if (stopping_.load()) return;
    absl::StatusOr<std::optional<v1::Prompt>> prompt =
        fetch_(notification->tenant, id);
    if (!prompt.ok()) {
      ATTUNE_LOG(WARNING) << "postgres prompt listener: cannot read a "
                             "notified prompt; not relayed"
                          << LogField("code", absl::StatusCodeToString(
                                                  prompt.status().code()));
      continue;
    }
    // Erased meanwhile, or a shadow prompt (never announced).
    if (!prompt->has_value() || (*prompt)->shadow()) continue;
    on_prompt_(notification->tenant, **prompt);
  }
}

}  // namespace attune::store::postgres
