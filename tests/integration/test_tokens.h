// Test-only bearer tokens for attuned's `auth`: the JWKS to configure it with
// and RS384/ES384 JWTs signed with the matching keys (the auth unit tests'
// OpenSSL helpers), each with a fresh "jti" unless told otherwise, as an
// identity provider issues them for single-use tokens.
#ifndef ATTUNE_TESTS_INTEGRATION_TEST_TOKENS_H_
#define ATTUNE_TESTS_INTEGRATION_TEST_TOKENS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace attune::testing {

inline constexpr char kTestIssuer[] = "https://idp.test";
inline constexpr char kTestAudience[] = "attune";

// A JWKS with "rsa-1" (RSA 2048, RS384) and "ec-1" (P-384, ES384).
std::string TestJwks();

// `auth { ... }` for a configuration file: TestJwks() at `jwks_path`, the
// test issuer and audience, and `extra` fields (e.g. "single_use_tokens:
// false") inside the block.
std::string TestAuthConfig(const std::string& jwks_path,
                           const std::string& extra = "");

struct TokenSpec {
  // The attune_tenant claim; empty: none.
  std::string tenant;
  std::vector<std::string> roles = {"ingest", "read", "admin"};
  std::string alg = "RS384";  // or "ES384"
  std::string issuer = kTestIssuer;
  // From now; negative: expired that long ago.
  absl::Duration lifetime = absl::Minutes(10);
  // Unset: a fresh unique jti. Empty: no jti claim.
  std::optional<std::string> jti;
};

// A signed token, issued now. Subject "clinician-7".
std::string MintToken(const TokenSpec& spec);

}  // namespace attune::testing

#endif  // ATTUNE_TESTS_INTEGRATION_TEST_TOKENS_H_
