#include "service/auth/jwks.h"

#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/common/log.h"
#include "tests/unit/service/auth/test_keys.h"

namespace attune::auth {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

absl::Status ParseError(const std::string& json) {
  return JsonWebKeySet::Parse(json).status();
}

TEST(JsonWebKeySetTest, ParsesRsaAndEcKeysByKid) {
  absl::StatusOr<JsonWebKeySet> keys = JsonWebKeySet::Parse(
      test::Jwks({test::RsaJwk(test::Rsa3072(), "rsa", "RS384"),
                  test::EcJwk(test::EcP384(), "ec-384", "P-384"),
                  test::EcJwk(test::EcP256(), "ec-256", "P-256", "ES256")}));
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(keys->size(), 3u);
  ASSERT_NE(keys->Find("rsa"), nullptr);
  EXPECT_EQ(keys->Find("rsa")->type, KeyType::kRsa);
  EXPECT_EQ(keys->Find("rsa")->bits, 3072);
  EXPECT_EQ(keys->Find("rsa")->alg, "RS384");
  ASSERT_NE(keys->Find("ec-384"), nullptr);
  EXPECT_EQ(keys->Find("ec-384")->type, KeyType::kEcP384);
  EXPECT_EQ(keys->Find("ec-384")->alg, "");
  ASSERT_NE(keys->Find("ec-256"), nullptr);
  EXPECT_EQ(keys->Find("ec-256")->type, KeyType::kEcP256);
  EXPECT_EQ(keys->Find("nope"), nullptr);
  EXPECT_TRUE(keys->ignored().empty());
}

TEST(JsonWebKeySetTest, RefusesRsaKeysUnder2048Bits) {
  EvpPkeyPtr weak = test::GenerateRsa(1024);
  absl::Status status =
      ParseError(test::Jwks({test::EcJwk(test::EcP256(), "ec", "P-256"),
                             test::RsaJwk(weak.get(), "weak")}));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              StartsWith("keys[1].n: RSA key of 1024 bits"));
}

TEST(JsonWebKeySetTest, ErrorsNameTheKeyAndField) {
  const std::string rsa = test::RsaJwk(test::Rsa2048(), "rsa");
  const std::string ec = test::EcJwk(test::EcP256(), "ec", "P-256");
  struct Case {
    std::string json;
    std::string prefix;
  };
  std::vector<Case> cases = {
      {test::Jwks({ec, absl::StrReplaceAll(rsa, {{R"("n":")", R"("n":"+/)"}})}),
       "keys[1].n: not base64url"},
      {test::Jwks({absl::StrReplaceAll(rsa, {{R"("e":")", R"("e":"A=)"}})}),
       "keys[0].e: not base64url"},
      {test::Jwks({absl::StrReplaceAll(rsa, {{R"("kid":"rsa",)", ""}})}),
       "keys[0].kid: required"},
      {test::Jwks({rsa, absl::StrReplaceAll(
                            ec, {{R"("kid":"ec")", R"("kid":"rsa")"}})}),
       "keys[1].kid: duplicate"},
      {test::Jwks({test::RsaJwk(test::Rsa2048(), "rsa", "ES384")}),
       "keys[0].alg: does not fit"},
      {test::Jwks({test::EcJwk(test::EcP256(), "ec", "P-256", "ES384")}),
       "keys[0].alg: does not fit"},
      {test::Jwks({test::RsaJwk(test::Rsa2048(), "rsa", "HS256")}),
       "keys[0].alg: does not fit"},
      {test::Jwks({absl::StrReplaceAll(ec, {{R"("x":")", R"("x":"AAAA)"}})}),
       "keys[0].x: must be 32 bytes"},
      {test::Jwks({R"({"kid":"a","n":"AQAB"})"}), "keys[0].kty: required"},
      {test::Jwks({R"("RSA")"}), "keys[0]: must be an object"},
      {R"({"keys":{}})", "keys: must be an array"},
      {R"({"key":[]})", "keys: required"},
      {"not json", "jwks: not a JSON object"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.prefix);
    absl::Status status = ParseError(c.json);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()), StartsWith(c.prefix));
  }
}

TEST(JsonWebKeySetTest, RefusesEcPointNotOnTheCurve) {
  std::string ec = test::EcJwk(test::EcP256(), "ec", "P-256");
  // Replace y with another 32-byte value: (x, y') is not on P-256.
  size_t y = ec.find(R"("y":")") + 5;
  ec.replace(y, 43, test::B64(std::string(32, '\x01')));
  absl::Status status = ParseError(test::Jwks({ec}));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), StartsWith("keys[0]."));
}

TEST(JsonWebKeySetTest, IgnoresKeysNotMeantForVerifyingHere) {
  std::string rsa = test::RsaJwk(test::Rsa2048(), "rsa");
  absl::StatusOr<JsonWebKeySet> keys = JsonWebKeySet::Parse(test::Jwks(
      {absl::StrReplaceAll(rsa, {{R"("use":"sig")", R"("use":"enc")"},
                                 {R"("kid":"rsa")", R"("kid":"enc")"}}),
       R"({"kty":"oct","kid":"hmac","k":"c2VjcmV0"})",
       R"({"kty":"OKP","kid":"ed","crv":"Ed25519","x":"AAAA"})",
       R"({"kty":"EC","kid":"p521","crv":"P-521","x":"AA","y":"AA"})",
       absl::StrReplaceAll(rsa, {{R"("kid":"rsa")", R"("kid":"ps")"},
                                 {R"("use":"sig")", R"("alg":"PS256")"}}),
       absl::StrReplaceAll(rsa,
                           {{R"("kid":"rsa")", R"("kid":"wrap")"},
                            {R"("use":"sig")", R"("key_ops":["wrapKey"])"}}),
       rsa}));
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(keys->size(), 1u);
  EXPECT_NE(keys->Find("rsa"), nullptr);
  for (const char* kid : {"enc", "hmac", "ed", "p521", "ps", "wrap"}) {
    EXPECT_EQ(keys->Find(kid), nullptr) << kid;
  }
  EXPECT_THAT(keys->ignored(), ElementsAre("keys[0]: use is not sig",
                                           "keys[1]: kty oct not supported",
                                           "keys[2]: kty OKP not supported",
                                           "keys[3]: crv P-521 not supported",
                                           "keys[4]: alg PS256 not supported",
                                           "keys[5]: key_ops lack verify"));
}

// Captures log lines for the file tests.
std::mutex g_log_mu;
std::vector<std::string>* g_log = nullptr;
void CaptureLog(std::string_view line) {
  std::lock_guard<std::mutex> lock(g_log_mu);
  if (g_log != nullptr) g_log->emplace_back(line);
}

class JwksFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = absl::StrCat(
        ::testing::TempDir(), "jwks-",
        ::testing::UnitTest::GetInstance()->current_test_info()->name(),
        ".json");
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_log = &log_;
    SetLogSink(&CaptureLog);
  }
  void TearDown() override {
    SetLogSink(nullptr);
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_log = nullptr;
    std::remove(path_.c_str());
  }

  void Write(const std::string& text) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << text;
    ASSERT_TRUE(out.good());
  }

  std::vector<std::string> Log() {
    std::lock_guard<std::mutex> lock(g_log_mu);
    return log_;
  }

  std::unique_ptr<JwksFile> Open() {
    auto file = JwksFile::Open(path_, [this] { return now_; });
    EXPECT_TRUE(file.ok()) << file.status();
    return file.ok() ? *std::move(file) : nullptr;
  }

  std::string path_;
  absl::Time now_ = absl::FromUnixSeconds(1700000000);
  std::vector<std::string> log_;
  const std::string rsa_ = test::RsaJwk(test::Rsa2048(), "old");
  const std::string ec_ = test::EcJwk(test::EcP256(), "new", "P-256");
};

TEST_F(JwksFileTest, ReloadPicksUpANewKeyAtMostOncePerSecond) {
  Write(test::Jwks({rsa_}));
  std::unique_ptr<JwksFile> file = Open();
  ASSERT_NE(file, nullptr);
  EXPECT_NE(file->Current()->Find("old"), nullptr);

  Write(test::Jwks({rsa_, ec_}));
  // Not yet re-checked: less than a second has passed.
  now_ += absl::Milliseconds(999);
  EXPECT_EQ(file->Current()->Find("new"), nullptr);

  now_ += absl::Milliseconds(1);
  std::shared_ptr<const JsonWebKeySet> keys = file->Current();
  EXPECT_NE(keys->Find("old"), nullptr);
  EXPECT_NE(keys->Find("new"), nullptr);

  // Rotation: the old key leaves the file, and the set.
  Write(test::Jwks({ec_}));
  now_ += absl::Seconds(1);
  EXPECT_EQ(file->Current()->Find("old"), nullptr);
  EXPECT_NE(file->Current()->Find("new"), nullptr);
  // A caller holding the earlier set keeps a valid one.
  EXPECT_NE(keys->Find("old"), nullptr);
}

TEST_F(JwksFileTest, MalformedNewFileKeepsTheOldKeysAndWarnsOnce) {
  Write(test::Jwks({rsa_}));
  std::unique_ptr<JwksFile> file = Open();
  ASSERT_NE(file, nullptr);

  Write(R"({"keys":[{"kty":"RSA","kid":"bad","n":"!!","e":"AQAB"}]})");
  for (int i = 0; i < 3; ++i) {
    now_ += absl::Seconds(1);
    EXPECT_NE(file->Current()->Find("old"), nullptr);
  }
  std::vector<std::string> warnings;
  for (const std::string& line : Log()) {
    if (line.find("WARNING") != std::string::npos) warnings.push_back(line);
  }
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("keys[0].n: not base64url"));

  // A good file recovers.
  Write(test::Jwks({ec_}));
  now_ += absl::Seconds(1);
  EXPECT_NE(file->Current()->Find("new"), nullptr);
}

TEST_F(JwksFileTest, MissingFileKeepsTheOldKeys) {
  Write(test::Jwks({rsa_}));
  std::unique_ptr<JwksFile> file = Open();
  ASSERT_NE(file, nullptr);
  std::remove(path_.c_str());
  now_ += absl::Seconds(1);
  EXPECT_NE(file->Current()->Find("old"), nullptr);
}

TEST_F(JwksFileTest, OpenRefusesMissingOrInvalidFiles) {
  EXPECT_EQ(JwksFile::Open(path_).status().code(), absl::StatusCode::kNotFound);
  EvpPkeyPtr weak = test::GenerateRsa(1024);
  Write(test::Jwks({test::RsaJwk(weak.get(), "weak")}));
  absl::Status status = JwksFile::Open(path_).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              StartsWith(absl::StrCat(path_, ": keys[0].n: RSA key of 1024")));
}

}  // namespace
}  // namespace attune::auth
