// Resource limits at attuned's gRPC edge (LimitsConfig), through the real
// binary: the per-tenant rate limit with its retry advice, concurrent
// streams per connection, and the connection age that ends watch streams.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "attune/v1/rule_admin.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "service/server/status_conversion.h"
#include "tests/integration/attuned_process.h"
#include "tests/integration/episode_script.h"
#include "tests/integration/test_pki.h"
#include "tests/integration/test_tokens.h"

namespace attune::testing {
namespace {

constexpr char kTenantA[] = "clinic-a";
constexpr char kTenantB[] = "clinic-b";

std::unique_ptr<grpc::ClientContext> ContextFor(const std::string& tenant) {
  std::unique_ptr<grpc::ClientContext> ctx = Context();
  TokenSpec spec;
  spec.tenant = tenant;
  ctx->AddMetadata("authorization", "Bearer " + MintToken(spec));
  return ctx;
}

class LimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("limits");
    ASSERT_TRUE(WriteFile(dir_ + "/jwks.json", TestJwks()));
  }

  void TearDown() override {
    // Channels first: a graceful shutdown waits for idle connections.
    channels_.clear();
    if (server_ != nullptr) {
      EXPECT_EQ(server_->Stop(), 0) << server_->Log();
    }
  }

  // (Re)starts attuned on the test's directory (same database) with
  // `config` as its configuration file.
  bool StartServer(const std::string& config) {
    channels_.clear();
    if (server_ != nullptr) {
      EXPECT_EQ(server_->Stop(), 0) << server_->Log();
    }
    const std::string path = dir_ + "/attuned.textproto";
    // Synthetic data: no storage keys needed.
    if (!WriteFile(path, "store { allow_plaintext: true }\n" + config)) {
      return false;
    }
    server_ = std::make_unique<AttunedProcess>(
        dir_, std::vector<std::string>{"--config", path});
    return server_->Start();
  }

  std::string Auth() const { return TestAuthConfig(dir_ + "/jwks.json"); }

  std::shared_ptr<grpc::Channel> NewChannel() {
    // Distinct channel arguments: a connection of its own, not one shared
    // with the test's other channels.
    grpc::ChannelArguments args;
    args.SetInt("attune.test.channel", static_cast<int>(channels_.size()));
    channels_.push_back(grpc::CreateCustomChannel(
        server_->address(), grpc::InsecureChannelCredentials(), args));
    return channels_.back();
  }

  grpc::Status Submit(const std::shared_ptr<grpc::Channel>& channel,
                      const std::string& tenant,
                      const std::vector<v1::SessionEvent>& events) {
    v1::SubmitEventsRequest req;
    for (const v1::SessionEvent& e : events) *req.add_events() = e;
    v1::SubmitEventsResponse resp;
    return v1::AllianceService::NewStub(channel)->SubmitEvents(
        ContextFor(tenant).get(), req, &resp);
  }

  grpc::Status Assess(const std::shared_ptr<grpc::Channel>& channel,
                      const std::string& tenant,
                      v1::GetAssessmentResponse* resp) {
    v1::GetAssessmentRequest req;
    req.set_episode_id("ep-1");
    return v1::AllianceService::NewStub(channel)->GetAssessment(
        ContextFor(tenant).get(), req, resp);
  }

  std::string dir_;
  std::unique_ptr<AttunedProcess> server_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
};

// A rate of one call per 1000 s: nothing refills during the test.
TEST_F(LimitsTest, TenantOverItsRateGetsRetryAdviceAndStoresNothing) {
  ASSERT_TRUE(StartServer(
      Auth() + "limits { tenant_calls_per_second: 0.001 tenant_burst: 2 }\n"))
      << server_->Log();
  std::shared_ptr<grpc::Channel> channel = NewChannel();
  EpisodeScript a("client-a", "clin-1", "ep-1",
                  absl::Now() - absl::Hours(24 * 7 * 5));
  ASSERT_TRUE(Submit(channel, kTenantA, {a.Held(1)}).ok());
  ASSERT_TRUE(Submit(channel, kTenantA, {a.Held(2)}).ok());

  // The burst is spent: a batch is refused whole, with RetryInfo.
  grpc::Status limited =
      Submit(channel, kTenantA, {a.Held(3), a.Srs(3, 30), a.Goals(3)});
  EXPECT_EQ(limited.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(
      absl::StartsWith(limited.error_message(),
                       "rate limit for this tenant exceeded; retry after "))
      << limited.error_message();
  std::optional<absl::Duration> delay = server::RetryDelay(limited);
  ASSERT_TRUE(delay.has_value());
  EXPECT_GT(*delay, absl::Seconds(900));
  EXPECT_LE(*delay, absl::Seconds(1000));
  EXPECT_TRUE(absl::StrContains(
      limited.error_message(),
      absl::StrCat(absl::ToInt64Milliseconds(*delay), " ms")));
  // Reads of the tenant are limited too.
  v1::GetAssessmentResponse resp;
  EXPECT_EQ(Assess(channel, kTenantA, &resp).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);

  // Another tenant on the same connection is unaffected.
  EpisodeScript b("client-b", "clin-1", "ep-1",
                  absl::Now() - absl::Hours(24 * 7 * 5));
  ASSERT_TRUE(Submit(channel, kTenantB, {b.Held(1)}).ok());
  ASSERT_TRUE(Assess(channel, kTenantB, &resp).ok());
  EXPECT_EQ(resp.assessment().event_count(), 1);
  EXPECT_NE(server_->Log().find("reason=rate_limited"), std::string::npos);

  // Nothing of the refused batch was stored: restarted without the limit,
  // the episode holds the two accepted sessions.
  ASSERT_TRUE(StartServer(Auth() + "limits { tenant_calls_per_second: 0 }\n"))
      << server_->Log();
  ASSERT_TRUE(Assess(NewChannel(), kTenantA, &resp).ok());
  EXPECT_EQ(resp.assessment().event_count(), 2);
}

TEST_F(LimitsTest, MaxConcurrentStreamsHoldsFurtherCallsOnThatConnection) {
  ASSERT_TRUE(StartServer("limits { max_concurrent_streams: 1 }\n"))
      << server_->Log();
  std::shared_ptr<grpc::Channel> busy = NewChannel();
  auto health = grpc::health::v1::Health::NewStub(busy);
  grpc::health::v1::HealthCheckResponse status;
  // Connected, so the client knows the server's stream limit.
  ASSERT_TRUE(health
                  ->Check(Context().get(),
                          grpc::health::v1::HealthCheckRequest(), &status)
                  .ok());

  // A watch holds the connection's only stream.
  grpc::ClientContext watch_ctx;
  watch_ctx.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(60));
  v1::WatchPromptsRequest watch;
  watch.set_episode_id("ep-1");
  auto reader =
      v1::AllianceService::NewStub(busy)->WatchPrompts(&watch_ctx, watch);

  grpc::ClientContext held;
  held.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  EXPECT_EQ(
      health->Check(&held, grpc::health::v1::HealthCheckRequest(), &status)
          .error_code(),
      grpc::StatusCode::DEADLINE_EXCEEDED);
  // Other connections are not affected...
  EXPECT_TRUE(grpc::health::v1::Health::NewStub(NewChannel())
                  ->Check(Context().get(),
                          grpc::health::v1::HealthCheckRequest(), &status)
                  .ok());
  // ...and the stream is free again once the watch ends.
  watch_ctx.TryCancel();
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(health
                  ->Check(Context().get(),
                          grpc::health::v1::HealthCheckRequest(), &status)
                  .ok());
}

TEST_F(LimitsTest, ConnectionAgeEndsWatchStreamsWithUnavailable) {
  ASSERT_TRUE(
      StartServer("limits { max_connection_age_seconds: 1 "
                  "max_connection_age_grace_seconds: 1 }\n"))
      << server_->Log();
  std::shared_ptr<grpc::Channel> channel = NewChannel();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  v1::WatchPromptsRequest watch;
  watch.set_episode_id("ep-1");
  auto reader =
      v1::AllianceService::NewStub(channel)->WatchPrompts(&ctx, watch);
  v1::PromptUpdate update;
  EXPECT_FALSE(reader->Read(&update));  // no prompts: waits for the end
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  // The client reconnects for the next call.
  v1::GetAssessmentRequest req;
  req.set_episode_id("ep-1");
  v1::GetAssessmentResponse resp;
  EXPECT_EQ(v1::AllianceService::NewStub(channel)
                ->GetAssessment(Context().get(), req, &resp)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(LimitsTest, AnInvalidLimitStopsStartupNamingTheField) {
  EXPECT_FALSE(StartServer("limits { max_concurrent_streams: 0 }\n"));
  EXPECT_EQ(server_->Stop(), 1);
  EXPECT_NE(
      server_->Log().find("limits.max_concurrent_streams: must be 1-10000"),
      std::string::npos)
      << server_->Log();
  server_.reset();
}

}  // namespace
}  // namespace attune::testing
