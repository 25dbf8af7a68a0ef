#include "tests/unit/service/auth/test_keys.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace attune::auth::test {
namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "OpenSSL failed: %s\n", what);
    std::abort();
  }
}

struct BnFree {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};
using Bn = std::unique_ptr<BIGNUM, BnFree>;

Bn GetBn(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  Check(EVP_PKEY_get_bn_param(key, name, &bn) == 1, name);
  return Bn(bn);
}

std::string BnBytes(const BIGNUM* bn, int width) {
  std::string out(static_cast<size_t>(width), '\0');
  Check(BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), width) ==
            width,
        "BN_bn2binpad");
  return out;
}

std::string Sign(absl::string_view input, EVP_PKEY* key, const char* digest) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                              &EVP_MD_CTX_free);
  Check(EVP_DigestSignInit_ex(ctx.get(), nullptr, digest, nullptr, nullptr, key,
                              nullptr) == 1,
        "EVP_DigestSignInit_ex");
  size_t len = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  Check(EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size()) == 1,
        "EVP_DigestSign size");
  std::string sig(len, '\0');
  Check(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()),
                       &len, data, input.size()) == 1,
        "EVP_DigestSign");
  sig.resize(len);
  return sig;
}

}  // namespace

EvpPkeyPtr GenerateRsa(unsigned int bits) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{bits});
  Check(key != nullptr, "RSA keygen");
  return EvpPkeyPtr(key);
}

EvpPkeyPtr GenerateEc(const char* group) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", group);
  Check(key != nullptr, "EC keygen");
  return EvpPkeyPtr(key);
}

EVP_PKEY* Rsa3072() {
  static EVP_PKEY* key = GenerateRsa(3072).release();
  return key;
}
EVP_PKEY* Rsa2048() {
  static EVP_PKEY* key = GenerateRsa(2048).release();
  return key;
}
EVP_PKEY* EcP384() {
  static EVP_PKEY* key = GenerateEc("P-384").release();
  return key;
}
EVP_PKEY* EcP256() {
  static EVP_PKEY* key = GenerateEc("P-256").release();
  return key;
}

std::string B64(absl::string_view bytes) {
  return absl::WebSafeBase64Escape(bytes);
}

std::string RsaModulus(EVP_PKEY* key) {
  Bn n = GetBn(key, OSSL_PKEY_PARAM_RSA_N);
  return BnBytes(n.get(), BN_num_bytes(n.get()));
}

std::string PublicPem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()),
                                                &BIO_free);
  Check(PEM_write_bio_PUBKEY(bio.get(), key) == 1, "PEM_write_bio_PUBKEY");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string RsaJwk(EVP_PKEY* key, absl::string_view kid,
                   absl::string_view alg) {
  Bn e = GetBn(key, OSSL_PKEY_PARAM_RSA_E);
  std::string jwk =
      absl::StrCat(R"({"kty":"RSA","use":"sig","kid":")", kid, R"(","n":")",
                   B64(RsaModulus(key)), R"(","e":")",
                   B64(BnBytes(e.get(), BN_num_bytes(e.get()))), "\"");
  if (!alg.empty()) absl::StrAppend(&jwk, R"(,"alg":")", alg, "\"");
  return jwk + "}";
}

std::string EcJwk(EVP_PKEY* key, absl::string_view kid, absl::string_view crv,
                  absl::string_view alg) {
  int width = crv == "P-256" ? 32 : 48;
  Bn x = GetBn(key, OSSL_PKEY_PARAM_EC_PUB_X);
  Bn y = GetBn(key, OSSL_PKEY_PARAM_EC_PUB_Y);
  std::string jwk =
      absl::StrCat(R"({"kty":"EC","kid":")", kid, R"(","crv":")", crv,
                   R"(","x":")", B64(BnBytes(x.get(), width)), R"(","y":")",
                   B64(BnBytes(y.get(), width)), "\"");
  if (!alg.empty()) absl::StrAppend(&jwk, R"(,"alg":")", alg, "\"");
  return jwk + "}";
}

std::string Jwks(const std::vector<std::string>& jwks) {
  return absl::StrCat(R"({"keys":[)", absl::StrJoin(jwks, ","), "]}");
}

std::string SignToken(absl::string_view header_json,
                      absl::string_view payload_json, absl::string_view alg,
                      EVP_PKEY* key) {
  std::string input = absl::StrCat(B64(header_json), ".", B64(payload_json));
  const char* digest = absl::EndsWith(alg, "256") ? "SHA256" : "SHA384";
  std::string sig = Sign(input, key, digest);
  if (absl::StartsWith(alg, "ES")) {
    int width = alg == "ES256" ? 32 : 48;
    const auto* der = reinterpret_cast<const unsigned char*>(sig.data());
    std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> ecdsa(
        d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(sig.size())),
        &ECDSA_SIG_free);
    Check(ecdsa != nullptr, "d2i_ECDSA_SIG");
    sig = BnBytes(ECDSA_SIG_get0_r(ecdsa.get()), width) +
          BnBytes(ECDSA_SIG_get0_s(ecdsa.get()), width);
  }
  return absl::StrCat(input, ".", B64(sig));
}

std::string HmacToken(absl::string_view header_json,
                      absl::string_view payload_json,
                      absl::string_view secret) {
  std::string input = absl::StrCat(B64(header_json), ".", B64(payload_json));
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t len = 0;
  Check(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(),
                  secret.size(),
                  reinterpret_cast<const unsigned char*>(input.data()),
                  input.size(), mac, sizeof(mac), &len) != nullptr,
        "EVP_Q_mac");
  return absl::StrCat(
      input, ".",
      B64(absl::string_view(reinterpret_cast<const char*>(mac), len)));
}

std::string DerEcdsaSignature(absl::string_view signing_input, EVP_PKEY* key,
                              const char* digest) {
  return B64(Sign(signing_input, key, digest));
}

}  // namespace attune::auth::test
