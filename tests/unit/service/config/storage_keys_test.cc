// Where attuned's storage keys come from (store.key_file, else
// ATTUNE_STORAGE_KEYS, else only with store.allow_plaintext), and the
// store.key_file checks of ValidateConfig.
#include "service/config/storage_keys.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/config/config_loader.h"

namespace attune::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::string Message(const absl::Status& status) {
  return std::string(status.message());
}

class StorageKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("attune_storage_keys_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A key file with one fresh key `id`, mode 0600; its text in `text`.
  std::string KeyFile(const std::string& name, const std::string& id,
                      std::string* text = nullptr) {
    const std::string path = (dir_ / name).string();
    absl::StatusOr<std::string> line = security::KeyRing::GenerateKeyLine(id);
    EXPECT_TRUE(line.ok()) << line.status();
    std::ofstream(path) << *line << "\n";
    std::filesystem::permissions(path, std::filesystem::perms::owner_read |
                                           std::filesystem::perms::owner_write);
    if (text != nullptr) *text = *line + "\n";
    return path;
  }

  static v1::ServerConfig Config() {
    absl::StatusOr<v1::ServerConfig> config = DefaultConfig();
    EXPECT_TRUE(config.ok()) << config.status();
    return *config;
  }

  std::filesystem::path dir_;
};

TEST_F(StorageKeysTest, NeitherKeysNorAllowPlaintextRefusesNamingKeyFile) {
  absl::StatusOr<StorageKeys> keys = LoadStorageKeys(Config(), std::nullopt);
  ASSERT_FALSE(keys.ok());
  EXPECT_EQ(keys.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(keys.status()), StartsWith("store.key_file: required"));
  EXPECT_THAT(Message(keys.status()),
              HasSubstr("attunectl keys generate --out FILE"));
  EXPECT_THAT(Message(keys.status()), HasSubstr("store.allow_plaintext: true"));
  // An explicit false is the same as unset.
  v1::ServerConfig config = Config();
  config.mutable_store()->set_allow_plaintext(false);
  EXPECT_FALSE(LoadStorageKeys(config, std::nullopt).ok());
}

TEST_F(StorageKeysTest, AllowPlaintextWithoutKeysGivesNoRing) {
  v1::ServerConfig config = Config();
  config.mutable_store()->set_allow_plaintext(true);
  absl::StatusOr<StorageKeys> keys = LoadStorageKeys(config, std::nullopt);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(keys->ring, nullptr);
  EXPECT_EQ(keys->source, "");
}

TEST_F(StorageKeysTest, KeyFileIsUsedAndWinsOverTheEnvironment) {
  v1::ServerConfig config = Config();
  config.mutable_store()->set_key_file(KeyFile("file.keys", "from-file"));
  std::string env_text;
  KeyFile("env.keys", "from-env", &env_text);
  absl::StatusOr<StorageKeys> keys = LoadStorageKeys(config, env_text);
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_NE(keys->ring, nullptr);
  EXPECT_EQ(keys->ring->active_key_id(), "from-file");
  EXPECT_EQ(keys->source, "store.key_file");
  // Keys make allow_plaintext irrelevant: the store is sealed anyway.
  config.mutable_store()->set_allow_plaintext(true);
  keys = LoadStorageKeys(config, std::nullopt);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_NE(keys->ring, nullptr);
}

TEST_F(StorageKeysTest, EnvironmentIsUsedWithoutAKeyFile) {
  std::string env_text;
  KeyFile("env.keys", "from-env", &env_text);
  absl::StatusOr<StorageKeys> keys = LoadStorageKeys(Config(), env_text);
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_NE(keys->ring, nullptr);
  EXPECT_EQ(keys->ring->active_key_id(), "from-env");
  EXPECT_EQ(keys->source, "ATTUNE_STORAGE_KEYS");
}

TEST_F(StorageKeysTest, ErrorsNameTheFileOrVariableButNoKeyMaterial) {
  v1::ServerConfig config = Config();
  const std::string missing = (dir_ / "missing.keys").string();
  config.mutable_store()->set_key_file(missing);
  absl::StatusOr<StorageKeys> keys = LoadStorageKeys(config, std::nullopt);
  ASSERT_FALSE(keys.ok());
  EXPECT_EQ(keys.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(keys.status()),
              StartsWith("store.key_file: " + missing + ": no such key file"));

  std::string text;
  const std::string open = KeyFile("open.keys", "k1", &text);
  std::filesystem::permissions(open, std::filesystem::perms::others_read,
                               std::filesystem::perm_options::add);
  config.mutable_store()->set_key_file(open);
  keys = LoadStorageKeys(config, std::nullopt);
  ASSERT_FALSE(keys.ok());
  EXPECT_EQ(keys.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(keys.status()),
              HasSubstr("store.key_file: " + open + ": readable by group"));

  // A key of the wrong length in the variable: named by line, not shown.
  const std::string secret = text.substr(text.find(' ') + 1, 20);
  keys = LoadStorageKeys(Config(), "k1 " + secret + "\n");
  ASSERT_FALSE(keys.ok());
  EXPECT_THAT(Message(keys.status()), StartsWith("ATTUNE_STORAGE_KEYS:1: "));
  EXPECT_THAT(Message(keys.status()), Not(HasSubstr(secret)));
}

TEST_F(StorageKeysTest, EmptyVariableCountsAsUnset) {
  // StorageKeysFromEnvironment reads the process environment.
  ASSERT_EQ(::setenv("ATTUNE_STORAGE_KEYS", "", 1), 0);
  EXPECT_EQ(StorageKeysFromEnvironment(), std::nullopt);
  std::string text;
  KeyFile("env.keys", "k1", &text);
  ASSERT_EQ(::setenv("ATTUNE_STORAGE_KEYS", text.c_str(), 1), 0);
  EXPECT_EQ(StorageKeysFromEnvironment(), text);
  ASSERT_EQ(::unsetenv("ATTUNE_STORAGE_KEYS"), 0);
  EXPECT_EQ(StorageKeysFromEnvironment(), std::nullopt);
}

TEST(StoreKeyFileValidationTest, KeysAreNotRequiredByValidationItself) {
  // The environment may hold them: start-up decides (LoadStorageKeys), so
  // tools that only validate a configuration (attunectl replay) still work.
  absl::StatusOr<v1::ServerConfig> config = DefaultConfig();
  ASSERT_TRUE(config.ok());
  EXPECT_TRUE(ValidateConfig(*config).ok());
}

TEST(StoreKeyFileValidationTest, AnEmptyKeyFileOrTheDatabaseItselfIsRefused) {
  absl::StatusOr<v1::ServerConfig> config = DefaultConfig();
  ASSERT_TRUE(config.ok());
  config->mutable_store()->set_key_file("");
  absl::Status status = ValidateConfig(*config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), StartsWith("store.key_file: is empty"));
  config->mutable_store()->set_key_file(config->store().sqlite_path());
  status = ValidateConfig(*config);
  EXPECT_THAT(Message(status),
              StartsWith("store.key_file: must not be the database file"));
}

}  // namespace
}  // namespace attune::config
