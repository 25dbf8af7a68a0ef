// Fuzz target: bearer tokens (service/auth/jwt.h). The input is the token
// as a caller would send it in an Authorization header.
//
// ParseJwt is the pure parser; JwtVerifier::Verify runs it and then the key
// lookup, the signature check (RSA PKCS#1 v1.5, ECDSA with the JOSE r||s to
// DER conversion) and the claim checks, against a fixed key set and a fixed
// clock. The EC keys' private halves are derived from fixed strings by
// tests/fuzz/make_seeds.py, which signs the seeds that reach the claim
// checks; the RSA key has no known private half here.
//
// Invariants:
//  - nothing crashes, whatever the bytes;
//  - every refusal is UNAUTHENTICATED whose message is exactly one
//    jwt_reason code (never token content);
//  - a parsed token has a supported alg, a non-empty kid and signature, and
//    its signing input is the token up to the second '.';
//  - a verified token's issuer is allowed and it has not expired; verifying
//    it a second time is refused as "replayed".
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/auth/jwks.h"
#include "service/auth/jwt.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_quiet_protobuf.h"

namespace {

namespace auth = attune::auth;
namespace reason = attune::auth::jwt_reason;

// 2030-01-01T00:00:00Z; the signed seeds are issued a minute before.
constexpr int64_t kNowUnix = 1893456000;

constexpr char kJwks[] = R"json({"keys": [
  {"kty": "RSA", "kid": "rsa", "use": "sig", "alg": "RS256", "e": "AQAB",
   "n": "pjhesmKhEPt9sA8OG9AIIu7M08Eydw_iohb3wUz2PbdWvcIp0ts_hMiyBWirx1vRzY4UKBwL_nk5eVlObj_GcUj4BqcjToijkBaX5qM4EtumvbPpiEXXdghVSP-m3E9itVj4RRDeXETB82ZgSUig_NcnJy7SwygMy6Sqc0WKDiiB4Yxe584KT1CaSmQaKchkoxTz4H077cinzLbL88AAxr6WsPGdxzYyjPT-7knITiA5sIAWIxorCbHfSN2_S_aINiyfMAyW6zGGZrpaJMQBs-gVGOvpk2qPMxYjM629JMvRUelX7d6PGhSdOeKYZHn7Xclk9OEVsWLNM881qL_llw"},
  {"kty": "RSA", "kid": "rsa-any", "e": "AQAB",
   "n": "pjhesmKhEPt9sA8OG9AIIu7M08Eydw_iohb3wUz2PbdWvcIp0ts_hMiyBWirx1vRzY4UKBwL_nk5eVlObj_GcUj4BqcjToijkBaX5qM4EtumvbPpiEXXdghVSP-m3E9itVj4RRDeXETB82ZgSUig_NcnJy7SwygMy6Sqc0WKDiiB4Yxe584KT1CaSmQaKchkoxTz4H077cinzLbL88AAxr6WsPGdxzYyjPT-7knITiA5sIAWIxorCbHfSN2_S_aINiyfMAyW6zGGZrpaJMQBs-gVGOvpk2qPMxYjM629JMvRUelX7d6PGhSdOeKYZHn7Xclk9OEVsWLNM881qL_llw"},
  {"kty": "EC", "kid": "ec256", "crv": "P-256",
   "x": "pi9rPhkOQKp9-PysSDILMLFjfyUpH7TB1_4Cp-K1e2E",
   "y": "ekd-xj6ahJqUwAfZwk73UIe7ufIUSZPAjwUSr-AW_vE"},
  {"kty": "EC", "kid": "ec384", "crv": "P-384", "alg": "ES384",
   "x": "X0qsOXqcFpnkddC7GWX4w1caRpfxFpLmbLIbe40j2Yi8s3Zmyuqbw39Zn7k1uv_g",
   "y": "u9FN5RdBNmKtMK-6nWKt5LNtuGNrqN6MBPQNE2KkKuAOPf1j-34JCidkcgxRAB4b"}
]})json";

const std::shared_ptr<auth::KeySetSource>& Keys() {
  static const auto* keys = [] {
    absl::StatusOr<auth::JsonWebKeySet> set = auth::JsonWebKeySet::Parse(kJwks);
    FUZZ_CHECK(set.ok() && set->size() == 4, "the fixed key set parses");
    return new std::shared_ptr<auth::KeySetSource>(
        std::make_shared<auth::FixedKeySet>(*std::move(set)));
  }();
  return *keys;
}

// Debian's absl::string_view is not std::string_view.
std::string MessageOf(const absl::Status& status) {
  return std::string(status.message());
}

bool IsReason(std::string_view message) {
  for (const char* code :
       {reason::kTooLarge,         reason::kMalformed,
        reason::kBadHeader,        reason::kBadPayload,
        reason::kAlgNotAllowed,    reason::kBadType,
        reason::kCritNotSupported, reason::kMissingKid,
        reason::kBadClaim,         reason::kUnknownKid,
        reason::kAlgKeyMismatch,   reason::kBadSignature,
        reason::kMissingClaim,     reason::kIssuerNotAllowed,
        reason::kWrongAudience,    reason::kExpired,
        reason::kNotYetValid,      reason::kIatInFuture,
        reason::kLifetimeTooLong,  reason::kMissingJti,
        reason::kReplayed,         reason::kReplayCacheFull}) {
    if (message == code) return true;
  }
  return false;
}

void CheckRefusal(const absl::Status& status) {
  FUZZ_CHECK(status.code() == absl::StatusCode::kUnauthenticated,
             "a refusal is UNAUTHENTICATED");
  FUZZ_CHECK(IsReason(MessageOf(status)),
             "a refusal's message is one reason code");
}

void CheckParsed(std::string_view token, const auth::ParsedJwt& jwt) {
  FUZZ_CHECK(token.size() <= auth::kMaxTokenBytes, "size limit holds");
  FUZZ_CHECK(jwt.alg == "RS256" || jwt.alg == "RS384" || jwt.alg == "ES256" ||
                 jwt.alg == "ES384",
             "only supported algorithms parse");
  FUZZ_CHECK(!jwt.kid.empty(), "kid is non-empty");
  FUZZ_CHECK(!jwt.signature.empty(), "signature is non-empty");
  const size_t first = token.find('.');
  const size_t second = token.find('.', first + 1);
  FUZZ_CHECK(first != token.npos && second != token.npos &&
                 token.find('.', second + 1) == token.npos &&
                 jwt.signing_input == token.substr(0, second),
             "signing input is the first two parts as sent");
  const absl::Time min = absl::UnixEpoch();
  const absl::Time max = absl::FromCivil(
      absl::CivilSecond(9999, 12, 31, 23, 59, 59), absl::UTCTimeZone());
  for (const auto* date : {&jwt.claims.exp, &jwt.claims.nbf, &jwt.claims.iat}) {
    FUZZ_CHECK(!date->has_value() || (**date >= min && **date <= max),
               "NumericDates are within 1970-9999");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view token(reinterpret_cast<const char*>(data), size);

  absl::StatusOr<auth::ParsedJwt> parsed = auth::ParseJwt(token);
  FUZZ_TRACE("parse", parsed.status());
  if (parsed.ok()) {
    CheckParsed(token, *parsed);
  } else {
    CheckRefusal(parsed.status());
  }

  auth::JwtVerifierOptions options;
  options.allowed_issuers = {"https://idp.example"};
  options.audience = "attune";
  const absl::Time now = absl::FromUnixSeconds(kNowUnix);
  // A fresh verifier (and replay cache) per input keeps runs independent.
  absl::StatusOr<std::unique_ptr<auth::JwtVerifier>> verifier =
      auth::JwtVerifier::Create(options, Keys(), [now] { return now; });
  FUZZ_CHECK(verifier.ok(), "the verifier options are valid");

  absl::StatusOr<auth::VerifiedToken> verified = (*verifier)->Verify(token);
  FUZZ_TRACE("verify", verified.status());
  if (!verified.ok()) {
    CheckRefusal(verified.status());
    const std::string why = MessageOf(verified.status());
    FUZZ_CHECK(
        !parsed.ok() || (why != reason::kMalformed && why != reason::kTooLarge),
        "Verify does not refuse as malformed what ParseJwt accepts");
    return 0;
  }
  FUZZ_CHECK(parsed.ok(), "a verified token parses");
  FUZZ_CHECK(verified->issuer == "https://idp.example",
             "a verified token's issuer is allowed");
  FUZZ_CHECK(verified->expiry + options.max_clock_skew > now,
             "a verified token has not expired");
  FUZZ_CHECK(!verified->jti.empty(), "a verified token has a jti");
  absl::StatusOr<auth::VerifiedToken> again = (*verifier)->Verify(token);
  FUZZ_CHECK(!again.ok() && MessageOf(again.status()) == reason::kReplayed,
             "a second use of a token is refused as replayed");
  return 0;
}
