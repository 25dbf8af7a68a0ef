// RawDb: a plain sqlite3 connection to a store's file, for tests that build
// old schemas, look at the bytes a backend wrote, or tamper with them the way
// someone holding the file could.
#ifndef ATTUNE_TESTS_UNIT_SERVICE_STORE_RAW_DB_H_
#define ATTUNE_TESTS_UNIT_SERVICE_STORE_RAW_DB_H_

#include <sqlite3.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace attune::store::testing {

class RawDb {
 public:
  // Opens (creating when missing) read-write.
  explicit RawDb(const std::string& path) {
    int rc =
        sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    EXPECT_EQ(rc, SQLITE_OK) << sqlite3_errstr(rc);
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  // SQLite's error message, "" on success.
  std::string TryExec(const std::string& sql) {
    char* error = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
    std::string message =
        rc == SQLITE_OK ? "" : (error != nullptr ? error : "error");
    sqlite3_free(error);
    return message;
  }
  void Exec(const std::string& sql) { EXPECT_EQ(TryExec(sql), "") << sql; }

  // Every row of `sql` as text, columns joined by '|', NULL as "NULL".
  std::vector<std::string> Rows(const std::string& sql) {
    std::vector<std::string> rows;
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr);
    EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << sqlite3_errmsg(db_);
    while (rc == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
      std::string row;
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        if (i > 0) row += "|";
        const unsigned char* text = sqlite3_column_text(stmt, i);
        row += text ? reinterpret_cast<const char*>(text) : "NULL";
      }
      rows.push_back(row);
    }
    sqlite3_finalize(stmt);
    return rows;
  }

  // The first column of every row of `sql`, as the exact bytes stored
  // (NULL as "").
  std::vector<std::string> Column(const std::string& sql) {
    std::vector<std::string> values;
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr);
    EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << sqlite3_errmsg(db_);
    while (rc == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
      const void* data = sqlite3_column_blob(stmt, 0);
      const int size = sqlite3_column_bytes(stmt, 0);
      values.emplace_back(data ? static_cast<const char*>(data) : "",
                          static_cast<size_t>(size));
    }
    sqlite3_finalize(stmt);
    return values;
  }

  // The single value `sql` yields (a failed expectation otherwise).
  std::string One(const std::string& sql) {
    std::vector<std::string> values = Column(sql);
    EXPECT_THAT(values, ::testing::SizeIs(1)) << sql;
    return values.empty() ? "" : values[0];
  }

  // For statements the helpers above do not cover (bound parameters).
  sqlite3* handle() { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace attune::store::testing

#endif  // ATTUNE_TESTS_UNIT_SERVICE_STORE_RAW_DB_H_
