// The SQLite audit log against someone who can write the database file:
// the triggers refuse UPDATE and DELETE through SQL, and with the triggers
// dropped (as an attacker would) every edit, deletion, reordering or forged
// row is caught by the chain at the right seq; truncation at the end and a
// chain rebuilt without the key are caught only against a head recorded
// earlier, which the store logs. Runs without storage keys (SHA-256 chain)
// and with them (KeyRing::AuditMac).
#include <sqlite3.h>

#include <memory>
#include <mutex>
#include <optional>
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
#include "service/store/sqlite/audit.h"
#include "service/store/sqlite/connection.h"
#include "service/store/sqlite/sqlite_store.h"
#include "tests/unit/service/store/raw_db.h"
#include "tests/unit/service/store/store_test_util.h"

namespace attune::store {
namespace {

using ::attune::store::testing::RawDb;

using ::attune::store::testing::BaseTime;
using ::attune::store::testing::TempDir;
using ::testing::HasSubstr;

constexpr int kRows = 5;

std::shared_ptr<const security::KeyRing> MakeKeys(const std::string& id) {
  absl::StatusOr<std::string> line = security::KeyRing::GenerateKeyLine(id);
  EXPECT_TRUE(line.ok()) << line.status();
  absl::StatusOr<std::shared_ptr<const security::KeyRing>> keys =
      security::KeyRing::FromText(line.value_or(""), "test");
  EXPECT_TRUE(keys.ok()) << keys.status();
  return keys.value_or(nullptr);
}

// Replaces row `seq` with one the attacker computed: what a forger who
// knows the format but not the key can write.
void InsertRow(RawDb& raw, int64_t seq, int64_t at, const AuditRecord& r,
               const std::string& key_id, const std::string& hash) {
  sqlite3* db = raw.handle();
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(
                db,
                "INSERT OR REPLACE INTO audit_log (seq, at, tenant, caller,"
                " action, object, outcome, key_id, hash)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                -1, &stmt, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_bind_int64(stmt, 1, seq);
  sqlite3_bind_int64(stmt, 2, at);
  int i = 3;
  for (const std::string* text :
       {&r.tenant, &r.caller, &r.action, &r.object, &r.outcome, &key_id}) {
    sqlite3_bind_text(stmt, i++, text->data(), static_cast<int>(text->size()),
                      SQLITE_TRANSIENT);
  }
  sqlite3_bind_blob(stmt, 9, hash.data(), static_cast<int>(hash.size()),
                    SQLITE_TRANSIENT);
  EXPECT_EQ(sqlite3_step(stmt), SQLITE_DONE) << sqlite3_errmsg(db);
  sqlite3_finalize(stmt);
}

// What an attacker with the file does before editing audit rows.
void DropTriggers(RawDb& raw) {
  raw.Exec(
      "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;");
}

AuditRecord Record(int i) {
  AuditRecord record;
  record.at = BaseTime() + absl::Seconds(i);
  record.tenant = i % 2 == 0 ? "clinic-a" : "clinic-b";
  record.caller = absl::StrCat("tok:00000000000000", 10 + i);
  record.action = i == 3 ? "GetAssessment" : "SubmitEvent";
  record.object = absl::StrCat("episode:", std::string(64, 'a' + i));
  record.outcome = i == 3 ? "PERMISSION_DENIED" : "OK";
  return record;
}

class SqliteAuditTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (keyed()) keys_ = MakeKeys("k0");
    SqliteStoreOptions options;
    options.path = path();
    options.keys = keys_;
    absl::StatusOr<std::unique_ptr<SqliteStore>> store =
        SqliteStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    std::vector<AuditRecord> records;
    for (int i = 1; i <= kRows; ++i) records.push_back(Record(i));
    ASSERT_TRUE(store_->AppendAudit(records).ok());
    raw_ = std::make_unique<RawDb>(path());
  }

  bool keyed() const { return GetParam(); }
  std::string path() const { return dir_.File("attune.db"); }
  AuditVerification Verify() {
    absl::StatusOr<AuditVerification> v = store_->VerifyAudit();
    EXPECT_TRUE(v.ok()) << v.status();
    return v.value_or(AuditVerification{});
  }
  // Verifies through a connection of its own, as attunectl does.
  AuditVerification VerifyWith(
      const security::KeyRing* keys,
      const std::optional<sqlite::ExpectedHead>& expected = std::nullopt) {
    absl::StatusOr<std::unique_ptr<sqlite::Connection>> conn =
        sqlite::Connection::Open(path(), {.read_only = true});
    EXPECT_TRUE(conn.ok()) << conn.status();
    if (!conn.ok()) return {};
    absl::StatusOr<AuditVerification> v =
        sqlite::VerifyAuditChain(**conn, keys, expected);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.value_or(AuditVerification{});
  }
  std::string HashOf(int seq) {
    std::vector<std::string> hashes = raw_->Column(
        absl::StrCat("SELECT hash FROM audit_log WHERE seq = ", seq));
    return hashes.empty() ? "" : hashes[0];
  }

  TempDir dir_;
  std::shared_ptr<const security::KeyRing> keys_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<RawDb> raw_;
};

TEST_P(SqliteAuditTest, IntactChainVerifies) {
  AuditVerification v = Verify();
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.rows, kRows);
  EXPECT_EQ(v.head_seq, kRows);
  EXPECT_EQ(v.head_hash, absl::BytesToHexString(HashOf(kRows)));
  // Rows name the key that chained them.
  EXPECT_EQ(raw_->Column("SELECT DISTINCT key_id FROM audit_log"),
            std::vector<std::string>{keyed() ? "k0" : ""});
}

TEST_P(SqliteAuditTest, TriggersRefuseUpdateAndDeleteThroughSql) {
  EXPECT_THAT(
      raw_->TryExec("UPDATE audit_log SET outcome = 'OK' WHERE seq = 3"),
      HasSubstr("audit_log is append-only"));
  EXPECT_THAT(raw_->TryExec("DELETE FROM audit_log WHERE seq = 5"),
              HasSubstr("audit_log is append-only"));
  EXPECT_THAT(raw_->TryExec("DELETE FROM audit_log"),
              HasSubstr("audit_log is append-only"));
  AuditVerification v = Verify();
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.rows, kRows);
}

TEST_P(SqliteAuditTest, AnEditedFieldIsCaughtAtItsRow) {
  DropTriggers(*raw_);
  raw_->Exec("UPDATE audit_log SET outcome = 'OK' WHERE seq = 3");
  AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 3);
  EXPECT_EQ(v.problem, "seq 3: hash does not match the row");
  EXPECT_EQ(v.head_seq, 2);  // the intact prefix
}

TEST_P(SqliteAuditTest, EveryColumnIsCovered) {
  DropTriggers(*raw_);
  const std::vector<std::pair<std::string, std::string>> edits = {
      {"at", "at + 1"},
      {"tenant", "'clinic-c'"},
      {"caller", "'local'"},
      {"action", "'ListPrompts'"},
      {"object", "''"},
      {"outcome", "'OK'"},
      {"key_id", keyed() ? "'k1'" : "'k0'"},
      {"hash", "zeroblob(32)"},
  };
  for (const auto& [column, value] : edits) {
    SCOPED_TRACE(column);
    raw_->Exec(
        "CREATE TEMP TABLE saved AS SELECT * FROM audit_log"
        " WHERE seq = 3");
    raw_->Exec(absl::StrCat("UPDATE audit_log SET ", column, " = ", value,
                            " WHERE seq = 3"));
    AuditVerification v = Verify();
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.first_bad_seq, 3) << v.problem;
    EXPECT_THAT(v.problem, ::testing::StartsWith("seq 3: "));
    raw_->Exec(
        "INSERT OR REPLACE INTO audit_log SELECT * FROM saved;"
        " DROP TABLE saved;");
    EXPECT_TRUE(Verify().ok);
  }
}

TEST_P(SqliteAuditTest, ADeletedMiddleRowIsCaught) {
  DropTriggers(*raw_);
  raw_->Exec("DELETE FROM audit_log WHERE seq = 3");
  AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 3);
  EXPECT_EQ(v.problem, "seq 3 missing: 2 is followed by 4");
}

TEST_P(SqliteAuditTest, ADeletedFirstRowIsCaught) {
  DropTriggers(*raw_);
  raw_->Exec("DELETE FROM audit_log WHERE seq = 1");
  AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 1);
  EXPECT_EQ(v.problem, "seq 1 missing: the log starts at 2");
}

TEST_P(SqliteAuditTest, RenumberingAfterADeletionIsCaught) {
  DropTriggers(*raw_);
  raw_->Exec(
      "DELETE FROM audit_log WHERE seq = 3;"
      "UPDATE audit_log SET seq = seq - 1 WHERE seq > 3;");
  AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 3);
  EXPECT_EQ(v.problem, "seq 3: hash does not match the row");
}

TEST_P(SqliteAuditTest, ADeletedTailRowIsCaughtAgainstAnEarlierHead) {
  const AuditVerification before = Verify();
  const sqlite::ExpectedHead head{before.head_seq, HashOf(kRows)};
  EXPECT_TRUE(VerifyWith(keys_.get(), head).ok);

  DropTriggers(*raw_);
  raw_->Exec(absl::StrCat("DELETE FROM audit_log WHERE seq = ", kRows));
  // The shorter chain is consistent in itself...
  AuditVerification alone = Verify();
  EXPECT_TRUE(alone.ok) << alone.problem;
  EXPECT_EQ(alone.head_seq, kRows - 1);
  // ...but not with the head recorded before.
  AuditVerification v = VerifyWith(keys_.get(), head);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, kRows);
  EXPECT_EQ(v.problem,
            "seq 5 missing: the log ends at 4, an earlier head "
            "was 5");
}

TEST_P(SqliteAuditTest, ReorderedRowsAreCaught) {
  DropTriggers(*raw_);
  // Swap rows 2 and 3, each keeping its own hash.
  raw_->Exec(
      "UPDATE audit_log SET seq = -2 WHERE seq = 2;"
      "UPDATE audit_log SET seq = 2 WHERE seq = 3;"
      "UPDATE audit_log SET seq = 3 WHERE seq = -2;");
  AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 2);
  EXPECT_EQ(v.problem, "seq 2: hash does not match the row");
}

TEST_P(SqliteAuditTest, AForgedRowIsCaught) {
  // No trigger stops an INSERT: a forged row at the end with a made-up hash.
  InsertRow(*raw_, kRows + 1, 0, Record(9), keyed() ? "k0" : "",
            std::string(32, 'x'));
  AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, kRows + 1);
  EXPECT_EQ(v.problem, "seq 6: hash does not match the row");
}

TEST_P(SqliteAuditTest, ARowRehashedByTheForgerBreaksTheNextLink) {
  DropTriggers(*raw_);
  // The forger edits row 3 and recomputes its hash the way a keyless store
  // does (SHA-256 over the previous hash and the row).
  AuditRecord forged = Record(3);
  forged.outcome = "OK";
  const int64_t at = absl::ToUnixNanos(forged.at);
  const std::string encoded = EncodeAuditRow(3, at, forged, "");
  absl::StatusOr<std::string> hash =
      AuditRowHash(nullptr, "", HashOf(2), encoded);
  ASSERT_TRUE(hash.ok()) << hash.status();
  InsertRow(*raw_, 3, at, forged, "", *hash);
  AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  if (keyed()) {
    // A keyless row among keyed ones is a downgrade.
    EXPECT_EQ(v.first_bad_seq, 3);
    EXPECT_EQ(v.problem, "seq 3: unkeyed row after keyed rows");
  } else {
    // Row 3 itself is consistent; row 4 was chained to the old row 3.
    EXPECT_EQ(v.first_bad_seq, 4);
    EXPECT_EQ(v.problem, "seq 4: hash does not match the row");
  }
}

TEST_P(SqliteAuditTest, AChainRebuiltWithoutTheKeyIsCaughtAgainstTheHead) {
  const AuditVerification before = Verify();
  const sqlite::ExpectedHead head{before.head_seq, HashOf(kRows)};
  DropTriggers(*raw_);
  // The forger rewrites every row, the edit included, as a keyless chain.
  std::string prev(32, '\0');
  for (int seq = 1; seq <= kRows; ++seq) {
    AuditRecord r = Record(seq);
    if (seq == 3) r.outcome = "OK";
    const int64_t at = absl::ToUnixNanos(r.at);
    absl::StatusOr<std::string> hash =
        AuditRowHash(nullptr, "", prev, EncodeAuditRow(seq, at, r, ""));
    ASSERT_TRUE(hash.ok());
    InsertRow(*raw_, seq, at, r, "", *hash);
    prev = *hash;
  }
  // A consistent chain: only the head recorded earlier shows the rewrite.
  EXPECT_TRUE(Verify().ok);
  AuditVerification v = VerifyWith(keys_.get(), head);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, kRows);
  EXPECT_EQ(v.problem, "seq 5: hash differs from the expected head");
}

TEST_P(SqliteAuditTest, VerifyingNeedsTheKeyThatChainedTheRows) {
  if (!keyed()) {
    // A keyless chain is checked without keys, and keys do not disturb it.
    EXPECT_TRUE(VerifyWith(nullptr).ok);
    EXPECT_TRUE(VerifyWith(MakeKeys("k0").get()).ok);
    return;
  }
  AuditVerification without = VerifyWith(nullptr);
  EXPECT_FALSE(without.ok);
  EXPECT_EQ(without.first_bad_seq, 1);
  EXPECT_EQ(without.problem, "seq 1: storage key 'k0' is not in the key ring");

  std::shared_ptr<const security::KeyRing> other_id = MakeKeys("k9");
  EXPECT_EQ(VerifyWith(other_id.get()).problem,
            "seq 1: storage key 'k0' is not in the key ring");

  // Same id, other key material: as good as a forgery.
  std::shared_ptr<const security::KeyRing> impostor = MakeKeys("k0");
  AuditVerification wrong = VerifyWith(impostor.get());
  EXPECT_FALSE(wrong.ok);
  EXPECT_EQ(wrong.problem, "seq 1: hash does not match the row");

  EXPECT_TRUE(VerifyWith(keys_.get()).ok);
}

TEST(SqliteAuditRotationTest, RowsOfEveryKeyOfTheRingVerify) {
  TempDir dir;
  absl::StatusOr<std::string> old_key =
      security::KeyRing::GenerateKeyLine("k0");
  absl::StatusOr<std::string> new_key =
      security::KeyRing::GenerateKeyLine("k1");
  ASSERT_TRUE(old_key.ok() && new_key.ok());
  absl::StatusOr<std::shared_ptr<const security::KeyRing>> before =
      security::KeyRing::FromText(*old_key, "test");
  absl::StatusOr<std::shared_ptr<const security::KeyRing>> after =
      security::KeyRing::FromText(absl::StrCat(*new_key, "\n", *old_key),
                                  "test");
  ASSERT_TRUE(before.ok() && after.ok());
  for (const auto& ring : {*before, *after}) {
    absl::StatusOr<std::unique_ptr<SqliteStore>> store =
        SqliteStore::Open({.path = dir.File("a.db"), .keys = ring});
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->AppendAudit({Record(1), Record(2)}).ok());
    absl::StatusOr<AuditVerification> v = (*store)->VerifyAudit();
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_TRUE(v->ok) << v->problem;
  }
  RawDb raw(dir.File("a.db"));
  EXPECT_EQ(raw.Column("SELECT key_id FROM audit_log ORDER BY seq"),
            (std::vector<std::string>{"k0", "k0", "k1", "k1"}));
}

INSTANTIATE_TEST_SUITE_P(Chains, SqliteAuditTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "keyed" : "unkeyed";
                         });

// --- The head in the log ----------------------------------------------------

std::mutex log_mu;
std::vector<std::string>* captured = nullptr;
void CaptureLog(std::string_view line) {
  std::lock_guard<std::mutex> lock(log_mu);
  if (captured != nullptr) captured->emplace_back(line);
}

TEST(SqliteAuditHeadTest, TheHeadIsLoggedAtOpenAndClose) {
  TempDir dir;
  std::vector<std::string> lines;
  {
    std::lock_guard<std::mutex> lock(log_mu);
    captured = &lines;
  }
  SetLogSink(&CaptureLog);
  std::string head;
  {
    absl::StatusOr<std::unique_ptr<SqliteStore>> store =
        SqliteStore::Open({.path = dir.File("a.db")});
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->AppendAudit({Record(1), Record(2)}).ok());
    absl::StatusOr<AuditVerification> v = (*store)->VerifyAudit();
    ASSERT_TRUE(v.ok());
    head = absl::StrCat(v->head_seq, ":", v->head_hash);
  }
  {
    // Reopened: the same head again.
    absl::StatusOr<std::unique_ptr<SqliteStore>> store =
        SqliteStore::Open({.path = dir.File("a.db")});
    ASSERT_TRUE(store.ok()) << store.status();
  }
  SetLogSink(nullptr);
  std::lock_guard<std::mutex> lock(log_mu);
  captured = nullptr;
  std::vector<std::string> heads;
  for (const std::string& line : lines) {
    if (absl::StrContains(line, "] audit head")) heads.push_back(line);
  }
  ASSERT_EQ(heads.size(), 4u) << ::testing::PrintToString(lines);
  EXPECT_THAT(heads[0], HasSubstr("at=open head=0:"));
  EXPECT_THAT(heads[1], HasSubstr("at=append head=" + head));
  EXPECT_THAT(heads[2], HasSubstr("at=close head=" + head));
  EXPECT_THAT(heads[3], HasSubstr("at=open head=" + head));
}

}  // namespace
}  // namespace attune::store
