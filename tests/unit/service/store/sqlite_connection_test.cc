// Connection::ExecCached, the path the SQLite store runs its transaction
// statements through (BEGIN, SAVEPOINT, RELEASE, COMMIT, ... once per
// commit or read): a statement prepared once must behave, run after run,
// exactly as Exec's sqlite3_exec, errors included, and SQL with several
// statements must still run all of them.
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "service/store/sqlite/connection.h"
#include "tests/unit/service/store/store_test_util.h"

namespace attune::store::sqlite {
namespace {

using ::attune::store::testing::TempDir;

std::unique_ptr<Connection> OpenConnection(const TempDir& dir) {
  absl::StatusOr<std::unique_ptr<Connection>> conn =
      Connection::Open(dir.File("c.db"), ConnectionOptions{});
  EXPECT_TRUE(conn.ok()) << conn.status();
  return conn.ok() ? *std::move(conn) : nullptr;
}

std::string Column(Connection& conn, const char* sql) {
  absl::StatusOr<std::string> text = conn.QueryText(sql, "read back");
  EXPECT_TRUE(text.ok()) << text.status();
  return text.value_or("");
}

TEST(SqliteConnectionTest, ExecCachedRunsTransactionsAgainAndAgain) {
  TempDir dir;
  std::unique_ptr<Connection> conn = OpenConnection(dir);
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(
      conn->Exec("CREATE TABLE t (x INTEGER PRIMARY KEY)", "create").ok());
  // The store's batch shape: a released savepoint is kept, one rolled back
  // to is not; every round reuses the cached statements.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(conn->ExecCached("BEGIN IMMEDIATE", "begin").ok());
    ASSERT_TRUE(conn->ExecCached("SAVEPOINT s", "savepoint").ok());
    ASSERT_TRUE(conn->Exec(absl::StrCat("INSERT INTO t VALUES (", 2 * i, ")"),
                           "insert kept")
                    .ok());
    ASSERT_TRUE(conn->ExecCached("RELEASE s", "release").ok());
    ASSERT_TRUE(conn->ExecCached("SAVEPOINT s", "savepoint").ok());
    ASSERT_TRUE(
        conn->Exec(absl::StrCat("INSERT INTO t VALUES (", 2 * i + 1, ")"),
                   "insert dropped")
            .ok());
    ASSERT_TRUE(conn->ExecCached("ROLLBACK TO s", "roll back").ok());
    ASSERT_TRUE(conn->ExecCached("RELEASE s", "release").ok());
    ASSERT_TRUE(conn->ExecCached("COMMIT", "commit").ok());
    EXPECT_FALSE(conn->InTransaction());
  }
  EXPECT_EQ(
      Column(*conn, "SELECT group_concat(x) FROM (SELECT x FROM t ORDER BY x)"),
      "0,2,4");

  // A transaction rolled back as a whole leaves nothing either.
  ASSERT_TRUE(conn->ExecCached("BEGIN", "begin").ok());
  ASSERT_TRUE(conn->Exec("INSERT INTO t VALUES (9)", "insert").ok());
  ASSERT_TRUE(conn->ExecCached("ROLLBACK", "roll back").ok());
  EXPECT_FALSE(conn->InTransaction());
  EXPECT_EQ(Column(*conn, "SELECT count(*) FROM t"), "3");
}

TEST(SqliteConnectionTest, ExecCachedFailsAsExecDoes) {
  TempDir dir;
  std::unique_ptr<Connection> conn = OpenConnection(dir);
  ASSERT_NE(conn, nullptr);
  // No transaction, no such savepoint, a syntax error (never cached).
  for (const char* sql : {"COMMIT", "ROLLBACK", "RELEASE nosuch",
                          "ROLLBACK TO nosuch", "BEGIN NOT SQL"}) {
    SCOPED_TRACE(sql);
    absl::Status exec = conn->Exec(sql, "ctx");
    EXPECT_FALSE(exec.ok());
    // Twice: the first run prepares the statement, the second reuses it.
    EXPECT_EQ(conn->ExecCached(sql, "ctx"), exec);
    EXPECT_EQ(conn->ExecCached(sql, "ctx"), exec);
  }
  // Inside a transaction, from the cached statement.
  ASSERT_TRUE(conn->ExecCached("BEGIN", "begin").ok());
  absl::Status nested = conn->Exec("BEGIN", "ctx");
  EXPECT_EQ(nested.code(), absl::StatusCode::kInternal) << nested;
  EXPECT_EQ(conn->ExecCached("BEGIN", "ctx"), nested);
  EXPECT_TRUE(conn->InTransaction());
  ASSERT_TRUE(conn->ExecCached("ROLLBACK", "roll back").ok());
}

TEST(SqliteConnectionTest, ExecCachedRunsEveryStatementOfSeveral) {
  TempDir dir;
  std::unique_ptr<Connection> conn = OpenConnection(dir);
  ASSERT_NE(conn, nullptr);
  const char* sql = "CREATE TABLE a (x); CREATE TABLE b (y);";
  ASSERT_TRUE(conn->ExecCached(sql, "create").ok());
  EXPECT_EQ(Column(*conn,
                   "SELECT group_concat(name) FROM"
                   " (SELECT name FROM sqlite_schema ORDER BY name)"),
            "a,b");
  // Again: fails on the first table, as Exec does.
  absl::Status again = conn->ExecCached(sql, "create");
  EXPECT_FALSE(again.ok());
  EXPECT_EQ(again, conn->Exec(sql, "create"));
}

}  // namespace
}  // namespace attune::store::sqlite
