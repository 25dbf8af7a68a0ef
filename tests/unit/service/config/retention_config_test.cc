// ValidateConfig's checks of retention: each error names the field.
#include <string>

#include "attune/v1/config.pb.h"
#include "gtest/gtest.h"
#include "service/config/config_loader.h"

namespace attune::config {
namespace {

v1::ServerConfig WithRetention(const std::string& text) {
  absl::StatusOr<v1::ServerConfig> base = DefaultConfig();
  EXPECT_TRUE(base.ok()) << base.status();
  absl::StatusOr<v1::ServerConfig> overlay =
      ParseConfigText("retention { " + text + " }", "test");
  EXPECT_TRUE(overlay.ok()) << overlay.status();
  return MergeConfig(base.value_or(v1::ServerConfig()),
                     overlay.value_or(v1::ServerConfig()));
}

std::string Error(const std::string& text) {
  return std::string(ValidateConfig(WithRetention(text)).message());
}

TEST(RetentionConfigTest, UsableSettingsPass) {
  for (const char* text :
       {"", "episode_days: 0", "episode_days: 365",
        "episode_days: 730 sweep_interval_seconds: 600",
        "episode_days: 36500 sweep_interval_seconds: 86400"}) {
    EXPECT_TRUE(ValidateConfig(WithRetention(text)).ok()) << text;
  }
}

TEST(RetentionConfigTest, ErrorsNameTheField) {
  EXPECT_EQ(Error("episode_days: -1"),
            "retention.episode_days: must be 0-36500 (0 keeps episodes until "
            "erased)");
  EXPECT_EQ(Error("episode_days: 36501"),
            "retention.episode_days: must be 0-36500 (0 keeps episodes until "
            "erased)");
  EXPECT_EQ(Error("episode_days: 30 sweep_interval_seconds: 0"),
            "retention.sweep_interval_seconds: must be 1-86400");
  EXPECT_EQ(Error("sweep_interval_seconds: 86401"),
            "retention.sweep_interval_seconds: must be 1-86400");
}

}  // namespace
}  // namespace attune::config
