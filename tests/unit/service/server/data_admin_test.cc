// DataAdmin.EraseClient and the retention sweep through an in-process
// AttuneServer over real gRPC with bearer tokens: what an erase removes,
// what it leaves (other clients, other tenants), who may call it, what it
// logs, and `attunectl data erase-client` against it.
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "attune/v1/alliance_service.grpc.pb.h"
#include "attune/v1/data_admin.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "service/common/log.h"
#include "service/config/config_loader.h"
#include "service/ctl/cli.h"
#include "service/engine/module_set.h"
#include "service/server/attune_server.h"
#include "service/store/sqlite/sqlite_store.h"
#include "tests/integration/episode_script.h"
#include "tests/integration/test_tokens.h"
#include "tests/unit/service/store/store_test_util.h"

namespace attune::server {
namespace {

using ::attune::testing::EpisodeScript;
using ::attune::testing::MintToken;
using ::attune::testing::TokenSpec;

constexpr char kTenantA[] = "clinic-a";
constexpr char kTenantB[] = "clinic-b";
constexpr char kClinician[] = "clin-shared";

// Every log line while a LogCapture lives.
std::mutex g_log_mu;
std::vector<std::string>* g_log_lines = nullptr;

void CaptureLog(std::string_view line) {
  std::lock_guard<std::mutex> lock(g_log_mu);
  if (g_log_lines != nullptr) g_log_lines->emplace_back(line);
}

class LogCapture {
 public:
  LogCapture() {
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_log_lines = &lines_;
    SetLogSink(&CaptureLog);
  }
  ~LogCapture() {
    SetLogSink(nullptr);
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_log_lines = nullptr;
  }
  std::vector<std::string> lines() {
    std::lock_guard<std::mutex> lock(g_log_mu);
    return lines_;
  }

 private:
  std::vector<std::string> lines_;
};

// A course that goes well for four sessions, then drops sharply: raises a
// rupture prompt, so the episode has prompts to erase.
std::vector<v1::SessionEvent> RuptureCourse(EpisodeScript& s) {
  std::vector<v1::SessionEvent> events;
  const double srs[] = {37, 38.5, 38, 39};
  for (int n = 1; n <= 4; ++n) {
    events.push_back(s.Held(n));
    events.push_back(s.Srs(n, srs[n - 1]));
    if (n == 2) events.push_back(s.Goals(2));
  }
  events.push_back(s.Held(5, true));
  events.push_back(s.Srs(5, 30));
  return events;
}

EpisodeScript Script(const std::string& client, const std::string& episode) {
  return EpisodeScript(client, kClinician, episode,
                       absl::Now() - absl::Hours(24 * 7 * 5));
}

class DataAdminTest : public ::testing::Test {
 protected:
  void TearDown() override { StopServer(); }

  // `extra`: text-format ServerConfig fields merged over the test's.
  void StartServer(const std::string& extra = "") {
    ASSERT_TRUE(WriteFile(dir_.File("jwks.json"), testing::TestJwks()));
    absl::StatusOr<v1::ServerConfig> defaults = config::DefaultConfig();
    ASSERT_TRUE(defaults.ok()) << defaults.status();
    absl::StatusOr<v1::ServerConfig> overlay = config::ParseConfigText(
        absl::StrCat("listen_address: \"127.0.0.1:0\"\n",
                     "ops { listen_address: \"127.0.0.1:0\" }\n",
                     "store { sqlite_path: \"", db_path_, "\" }\n",
                     testing::TestAuthConfig(dir_.File("jwks.json")), extra),
        "test");
    ASSERT_TRUE(overlay.ok()) << overlay.status();
    const v1::ServerConfig config = config::MergeConfig(*defaults, *overlay);
    ASSERT_TRUE(config::ValidateConfig(config).ok())
        << config::ValidateConfig(config);
    store::SqliteStoreOptions options;
    options.path = db_path_;
    absl::StatusOr<std::unique_ptr<store::Store>> store =
        store::OpenSqliteStore(options);
    ASSERT_TRUE(store.ok()) << store.status();
    // The built-in modules, as attuned runs them.
    auto modules = engine::LoadRuleModules(config);
    ASSERT_TRUE(modules.ok()) << modules.status();
    absl::StatusOr<std::unique_ptr<AttuneServer>> server =
        AttuneServer::Start(config, *std::move(store), *std::move(modules));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
  }

  void StopServer() {
    // Channels first: a graceful shutdown waits for idle connections.
    channel_.reset();
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(5));
    server_.reset();
  }

  static bool WriteFile(const std::string& path, const std::string& text) {
    std::FILE* f = std::fopen(path.c_str(), "w");
    if (f == nullptr) return false;
    const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    return std::fclose(f) == 0 && ok;
  }

  // A context carrying a fresh token for `tenant` with `roles`.
  static std::unique_ptr<grpc::ClientContext> Ctx(
      const std::string& tenant,
      std::vector<std::string> roles = {"ingest", "read", "admin"}) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(10));
    TokenSpec spec;
    spec.tenant = tenant;
    spec.roles = std::move(roles);
    ctx->AddMetadata("authorization", "Bearer " + MintToken(spec));
    return ctx;
  }

  // Submits every event; returns how many were accepted.
  int Submit(const std::string& tenant,
             const std::vector<v1::SessionEvent>& events) {
    auto stub = v1::AllianceService::NewStub(channel_);
    int accepted = 0;
    for (const v1::SessionEvent& event : events) {
      v1::SubmitEventRequest req;
      *req.mutable_event() = event;
      v1::SubmitEventResponse resp;
      grpc::Status status = stub->SubmitEvent(Ctx(tenant).get(), req, &resp);
      EXPECT_TRUE(status.ok()) << status.error_message();
      accepted += status.ok() ? 1 : 0;
    }
    return accepted;
  }

  grpc::Status Assess(const std::string& tenant, const std::string& episode,
                      v1::GetAssessmentResponse* resp) {
    v1::GetAssessmentRequest req;
    req.set_episode_id(episode);
    return v1::AllianceService::NewStub(channel_)->GetAssessment(
        Ctx(tenant).get(), req, resp);
  }

  // The live prompts of an episode (or, with `clinician`, a caseload).
  std::vector<v1::Prompt> Prompts(const std::string& tenant,
                                  const std::string& episode,
                                  bool clinician = false) {
    v1::ListPromptsRequest req;
    if (clinician) {
      req.set_clinician_id(episode);
    } else {
      req.set_episode_id(episode);
    }
    v1::ListPromptsResponse resp;
    grpc::Status status = v1::AllianceService::NewStub(channel_)->ListPrompts(
        Ctx(tenant).get(), req, &resp);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {resp.prompts().begin(), resp.prompts().end()};
  }

  grpc::Status Erase(const std::string& tenant, const std::string& client_id,
                     v1::EraseClientResponse* resp,
                     std::vector<std::string> roles = {"admin"}) {
    v1::EraseClientRequest req;
    req.set_client_id(client_id);
    return v1::DataAdmin::NewStub(channel_)->EraseClient(
        Ctx(tenant, std::move(roles)).get(), req, resp);
  }

  store::testing::TempDir dir_;
  const std::string db_path_ = dir_.File("attune.db");
  std::unique_ptr<AttuneServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(DataAdminTest, EraseClientRemovesOnlyThatClientsEpisodes) {
  StartServer();
  // In clinic A: anna (two episodes) and ben share a clinician. Clinic B
  // has its own "anna", with the same episode ids.
  EpisodeScript anna1 = Script("anna", "ep-anna-1");
  EpisodeScript anna2 = Script("anna", "ep-anna-2");
  EpisodeScript ben = Script("ben", "ep-ben");
  EpisodeScript other = Script("anna", "ep-anna-1");
  const int anna_events = Submit(kTenantA, RuptureCourse(anna1)) +
                          Submit(kTenantA, {anna2.Held(1)});
  ASSERT_EQ(anna_events, 12);
  const int ben_events = Submit(kTenantA, RuptureCourse(ben));
  ASSERT_EQ(Submit(kTenantB, RuptureCourse(other)), 11);
  const size_t anna_prompts = Prompts(kTenantA, "ep-anna-1").size();
  ASSERT_GT(anna_prompts, 0u);
  ASSERT_FALSE(Prompts(kTenantA, "ep-ben").empty());

  LogCapture log;
  v1::EraseClientResponse erased;
  grpc::Status status = Erase(kTenantA, "anna", &erased);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(erased.episodes_erased(), 2);
  EXPECT_EQ(erased.events_erased(), anna_events);
  EXPECT_GE(erased.prompts_erased(), static_cast<int64_t>(anna_prompts));

  v1::GetAssessmentResponse assessment;
  for (const char* episode : {"ep-anna-1", "ep-anna-2"}) {
    EXPECT_EQ(Assess(kTenantA, episode, &assessment).error_code(),
              grpc::StatusCode::NOT_FOUND)
        << episode;
    EXPECT_TRUE(Prompts(kTenantA, episode).empty()) << episode;
  }
  // Ben's course and the caseload's other prompts are intact.
  ASSERT_TRUE(Assess(kTenantA, "ep-ben", &assessment).ok());
  EXPECT_EQ(assessment.assessment().event_count(), ben_events);
  const std::vector<v1::Prompt> caseload =
      Prompts(kTenantA, kClinician, /*clinician=*/true);
  EXPECT_FALSE(caseload.empty());
  for (const v1::Prompt& p : caseload) {
    EXPECT_EQ(p.episode().client_id(), "ben") << p.id();
  }
  // Clinic B's anna is someone else.
  ASSERT_TRUE(Assess(kTenantB, "ep-anna-1", &assessment).ok());
  EXPECT_EQ(assessment.assessment().event_count(), 11);
  EXPECT_FALSE(Prompts(kTenantB, "ep-anna-1").empty());

  // Counts in the log, never the client.
  bool logged = false;
  for (const std::string& line : log.lines()) {
    EXPECT_FALSE(absl::StrContains(line, "anna")) << line;
    if (absl::StrContains(line, "client erased")) {
      logged = true;
      EXPECT_TRUE(absl::StrContains(line, "episodes=2")) << line;
    }
  }
  EXPECT_TRUE(logged);

  // Again: nothing left. A later event starts the episode afresh.
  ASSERT_TRUE(Erase(kTenantA, "anna", &erased).ok());
  EXPECT_EQ(erased.episodes_erased(), 0);
  EXPECT_EQ(erased.events_erased(), 0);
  EpisodeScript returning = Script("anna", "ep-anna-1");
  ASSERT_EQ(Submit(kTenantA, {returning.Held(6)}), 1);
  ASSERT_TRUE(Assess(kTenantA, "ep-anna-1", &assessment).ok());
  EXPECT_EQ(assessment.assessment().event_count(), 1);
}

TEST_F(DataAdminTest, EraseClientNeedsTheAdminRole) {
  StartServer();
  EpisodeScript anna = Script("anna", "ep-anna-1");
  ASSERT_EQ(Submit(kTenantA, {anna.Held(1)}), 1);

  v1::EraseClientResponse erased;
  grpc::Status denied = Erase(kTenantA, "anna", &erased, {"ingest", "read"});
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(denied.error_message(), "this call needs the admin role");
  // No token at all.
  grpc::ClientContext anonymous;
  v1::EraseClientRequest req;
  req.set_client_id("anna");
  EXPECT_EQ(v1::DataAdmin::NewStub(channel_)
                ->EraseClient(&anonymous, req, &erased)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // An admin of another tenant erases nothing here.
  ASSERT_TRUE(Erase(kTenantB, "anna", &erased).ok());
  EXPECT_EQ(erased.episodes_erased(), 0);

  v1::GetAssessmentResponse assessment;
  ASSERT_TRUE(Assess(kTenantA, "ep-anna-1", &assessment).ok());
  EXPECT_EQ(assessment.assessment().event_count(), 1);
}

TEST_F(DataAdminTest, EraseClientChecksTheClientId) {
  StartServer();
  v1::EraseClientResponse erased;
  grpc::Status empty = Erase(kTenantA, "", &erased);
  EXPECT_EQ(empty.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(empty.error_message(), "client_id: must not be empty");
  grpc::Status longer = Erase(kTenantA, std::string(129, 'x'), &erased);
  EXPECT_EQ(longer.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(longer.error_message(), "client_id: at most 128 bytes");
  EXPECT_TRUE(Erase(kTenantA, std::string(128, 'x'), &erased).ok());
}

TEST_F(DataAdminTest, AttunectlDataEraseClient) {
  StartServer();
  EpisodeScript anna = Script("anna", "ep-anna-1");
  ASSERT_EQ(Submit(kTenantA, {anna.Held(1), anna.Srs(1, 35)}), 2);
  TokenSpec spec;
  spec.tenant = kTenantA;
  spec.roles = {"admin"};
  const std::string token_file = dir_.File("admin.jwt");
  ASSERT_TRUE(WriteFile(token_file, MintToken(spec)));

  std::istringstream in;
  std::ostringstream out;
  std::ostringstream err;
  const int code = ctl::RunCli(
      {"--server", absl::StrCat("127.0.0.1:", server_->port()), "--token-file",
       token_file, "data", "erase-client", "--client-id", "anna"},
      ctl::CliIo{&in, &out, &err, ""});
  EXPECT_EQ(code, 0) << err.str();
  EXPECT_EQ(out.str(),
            "episodes_erased: 1\nevents_erased: 2\nprompts_erased: 0\n");
  EXPECT_FALSE(absl::StrContains(out.str() + err.str(), "anna"));
  v1::GetAssessmentResponse assessment;
  EXPECT_EQ(Assess(kTenantA, "ep-anna-1", &assessment).error_code(),
            grpc::StatusCode::NOT_FOUND);

  std::ostringstream usage_out;
  std::ostringstream usage_err;
  EXPECT_EQ(ctl::RunCli({"data", "erase-client"},
                        ctl::CliIo{&in, &usage_out, &usage_err, ""}),
            2);
  EXPECT_TRUE(absl::StrContains(usage_err.str(), "--client-id"))
      << usage_err.str();
}

TEST_F(DataAdminTest, RetentionSweepErasesEpisodesInactiveForEpisodeDays) {
  StartServer("retention { episode_days: 30 }\n");
  EpisodeScript anna = Script("anna", "ep-anna-1");
  EpisodeScript ben = Script("ben", "ep-ben");
  ASSERT_EQ(Submit(kTenantA, RuptureCourse(anna)), 11);
  ASSERT_EQ(Submit(kTenantB, {ben.Held(1)}), 1);

  // Events are dated weeks ago, but were committed just now: kept.
  absl::StatusOr<store::EraseCounts> now = server_->SweepRetentionNow();
  ASSERT_TRUE(now.ok()) << now.status();
  EXPECT_EQ(now->episodes, 0);
  absl::StatusOr<store::EraseCounts> day29 =
      server_->SweepRetentionNow(absl::Now() + absl::Hours(24 * 29));
  ASSERT_TRUE(day29.ok()) << day29.status();
  EXPECT_EQ(day29->episodes, 0);

  LogCapture log;
  absl::StatusOr<store::EraseCounts> day31 =
      server_->SweepRetentionNow(absl::Now() + absl::Hours(24 * 31));
  ASSERT_TRUE(day31.ok()) << day31.status();
  EXPECT_EQ(day31->episodes, 2);
  EXPECT_EQ(day31->events, 12);
  v1::GetAssessmentResponse assessment;
  EXPECT_EQ(Assess(kTenantA, "ep-anna-1", &assessment).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Assess(kTenantB, "ep-ben", &assessment).error_code(),
            grpc::StatusCode::NOT_FOUND);
  bool logged = false;
  for (const std::string& line : log.lines()) {
    for (const char* id : {"anna", "ben", kTenantA, kTenantB}) {
      EXPECT_FALSE(absl::StrContains(line, id)) << line;
    }
    logged = logged || absl::StrContains(line, "retention sweep");
  }
  EXPECT_TRUE(logged);
}

TEST_F(DataAdminTest, WithoutRetentionNothingIsSwept) {
  StartServer();
  EpisodeScript anna = Script("anna", "ep-anna-1");
  ASSERT_EQ(Submit(kTenantA, {anna.Held(1)}), 1);
  absl::StatusOr<store::EraseCounts> swept =
      server_->SweepRetentionNow(absl::Now() + absl::Hours(24 * 365 * 50));
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_EQ(swept->episodes, 0);
  v1::GetAssessmentResponse assessment;
  EXPECT_TRUE(Assess(kTenantA, "ep-anna-1", &assessment).ok());
}

// The sweeper runs right after start: an episode whose last commit is
// older than episode_days (aged here by editing the file while no server
// runs) is gone without any call.
TEST_F(DataAdminTest, SweeperErasesOldEpisodesAfterStart) {
  StartServer();
  EpisodeScript anna = Script("anna", "ep-anna-1");
  EpisodeScript ben = Script("ben", "ep-ben");
  ASSERT_EQ(Submit(kTenantA, {anna.Held(1)}), 1);
  ASSERT_EQ(Submit(kTenantA, {ben.Held(1)}), 1);
  StopServer();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_path_.c_str(), &db), SQLITE_OK);
    const std::string sql =
        absl::StrCat("UPDATE episodes SET updated_at = ",
                     absl::ToUnixNanos(absl::Now() - absl::Hours(24 * 40)),
                     " WHERE episode_id = 'ep-anna-1'");
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }

  StartServer("retention { episode_days: 30 }\n");
  v1::GetAssessmentResponse assessment;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  grpc::Status status;
  for (;;) {
    status = Assess(kTenantA, "ep-anna-1", &assessment);
    if (!status.ok() || absl::Now() > deadline) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(Assess(kTenantA, "ep-ben", &assessment).ok());
}

// Shutdown does not wait for the next sweep (an hour away).
TEST_F(DataAdminTest, ShutdownStopsTheSweeperPromptly) {
  StartServer("retention { episode_days: 30 sweep_interval_seconds: 3600 }\n");
  const absl::Time start = absl::Now();
  StopServer();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

}  // namespace
}  // namespace attune::server
