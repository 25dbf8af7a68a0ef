// CallerResolver's single-use tokens, per-tenant rate limit and call
// deadlines, with real ES384 tokens and a server context built in the test.
#include "service/server/caller.h"

#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/test/server_context_test_spouse.h"
#include "gtest/gtest.h"
#include "service/common/log.h"
#include "service/server/status_conversion.h"
#include "tests/unit/service/auth/test_keys.h"

namespace attune::server {
namespace {

namespace keys = ::attune::auth::test;

constexpr char kIssuer[] = "https://idp.test";
constexpr char kAudience[] = "attune";

// Log lines of the test, for reason codes.
std::mutex log_mu;
std::vector<std::string>& LogLines() {
  static auto* lines = new std::vector<std::string>();
  return *lines;
}
void CaptureLine(std::string_view line) {
  std::lock_guard<std::mutex> lock(log_mu);
  LogLines().emplace_back(line);
}
bool Logged(std::string_view text) {
  std::lock_guard<std::mutex> lock(log_mu);
  for (const std::string& line : LogLines()) {
    if (line.find(text) != std::string::npos) return true;
  }
  return false;
}

class CallerResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogSink(&CaptureLine);
    jwks_path_ =
        ::testing::TempDir() + "caller-test-" +
        ::testing::UnitTest::GetInstance()->current_test_info()->name() +
        ".json";
    std::ofstream(jwks_path_)
        << keys::Jwks({keys::EcJwk(keys::EcP384(), "ec-1", "P-384", "ES384")});
  }
  void TearDown() override {
    SetLogSink(nullptr);
    std::remove(jwks_path_.c_str());
  }

  v1::ServerConfig AuthConfig() const {
    v1::ServerConfig config;
    v1::AuthConfig* auth = config.mutable_auth();
    auth->set_jwks_file(jwks_path_);
    auth->add_issuers(kIssuer);
    auth->set_audience(kAudience);
    return config;
  }

  std::unique_ptr<CallerResolver> Resolver(const v1::ServerConfig& config) {
    auto resolver = CallerResolver::Create(config, [this] { return now_; });
    EXPECT_TRUE(resolver.ok()) << resolver.status();
    return resolver.ok() ? *std::move(resolver) : nullptr;
  }

  // An ES384 token for `tenant` with every role, issued at now_ for ten
  // minutes; without "jti" when `jti` is empty.
  std::string Token(const std::string& tenant, const std::string& jti) const {
    const int64_t now = absl::ToUnixSeconds(now_);
    std::string payload = absl::StrCat(
        R"({"iss":")", kIssuer, R"(","aud":")", kAudience,
        R"(","sub":"clinician-7","iat":)", now, R"(,"exp":)", now + 600,
        R"(,"roles":["ingest","read","admin"],"attune_tenant":")", tenant, "\"",
        jti.empty() ? "" : R"(,"jti":")" + jti + "\"", "}");
    return keys::SignToken(R"({"alg":"ES384","kid":"ec-1","typ":"JWT"})",
                           payload, "ES384", keys::EcP384());
  }

  // One call of `rpc` carrying `token` (none when empty).
  static absl::StatusOr<Caller> Call(const CallerResolver& resolver,
                                     const std::string& token,
                                     Rpc rpc = Rpc::kGetAssessment) {
    grpc::ServerContext ctx;
    grpc::testing::ServerContextTestSpouse spouse(&ctx);
    if (!token.empty())
      spouse.AddClientMetadata("authorization", "Bearer " + token);
    return resolver.Resolve(ctx, rpc);
  }

  std::string jwks_path_;
  absl::Time now_ = absl::Now();
};

TEST_F(CallerResolverTest, ATokenIsAcceptedOnceByDefault) {
  auto resolver = Resolver(AuthConfig());
  const std::string token = Token("clinic-a", "jti-1");
  absl::StatusOr<Caller> first = Call(*resolver, token);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->tenant, "clinic-a");

  absl::StatusOr<Caller> replayed = Call(*resolver, token);
  EXPECT_EQ(replayed.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(replayed.status().message(), "authentication required");
  EXPECT_TRUE(Logged("reason=replayed_jti"));

  // A fresh token (new jti) for the same caller is fine.
  EXPECT_TRUE(Call(*resolver, Token("clinic-a", "jti-2")).ok());
}

TEST_F(CallerResolverTest, ATokenWithoutJtiIsRefusedByDefault) {
  v1::ServerConfig config = AuthConfig();
  config.mutable_auth()->set_single_use_tokens(true);
  auto resolver = Resolver(config);
  absl::StatusOr<Caller> caller = Call(*resolver, Token("clinic-a", ""));
  EXPECT_EQ(caller.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(caller.status().message(), "authentication required");
  EXPECT_TRUE(Logged("reason=no_jti"));
}

TEST_F(CallerResolverTest, ReusableTokensWhenSingleUseIsOff) {
  v1::ServerConfig config = AuthConfig();
  config.mutable_auth()->set_single_use_tokens(false);
  auto resolver = Resolver(config);
  const std::string with_jti = Token("clinic-a", "jti-1");
  const std::string without_jti = Token("clinic-a", "");
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(Call(*resolver, with_jti).ok()) << i;
    EXPECT_TRUE(Call(*resolver, without_jti).ok()) << i;
  }
}

TEST_F(CallerResolverTest, OverTheTenantRateIsResourceExhaustedWithRetryInfo) {
  v1::ServerConfig config;  // no auth: tenant "default"
  config.mutable_limits()->set_tenant_calls_per_second(2);
  config.mutable_limits()->set_tenant_burst(3);
  auto resolver = Resolver(config);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(Call(*resolver, "", Rpc::kSubmitEvents).ok()) << i;
  }
  absl::StatusOr<Caller> limited = Call(*resolver, "", Rpc::kSubmitEvents);
  EXPECT_EQ(limited.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(limited.status().message(),
            "rate limit for this tenant exceeded; retry after 500 ms");
  EXPECT_EQ(RetryDelay(ToGrpcStatus(limited.status())),
            absl::Milliseconds(500));
  EXPECT_TRUE(Logged("reason=rate_limited"));
  // Every RPC draws on the same bucket.
  EXPECT_EQ(Call(*resolver, "", Rpc::kListModules).status().code(),
            absl::StatusCode::kResourceExhausted);

  now_ += absl::Milliseconds(500);
  EXPECT_TRUE(Call(*resolver, "", Rpc::kListPrompts).ok());
}

TEST_F(CallerResolverTest, RateLimitIsPerTenantAndAfterAuthentication) {
  v1::ServerConfig config = AuthConfig();
  config.mutable_limits()->set_tenant_calls_per_second(1);
  config.mutable_limits()->set_tenant_burst(1);
  auto resolver = Resolver(config);
  EXPECT_TRUE(Call(*resolver, Token("clinic-a", "a-1")).ok());
  EXPECT_EQ(Call(*resolver, Token("clinic-a", "a-2")).status().code(),
            absl::StatusCode::kResourceExhausted);
  // Another tenant is unaffected.
  EXPECT_TRUE(Call(*resolver, Token("clinic-b", "b-1")).ok());
  // A caller without a valid token is refused before it can use up a
  // tenant's calls.
  EXPECT_EQ(Call(*resolver, "").status().code(),
            absl::StatusCode::kUnauthenticated);
  now_ += absl::Seconds(1);
  EXPECT_TRUE(Call(*resolver, Token("clinic-a", "a-3")).ok());
}

TEST_F(CallerResolverTest, ZeroCallsPerSecondTurnsTheLimitOff) {
  v1::ServerConfig config;
  config.mutable_limits()->set_tenant_calls_per_second(0);
  config.mutable_limits()->set_tenant_burst(1);
  auto resolver = Resolver(config);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(Call(*resolver, "").ok()) << i;
  }
}

TEST_F(CallerResolverTest, UnaryCallsWithoutADeadlineGetMaxCallSeconds) {
  v1::ServerConfig config;
  config.mutable_limits()->set_max_call_seconds(30);
  auto resolver = Resolver(config);
  const absl::Time before = absl::Now();
  absl::StatusOr<Caller> unary = Call(*resolver, "", Rpc::kSubmitEvents);
  const absl::Time after = absl::Now();
  ASSERT_TRUE(unary.ok());
  EXPECT_GE(unary->deadline, before + absl::Seconds(30));
  EXPECT_LE(unary->deadline, after + absl::Seconds(30));
  // Watch streams are ended by the connection age, not capped.
  absl::StatusOr<Caller> watch = Call(*resolver, "", Rpc::kWatchPrompts);
  ASSERT_TRUE(watch.ok());
  EXPECT_EQ(watch->deadline, absl::InfiniteFuture());
  // Without limits nothing is capped.
  absl::StatusOr<Caller> uncapped =
      Call(*Resolver(v1::ServerConfig()), "", Rpc::kSubmitEvents);
  ASSERT_TRUE(uncapped.ok());
  EXPECT_EQ(uncapped->deadline, absl::InfiniteFuture());
}

TEST(CallDeadlineTest, TheEarlierOfTheClientsDeadlineAndTheCap) {
  const absl::Time now = absl::FromUnixSeconds(1700000000);
  const absl::Duration cap = absl::Seconds(30);
  EXPECT_EQ(CallDeadline(absl::InfiniteFuture(), now, cap, false), now + cap);
  EXPECT_EQ(CallDeadline(now + absl::Seconds(5), now, cap, false),
            now + absl::Seconds(5));
  EXPECT_EQ(CallDeadline(now + absl::Hours(1), now, cap, false), now + cap);
  EXPECT_EQ(CallDeadline(now + absl::Hours(1), now, cap, true),
            now + absl::Hours(1));
  EXPECT_EQ(CallDeadline(absl::InfiniteFuture(), now, absl::InfiniteDuration(),
                         false),
            absl::InfiniteFuture());
}

}  // namespace
}  // namespace attune::server
