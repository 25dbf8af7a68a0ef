// LimitsConfig as the server reads it: the compiled-in defaults are the ones
// config.proto documents, and out-of-range values are refused naming the
// field.
#include <cmath>
#include <functional>
#include <string>

#include "attune/v1/config.pb.h"
#include "gtest/gtest.h"
#include "service/config/config_loader.h"

namespace attune::config {
namespace {

// The defaults as a test server runs them (no storage keys).
v1::ServerConfig Defaults() {
  absl::StatusOr<v1::ServerConfig> config = DefaultConfig();
  EXPECT_TRUE(config.ok()) << config.status();
  if (!config.ok()) return v1::ServerConfig();
  config->mutable_store()->set_allow_plaintext(true);
  return *config;
}

TEST(LimitsConfigTest, DefaultsAreTheDocumentedOnes) {
  const v1::LimitsConfig l = Defaults().limits();
  EXPECT_EQ(l.max_concurrent_streams(), 100);
  EXPECT_EQ(l.min_client_ping_interval_seconds(), 60);
  EXPECT_EQ(l.max_ping_strikes(), 2);
  EXPECT_EQ(l.keepalive_time_seconds(), 300);
  EXPECT_EQ(l.keepalive_timeout_seconds(), 20);
  EXPECT_EQ(l.max_connection_age_seconds(), 3600);
  EXPECT_EQ(l.max_connection_age_grace_seconds(), 30);
  EXPECT_EQ(l.max_connection_idle_seconds(), 900);
  EXPECT_EQ(l.tenant_calls_per_second(), 1000);
  EXPECT_EQ(l.tenant_burst(), 2000);
  EXPECT_EQ(l.max_call_seconds(), 30);
  EXPECT_TRUE(ValidateConfig(Defaults()).ok());
}

TEST(LimitsConfigTest, AnOperatorZeroTurnsTheRateLimitOff) {
  absl::StatusOr<v1::ServerConfig> file =
      ParseConfigText("limits { tenant_calls_per_second: 0 }", "test");
  ASSERT_TRUE(file.ok()) << file.status();
  const v1::ServerConfig merged = MergeConfig(Defaults(), *file);
  EXPECT_EQ(merged.limits().tenant_calls_per_second(), 0);
  EXPECT_EQ(merged.limits().max_call_seconds(), 30);
  EXPECT_TRUE(ValidateConfig(merged).ok());
}

struct Case {
  std::function<void(v1::LimitsConfig&)> set;
  std::string error;
};

TEST(LimitsConfigTest, OutOfRangeValuesNameTheField) {
  const Case cases[] = {
      {[](auto& l) { l.set_max_concurrent_streams(0); },
       "limits.max_concurrent_streams: must be 1-10000"},
      {[](auto& l) { l.set_max_concurrent_streams(10001); },
       "limits.max_concurrent_streams: must be 1-10000"},
      {[](auto& l) { l.set_min_client_ping_interval_seconds(0); },
       "limits.min_client_ping_interval_seconds: must be 1-86400"},
      {[](auto& l) { l.set_max_ping_strikes(0); },
       "limits.max_ping_strikes: must be 1-1000"},
      {[](auto& l) { l.set_keepalive_time_seconds(-1); },
       "limits.keepalive_time_seconds: must be 1-86400"},
      {[](auto& l) { l.set_keepalive_timeout_seconds(0); },
       "limits.keepalive_timeout_seconds: must be 1-3600"},
      // Milliseconds of it must fit gRPC's int channel argument.
      {[](auto& l) { l.set_max_connection_age_seconds(2147484); },
       "limits.max_connection_age_seconds: must be 1-1000000"},
      {[](auto& l) { l.set_max_connection_age_grace_seconds(-1); },
       "limits.max_connection_age_grace_seconds: must be 0-86400"},
      {[](auto& l) { l.set_max_connection_idle_seconds(0); },
       "limits.max_connection_idle_seconds: must be 1-1000000"},
      {[](auto& l) { l.set_tenant_burst(0); },
       "limits.tenant_burst: must be 1-1000000"},
      {[](auto& l) { l.set_max_call_seconds(0); },
       "limits.max_call_seconds: must be 1-3600"},
      {[](auto& l) { l.set_tenant_calls_per_second(-1); },
       "limits.tenant_calls_per_second: must be 0-1000000 (0 turns the limit "
       "off)"},
      {[](auto& l) { l.set_tenant_calls_per_second(std::nan("")); },
       "limits.tenant_calls_per_second: must be 0-1000000 (0 turns the limit "
       "off)"},
  };
  for (const Case& c : cases) {
    v1::ServerConfig config = Defaults();
    c.set(*config.mutable_limits());
    absl::Status status = ValidateConfig(config);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.error;
    EXPECT_EQ(status.message(), c.error);
  }
}

}  // namespace
}  // namespace attune::config
