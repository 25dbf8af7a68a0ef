// Bearer-token verification: compact JWS JWTs (RFC 7515/7519) signed with
// RS256, RS384 (RSASSA-PKCS1-v1_5), ES256 or ES384 by a key from a JWKS.
//
//   JwtVerifierOptions options;
//   options.allowed_issuers = {"https://idp.example"};
//   options.audience = "attune";
//   ATTUNE_ASSIGN_OR_RETURN(auto verifier,
//                           JwtVerifier::Create(options, jwks_file));
//   absl::StatusOr<VerifiedToken> token = verifier->Verify(bearer);
//   if (!token.ok()) {
//     ATTUNE_LOG(INFO) << "unauthenticated" << LogField("reason",
//                                                     token.status().message());
//     return absl::UnauthenticatedError("unauthenticated");  // no detail out
//   }
//
// Every refusal is UNAUTHENTICATED and its message is exactly one reason
// code from `jwt_reason` below: safe to log, never containing the token or a
// claim value, and not meant for the caller (a caller learns only
// UNAUTHENTICATED). `none`, HS*, PS* and any other algorithm are refused,
// whatever the key set holds.
#ifndef ATTUNE_SERVICE_AUTH_JWT_H_
#define ATTUNE_SERVICE_AUTH_JWT_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "service/auth/jwks.h"
#include "service/auth/replay_cache.h"

namespace attune::auth {

// Reason codes: the message of every error Verify and ParseJwt return.
namespace jwt_reason {
// Shape of the token.
inline constexpr char kTooLarge[] = "too_large";
inline constexpr char kMalformed[] = "malformed";  // parts, base64url
inline constexpr char kBadHeader[] = "bad_header";
inline constexpr char kBadPayload[] = "bad_payload";
inline constexpr char kAlgNotAllowed[] = "alg_not_allowed";
inline constexpr char kBadType[] = "bad_typ";
inline constexpr char kCritNotSupported[] = "crit_not_supported";
inline constexpr char kMissingKid[] = "missing_kid";
// A standard claim of the wrong JSON type or out of range, or a tenant/roles
// claim of the wrong type.
inline constexpr char kBadClaim[] = "bad_claim";
// Key and signature.
inline constexpr char kUnknownKid[] = "unknown_kid";
inline constexpr char kAlgKeyMismatch[] = "alg_key_mismatch";
inline constexpr char kBadSignature[] = "bad_signature";
// Claims.
inline constexpr char kMissingClaim[] = "missing_claim";
inline constexpr char kIssuerNotAllowed[] = "issuer_not_allowed";
inline constexpr char kWrongAudience[] = "wrong_audience";
inline constexpr char kExpired[] = "expired";
inline constexpr char kNotYetValid[] = "not_yet_valid";  // nbf
inline constexpr char kIatInFuture[] = "iat_in_future";
inline constexpr char kLifetimeTooLong[] = "lifetime_too_long";
// Replay.
inline constexpr char kMissingJti[] = "missing_jti";
inline constexpr char kReplayed[] = "replayed";
inline constexpr char kReplayCacheFull[] = "replay_cache_full";
}  // namespace jwt_reason

// Tokens longer than this are refused before any decoding.
inline constexpr size_t kMaxTokenBytes = 8 * 1024;

// The standard claims, type-checked; absent ones are empty/nullopt.
struct JwtClaims {
  std::optional<std::string> iss;
  std::optional<std::string> sub;
  // A string "aud" becomes one entry.
  std::optional<std::vector<std::string>> aud;
  std::optional<absl::Time> exp;
  std::optional<absl::Time> nbf;
  std::optional<absl::Time> iat;
  std::optional<std::string> jti;
};

// A token taken apart but NOT verified: nothing in it is trustworthy yet.
struct ParsedJwt {
  std::string alg;            // one of RS256, RS384, ES256, ES384
  std::string kid;            // non-empty
  std::string signing_input;  // "<header>.<payload>" as sent
  std::string signature;      // decoded signature bytes
  JwtClaims claims;
  google::protobuf::Struct payload;  // every claim, for non-standard ones
};

// Takes a compact JWS apart: exactly three non-empty unpadded base64url parts
// (no whitespace), at most kMaxTokenBytes; the header a JSON object with a
// supported "alg", a string "kid", "typ" absent or "JWT" (any case), no
// "crit"; the payload a JSON object whose standard claims have their RFC 7519
// types (NumericDate: a number in [0, year 9999], fractions truncated).
// A pure function of the bytes (the fuzzing entry point): no keys, no clock.
// Errors: UNAUTHENTICATED with a jwt_reason code.
absl::StatusOr<ParsedJwt> ParseJwt(std::string_view token);

struct JwtVerifierOptions {
  // Exact "iss" values accepted. At least one.
  std::vector<std::string> allowed_issuers;
  // Must appear in "aud" (a string or an array of strings). Required.
  std::string audience;
  // Tolerance for clocks that disagree, applied to exp, nbf and iat.
  // At most 5 minutes.
  absl::Duration max_clock_skew = absl::Seconds(60);
  // Tokens whose exp - iat exceeds this are refused: a leaked long-lived
  // token is a standing credential, and the replay cache must hold ids for
  // this long. exp, iat, iss and aud are always required.
  absl::Duration max_lifetime = absl::Hours(1);
  // Further claims that must be present (any type), e.g. the tenant claim.
  std::vector<std::string> required_claims = {"sub"};
  // Claim holding the tenant id (a string), copied to VerifiedToken::tenant.
  std::string tenant_claim = "attune_tenant";
  // Claim holding roles or scopes: an array of strings, or one string of
  // space-separated values (OAuth "scope").
  std::string roles_claim = "scope";
  // Refuse a second use of a jti (and any token without one) until the
  // token expires. Per process; see replay_cache.h.
  bool replay_cache = true;
  size_t replay_cache_max_entries = 100000;
};

// What a verified token says. Identifiers here may be PHI-adjacent (a
// subject can be a clinician id): do not log them.
struct VerifiedToken {
  std::string subject;  // "sub", empty if absent and not required
  std::string issuer;
  std::string tenant;  // the tenant claim, empty if absent
  std::vector<std::string> roles;
  std::string jti;  // empty if absent (only when the cache is off)
  absl::Time expiry;
};

// Verifies bearer tokens against a key source and the options. Thread-safe;
// one per process (the replay cache lives in it). Verification order:
// parse, key by kid, algorithm against the key, signature, then claims, and
// the jti is recorded only when everything else passed.
class JwtVerifier {
 public:
  using Clock = std::function<absl::Time()>;

  // `clock` is called once per Verify, from the calling thread.
  // INVALID_ARGUMENT "<option>: <rule>" for bad options.
  static absl::StatusOr<std::unique_ptr<JwtVerifier>> Create(
      JwtVerifierOptions options, std::shared_ptr<KeySetSource> keys,
      Clock clock = &absl::Now);

  // UNAUTHENTICATED with a jwt_reason code on any refusal. Not const: a
  // success records the token's jti.
  absl::StatusOr<VerifiedToken> Verify(std::string_view token);

 private:
  JwtVerifier(JwtVerifierOptions options, std::shared_ptr<KeySetSource> keys,
              Clock clock);

  const JwtVerifierOptions options_;
  const std::shared_ptr<KeySetSource> keys_;
  const Clock clock_;
  // Null when options_.replay_cache is off.
  const std::unique_ptr<JtiReplayCache> replay_cache_;
};

}  // namespace attune::auth

#endif  // ATTUNE_SERVICE_AUTH_JWT_H_
