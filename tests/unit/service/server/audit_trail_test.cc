// AuditTrail against a store whose AppendAudit the test controls: batching
// by size and by time, retries after failures (nothing lost, nothing but
// counts logged), back-pressure when the queue is full, and what is lost at
// Close; plus the pseudonyms rows carry.
#include "service/server/audit_trail.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/common/log.h"
#include "service/security/key_ring.h"

namespace attune::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kWait = absl::Seconds(10);

// A Store that only takes audit rows, as the test tells it to.
class FakeAuditStore final : public store::Store {
 public:
  // The next `n` appends fail with UNAVAILABLE.
  void FailNext(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_next_ = n;
  }
  void FailAlways() {
    std::lock_guard<std::mutex> lock(mu_);
    fail_next_ = 1 << 30;
  }
  // Appends block until Open() while closed.
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    gate_open_ = false;
  }
  void Open() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      gate_open_ = true;
    }
    cv_.notify_all();
  }
  // Waits until an append is blocked at the gate.
  bool AwaitBlocked() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(kWait),
                        [this] { return blocked_ > 0; });
  }
  // Waits until at least `n` rows were appended.
  bool AwaitRows(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(kWait),
                        [&] { return rows_.size() >= n; });
  }
  std::vector<store::AuditRecord> rows() {
    std::lock_guard<std::mutex> lock(mu_);
    return rows_;
  }
  std::vector<size_t> batches() {
    std::lock_guard<std::mutex> lock(mu_);
    return batches_;
  }
  int attempts() {
    std::lock_guard<std::mutex> lock(mu_);
    return attempts_;
  }

  absl::Status AppendAudit(std::vector<store::AuditRecord> records) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++attempts_;
    ++blocked_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return gate_open_; });
    --blocked_;
    if (fail_next_ > 0) {
      --fail_next_;
      return absl::UnavailableError("disk on fire");
    }
    batches_.push_back(records.size());
    for (store::AuditRecord& r : records) rows_.push_back(std::move(r));
    cv_.notify_all();
    return absl::OkStatus();
  }

  // --- not used -----------------------------------------------------------
  absl::StatusOr<std::optional<store::StoredEvent>> FindEvent(
      const std::string&, const std::string&) override {
    return Unused();
  }
  absl::StatusOr<store::EpisodeSnapshot> LoadEpisode(
      const std::string&, const std::string&) override {
    return Unused();
  }
  std::future<absl::Status> CommitAsync(store::EventCommit) override {
    std::promise<absl::Status> p;
    p.set_value(Unused());
    return p.get_future();
  }
  absl::StatusOr<std::optional<v1::Prompt>> GetPrompt(
      const std::string&, const std::string&) override {
    return Unused();
  }
  absl::StatusOr<store::PromptPage> ListPrompts(
      const store::PromptQuery&) override {
    return Unused();
  }
  absl::StatusOr<std::vector<store::HeldSession>> ListClinicianSessions(
      const std::string&, const std::string&, absl::Time, absl::Time) override {
    return Unused();
  }
  absl::StatusOr<std::vector<store::FeedbackCount>> CountFeedback(
      const std::string&) override {
    return Unused();
  }
  absl::StatusOr<store::EventPage> ScanEvents(const std::string&, int,
                                              const std::string&) override {
    return Unused();
  }
  absl::StatusOr<std::vector<v1::Prompt>> ListModulePrompts(const std::string&,
                                                            const std::string&,
                                                            bool,
                                                            int) override {
    return Unused();
  }
  absl::StatusOr<store::AuditVerification> VerifyAudit() override {
    return Unused();
  }
  absl::StatusOr<store::EraseCounts> EraseClient(const std::string&,
                                                 const std::string&) override {
    return Unused();
  }
  absl::StatusOr<store::EraseCounts> EraseInactiveEpisodes(absl::Time,
                                                           int) override {
    return Unused();
  }

 private:
  static absl::Status Unused() {
    return absl::UnimplementedError("not used by AuditTrail");
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<store::AuditRecord> rows_;
  std::vector<size_t> batches_;
  int fail_next_ = 0;
  int attempts_ = 0;
  int blocked_ = 0;
  bool gate_open_ = true;
};

store::AuditRecord Row(int i, const std::string& tenant = "clinic-a") {
  store::AuditRecord r;
  r.tenant = tenant;
  r.caller = "tok:0011223344556677";
  r.action = "GetAssessment";
  r.object = absl::StrCat("episode:", i);
  r.outcome = "OK";
  return r;
}

std::vector<std::string> Objects(const std::vector<store::AuditRecord>& rows) {
  std::vector<std::string> objects;
  for (const store::AuditRecord& r : rows) objects.push_back(r.object);
  return objects;
}

// Log lines, for what a failure logs.
std::mutex log_mu;
std::vector<std::string>& LogLines() {
  static auto* lines = new std::vector<std::string>();
  return *lines;
}
void CaptureLine(std::string_view line) {
  std::lock_guard<std::mutex> lock(log_mu);
  LogLines().emplace_back(line);
}
void CaptureLog() {
  {
    std::lock_guard<std::mutex> lock(log_mu);
    LogLines().clear();
  }
  SetLogSink(&CaptureLine);
}

AuditTrail::Options SlowTimer() {
  AuditTrail::Options options;
  options.flush_interval = absl::Hours(1);
  options.retry_wait = absl::Milliseconds(1);
  options.max_retry_wait = absl::Milliseconds(2);
  return options;
}

TEST(AuditTrailTest, FlushWritesWhatWasRecordedInOrder) {
  FakeAuditStore store;
  AuditTrail trail(&store, nullptr, SlowTimer());
  store::AuditRecord first = Row(1);
  first.at = absl::FromUnixSeconds(1767603600);
  trail.Record(first);
  trail.Record(Row(2));
  trail.Record(Row(3));
  ASSERT_TRUE(trail.Flush(kWait).ok());
  std::vector<store::AuditRecord> rows = store.rows();
  EXPECT_THAT(Objects(rows),
              ElementsAre("episode:1", "episode:2", "episode:3"));
  EXPECT_EQ(rows[0].at, absl::FromUnixSeconds(1767603600));
  // An unset time is the time of recording.
  EXPECT_GT(rows[1].at, absl::Now() - absl::Minutes(1));
  EXPECT_EQ(trail.stats().written, 3);
}

TEST(AuditTrailTest, RowsRefusedByTheStoreAreNeverMade) {
  FakeAuditStore store;
  AuditTrail trail(&store, nullptr, SlowTimer());
  store::AuditRecord bare;
  trail.Record(bare);
  ASSERT_TRUE(trail.Flush(kWait).ok());
  ASSERT_EQ(store.rows().size(), 1u);
  EXPECT_EQ(store.rows()[0].tenant, "-");
  EXPECT_EQ(store.rows()[0].action, "unknown");
  EXPECT_EQ(store.rows()[0].outcome, "UNKNOWN");
}

TEST(AuditTrailTest, AFullBatchIsWrittenWithoutWaitingForTheTimer) {
  FakeAuditStore store;
  AuditTrail::Options options = SlowTimer();
  options.batch_rows = 4;
  AuditTrail trail(&store, nullptr, options);
  for (int i = 0; i < 4; ++i) trail.Record(Row(i));
  // No Flush: the hour-long timer would not fire.
  ASSERT_TRUE(store.AwaitRows(4));
  EXPECT_THAT(store.batches(), ElementsAre(4u));
}

TEST(AuditTrailTest, ARowWaitsAtMostTheFlushInterval) {
  FakeAuditStore store;
  AuditTrail::Options options;
  options.flush_interval = absl::Milliseconds(20);
  AuditTrail trail(&store, nullptr, options);
  const absl::Time start = absl::Now();
  trail.Record(Row(1));
  ASSERT_TRUE(store.AwaitRows(1));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(20));
}

TEST(AuditTrailTest, FailedAppendsAreRetriedAndLoggedWithoutTheirRows) {
  CaptureLog();
  FakeAuditStore store;
  store.FailNext(3);
  AuditTrail trail(&store, nullptr, SlowTimer());
  trail.Record(Row(1, "clinic-secret"));
  trail.Record(Row(2, "clinic-secret"));
  ASSERT_TRUE(trail.Flush(kWait).ok());
  SetLogSink(nullptr);
  EXPECT_THAT(Objects(store.rows()), ElementsAre("episode:1", "episode:2"));
  EXPECT_EQ(store.attempts(), 4);
  AuditTrail::Stats stats = trail.stats();
  EXPECT_EQ(stats.failed_appends, 3);
  EXPECT_EQ(stats.written, 2);
  EXPECT_EQ(stats.lost, 0);
  std::lock_guard<std::mutex> lock(log_mu);
  int failures = 0;
  for (const std::string& line : LogLines()) {
    if (!absl::StrContains(line, "AUDIT ROWS NOT WRITTEN")) continue;
    ++failures;
    EXPECT_THAT(line, HasSubstr("code=UNAVAILABLE"));
    EXPECT_THAT(line, HasSubstr("rows=2"));
    EXPECT_THAT(line, Not(HasSubstr("clinic-secret")));
    EXPECT_THAT(line, Not(HasSubstr("episode:")));
  }
  EXPECT_EQ(failures, 3);
}

TEST(AuditTrailTest, AFullQueueMakesRecordWait) {
  FakeAuditStore store;
  AuditTrail::Options options = SlowTimer();
  options.flush_interval = absl::ZeroDuration();
  options.batch_rows = 1;
  options.max_queued = 2;
  AuditTrail trail(&store, nullptr, options);
  store.Close();
  trail.Record(Row(1));
  // The flusher holds row 1 in a stalled append; two more fill the queue.
  ASSERT_TRUE(store.AwaitBlocked());
  trail.Record(Row(2));
  trail.Record(Row(3));
  std::thread caller([&] { trail.Record(Row(4)); });
  const absl::Time deadline = absl::Now() + kWait;
  while (trail.stats().waiting == 0 && absl::Now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_EQ(trail.stats().waiting, 1);
  EXPECT_EQ(trail.stats().recorded, 3);
  store.Open();
  caller.join();
  ASSERT_TRUE(trail.Flush(kWait).ok());
  EXPECT_THAT(Objects(store.rows()),
              ElementsAre("episode:1", "episode:2", "episode:3", "episode:4"));
  EXPECT_EQ(trail.stats().waited, 1);
  EXPECT_EQ(trail.stats().waiting, 0);
}

TEST(AuditTrailTest, FlushReportsRowsNotYetWritten) {
  FakeAuditStore store;
  store.FailAlways();
  AuditTrail trail(&store, nullptr, SlowTimer());
  trail.Record(Row(1));
  absl::Status flushed = trail.Flush(absl::Milliseconds(50));
  EXPECT_EQ(flushed.code(), absl::StatusCode::kDeadlineExceeded) << flushed;
  EXPECT_EQ(flushed.message(), "audit: 1 rows not yet written");
  EXPECT_GE(trail.stats().failed_appends, 1);
  EXPECT_EQ(trail.stats().lost, 0);
  trail.Close(absl::ZeroDuration());
}

TEST(AuditTrailTest, CloseCountsWhatTheStoreWouldNotTake) {
  CaptureLog();
  FakeAuditStore store;
  store.FailAlways();
  AuditTrail trail(&store, nullptr, SlowTimer());
  trail.Record(Row(1));
  trail.Record(Row(2));
  trail.Close(absl::Milliseconds(50));
  EXPECT_EQ(trail.stats().lost, 2);
  EXPECT_EQ(trail.stats().written, 0);
  // After Close nothing is queued any more: counted and logged as lost.
  trail.Record(Row(3));
  EXPECT_EQ(trail.stats().lost, 3);
  EXPECT_EQ(trail.Flush(kWait).code(), absl::StatusCode::kUnavailable);
  SetLogSink(nullptr);
  std::lock_guard<std::mutex> lock(log_mu);
  bool logged = false;
  for (const std::string& line : LogLines()) {
    logged = logged || absl::StrContains(line, "AUDIT ROWS LOST");
  }
  EXPECT_TRUE(logged);
}

TEST(AuditTrailTest, CloseWritesWhatIsQueued) {
  FakeAuditStore store;
  {
    AuditTrail trail(&store, nullptr, SlowTimer());
    trail.Record(Row(1));
    trail.Record(Row(2));
  }  // the destructor closes
  EXPECT_THAT(Objects(store.rows()), ElementsAre("episode:1", "episode:2"));
}

// --- Pseudonyms -------------------------------------------------------------

std::shared_ptr<const security::KeyRing> MakeKeys() {
  absl::StatusOr<std::string> line = security::KeyRing::GenerateKeyLine("k0");
  EXPECT_TRUE(line.ok());
  absl::StatusOr<std::shared_ptr<const security::KeyRing>> keys =
      security::KeyRing::FromText(line.value_or(""), "test");
  EXPECT_TRUE(keys.ok()) << keys.status();
  return keys.value_or(nullptr);
}

bool IsHex(const std::string& s, size_t n) {
  return s.size() == n &&
         s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

TEST(AuditObjectTest, AnObjectIsItsKindAndAPseudonym) {
  const std::string plain = AuditObject(nullptr, "clinic-a", "episode", "EP-1");
  ASSERT_TRUE(absl::StartsWith(plain, "episode:")) << plain;
  EXPECT_TRUE(IsHex(plain.substr(8), 64)) << plain;
  EXPECT_EQ(plain, AuditObject(nullptr, "clinic-a", "episode", "EP-1"));
  EXPECT_NE(plain, AuditObject(nullptr, "clinic-b", "episode", "EP-1"));
  EXPECT_NE(plain.substr(8),
            AuditObject(nullptr, "clinic-a", "client", "EP-1").substr(7));
  EXPECT_EQ(AuditObject(nullptr, "clinic-a", "episode", ""), "");

  std::shared_ptr<const security::KeyRing> keys = MakeKeys();
  EXPECT_EQ(AuditObject(keys.get(), "clinic-a", "clinician", "DR-1"),
            "clinician:" + keys->LookupHash("clinic-a", "clinician", "DR-1"));
}

TEST(AuditObjectTest, SubjectPseudonymsWithKeysAreStable) {
  std::shared_ptr<const security::KeyRing> keys = MakeKeys();
  auto a = StableSubjectPseudonyms(keys);
  auto b = StableSubjectPseudonyms(keys);
  const std::string p = a("tok", "https://idp\nuser-1");
  EXPECT_TRUE(IsHex(p, 16)) << p;
  EXPECT_EQ(p, b("tok", "https://idp\nuser-1"));
  EXPECT_NE(p, a("tok", "https://idp\nuser-2"));
  EXPECT_NE(p, a("crt", "https://idp\nuser-1"));
  EXPECT_NE(p,
            StableSubjectPseudonyms(MakeKeys())("tok", "https://idp\nuser-1"));
}

TEST(CallAuditTest, RowsNameWhoeverTheResolverEstablished) {
  FakeAuditStore store;
  AuditTrail trail(&store, nullptr, SlowTimer());
  Caller nobody;
  CallAudit anonymous(&trail, Rpc::kGetAssessment,
                      absl::UnauthenticatedError("authentication required"),
                      nobody);
  EXPECT_EQ(anonymous.Object("episode", "EP-1"), "");
  anonymous.Record(anonymous.Object("episode", "EP-1"),
                   absl::StatusCode::kUnauthenticated);

  Caller identified;
  identified.tenant = "clinic-a";
  identified.subject = "tok:0011223344556677";
  CallAudit denied(&trail, Rpc::kReloadModules,
                   absl::PermissionDeniedError("this call needs the admin "
                                               "role"),
                   identified);
  denied.Record("", absl::StatusCode::kPermissionDenied);

  Caller resolved = identified;
  CallAudit ok(&trail, Rpc::kWatchPrompts, resolved, Caller());
  ok.RecordAs("WatchPrompts.closed", ok.Object("episode", "EP-1"),
              absl::StatusCode::kCancelled);
  ASSERT_TRUE(trail.Flush(kWait).ok());

  std::vector<store::AuditRecord> rows = store.rows();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].tenant, "-");
  EXPECT_EQ(rows[0].caller, "unauthenticated");
  EXPECT_EQ(rows[0].action, "GetAssessment");
  EXPECT_EQ(rows[0].object, "");
  EXPECT_EQ(rows[0].outcome, "UNAUTHENTICATED");
  EXPECT_EQ(rows[1].tenant, "clinic-a");
  EXPECT_EQ(rows[1].caller, "tok:0011223344556677");
  EXPECT_EQ(rows[1].action, "RuleAdmin.ReloadModules");
  EXPECT_EQ(rows[1].outcome, "PERMISSION_DENIED");
  EXPECT_EQ(rows[2].action, "WatchPrompts.closed");
  EXPECT_EQ(rows[2].object,
            AuditObject(nullptr, "clinic-a", "episode", "EP-1"));
  EXPECT_EQ(rows[2].outcome, "CANCELLED");

  // Without a trail nothing happens (services built without one).
  CallAudit none;
  none.Record("", absl::StatusCode::kOk);
}

}  // namespace
}  // namespace attune::server
