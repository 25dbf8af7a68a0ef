#include "service/auth/jwt.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "service/auth/jose_encoding.h"

namespace attune::auth {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

// Long enough for any UUID or opaque id an issuer mints; bounds the memory a
// replay-cache entry costs.
constexpr size_t kMaxJtiBytes = 256;
// 9999-12-31T23:59:59Z. Keeps NumericDates inside absl::Time arithmetic and
// far from double precision trouble.
constexpr double kMaxNumericDate = 253402300799.0;

absl::Status Refuse(const char* reason) {
  return absl::UnauthenticatedError(reason);
}

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct EcdsaSigDeleter {
  void operator()(ECDSA_SIG* sig) const { ECDSA_SIG_free(sig); }
};

bool SupportedAlg(std::string_view alg) {
  return alg == "RS256" || alg == "RS384" || alg == "ES256" || alg == "ES384";
}

const Value* Member(const Struct& object, const std::string& name) {
  auto it = object.fields().find(name);
  return it == object.fields().end() ? nullptr : &it->second;
}

// A string claim: absent is fine, another type is not.
absl::Status StringClaim(const Struct& payload, const std::string& name,
                         std::optional<std::string>& out) {
  const Value* v = Member(payload, name);
  if (v == nullptr) return absl::OkStatus();
  if (v->kind_case() != Value::kStringValue) {
    return Refuse(jwt_reason::kBadClaim);
  }
  out = v->string_value();
  return absl::OkStatus();
}

absl::Status NumericDateClaim(const Struct& payload, const std::string& name,
                              std::optional<absl::Time>& out) {
  const Value* v = Member(payload, name);
  if (v == nullptr) return absl::OkStatus();
  if (v->kind_case() != Value::kNumberValue) {
    return Refuse(jwt_reason::kBadClaim);
  }
  double seconds = v->number_value();
  if (!std::isfinite(seconds) || seconds < 0 || seconds > kMaxNumericDate) {
    return Refuse(jwt_reason::kBadClaim);
  }
  out = absl::FromUnixSeconds(static_cast<int64_t>(seconds));
  return absl::OkStatus();
}

absl::StatusOr<JwtClaims> StandardClaims(const Struct& payload) {
  JwtClaims claims;
  for (auto [name, field] :
       {std::pair{"iss", &claims.iss}, std::pair{"sub", &claims.sub},
        std::pair{"jti", &claims.jti}}) {
    if (absl::Status s = StringClaim(payload, name, *field); !s.ok()) return s;
  }
  if (claims.jti.has_value() && claims.jti->size() > kMaxJtiBytes) {
    return Refuse(jwt_reason::kBadClaim);
  }
  for (auto [name, field] :
       {std::pair{"exp", &claims.exp}, std::pair{"nbf", &claims.nbf},
        std::pair{"iat", &claims.iat}}) {
    if (absl::Status s = NumericDateClaim(payload, name, *field); !s.ok()) {
      return s;
    }
  }
  if (const Value* aud = Member(payload, "aud"); aud != nullptr) {
    claims.aud.emplace();
    if (aud->kind_case() == Value::kStringValue) {
      claims.aud->push_back(aud->string_value());
    } else if (aud->kind_case() == Value::kListValue) {
      for (const Value& entry : aud->list_value().values()) {
        if (entry.kind_case() != Value::kStringValue) {
          return Refuse(jwt_reason::kBadClaim);
        }
        claims.aud->push_back(entry.string_value());
      }
    } else {
      return Refuse(jwt_reason::kBadClaim);
    }
  }
  return claims;
}

// Checks the header and fills jwt.alg and jwt.kid.
absl::Status CheckHeader(const Struct& header, ParsedJwt& jwt) {
  const Value* alg = Member(header, "alg");
  if (alg == nullptr || alg->kind_case() != Value::kStringValue) {
    return Refuse(jwt_reason::kBadHeader);
  }
  // "none", HS* (a public key used as an HMAC secret), PS*, anything else.
  if (!SupportedAlg(alg->string_value())) {
    return Refuse(jwt_reason::kAlgNotAllowed);
  }
  if (const Value* typ = Member(header, "typ"); typ != nullptr) {
    if (typ->kind_case() != Value::kStringValue ||
        !absl::EqualsIgnoreCase(typ->string_value(), "JWT")) {
      return Refuse(jwt_reason::kBadType);
    }
  }
  // Extensions the sender marks critical must be understood; none are.
  if (Member(header, "crit") != nullptr) {
    return Refuse(jwt_reason::kCritNotSupported);
  }
  const Value* kid = Member(header, "kid");
  if (kid == nullptr) return Refuse(jwt_reason::kMissingKid);
  if (kid->kind_case() != Value::kStringValue) {
    return Refuse(jwt_reason::kBadHeader);
  }
  if (kid->string_value().empty()) return Refuse(jwt_reason::kMissingKid);
  jwt.alg = alg->string_value();
  jwt.kid = kid->string_value();
  return absl::OkStatus();
}

bool AlgFitsKey(std::string_view alg, const JsonWebKey& key) {
  if (!key.alg.empty() && key.alg != alg) return false;
  switch (key.type) {
    case KeyType::kRsa:
      return alg == "RS256" || alg == "RS384";
    case KeyType::kEcP256:
      return alg == "ES256";
    case KeyType::kEcP384:
      return alg == "ES384";
  }
  return false;
}

// JOSE carries ECDSA signatures as fixed-length r || s (RFC 7518 §3.4);
// OpenSSL wants DER. nullopt when the length is wrong.
std::optional<std::string> EcdsaRawToDer(std::string_view raw,
                                         size_t coordinate_bytes) {
  if (raw.size() != 2 * coordinate_bytes) return std::nullopt;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  int n = static_cast<int>(coordinate_bytes);
  std::unique_ptr<ECDSA_SIG, EcdsaSigDeleter> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(bytes, n, nullptr);
  BIGNUM* s = BN_bin2bn(bytes + n, n, nullptr);
  if (sig == nullptr || r == nullptr || s == nullptr ||
      ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return std::nullopt;
  }
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return std::nullopt;
  std::string der(static_cast<size_t>(len), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != len) return std::nullopt;
  return der;
}

bool SignatureValid(const JsonWebKey& key, std::string_view alg,
                    std::string_view signing_input,
                    std::string_view signature) {
  const EVP_MD* md = alg.ends_with("256") ? EVP_sha256() : EVP_sha384();
  std::string der;
  if (key.type == KeyType::kRsa) {
    if (signature.size() !=
        static_cast<size_t>(EVP_PKEY_get_size(key.pkey.get()))) {
      return false;
    }
  } else {
    std::optional<std::string> converted =
        EcdsaRawToDer(signature, key.type == KeyType::kEcP256 ? 32 : 48);
    if (!converted.has_value()) return false;
    der = *std::move(converted);
    signature = der;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  if (ctx == nullptr || EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr,
                                             key.pkey.get()) != 1) {
    return false;
  }
  if (key.type == KeyType::kRsa &&
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
    return false;
  }
  return EVP_DigestVerify(
             ctx.get(),
             reinterpret_cast<const unsigned char*>(signature.data()),
             signature.size(),
             reinterpret_cast<const unsigned char*>(signing_input.data()),
             signing_input.size()) == 1;
}

absl::Status Roles(const Struct& payload, const std::string& claim,
                   std::vector<std::string>& roles) {
  if (claim.empty()) return absl::OkStatus();
  const Value* v = Member(payload, claim);
  if (v == nullptr) return absl::OkStatus();
  if (v->kind_case() == Value::kStringValue) {
    for (absl::string_view role :
         absl::StrSplit(v->string_value(), ' ', absl::SkipEmpty())) {
      roles.emplace_back(role);
    }
    return absl::OkStatus();
  }
  if (v->kind_case() != Value::kListValue) return Refuse(jwt_reason::kBadClaim);
  for (const Value& role : v->list_value().values()) {
    if (role.kind_case() != Value::kStringValue) {
      return Refuse(jwt_reason::kBadClaim);
    }
    roles.push_back(role.string_value());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ParsedJwt> ParseJwt(std::string_view token) {
  if (token.size() > kMaxTokenBytes) return Refuse(jwt_reason::kTooLarge);
  std::vector<absl::string_view> parts =
      absl::StrSplit(absl::string_view(token.data(), token.size()), '.');
  if (parts.size() != 3 || parts[0].empty() || parts[1].empty()) {
    return Refuse(jwt_reason::kMalformed);
  }
  ParsedJwt jwt;
  // The header first, so an unacceptable algorithm is reported as such even
  // when (as with "none") the signature part is empty.
  auto decode = [](absl::string_view part) {
    return Base64UrlDecode(std::string_view(part.data(), part.size()));
  };
  std::optional<std::string> header_json = decode(parts[0]);
  if (!header_json.has_value()) return Refuse(jwt_reason::kMalformed);
  std::optional<Struct> header = ParseJsonObject(*header_json);
  if (!header.has_value()) return Refuse(jwt_reason::kBadHeader);
  if (absl::Status s = CheckHeader(*header, jwt); !s.ok()) return s;

  std::optional<std::string> payload_json = decode(parts[1]);
  std::optional<std::string> signature = decode(parts[2]);
  if (!payload_json.has_value() || !signature.has_value() ||
      signature->empty()) {
    return Refuse(jwt_reason::kMalformed);
  }
  std::optional<Struct> payload = ParseJsonObject(*payload_json);
  if (!payload.has_value()) return Refuse(jwt_reason::kBadPayload);
  absl::StatusOr<JwtClaims> claims = StandardClaims(*payload);
  if (!claims.ok()) return claims.status();

  jwt.signing_input =
      std::string(token.substr(0, parts[0].size() + 1 + parts[1].size()));
  jwt.signature = *std::move(signature);
  jwt.claims = *std::move(claims);
  jwt.payload = *std::move(payload);
  return jwt;
}

absl::StatusOr<std::unique_ptr<JwtVerifier>> JwtVerifier::Create(
    JwtVerifierOptions options, std::shared_ptr<KeySetSource> keys,
    Clock clock) {
  if (keys == nullptr) return absl::InvalidArgumentError("keys: required");
  if (!clock) return absl::InvalidArgumentError("clock: required");
  if (options.allowed_issuers.empty()) {
    return absl::InvalidArgumentError(
        "allowed_issuers: at least one issuer required");
  }
  for (size_t i = 0; i < options.allowed_issuers.size(); ++i) {
    if (options.allowed_issuers[i].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("allowed_issuers[", i, "]: empty"));
    }
  }
  if (options.audience.empty()) {
    return absl::InvalidArgumentError("audience: required");
  }
  if (options.max_clock_skew < absl::ZeroDuration() ||
      options.max_clock_skew > absl::Minutes(5)) {
    return absl::InvalidArgumentError(
        "max_clock_skew: must be between 0 and 5 minutes");
  }
  if (options.max_lifetime <= absl::ZeroDuration() ||
      options.max_lifetime > absl::Hours(24)) {
    return absl::InvalidArgumentError(
        "max_lifetime: must be positive and at most 24 hours");
  }
  if (options.replay_cache && options.replay_cache_max_entries == 0) {
    return absl::InvalidArgumentError(
        "replay_cache_max_entries: must be positive when the cache is on");
  }
  return std::unique_ptr<JwtVerifier>(
      new JwtVerifier(std::move(options), std::move(keys), std::move(clock)));
}

JwtVerifier::JwtVerifier(JwtVerifierOptions options,
                         std::shared_ptr<KeySetSource> keys, Clock clock)
    : options_(std::move(options)),
      keys_(std::move(keys)),
      clock_(std::move(clock)),
      replay_cache_(options_.replay_cache
                        ? std::make_unique<JtiReplayCache>(
                              options_.replay_cache_max_entries)
                        : nullptr) {}

absl::StatusOr<VerifiedToken> JwtVerifier::Verify(std::string_view token) {
  absl::StatusOr<ParsedJwt> parsed = ParseJwt(token);
  if (!parsed.ok()) return parsed.status();
  const ParsedJwt& jwt = *parsed;

  std::shared_ptr<const JsonWebKeySet> keys = keys_->Current();
  const JsonWebKey* key = keys->Find(jwt.kid);
  if (key == nullptr) return Refuse(jwt_reason::kUnknownKid);
  if (!AlgFitsKey(jwt.alg, *key)) return Refuse(jwt_reason::kAlgKeyMismatch);
  if (!SignatureValid(*key, jwt.alg, jwt.signing_input, jwt.signature)) {
    return Refuse(jwt_reason::kBadSignature);
  }

  // From here on the claims are the issuer's.
  const JwtClaims& claims = jwt.claims;
  if (!claims.iss.has_value()) return Refuse(jwt_reason::kMissingClaim);
  if (std::find(options_.allowed_issuers.begin(),
                options_.allowed_issuers.end(),
                *claims.iss) == options_.allowed_issuers.end()) {
    return Refuse(jwt_reason::kIssuerNotAllowed);
  }
  if (!claims.aud.has_value()) return Refuse(jwt_reason::kMissingClaim);
  if (std::find(claims.aud->begin(), claims.aud->end(), options_.audience) ==
      claims.aud->end()) {
    return Refuse(jwt_reason::kWrongAudience);
  }
  if (!claims.exp.has_value() || !claims.iat.has_value()) {
    return Refuse(jwt_reason::kMissingClaim);
  }
  const absl::Time now = clock_();
  const absl::Duration skew = options_.max_clock_skew;
  if (now >= *claims.exp + skew) return Refuse(jwt_reason::kExpired);
  if (claims.nbf.has_value() && *claims.nbf > now + skew) {
    return Refuse(jwt_reason::kNotYetValid);
  }
  if (*claims.iat > now + skew) return Refuse(jwt_reason::kIatInFuture);
  if (*claims.exp <= *claims.iat) return Refuse(jwt_reason::kBadClaim);
  if (*claims.exp - *claims.iat > options_.max_lifetime) {
    return Refuse(jwt_reason::kLifetimeTooLong);
  }
  for (const std::string& name : options_.required_claims) {
    if (Member(jwt.payload, name) == nullptr) {
      return Refuse(jwt_reason::kMissingClaim);
    }
  }

  VerifiedToken verified;
  if (!options_.tenant_claim.empty()) {
    std::optional<std::string> tenant;
    if (absl::Status s =
            StringClaim(jwt.payload, options_.tenant_claim, tenant);
        !s.ok()) {
      return s;
    }
    verified.tenant = tenant.value_or("");
  }
  if (absl::Status s = Roles(jwt.payload, options_.roles_claim, verified.roles);
      !s.ok()) {
    return s;
  }

  // Last: only a token that is otherwise acceptable uses up its jti.
  if (replay_cache_ != nullptr) {
    if (!claims.jti.has_value() || claims.jti->empty()) {
      return Refuse(jwt_reason::kMissingJti);
    }
    // Kept until the token could no longer be accepted anyway.
    switch (replay_cache_->Insert(*claims.iss, *claims.jti, *claims.exp + skew,
                                  now)) {
      case JtiReplayCache::Result::kFirstUse:
        break;
      case JtiReplayCache::Result::kReplayed:
        return Refuse(jwt_reason::kReplayed);
      case JtiReplayCache::Result::kFull:
        return Refuse(jwt_reason::kReplayCacheFull);
    }
  }

  verified.subject = claims.sub.value_or("");
  verified.issuer = *claims.iss;
  verified.jti = claims.jti.value_or("");
  verified.expiry = *claims.exp;
  return verified;
}

}  // namespace attune::auth
