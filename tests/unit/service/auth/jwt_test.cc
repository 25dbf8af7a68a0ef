#include "service/auth/jwt.h"

#include <map>
#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/service/auth/test_keys.h"

namespace attune::auth {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kIssuer[] = "https://idp.example";
constexpr char kAudience[] = "attune";
// A subject shaped like a clinician identifier: it must never reach a
// status message.
constexpr char kSubject[] = "clinician-4711";
const absl::Time kStart = absl::FromUnixSeconds(1700000000);

std::string Num(absl::Time t) { return absl::StrCat(absl::ToUnixSeconds(t)); }
std::string Str(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

// Claims as name -> JSON literal, serialised in name order.
using Claims = std::map<std::string, std::string>;

std::string Json(const Claims& claims) {
  return absl::StrCat("{",
                      absl::StrJoin(claims, ",",
                                    [](std::string* out, const auto& claim) {
                                      absl::StrAppend(out, Str(claim.first),
                                                      ":", claim.second);
                                    }),
                      "}");
}

std::string Header(absl::string_view alg, absl::string_view kid) {
  return absl::StrCat(R"({"alg":")", alg, R"(","kid":")", kid,
                      R"(","typ":"JWT"})");
}

class JwtVerifierTest : public ::testing::Test {
 protected:
  // The EC keys, and with with_rsa_ the RSA ones (slow to generate, and
  // each test is its own process). RSA-3072 is pinned to RS384 by its JWK;
  // the other keys have no "alg".
  std::shared_ptr<KeySetSource> Keys() {
    std::vector<std::string> jwks = {
        test::EcJwk(test::EcP384(), "ec-384", "P-384"),
        test::EcJwk(test::EcP256(), "ec-256", "P-256")};
    if (with_rsa_) {
      jwks.push_back(test::RsaJwk(test::Rsa3072(), "rsa-3072", "RS384"));
      jwks.push_back(test::RsaJwk(test::Rsa2048(), "rsa-2048"));
    }
    absl::StatusOr<JsonWebKeySet> keys = JsonWebKeySet::Parse(test::Jwks(jwks));
    EXPECT_TRUE(keys.ok()) << keys.status();
    return std::make_shared<FixedKeySet>(*std::move(keys));
  }

  std::unique_ptr<JwtVerifier> MakeVerifier(JwtVerifierOptions options) {
    options.allowed_issuers = {"https://other.example", kIssuer};
    options.audience = kAudience;
    auto verifier = JwtVerifier::Create(std::move(options), Keys(),
                                        [this] { return now_; });
    EXPECT_TRUE(verifier.ok()) << verifier.status();
    return *std::move(verifier);
  }
  std::unique_ptr<JwtVerifier> MakeVerifier() {
    return MakeVerifier(JwtVerifierOptions{});
  }

  // A valid claim set at now_, with a fresh jti each call.
  Claims ValidClaims() {
    return {{"iss", Str(kIssuer)},
            {"sub", Str(kSubject)},
            {"aud", Str(kAudience)},
            {"iat", Num(now_ - absl::Seconds(10))},
            {"exp", Num(now_ + absl::Minutes(10))},
            {"jti", Str(absl::StrCat("jti-", ++jti_counter_))},
            {"attune_tenant", Str("tenant-a")},
            {"scope", Str("events:write  prompts:read")}};
  }

  std::string Rs384(const Claims& claims) {
    return test::SignToken(Header("RS384", "rsa-3072"), Json(claims), "RS384",
                           test::Rsa3072());
  }
  std::string Es384(const Claims& claims) {
    return test::SignToken(Header("ES384", "ec-384"), Json(claims), "ES384",
                           test::EcP384());
  }

  // Refused with `reason`, and the message names neither the token (or any
  // part of it) nor the subject.
  void ExpectRefused(JwtVerifier& verifier, const std::string& token,
                     const char* reason) {
    absl::StatusOr<VerifiedToken> result = verifier.Verify(token);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(result.status().message(), reason);
    std::string text = result.status().ToString();
    EXPECT_THAT(text, Not(HasSubstr(kSubject)));
    if (!token.empty()) {
      EXPECT_THAT(text, Not(HasSubstr(token)));
    }
    for (absl::string_view part : absl::StrSplit(token, '.')) {
      if (part.size() >= 8) {
        EXPECT_THAT(text, Not(HasSubstr(std::string(part))));
      }
    }
  }

  absl::Time now_ = kStart;
  int jti_counter_ = 0;
  bool with_rsa_ = false;
};

class JwtVerifierRsaTest : public JwtVerifierTest {
 protected:
  JwtVerifierRsaTest() { with_rsa_ = true; }
};

TEST_F(JwtVerifierRsaTest, AcceptsRs384AndReturnsTheClaims) {
  auto verifier = MakeVerifier();
  Claims claims = ValidClaims();
  absl::StatusOr<VerifiedToken> token = verifier->Verify(Rs384(claims));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->subject, kSubject);
  EXPECT_EQ(token->issuer, kIssuer);
  EXPECT_EQ(token->tenant, "tenant-a");
  EXPECT_THAT(token->roles, ElementsAre("events:write", "prompts:read"));
  EXPECT_EQ(token->jti, "jti-1");
  EXPECT_EQ(token->expiry, now_ + absl::Minutes(10));
}

TEST_F(JwtVerifierTest, AcceptsEs384) {
  auto verifier = MakeVerifier();
  absl::StatusOr<VerifiedToken> token = verifier->Verify(Es384(ValidClaims()));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->subject, kSubject);
}

TEST_F(JwtVerifierRsaTest, AcceptsRs256) {
  auto verifier = MakeVerifier();
  std::string token =
      test::SignToken(Header("RS256", "rsa-2048"), Json(ValidClaims()), "RS256",
                      test::Rsa2048());
  EXPECT_TRUE(verifier->Verify(token).ok());
}

TEST_F(JwtVerifierTest, AcceptsEs256) {
  auto verifier = MakeVerifier();
  std::string token = test::SignToken(
      Header("ES256", "ec-256"), Json(ValidClaims()), "ES256", test::EcP256());
  EXPECT_TRUE(verifier->Verify(token).ok());
}

TEST_F(JwtVerifierTest, AcceptsAudienceArrayAndRolesArray) {
  JwtVerifierOptions options;
  options.roles_claim = "roles";
  auto verifier = MakeVerifier(options);
  Claims claims = ValidClaims();
  claims["aud"] = R"(["other-service","attune"])";
  claims["roles"] = R"(["clinician","supervisor"])";
  absl::StatusOr<VerifiedToken> token = verifier->Verify(Es384(claims));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_THAT(token->roles, ElementsAre("clinician", "supervisor"));
}

TEST_F(JwtVerifierTest, RefusesExpiredBeyondSkewButAcceptsWithinSkew) {
  auto verifier = MakeVerifier();
  Claims expired = ValidClaims();
  expired["iat"] = Num(now_ - absl::Minutes(30));
  expired["exp"] = Num(now_ - absl::Seconds(61));
  ExpectRefused(*verifier, Es384(expired), jwt_reason::kExpired);

  Claims barely = ValidClaims();
  barely["iat"] = Num(now_ - absl::Minutes(30));
  barely["exp"] = Num(now_ - absl::Seconds(30));
  EXPECT_TRUE(verifier->Verify(Es384(barely)).ok());
}

TEST_F(JwtVerifierTest, RefusesNbfInTheFutureBeyondSkew) {
  auto verifier = MakeVerifier();
  Claims claims = ValidClaims();
  claims["nbf"] = Num(now_ + absl::Seconds(120));
  ExpectRefused(*verifier, Es384(claims), jwt_reason::kNotYetValid);

  Claims within = ValidClaims();
  within["nbf"] = Num(now_ + absl::Seconds(30));
  EXPECT_TRUE(verifier->Verify(Es384(within)).ok());
}

TEST_F(JwtVerifierTest, RefusesIatInTheFuture) {
  auto verifier = MakeVerifier();
  Claims claims = ValidClaims();
  claims["iat"] = Num(now_ + absl::Minutes(5));
  claims["exp"] = Num(now_ + absl::Minutes(20));
  ExpectRefused(*verifier, Es384(claims), jwt_reason::kIatInFuture);
}

TEST_F(JwtVerifierTest, RefusesLifetimeLongerThanAllowed) {
  auto verifier = MakeVerifier();
  Claims claims = ValidClaims();
  claims["iat"] = Num(now_ - absl::Seconds(10));
  claims["exp"] = Num(now_ + absl::Hours(1));
  ExpectRefused(*verifier, Es384(claims), jwt_reason::kLifetimeTooLong);
}

TEST_F(JwtVerifierTest, RefusesExpNotAfterIat) {
  auto verifier = MakeVerifier();
  Claims claims = ValidClaims();
  claims["iat"] = Num(now_ + absl::Seconds(5));
  claims["exp"] = Num(now_ + absl::Seconds(5));
  ExpectRefused(*verifier, Es384(claims), jwt_reason::kBadClaim);
}

TEST_F(JwtVerifierTest, RefusesWrongAudience) {
  auto verifier = MakeVerifier();
  Claims claims = ValidClaims();
  claims["aud"] = R"(["attune-staging","other"])";
  ExpectRefused(*verifier, Es384(claims), jwt_reason::kWrongAudience);
  claims.erase("aud");
  ExpectRefused(*verifier, Es384(claims), jwt_reason::kMissingClaim);
}

TEST_F(JwtVerifierTest, RefusesIssuerNotInAllowList) {
  auto verifier = MakeVerifier();
  Claims claims = ValidClaims();
  claims["iss"] = Str("https://idp.example.evil");
  ExpectRefused(*verifier, Es384(claims), jwt_reason::kIssuerNotAllowed);
  claims.erase("iss");
  ExpectRefused(*verifier, Es384(claims), jwt_reason::kMissingClaim);
}

TEST_F(JwtVerifierTest, RefusesReplayedJtiWithinOneVerifierOnly) {
  auto verifier = MakeVerifier();
  std::string token = Es384(ValidClaims());
  ASSERT_TRUE(verifier->Verify(token).ok());
  ExpectRefused(*verifier, token, jwt_reason::kReplayed);

  // The cache belongs to the verifier (one per process): a fresh one has not
  // seen the token.
  auto other = MakeVerifier();
  EXPECT_TRUE(other->Verify(token).ok());
}

TEST_F(JwtVerifierTest, SameJtiFromAnotherIssuerIsNotAReplay) {
  auto verifier = MakeVerifier();
  Claims first = ValidClaims();
  Claims second = first;
  second["iss"] = Str("https://other.example");
  ASSERT_TRUE(verifier->Verify(Es384(first)).ok());
  EXPECT_TRUE(verifier->Verify(Es384(second)).ok());
}

TEST_F(JwtVerifierTest, RefusedTokenDoesNotUseUpItsJti) {
  auto verifier = MakeVerifier();
  Claims claims = ValidClaims();
  Claims wrong_audience = claims;
  wrong_audience["aud"] = Str("elsewhere");
  ExpectRefused(*verifier, Es384(wrong_audience), jwt_reason::kWrongAudience);
  EXPECT_TRUE(verifier->Verify(Es384(claims)).ok());
}

TEST_F(JwtVerifierTest, RefusesMissingJtiWhenTheCacheIsOn) {
  auto verifier = MakeVerifier();
  Claims claims = ValidClaims();
  claims.erase("jti");
  ExpectRefused(*verifier, Es384(claims), jwt_reason::kMissingJti);

  JwtVerifierOptions options;
  options.replay_cache = false;
  auto no_cache = MakeVerifier(options);
  std::string token = Es384(claims);
  EXPECT_TRUE(no_cache->Verify(token).ok());
  EXPECT_TRUE(no_cache->Verify(token).ok());
}

TEST_F(JwtVerifierTest, FullReplayCacheRefusesNewTokensUntilOldOnesExpire) {
  JwtVerifierOptions options;
  options.replay_cache_max_entries = 2;
  auto verifier = MakeVerifier(options);
  std::string first = Es384(ValidClaims());
  ASSERT_TRUE(verifier->Verify(first).ok());
  ASSERT_TRUE(verifier->Verify(Es384(ValidClaims())).ok());
  ExpectRefused(*verifier, Es384(ValidClaims()), jwt_reason::kReplayCacheFull);
  // The old ids are kept, not evicted.
  ExpectRefused(*verifier, first, jwt_reason::kReplayed);

  // Once the first tokens are past exp + skew, their ids are dropped.
  now_ += absl::Minutes(10) + absl::Seconds(61);
  EXPECT_TRUE(verifier->Verify(Es384(ValidClaims())).ok());
}

TEST_F(JwtVerifierTest, RefusesAlgNone) {
  auto verifier = MakeVerifier();
  for (const char* alg : {"none", "None", "NONE"}) {
    std::string token = absl::StrCat(
        test::B64(absl::StrCat(R"({"alg":")", alg, R"(","typ":"JWT"})")), ".",
        test::B64(Json(ValidClaims())), ".");
    ExpectRefused(*verifier, token, jwt_reason::kAlgNotAllowed);
  }
}

TEST_F(JwtVerifierRsaTest, RefusesHs256SignedWithThePublicKey) {
  auto verifier = MakeVerifier();
  // The classic confusion: an HMAC "signature" keyed by public key material
  // the attacker knows, naming the RSA key's kid.
  for (const std::string& secret :
       {test::RsaModulus(test::Rsa3072()), test::PublicPem(test::Rsa3072())}) {
    std::string token = test::HmacToken(Header("HS256", "rsa-3072"),
                                        Json(ValidClaims()), secret);
    ExpectRefused(*verifier, token, jwt_reason::kAlgNotAllowed);
  }
}

TEST_F(JwtVerifierTest, RefusesPs256AndUnknownAlgorithms) {
  auto verifier = MakeVerifier();
  for (const char* alg : {"PS256", "RS512", "EdDSA", "rs384", ""}) {
    std::string token = test::SignToken(
        Header(alg, "ec-384"), Json(ValidClaims()), "ES384", test::EcP384());
    ExpectRefused(*verifier, token, jwt_reason::kAlgNotAllowed);
  }
}

TEST_F(JwtVerifierRsaTest, RefusesTamperedPayload) {
  auto verifier = MakeVerifier();
  for (bool ec : {false, true}) {
    Claims claims = ValidClaims();
    std::string token = ec ? Es384(claims) : Rs384(claims);
    claims["attune_tenant"] = Str("tenant-b");
    std::vector<std::string> parts = absl::StrSplit(token, '.');
    parts[1] = test::B64(Json(claims));
    ExpectRefused(*verifier, absl::StrJoin(parts, "."),
                  jwt_reason::kBadSignature);
  }
}

TEST_F(JwtVerifierRsaTest, RefusesTamperedSignature) {
  auto verifier = MakeVerifier();
  for (bool ec : {false, true}) {
    std::string token = ec ? Es384(ValidClaims()) : Rs384(ValidClaims());
    std::vector<std::string> parts = absl::StrSplit(token, '.');
    std::string sig;
    ASSERT_TRUE(absl::WebSafeBase64Unescape(parts[2], &sig));
    sig[sig.size() / 2] ^= 0x01;
    parts[2] = test::B64(sig);
    ExpectRefused(*verifier, absl::StrJoin(parts, "."),
                  jwt_reason::kBadSignature);
  }
}

TEST_F(JwtVerifierTest, RefusesDerEncodedEcdsaSignature) {
  // A valid ECDSA signature in DER, not JOSE's fixed-length r||s.
  auto verifier = MakeVerifier();
  std::string input = absl::StrCat(test::B64(Header("ES384", "ec-384")), ".",
                                   test::B64(Json(ValidClaims())));
  std::string token = absl::StrCat(
      input, ".", test::DerEcdsaSignature(input, test::EcP384(), "SHA384"));
  ExpectRefused(*verifier, token, jwt_reason::kBadSignature);
}

TEST_F(JwtVerifierTest, RefusesUnknownOrMissingKid) {
  auto verifier = MakeVerifier();
  std::string unknown =
      test::SignToken(Header("ES384", "ec-retired"), Json(ValidClaims()),
                      "ES384", test::EcP384());
  ExpectRefused(*verifier, unknown, jwt_reason::kUnknownKid);
  std::string no_kid = test::SignToken(
      R"({"alg":"ES384"})", Json(ValidClaims()), "ES384", test::EcP384());
  ExpectRefused(*verifier, no_kid, jwt_reason::kMissingKid);
}

TEST_F(JwtVerifierRsaTest, RefusesAlgorithmThatDoesNotFitTheKey) {
  auto verifier = MakeVerifier();
  // ES384 header naming an RSA key.
  ExpectRefused(*verifier,
                test::SignToken(Header("ES384", "rsa-3072"),
                                Json(ValidClaims()), "ES384", test::EcP384()),
                jwt_reason::kAlgKeyMismatch);
  // RS256 with a key whose JWK says RS384.
  ExpectRefused(*verifier,
                test::SignToken(Header("RS256", "rsa-3072"),
                                Json(ValidClaims()), "RS256", test::Rsa3072()),
                jwt_reason::kAlgKeyMismatch);
  // ES256 naming the P-384 key.
  ExpectRefused(*verifier,
                test::SignToken(Header("ES256", "ec-384"), Json(ValidClaims()),
                                "ES256", test::EcP256()),
                jwt_reason::kAlgKeyMismatch);
}

TEST_F(JwtVerifierTest, RefusesMalformedTokens) {
  auto verifier = MakeVerifier();
  std::string good = Es384(ValidClaims());
  std::vector<std::string> parts = absl::StrSplit(good, '.');
  const std::string claims_b64 = test::B64(Json(ValidClaims()));

  ExpectRefused(*verifier, "", jwt_reason::kMalformed);
  ExpectRefused(*verifier, absl::StrCat(parts[0], ".", parts[1]),
                jwt_reason::kMalformed);
  ExpectRefused(*verifier, absl::StrCat(good, ".", parts[2]),
                jwt_reason::kMalformed);
  ExpectRefused(*verifier, absl::StrCat(parts[0], ".", parts[1], "."),
                jwt_reason::kMalformed);
  ExpectRefused(*verifier,
                absl::StrCat(parts[0], ".*", parts[1], ".", parts[2]),
                jwt_reason::kMalformed);
  ExpectRefused(*verifier,
                absl::StrCat(parts[0], ".", parts[1], ".", parts[2], "="),
                jwt_reason::kMalformed);
  ExpectRefused(*verifier, absl::StrCat(" ", good), jwt_reason::kMalformed);
  ExpectRefused(*verifier, absl::StrCat(good, "\n"), jwt_reason::kMalformed);
  ExpectRefused(
      *verifier,
      absl::StrCat(test::B64("not json"), ".", parts[1], ".", parts[2]),
      jwt_reason::kBadHeader);
  ExpectRefused(
      *verifier,
      absl::StrCat(test::B64(R"(["RS384"])"), ".", parts[1], ".", parts[2]),
      jwt_reason::kBadHeader);
  ExpectRefused(
      *verifier,
      absl::StrCat(parts[0], ".", test::B64("{\"sub\":"), ".", parts[2]),
      jwt_reason::kBadPayload);
  // A duplicate claim would let two parsers disagree about the token.
  ExpectRefused(
      *verifier,
      test::SignToken(Header("ES384", "ec-384"), R"({"sub":"a","sub":"b"})",
                      "ES384", test::EcP384()),
      jwt_reason::kBadPayload);

  Claims huge = ValidClaims();
  huge["padding"] = Str(std::string(kMaxTokenBytes, 'x'));
  ExpectRefused(*verifier, Es384(huge), jwt_reason::kTooLarge);
}

TEST_F(JwtVerifierTest, RefusesOtherTypAndCrit) {
  auto verifier = MakeVerifier();
  ExpectRefused(
      *verifier,
      test::SignToken(R"({"alg":"ES384","kid":"ec-384","typ":"JOSE+JSON"})",
                      Json(ValidClaims()), "ES384", test::EcP384()),
      jwt_reason::kBadType);
  ExpectRefused(*verifier,
                test::SignToken(
                    R"({"alg":"ES384","kid":"ec-384","crit":["exp"],"exp":1})",
                    Json(ValidClaims()), "ES384", test::EcP384()),
                jwt_reason::kCritNotSupported);
  // typ is case-insensitive and optional.
  EXPECT_TRUE(verifier
                  ->Verify(test::SignToken(
                      R"({"alg":"ES384","kid":"ec-384","typ":"jwt"})",
                      Json(ValidClaims()), "ES384", test::EcP384()))
                  .ok());
  EXPECT_TRUE(verifier
                  ->Verify(test::SignToken(R"({"alg":"ES384","kid":"ec-384"})",
                                           Json(ValidClaims()), "ES384",
                                           test::EcP384()))
                  .ok());
}

TEST_F(JwtVerifierTest, RefusesClaimsOfTheWrongType) {
  auto verifier = MakeVerifier();
  for (auto [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"exp", Str(Num(kStart + absl::Minutes(10)))},
           {"iat", "-1"},
           {"nbf", "1e300"},
           {"sub", "42"},
           {"aud", R"(["attune",7])"},
           {"jti", Str(std::string(300, 'j'))},
           {"attune_tenant", R"({"id":"tenant-a"})"},
           {"scope", "true"}}) {
    Claims claims = ValidClaims();
    claims[name] = value;
    SCOPED_TRACE(name);
    ExpectRefused(*verifier, Es384(claims), jwt_reason::kBadClaim);
  }
}

TEST_F(JwtVerifierTest, RefusesMissingRequiredClaims) {
  JwtVerifierOptions options;
  options.required_claims = {"sub", "attune_tenant"};
  auto verifier = MakeVerifier(options);
  for (const char* name : {"sub", "attune_tenant", "exp", "iat"}) {
    Claims claims = ValidClaims();
    claims.erase(std::string(name));
    SCOPED_TRACE(name);
    ExpectRefused(*verifier, Es384(claims), jwt_reason::kMissingClaim);
  }
}

TEST_F(JwtVerifierTest, ParseJwtIsPureAndReportsTheHeader) {
  std::string token = Es384(ValidClaims());
  absl::StatusOr<ParsedJwt> parsed = ParseJwt(token);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->alg, "ES384");
  EXPECT_EQ(parsed->kid, "ec-384");
  EXPECT_EQ(parsed->signature.size(), 96u);
  EXPECT_EQ(parsed->claims.sub, kSubject);
  EXPECT_TRUE(token.starts_with(parsed->signing_input + "."));
}

TEST_F(JwtVerifierTest, CreateRefusesBadOptions) {
  auto keys = Keys();
  auto create = [&](auto edit) {
    JwtVerifierOptions options;
    options.allowed_issuers = {kIssuer};
    options.audience = kAudience;
    edit(options);
    return JwtVerifier::Create(options, keys).status();
  };
  // The message of a refused option set, which must be INVALID_ARGUMENT.
  auto refused = [&](auto edit) {
    absl::Status status = create(edit);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    return std::string(status.message());
  };
  EXPECT_TRUE(create([](JwtVerifierOptions&) {}).ok());
  EXPECT_THAT(refused([](JwtVerifierOptions& o) { o.allowed_issuers.clear(); }),
              HasSubstr("allowed_issuers"));
  EXPECT_THAT(refused([](JwtVerifierOptions& o) { o.audience.clear(); }),
              HasSubstr("audience"));
  EXPECT_THAT(refused([](JwtVerifierOptions& o) {
                o.max_clock_skew = absl::Minutes(10);
              }),
              HasSubstr("max_clock_skew"));
  EXPECT_THAT(refused([](JwtVerifierOptions& o) {
                o.max_lifetime = absl::ZeroDuration();
              }),
              HasSubstr("max_lifetime"));
  EXPECT_THAT(
      refused([](JwtVerifierOptions& o) { o.replay_cache_max_entries = 0; }),
      HasSubstr("replay_cache_max_entries"));
}

}  // namespace
}  // namespace attune::auth
