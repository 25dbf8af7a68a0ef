// attunectl audit verify on database files written by the store and then
// tampered with as an attacker with the file would: the intact chain passes
// with its head; an edited, deleted, reordered or forged row fails naming
// its seq; a deleted tail row fails against the head attuned logged; keyed
// chains need the key file.
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/common/log.h"
#include "service/security/key_ring.h"
#include "service/store/sqlite/sqlite_store.h"
#include "tests/unit/service/ctl/run_ctl.h"

namespace attune::ctl {
namespace {

using ::testing::HasSubstr;
using testing::RunCtl;

constexpr int kRows = 5;

// Log lines, for the head the store logs at close.
std::mutex log_mu;
std::vector<std::string>& LogLines() {
  static auto* lines = new std::vector<std::string>();
  return *lines;
}
void CaptureLine(std::string_view line) {
  std::lock_guard<std::mutex> lock(log_mu);
  LogLines().emplace_back(line);
}

void Exec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr),
            SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close_v2(db);
}

void DropTriggers(const std::string& path) {
  Exec(path,
       "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;");
}

class AuditVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat(
               "attunectl_audit_test_", ::getpid(), "_",
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    db_ = (dir_ / "attune.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes kRows audit rows through the store, sealed with `key_text` when
  // not empty, and returns the head the store logged when it closed.
  std::string WriteLog(const std::string& key_text = "") {
    store::SqliteStoreOptions options;
    options.path = db_;
    if (!key_text.empty()) {
      absl::StatusOr<std::shared_ptr<const security::KeyRing>> keys =
          security::KeyRing::FromText(key_text, "test");
      EXPECT_TRUE(keys.ok()) << keys.status();
      options.keys = keys.value_or(nullptr);
    }
    {
      std::lock_guard<std::mutex> lock(log_mu);
      LogLines().clear();
    }
    SetLogSink(&CaptureLine);
    {
      absl::StatusOr<std::unique_ptr<store::Store>> store =
          store::OpenSqliteStore(options);
      EXPECT_TRUE(store.ok()) << store.status();
      if (!store.ok()) return "";
      std::vector<store::AuditRecord> records;
      for (int i = 1; i <= kRows; ++i) {
        store::AuditRecord r;
        r.at = absl::FromUnixSeconds(1767603600 + i);
        r.tenant = "clinic-a";
        r.caller = "tok:0011223344556677";
        r.action = i == 3 ? "DataAdmin.EraseClient" : "GetAssessment";
        r.object = absl::StrCat("episode:", std::string(64, 'a' + i));
        r.outcome = "OK";
        records.push_back(r);
      }
      EXPECT_TRUE((*store)->AppendAudit(records).ok());
    }
    SetLogSink(nullptr);
    std::lock_guard<std::mutex> lock(log_mu);
    for (const std::string& line : LogLines()) {
      const size_t at = line.find("audit head at=close head=");
      if (at == std::string::npos) continue;
      std::string head = line.substr(at + 25);
      while (!head.empty() && (head.back() == '\n' || head.back() == ' ')) {
        head.pop_back();
      }
      return head;
    }
    ADD_FAILURE() << "no audit head logged at close";
    return "";
  }

  std::string KeyFile(const std::string& text) {
    const std::string path = (dir_ / "storage.keys").string();
    std::ofstream(path) << text << "\n";
    ::chmod(path.c_str(), 0600);
    return path;
  }

  std::filesystem::path dir_;
  std::string db_;
};

std::string KeyLine() {
  absl::StatusOr<std::string> line = security::KeyRing::GenerateKeyLine("k0");
  EXPECT_TRUE(line.ok());
  return line.value_or("");
}

TEST_F(AuditVerifyTest, AnIntactLogPassesWithTheHeadAttunedLogged) {
  const std::string head = WriteLog();
  ASSERT_THAT(head, ::testing::StartsWith("5:"));
  testing::CtlResult r = RunCtl({"audit", "verify", "--db", db_});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, absl::StrCat("rows: 5\nhead: ", head, "\nintact: yes\n"));
  EXPECT_EQ(r.err, "");
  r = RunCtl({"audit", "verify", "--db", db_, "--expect-head", head});
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST_F(AuditVerifyTest, AnEditedRowFails) {
  WriteLog();
  DropTriggers(db_);
  Exec(db_, "UPDATE audit_log SET outcome = 'PERMISSION_DENIED' WHERE seq = 3");
  testing::CtlResult r = RunCtl({"audit", "verify", "--db", db_});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "attunectl: audit verify: seq 3: hash does not match the row\n");
  EXPECT_THAT(r.out, HasSubstr("intact: no\n"));
  EXPECT_THAT(r.out, HasSubstr("head: 2:"));
}

TEST_F(AuditVerifyTest, ADeletedMiddleRowFails) {
  WriteLog();
  DropTriggers(db_);
  Exec(db_, "DELETE FROM audit_log WHERE seq = 3");
  testing::CtlResult r = RunCtl({"audit", "verify", "--db", db_});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "attunectl: audit verify: seq 3 missing: 2 is followed by 4\n");
}

TEST_F(AuditVerifyTest, ADeletedTailRowFailsAgainstTheLoggedHead) {
  const std::string head = WriteLog();
  DropTriggers(db_);
  Exec(db_, "DELETE FROM audit_log WHERE seq = 5");
  // Alone, the shorter chain is consistent...
  testing::CtlResult alone = RunCtl({"audit", "verify", "--db", db_});
  EXPECT_EQ(alone.code, 0) << alone.err;
  EXPECT_THAT(alone.out, HasSubstr("rows: 4\n"));
  // ...but it does not reach the head attuned logged.
  testing::CtlResult r =
      RunCtl({"audit", "verify", "--db", db_, "--expect-head", head});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "attunectl: audit verify: seq 5 missing: the log ends at 4, an "
            "earlier head was 5\n");
}

TEST_F(AuditVerifyTest, ReorderedRowsFail) {
  WriteLog();
  DropTriggers(db_);
  Exec(db_,
       "UPDATE audit_log SET seq = -2 WHERE seq = 2;"
       "UPDATE audit_log SET seq = 2 WHERE seq = 3;"
       "UPDATE audit_log SET seq = 3 WHERE seq = -2;");
  testing::CtlResult r = RunCtl({"audit", "verify", "--db", db_});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "attunectl: audit verify: seq 2: hash does not match the row\n");
}

TEST_F(AuditVerifyTest, AForgedRowFails) {
  WriteLog();
  // The triggers allow INSERT: a row appended by hand with a made-up hash.
  Exec(db_,
       "INSERT INTO audit_log (seq, at, tenant, caller, action, object,"
       " outcome, key_id, hash) SELECT 6, at, tenant, caller, action, object,"
       " outcome, key_id, randomblob(32) FROM audit_log WHERE seq = 5");
  testing::CtlResult r = RunCtl({"audit", "verify", "--db", db_});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "attunectl: audit verify: seq 6: hash does not match the row\n");
}

TEST_F(AuditVerifyTest, AKeyedLogNeedsTheKeyFile) {
  const std::string key = KeyLine();
  const std::string head = WriteLog(key);
  testing::CtlResult without = RunCtl({"audit", "verify", "--db", db_});
  EXPECT_EQ(without.code, 1);
  EXPECT_EQ(without.err,
            "attunectl: audit verify: seq 1: storage key 'k0' is not in the "
            "key ring; give attuned's storage key file with --key-file FILE\n");

  testing::CtlResult with =
      RunCtl({"audit", "verify", "--db", db_, "--key-file", KeyFile(key)});
  EXPECT_EQ(with.code, 0) << with.err;
  EXPECT_EQ(with.out, absl::StrCat("rows: 5\nhead: ", head, "\nintact: yes\n"));
  // ATTUNE_STORAGE_KEYS serves as well.
  EXPECT_EQ(RunCtl({"audit", "verify", "--db", db_}, key).code, 0);

  // Other key material under the same id: a forgery as far as it can tell.
  testing::CtlResult other =
      RunCtl({"audit", "verify", "--db", db_}, KeyLine());
  EXPECT_EQ(other.code, 1);
  EXPECT_EQ(other.err,
            "attunectl: audit verify: seq 1: hash does not match the row\n");
}

TEST_F(AuditVerifyTest, BadCommandLinesAreUsageErrors) {
  WriteLog();
  testing::CtlResult r = RunCtl({"audit", "verify"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("--db: is required"));
  r = RunCtl({"audit", "verify", "--db", db_, "--expect-head", "5:abc"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("--expect-head: must be SEQ:HASH"));
  r = RunCtl({"audit", "check", "--db", db_});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("must be verify"));
  r = RunCtl({"audit", "verify", "--db", (dir_ / "missing.db").string()});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("no such database file"));
  const std::string text = (dir_ / "notes.txt").string();
  std::ofstream(text) << "not a database\n";
  r = RunCtl({"audit", "verify", "--db", text});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("is not an attuned SQLite database"));
}

}  // namespace
}  // namespace attune::ctl
