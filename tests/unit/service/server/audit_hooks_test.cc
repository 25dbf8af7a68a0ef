// The audit rows of real calls: AttuneServer in this process with bearer
// tokens (ES384), storage keys and a SQLite store, called over gRPC. Every
// AllianceService and RuleAdmin call leaves its row, refused ones too, under
// the right tenant, caller pseudonym, action, object pseudonym and outcome;
// caller pseudonyms survive a restart; Shutdown writes the last rows; the
// chain verifies; and no identifier sent in a request appears in any row.
#include <sqlite3.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "attune/v1/alliance_service.grpc.pb.h"
#include "attune/v1/rule_admin.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "service/config/config_loader.h"
#include "service/engine/module_set.h"
#include "service/security/key_ring.h"
#include "service/server/attune_server.h"
#include "service/server/audit_trail.h"
#include "service/store/sqlite/audit.h"
#include "service/store/sqlite/connection.h"
#include "service/store/sqlite/sqlite_store.h"
#include "tests/unit/service/auth/test_keys.h"

namespace attune::server {
namespace {

namespace keys = ::attune::auth::test;

constexpr char kIssuer[] = "https://idp.test";
constexpr char kAudience[] = "attune";
constexpr char kTenant[] = "clinic-a";

// Recognisable identifiers: none may reach the audit log.
constexpr char kClient[] = "CLIENT-PHI-4711";
constexpr char kClinician[] = "DR-PHI-0815";
constexpr char kEpisode[] = "EP-PHI-2342";
constexpr char kPrompt[] = "PROMPT-PHI-77";
constexpr char kSubject[] = "SUBJECT-PHI-99";
constexpr char kEventPrefix[] = "EV-PHI-";

struct Row {
  int64_t seq = 0;
  std::string tenant, caller, action, object, outcome;
  std::string ToString() const {
    return absl::StrCat(seq, "|", tenant, "|", caller, "|", action, "|", object,
                        "|", outcome);
  }
};

google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  return ts;
}

v1::SessionEvent Held(int session) {
  const absl::Time start =
      absl::Now() - absl::Hours(24 * 7) * (10 - session) - absl::Hours(1);
  v1::SessionEvent e;
  e.set_event_id(absl::StrCat(kEventPrefix, session));
  *e.mutable_occurred_at() = ToProto(start + absl::Minutes(50));
  e.mutable_episode()->set_client_id(kClient);
  e.mutable_episode()->set_clinician_id(kClinician);
  e.mutable_episode()->set_episode_id(kEpisode);
  v1::SessionHeld* held = e.mutable_session_held();
  held->set_session_number(session);
  *held->mutable_start() = ToProto(start);
  *held->mutable_end() = ToProto(start + absl::Minutes(50));
  return e;
}

class AuditHooksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string name =
        ::testing::UnitTest::GetInstance()->current_test_info()->name();
    base_ =
        absl::StrCat(::testing::TempDir(), "audit-hooks-", getpid(), "-", name);
    db_path_ = base_ + ".db";
    jwks_path_ = base_ + ".jwks";
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::remove((db_path_ + suffix).c_str());
    }
    std::ofstream(jwks_path_)
        << keys::Jwks({keys::EcJwk(keys::EcP384(), "ec-1", "P-384", "ES384")});
    absl::StatusOr<std::string> line = security::KeyRing::GenerateKeyLine("k0");
    ASSERT_TRUE(line.ok());
    absl::StatusOr<std::shared_ptr<const security::KeyRing>> ring =
        security::KeyRing::FromText(*line, "test");
    ASSERT_TRUE(ring.ok()) << ring.status();
    keys_ = *ring;
    StartServer();
  }

  void TearDown() override {
    StopServer();
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::remove((db_path_ + suffix).c_str());
    }
    std::remove(jwks_path_.c_str());
  }

  void StartServer() {
    absl::StatusOr<v1::ServerConfig> config = config::DefaultConfig();
    ASSERT_TRUE(config.ok()) << config.status();
    config->set_listen_address("127.0.0.1:0");
    config->mutable_ops()->set_listen_address("127.0.0.1:0");
    v1::AuthConfig* auth = config->mutable_auth();
    auth->set_jwks_file(jwks_path_);
    auth->add_issuers(kIssuer);
    auth->set_audience(kAudience);
    auth->set_single_use_tokens(false);
    store::SqliteStoreOptions options;
    options.path = db_path_;
    options.keys = keys_;
    absl::StatusOr<std::unique_ptr<store::Store>> store =
        store::OpenSqliteStore(options);
    ASSERT_TRUE(store.ok()) << store.status();
    auto modules = engine::LoadRuleModules(*config);
    ASSERT_TRUE(modules.ok()) << modules.status();
    absl::StatusOr<std::unique_ptr<AttuneServer>> server = AttuneServer::Start(
        *config, *std::move(store), *std::move(modules), ConfigSource{}, keys_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
  }

  void StopServer() {
    // gRPC 1.51 waits for idle client channels at shutdown: drop ours first.
    channel_.reset();
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(2));
    server_.reset();
  }

  std::string Token(const std::string& roles) const {
    const int64_t now = absl::ToUnixSeconds(absl::Now());
    return keys::SignToken(
        R"({"alg":"ES384","kid":"ec-1","typ":"JWT"})",
        absl::StrCat(R"({"iss":")", kIssuer, R"(","aud":")", kAudience,
                     R"(","sub":")", kSubject, R"(","iat":)", now, R"(,"exp":)",
                     now + 600, R"(,"roles":[)", roles,
                     R"(],"attune_tenant":")", kTenant, R"("})"),
        "ES384", keys::EcP384());
  }
  std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token) const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(10));
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
    return ctx;
  }
  std::unique_ptr<v1::AllianceService::Stub> Stub() const {
    return v1::AllianceService::NewStub(channel_);
  }

  // Every audit row, read from the file as an auditor would.
  std::vector<Row> Rows() const {
    std::vector<Row> rows;
    sqlite3* db = nullptr;
    EXPECT_EQ(
        sqlite3_open_v2(db_path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
        SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db,
                                 "SELECT seq, tenant, caller, action, object,"
                                 " outcome FROM audit_log ORDER BY seq",
                                 -1, &stmt, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    while (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) {
      auto text = [&](int i) {
        const unsigned char* t = sqlite3_column_text(stmt, i);
        return std::string(t != nullptr ? reinterpret_cast<const char*>(t)
                                        : "");
      };
      rows.push_back(Row{sqlite3_column_int64(stmt, 0), text(1), text(2),
                         text(3), text(4), text(5)});
    }
    sqlite3_finalize(stmt);
    sqlite3_close_v2(db);
    return rows;
  }

  // Rows after the first `skip`, once at least `n` of them are written.
  std::vector<Row> AwaitRows(size_t skip, size_t n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    std::vector<Row> rows;
    do {
      EXPECT_TRUE(server_->audit().Flush(absl::Seconds(5)).ok());
      rows = Rows();
      if (rows.size() >= skip + n) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    } while (absl::Now() < deadline);
    rows.erase(rows.begin(),
               rows.begin() + static_cast<long>(std::min(skip, rows.size())));
    return rows;
  }

  std::string Object(const std::string& kind, const std::string& id) const {
    return absl::StrCat(kind, ":", keys_->LookupHash(kTenant, kind, id));
  }

  std::string base_, db_path_, jwks_path_;
  std::shared_ptr<const security::KeyRing> keys_;
  std::unique_ptr<AttuneServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

MATCHER_P5(IsRow, tenant, caller, action, object, outcome, "") {
  *result_listener << arg.ToString();
  return arg.tenant == tenant && arg.caller == caller && arg.action == action &&
         arg.object == object && arg.outcome == outcome;
}

TEST_F(AuditHooksTest, EveryCallLeavesItsRowAndNoIdentifier) {
  const std::string all = Token(R"("ingest","read","admin")");
  const std::string read_only = Token(R"("read")");

  {  // No token.
    v1::SubmitEventRequest req;
    *req.mutable_event() = Held(1);
    v1::SubmitEventResponse resp;
    EXPECT_EQ(Stub()->SubmitEvent(Ctx("").get(), req, &resp).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {  // A token without the ingest role.
    v1::SubmitEventRequest req;
    *req.mutable_event() = Held(1);
    v1::SubmitEventResponse resp;
    EXPECT_EQ(
        Stub()->SubmitEvent(Ctx(read_only).get(), req, &resp).error_code(),
        grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    v1::SubmitEventRequest req;
    *req.mutable_event() = Held(1);
    v1::SubmitEventResponse resp;
    grpc::Status s = Stub()->SubmitEvent(Ctx(all).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }
  {  // One row per event, each with its own outcome.
    v1::SubmitEventsRequest req;
    *req.add_events() = Held(2);
    v1::SessionEvent bad = Held(3);
    bad.clear_event_id();
    *req.add_events() = bad;
    v1::SubmitEventsResponse resp;
    grpc::Status s = Stub()->SubmitEvents(Ctx(all).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.rejected(), 1);
  }
  {
    v1::GetAssessmentRequest req;
    req.set_episode_id(kEpisode);
    v1::GetAssessmentResponse resp;
    EXPECT_TRUE(Stub()->GetAssessment(Ctx(all).get(), req, &resp).ok());
  }
  {
    v1::ListPromptsRequest req;
    req.set_clinician_id(kClinician);
    v1::ListPromptsResponse resp;
    EXPECT_TRUE(Stub()->ListPrompts(Ctx(all).get(), req, &resp).ok());
    req.set_episode_id(kEpisode);  // both: refused, on no object
    EXPECT_EQ(Stub()->ListPrompts(Ctx(all).get(), req, &resp).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    v1::RecordPromptFeedbackRequest req;
    req.set_event_id(absl::StrCat(kEventPrefix, "fb"));
    req.set_prompt_id(kPrompt);
    req.set_outcome(v1::PromptFeedback::OUTCOME_ACCEPTED);
    v1::RecordPromptFeedbackResponse resp;
    EXPECT_EQ(
        Stub()->RecordPromptFeedback(Ctx(all).get(), req, &resp).error_code(),
        grpc::StatusCode::NOT_FOUND);
  }
  {
    v1::ListModulesResponse resp;
    EXPECT_TRUE(
        v1::RuleAdmin::NewStub(channel_)
            ->ListModules(Ctx(all).get(), v1::ListModulesRequest(), &resp)
            .ok());
  }

  std::vector<Row> rows = AwaitRows(0, 10);
  ASSERT_EQ(rows.size(), 10u);
  const std::string caller = rows[1].caller;
  EXPECT_TRUE(absl::StartsWith(caller, "tok:")) << caller;
  EXPECT_EQ(caller.size(), 4u + 16u) << caller;
  const std::string episode = Object("episode", kEpisode);
  EXPECT_THAT(rows[0], IsRow("-", "unauthenticated", "SubmitEvent", "",
                             "UNAUTHENTICATED"));
  EXPECT_THAT(rows[1], IsRow(kTenant, caller, "SubmitEvent", episode,
                             "PERMISSION_DENIED"));
  EXPECT_THAT(rows[2], IsRow(kTenant, caller, "SubmitEvent", episode, "OK"));
  EXPECT_THAT(rows[3], IsRow(kTenant, caller, "SubmitEvents", episode, "OK"));
  EXPECT_THAT(rows[4], IsRow(kTenant, caller, "SubmitEvents", episode,
                             "INVALID_ARGUMENT"));
  EXPECT_THAT(rows[5], IsRow(kTenant, caller, "GetAssessment", episode, "OK"));
  EXPECT_THAT(rows[6], IsRow(kTenant, caller, "ListPrompts",
                             Object("clinician", kClinician), "OK"));
  EXPECT_THAT(rows[7],
              IsRow(kTenant, caller, "ListPrompts", "", "INVALID_ARGUMENT"));
  EXPECT_THAT(rows[8], IsRow(kTenant, caller, "RecordPromptFeedback",
                             Object("prompt", kPrompt), "NOT_FOUND"));
  EXPECT_THAT(rows[9],
              IsRow(kTenant, caller, "RuleAdmin.ListModules", "", "OK"));

  // A watch: one row when it opens, one when it ends. On an episode with no
  // prompts, so that no write is in flight when the client cancels.
  const std::string quiet = absl::StrCat(kEpisode, "-QUIET");
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + all);
    v1::WatchPromptsRequest req;
    req.set_episode_id(quiet);
    std::unique_ptr<grpc::ClientReader<v1::PromptUpdate>> reader =
        Stub()->WatchPrompts(&ctx, req);
    std::vector<Row> opened = AwaitRows(10, 1);
    ASSERT_EQ(opened.size(), 1u);
    EXPECT_THAT(opened[0], IsRow(kTenant, caller, "WatchPrompts",
                                 Object("episode", quiet), "OK"));
    ctx.TryCancel();
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  std::vector<Row> closed = AwaitRows(11, 1);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_THAT(closed[0], IsRow(kTenant, caller, "WatchPrompts.closed",
                               Object("episode", quiet), "CANCELLED"));

  // No identifier from any request, nor the token's subject, in any row.
  for (const Row& row : Rows()) {
    const std::string text = row.ToString();
    for (const char* id :
         {kClient, kClinician, kEpisode, kPrompt, kSubject, kEventPrefix}) {
      EXPECT_THAT(text, ::testing::Not(::testing::HasSubstr(id))) << id;
    }
  }
}

TEST_F(AuditHooksTest, ShutdownWritesTheLastRowsAndCallersStayNamedAlike) {
  const std::string token = Token(R"("read")");
  v1::ListPromptsRequest req;
  req.set_episode_id(kEpisode);
  v1::ListPromptsResponse resp;
  ASSERT_TRUE(Stub()->ListPrompts(Ctx(token).get(), req, &resp).ok());
  // No Flush: Shutdown must write the row before the store closes.
  StopServer();
  std::vector<Row> before = Rows();
  ASSERT_EQ(before.size(), 1u);

  StartServer();
  ASSERT_TRUE(Stub()->ListPrompts(Ctx(token).get(), req, &resp).ok());
  StopServer();
  std::vector<Row> rows = Rows();
  ASSERT_EQ(rows.size(), 2u);
  // The same caller and object pseudonyms after a restart (same keys).
  EXPECT_EQ(rows[1].caller, rows[0].caller);
  EXPECT_EQ(rows[1].object, rows[0].object);
  EXPECT_EQ(rows[1].seq, 2);

  // And the chain, written across two runs, verifies with the keys.
  absl::StatusOr<std::unique_ptr<store::sqlite::Connection>> conn =
      store::sqlite::Connection::Open(db_path_, {.read_only = true});
  ASSERT_TRUE(conn.ok()) << conn.status();
  absl::StatusOr<store::AuditVerification> v =
      store::sqlite::VerifyAuditChain(**conn, keys_.get());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->ok) << v->problem;
  EXPECT_EQ(v->rows, 2);
}

}  // namespace
}  // namespace attune::server
