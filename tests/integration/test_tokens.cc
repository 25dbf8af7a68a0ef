#include "tests/integration/test_tokens.h"

#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "tests/unit/service/auth/test_keys.h"

namespace attune::testing {
namespace {

namespace keys = ::attune::auth::test;

// Unique within the process and across restarts of attuned within a test.
std::string FreshJti() {
  static std::atomic<int64_t> counter{0};
  return absl::StrCat("jti-", getpid(), "-", absl::ToUnixNanos(absl::Now()),
                      "-", counter++);
}

}  // namespace

std::string TestJwks() {
  return keys::Jwks({keys::RsaJwk(keys::Rsa2048(), "rsa-1", "RS384"),
                     keys::EcJwk(keys::EcP384(), "ec-1", "P-384", "ES384")});
}

std::string TestAuthConfig(const std::string& jwks_path,
                           const std::string& extra) {
  return absl::StrCat("auth {\n  jwks_file: \"", jwks_path, "\"\n  issuers: \"",
                      kTestIssuer, "\"\n  audience: \"", kTestAudience, "\"\n",
                      extra.empty() ? "" : "  ", extra,
                      extra.empty() ? "" : "\n", "}\n");
}

std::string MintToken(const TokenSpec& spec) {
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  const int64_t iat = spec.lifetime < absl::ZeroDuration()
                          ? now + 2 * absl::ToInt64Seconds(spec.lifetime)
                          : now;
  std::vector<std::string> quoted;
  for (const std::string& r : spec.roles) quoted.push_back("\"" + r + "\"");
  const std::string jti = spec.jti.has_value() ? *spec.jti : FreshJti();
  const std::string payload = absl::StrCat(
      R"({"iss":")", spec.issuer, R"(","aud":")", kTestAudience,
      R"(","sub":"clinician-7","iat":)", iat, R"(,"exp":)",
      now + absl::ToInt64Seconds(spec.lifetime), R"(,"roles":[)",
      absl::StrJoin(quoted, ","), "]",
      spec.tenant.empty() ? "" : R"(,"attune_tenant":")" + spec.tenant + "\"",
      jti.empty() ? "" : R"(,"jti":")" + jti + "\"", "}");
  const bool rsa = spec.alg == "RS384";
  return keys::SignToken(
      absl::StrCat(R"({"alg":")", spec.alg, R"(","kid":")",
                   rsa ? "rsa-1" : "ec-1", R"(","typ":"JWT"})"),
      payload, spec.alg, rsa ? keys::Rsa2048() : keys::EcP384());
}

}  // namespace attune::testing
