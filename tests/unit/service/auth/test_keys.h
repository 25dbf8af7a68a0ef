// Test-only key generation, JWKS building and token signing with OpenSSL,
// so the verifier is exercised against real RSA and EC signatures.
#ifndef ATTUNE_TESTS_UNIT_SERVICE_AUTH_TEST_KEYS_H_
#define ATTUNE_TESTS_UNIT_SERVICE_AUTH_TEST_KEYS_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "service/auth/jwks.h"

namespace attune::auth::test {

// Fresh keys; aborts the test binary if OpenSSL fails.
EvpPkeyPtr GenerateRsa(unsigned int bits);
EvpPkeyPtr GenerateEc(const char* group);  // "P-256" or "P-384"

// Process-wide keys, generated on first use (RSA generation is slow and each
// ctest entry is its own process, so only what a test uses is generated).
EVP_PKEY* Rsa3072();
EVP_PKEY* Rsa2048();
EVP_PKEY* EcP384();
EVP_PKEY* EcP256();

std::string B64(absl::string_view bytes);  // base64url, no padding

// The big-endian modulus bytes of an RSA key.
std::string RsaModulus(EVP_PKEY* key);
// The SubjectPublicKeyInfo PEM of a key.
std::string PublicPem(EVP_PKEY* key);

// JWK objects for the public half; `alg` omitted when empty.
std::string RsaJwk(EVP_PKEY* key, absl::string_view kid,
                   absl::string_view alg = "");
std::string EcJwk(EVP_PKEY* key, absl::string_view kid, absl::string_view crv,
                  absl::string_view alg = "");
std::string Jwks(const std::vector<std::string>& jwks);

// A compact JWS: B64(header).B64(payload).B64(signature) where the
// signature is RSASSA-PKCS1-v1_5 (RS*) or raw r||s ECDSA (ES*) over the
// first two parts with SHA-256/384 as `alg` says.
std::string SignToken(absl::string_view header_json,
                      absl::string_view payload_json, absl::string_view alg,
                      EVP_PKEY* key);
// The same with an HMAC-SHA256 signature keyed by `secret` (HS256).
std::string HmacToken(absl::string_view header_json,
                      absl::string_view payload_json, absl::string_view secret);
// The DER signature OpenSSL produces for ECDSA, base64url (the wrong JOSE
// encoding, for tests).
std::string DerEcdsaSignature(absl::string_view signing_input, EVP_PKEY* key,
                              const char* digest);

}  // namespace attune::auth::test

#endif  // ATTUNE_TESTS_UNIT_SERVICE_AUTH_TEST_KEYS_H_
