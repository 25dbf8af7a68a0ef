// PostgreSQL test helpers: the throwaway cluster of tests/postgres/ (the
// ctest fixture `postgres`), a fresh database per test, an admin connection
// for looking at raw rows and killing sessions, and a Store that drops its
// database when destroyed.
//
// The cluster's connection string is read from the file named by the
// compile definition ATTUNE_POSTGRES_DSN_FILE (tests/postgres/CMakeLists.txt).
// When it is missing, opening fails (FAILED_PRECONDITION), so the tests
// fail rather than skip: run them through ctest, which starts the cluster.
#ifndef ATTUNE_TESTS_UNIT_SERVICE_STORE_POSTGRES_TEST_UTIL_H_
#define ATTUNE_TESTS_UNIT_SERVICE_STORE_POSTGRES_TEST_UTIL_H_

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "service/security/key_ring.h"
#include "service/store/postgres/postgres_store.h"
#include "service/store/store.h"

#ifndef ATTUNE_POSTGRES_DSN_FILE
#error "ATTUNE_POSTGRES_DSN_FILE must name the test cluster's dsn file"
#endif

namespace attune::store::testing {

// The test cluster's connection string (to its `postgres` database).
inline absl::StatusOr<std::string> ClusterDsn() {
  std::ifstream in(ATTUNE_POSTGRES_DSN_FILE);
  std::stringstream text;
  text << in.rdbuf();
  std::string dsn(absl::StripAsciiWhitespace(text.str()));
  if (!in || dsn.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no PostgreSQL test cluster: ", ATTUNE_POSTGRES_DSN_FILE,
        " is missing; run the test through ctest (fixture postgres, "
        "tests/postgres/cluster.sh)"));
  }
  return dsn;
}

// A plain libpq connection for what the Store interface does not show:
// creating databases, reading raw rows, terminating sessions.
class AdminConnection {
 public:
  static absl::StatusOr<std::unique_ptr<AdminConnection>> Open(
      const std::string& dsn) {
    PGconn* conn = PQconnectdb(dsn.c_str());
    if (PQstatus(conn) != CONNECTION_OK) {
      std::string message = PQerrorMessage(conn);
      PQfinish(conn);
      return absl::UnavailableError(
          absl::StrCat("test cluster: cannot connect: ", message));
    }
    PQsetNoticeProcessor(
        conn, [](void*, const char*) {}, nullptr);
    return std::unique_ptr<AdminConnection>(new AdminConnection(conn));
  }
  ~AdminConnection() { PQfinish(conn_); }
  AdminConnection(const AdminConnection&) = delete;
  AdminConnection& operator=(const AdminConnection&) = delete;

  // Every row of `sql` (text format), columns joined by '|', NULL as
  // "NULL"; an error fails the test and returns what was read.
  std::vector<std::string> Rows(const std::string& sql) {
    std::vector<std::string> rows;
    PGresult* result = PQexec(conn_, sql.c_str());
    const ExecStatusType status = PQresultStatus(result);
    EXPECT_TRUE(status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
        << sql << ": " << PQerrorMessage(conn_);
    for (int r = 0; r < PQntuples(result); ++r) {
      std::string row;
      for (int c = 0; c < PQnfields(result); ++c) {
        if (c > 0) row += "|";
        row += PQgetisnull(result, r, c) ? "NULL" : PQgetvalue(result, r, c);
      }
      rows.push_back(std::move(row));
    }
    PQclear(result);
    return rows;
  }
  // The server's error message, "" on success.
  std::string TryExec(const std::string& sql) {
    PGresult* result = PQexec(conn_, sql.c_str());
    const ExecStatusType status = PQresultStatus(result);
    std::string error = status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK
                            ? ""
                            : PQerrorMessage(conn_);
    PQclear(result);
    return error;
  }
  void Exec(const std::string& sql) { EXPECT_EQ(TryExec(sql), "") << sql; }

 private:
  explicit AdminConnection(PGconn* conn) : conn_(conn) {}
  PGconn* conn_;
};

// A database of its own on the test cluster, dropped (with any sessions
// still on it) when destroyed.
class TestDatabase {
 public:
  static absl::StatusOr<std::unique_ptr<TestDatabase>> Create() {
    absl::StatusOr<std::string> cluster = ClusterDsn();
    if (!cluster.ok()) return cluster.status();
    absl::StatusOr<std::unique_ptr<AdminConnection>> admin =
        AdminConnection::Open(*cluster);
    if (!admin.ok()) return admin.status();
    static std::atomic<int> counter{0};
    // pid and counter keep concurrent test processes apart; the random part
    // keeps a crashed run's leftovers from colliding.
    std::random_device random;
    const std::string name = absl::StrCat("attune_", getpid(), "_", counter++,
                                          "_", random() % 100000);
    const std::string error =
        (*admin)->TryExec(absl::StrCat("CREATE DATABASE ", name));
    if (!error.empty()) {
      return absl::InternalError(
          absl::StrCat("test cluster: CREATE DATABASE failed: ", error));
    }
    return std::unique_ptr<TestDatabase>(
        new TestDatabase(*std::move(cluster), name, *std::move(admin)));
  }
  ~TestDatabase() {
    admin_->TryExec(
        absl::StrCat("DROP DATABASE IF EXISTS ", name_, " WITH (FORCE)"));
  }
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& name() const { return name_; }
  // A connection string to this database.
  std::string dsn() const {
    return absl::StrCat(cluster_dsn_, " dbname=", name_);
  }
  // An admin connection to the cluster's `postgres` database.
  AdminConnection& cluster_admin() { return *admin_; }
  // A new admin connection to this database.
  absl::StatusOr<std::unique_ptr<AdminConnection>> Connect() const {
    return AdminConnection::Open(dsn());
  }

 private:
  TestDatabase(std::string cluster_dsn, std::string name,
               std::unique_ptr<AdminConnection> admin)
      : cluster_dsn_(std::move(cluster_dsn)),
        name_(std::move(name)),
        admin_(std::move(admin)) {}

  std::string cluster_dsn_;
  std::string name_;
  std::unique_ptr<AdminConnection> admin_;
};

// A Store on a TestDatabase it owns: destroying it closes the store's
// connections, then drops the database.
class DatabaseOwningStore final : public Store {
 public:
  DatabaseOwningStore(std::unique_ptr<TestDatabase> database,
                      std::unique_ptr<Store> store)
      : database_(std::move(database)), store_(std::move(store)) {}
  ~DatabaseOwningStore() override { store_.reset(); }

  absl::StatusOr<std::optional<StoredEvent>> FindEvent(
      const std::string& tenant, const std::string& event_id) override {
    return store_->FindEvent(tenant, event_id);
  }
  absl::StatusOr<int64_t> EpisodeVersion(
      const std::string& tenant, const std::string& episode_id) override {
    return store_->EpisodeVersion(tenant, episode_id);
  }
  absl::StatusOr<EpisodeSnapshot> LoadEpisode(
      const std::string& tenant, const std::string& episode_id) override {
    return store_->LoadEpisode(tenant, episode_id);
  }
  std::optional<int64_t> CommitBatches() const override {
    return store_->CommitBatches();
  }
  std::future<absl::Status> CommitAsync(EventCommit commit) override {
    return store_->CommitAsync(std::move(commit));
  }
  absl::StatusOr<std::optional<v1::Prompt>> GetPrompt(
      const std::string& tenant, const std::string& prompt_id) override {
    return store_->GetPrompt(tenant, prompt_id);
  }
  absl::StatusOr<PromptPage> ListPrompts(const PromptQuery& query) override {
    return store_->ListPrompts(query);
  }
  absl::StatusOr<std::vector<HeldSession>> ListClinicianSessions(
      const std::string& tenant, const std::string& clinician_id,
      absl::Time from, absl::Time to) override {
    return store_->ListClinicianSessions(tenant, clinician_id, from, to);
  }
  absl::StatusOr<std::vector<FeedbackCount>> CountFeedback(
      const std::string& tenant) override {
    return store_->CountFeedback(tenant);
  }
  absl::StatusOr<EventPage> ScanEvents(const std::string& tenant, int page_size,
                                       const std::string& page_token) override {
    return store_->ScanEvents(tenant, page_size, page_token);
  }
  absl::StatusOr<std::vector<v1::Prompt>> ListModulePrompts(
      const std::string& tenant, const std::string& module_id, bool shadow,
      int limit) override {
    return store_->ListModulePrompts(tenant, module_id, shadow, limit);
  }
  absl::Status AppendAudit(std::vector<AuditRecord> records) override {
    return store_->AppendAudit(std::move(records));
  }
  absl::StatusOr<AuditVerification> VerifyAudit() override {
    return store_->VerifyAudit();
  }
  absl::StatusOr<EraseCounts> EraseClient(
      const std::string& tenant, const std::string& client_id) override {
    return store_->EraseClient(tenant, client_id);
  }
  absl::StatusOr<EraseCounts> EraseInactiveEpisodes(absl::Time cutoff,
                                                    int limit) override {
    return store_->EraseInactiveEpisodes(cutoff, limit);
  }

 private:
  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<Store> store_;
};

// A PostgresStore on a fresh database of the test cluster (dropped with
// the store); `keys` null: plaintext.
inline absl::StatusOr<std::unique_ptr<Store>> OpenFreshPostgresStore(
    std::shared_ptr<const security::KeyRing> keys = nullptr) {
  absl::StatusOr<std::unique_ptr<TestDatabase>> database =
      TestDatabase::Create();
  if (!database.ok()) return database.status();
  PostgresStoreOptions options;
  options.dsn = (*database)->dsn();
  options.keys = std::move(keys);
  absl::StatusOr<std::unique_ptr<Store>> store = OpenPostgresStore(options);
  if (!store.ok()) return store.status();
  return std::unique_ptr<Store>(std::make_unique<DatabaseOwningStore>(
      *std::move(database), *std::move(store)));
}

}  // namespace attune::store::testing

#endif  // ATTUNE_TESTS_UNIT_SERVICE_STORE_POSTGRES_TEST_UTIL_H_
