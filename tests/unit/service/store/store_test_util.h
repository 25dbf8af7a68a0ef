// Builders for Store tests: events, prompts and commits with just the fields
// the store looks at, plus a unique temporary directory.
#ifndef ATTUNE_TESTS_UNIT_SERVICE_STORE_STORE_TEST_UTIL_H_
#define ATTUNE_TESTS_UNIT_SERVICE_STORE_STORE_TEST_UTIL_H_

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "service/security/key_ring.h"
#include "service/store/store.h"

// ASSERT_OK(status_or_statusor); ASSERT_OK_AND_ASSIGN(auto x, statusor).
#define ATTUNE_STORE_CONCAT_INNER_(a, b) a##b
#define ATTUNE_STORE_CONCAT_(a, b) ATTUNE_STORE_CONCAT_INNER_(a, b)
#define ASSERT_OK(expr)                                                        \
  do {                                                                         \
    const ::absl::Status attune_s_ = ::attune::store::testing::StatusOf(expr); \
    ASSERT_TRUE(attune_s_.ok()) << attune_s_;                                  \
  } while (0)
#define EXPECT_OK(expr)                                                        \
  do {                                                                         \
    const ::absl::Status attune_s_ = ::attune::store::testing::StatusOf(expr); \
    EXPECT_TRUE(attune_s_.ok()) << attune_s_;                                  \
  } while (0)
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ATTUNE_STORE_AOA_IMPL_(ATTUNE_STORE_CONCAT_(attune_sor_, __LINE__), lhs, expr)
#define ATTUNE_STORE_AOA_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  ASSERT_TRUE(tmp.ok()) << tmp.status();       \
  lhs = std::move(tmp).value()

namespace attune::store::testing {

inline absl::Status StatusOf(const absl::Status& status) { return status; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

inline ::testing::AssertionResult ProtoEq(
    const google::protobuf::Message& actual,
    const google::protobuf::Message& expected) {
  if (google::protobuf::util::MessageDifferencer::Equals(actual, expected)) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "actual:\n"
                                       << actual.DebugString() << "expected:\n"
                                       << expected.DebugString();
}

// 2026-01-05 09:00:00 UTC: a Monday.
inline absl::Time BaseTime() { return absl::FromUnixSeconds(1767603600); }

inline google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp ts;
  const int64_t nanos = absl::ToUnixNanos(t);
  ts.set_seconds(nanos / 1'000'000'000);
  ts.set_nanos(static_cast<int32_t>(nanos % 1'000'000'000));
  return ts;
}

inline v1::EpisodeRef Ref(const std::string& episode_id,
                          const std::string& clinician_id = "clin-1",
                          const std::string& client_id = "client-1") {
  v1::EpisodeRef ref;
  ref.set_client_id(client_id);
  ref.set_clinician_id(clinician_id);
  ref.set_episode_id(episode_id);
  return ref;
}

// A goals_agreed event (any payload will do where the store does not care).
inline v1::SessionEvent GoalsEvent(const std::string& event_id,
                                   const v1::EpisodeRef& ref,
                                   int goal_count = 1) {
  v1::SessionEvent event;
  event.set_event_id(event_id);
  *event.mutable_occurred_at() = ToProto(BaseTime());
  *event.mutable_episode() = ref;
  event.mutable_goals_agreed()->set_goal_count(goal_count);
  return event;
}

inline v1::SessionEvent HeldEvent(const std::string& event_id,
                                  const v1::EpisodeRef& ref, int session,
                                  absl::Time start,
                                  absl::Duration length = absl::Minutes(50)) {
  v1::SessionEvent event;
  event.set_event_id(event_id);
  *event.mutable_occurred_at() = ToProto(start + length);
  *event.mutable_episode() = ref;
  v1::SessionHeld* held = event.mutable_session_held();
  held->set_session_number(session);
  *held->mutable_start() = ToProto(start);
  *held->mutable_end() = ToProto(start + length);
  return event;
}

inline v1::Prompt MakePrompt(const std::string& id, const v1::EpisodeRef& ref,
                             v1::PromptStatus status, int priority,
                             absl::Time updated_at,
                             const std::string& module_id = "attune.rupture") {
  v1::Prompt prompt;
  prompt.set_id(id);
  prompt.set_kind(module_id + "/check");
  prompt.set_module_id(module_id);
  prompt.set_severity(v1::SEVERITY_WARNING);
  prompt.set_summary("Check in about the alliance");
  prompt.set_status(status);
  prompt.set_scope(v1::PROMPT_SCOPE_EPISODE);
  *prompt.mutable_episode() = ref;
  prompt.set_priority(priority);
  *prompt.mutable_created_at() = ToProto(updated_at);
  *prompt.mutable_updated_at() = ToProto(updated_at);
  return prompt;
}

// A commit of `event` with a fingerprint and response derived from it.
inline EventCommit MakeCommit(const std::string& tenant, v1::SessionEvent event,
                              int64_t expected_version) {
  EventCommit commit;
  commit.tenant = tenant;
  commit.fingerprint = absl::StrCat("fp:", event.SerializeAsString());
  *commit.assessment.mutable_episode() = event.episode();
  commit.assessment.set_event_count(static_cast<int>(expected_version) + 1);
  *commit.response.mutable_assessment() = commit.assessment;
  commit.event = std::move(event);
  commit.expected_version = expected_version;
  return commit;
}

// A key file line with fixed test material for `id`; a different `variant`
// gives different material under the same id.
inline std::string TestKeyLine(const std::string& id, int variant = 0) {
  std::string secret(32, '\0');
  for (size_t i = 0; i < secret.size(); ++i) {
    secret[i] = static_cast<char>(id[i % id.size()] * 7 + i * 13 + variant);
  }
  return absl::StrCat(id, " ", absl::Base64Escape(secret));
}

// A key ring of `ids` (the first active) with TestKeyLine material.
inline std::shared_ptr<const security::KeyRing> TestKeyRing(
    const std::vector<std::string>& ids, int variant = 0) {
  std::string text;
  for (const std::string& id : ids) {
    absl::StrAppend(&text, TestKeyLine(id, variant), "\n");
  }
  absl::StatusOr<std::shared_ptr<const security::KeyRing>> ring =
      security::KeyRing::FromText(text, "test keys");
  EXPECT_TRUE(ring.ok()) << ring.status();
  return ring.ok() ? *ring : nullptr;
}

// A fresh directory under the test temp dir, removed on destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    const ::testing::TestInfo* info =
        ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = info != nullptr ? info->name() : "test";
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    path_ = std::filesystem::path(::testing::TempDir()) /
            absl::StrCat("attune-store-", getpid(), "-", counter++, "-", name);
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string path() const { return path_.string(); }
  std::string File(const std::string& name) const {
    return (path_ / name).string();
  }

 private:
  std::filesystem::path path_;
};

}  // namespace attune::store::testing

#endif  // ATTUNE_TESTS_UNIT_SERVICE_STORE_STORE_TEST_UTIL_H_
