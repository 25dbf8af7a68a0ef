// OpsConfig and shutdown_drain_seconds in the configuration: the defaults,
// and the checks naming the field.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/config/config_loader.h"

namespace attune::config {
namespace {

TEST(OpsConfigTest, DefaultsServeOnLoopback9464InTextWithoutDrain) {
  absl::StatusOr<v1::ServerConfig> c = DefaultConfig();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->ops().listen_address(), "127.0.0.1:9464");
  EXPECT_EQ(c->ops().log_format(), "text");
  EXPECT_EQ(c->shutdown_drain_seconds(), 0);
  EXPECT_TRUE(ValidateConfig(*c).ok());
}

TEST(OpsConfigTest, ValidSettingsPass) {
  absl::StatusOr<v1::ServerConfig> c = DefaultConfig();
  ASSERT_TRUE(c.ok());
  for (const char* address : {"", "0.0.0.0:9464", "[::]:0", "pod:65535"}) {
    c->mutable_ops()->set_listen_address(address);
    EXPECT_TRUE(ValidateConfig(*c).ok()) << address;
  }
  c->mutable_ops()->set_log_format("json");
  c->set_shutdown_drain_seconds(5);
  EXPECT_TRUE(ValidateConfig(*c).ok());
}

TEST(OpsConfigTest, BadSettingsAreRefusedNamingTheField) {
  struct Case {
    const char* overlay;
    const char* field;
  };
  for (const Case& k : {
           Case{"ops { listen_address: \"9464\" }", "ops.listen_address: "},
           Case{"ops { listen_address: \"host:\" }", "ops.listen_address: "},
           Case{"ops { listen_address: \":9464\" }", "ops.listen_address: "},
           Case{"ops { listen_address: \"h:70000\" }", "ops.listen_address: "},
           Case{"ops { listen_address: \"h:http\" }", "ops.listen_address: "},
           Case{"ops { log_format: \"xml\" }", "ops.log_format: "},
           Case{"shutdown_drain_seconds: -1", "shutdown_drain_seconds: "},
           Case{"shutdown_drain_seconds: 3601", "shutdown_drain_seconds: "},
       }) {
    absl::StatusOr<v1::ServerConfig> base = DefaultConfig();
    ASSERT_TRUE(base.ok());
    absl::StatusOr<v1::ServerConfig> overlay =
        ParseConfigText(k.overlay, "test");
    ASSERT_TRUE(overlay.ok()) << overlay.status();
    const absl::Status s = ValidateConfig(MergeConfig(*base, *overlay));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << k.overlay;
    EXPECT_THAT(std::string(s.message()), ::testing::StartsWith(k.field))
        << k.overlay << ": " << s.message();
  }
}

}  // namespace
}  // namespace attune::config
