#include "service/server/caller.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpc/grpc_security_constants.h"
#include "service/common/log.h"
#include "service/ops/request_id.h"
#include "service/server/status_conversion.h"

namespace attune::server {
namespace {

constexpr char kTenantUriPrefix[] = "urn:attune:tenant:";
constexpr char kAuthenticationRequired[] = "authentication required";
constexpr char kBearerPrefix[] = "bearer ";

// Reason codes of refusals that are not the verifier's.
constexpr char kMissingToken[] = "missing_token";
constexpr char kNotBearer[] = "not_bearer";
constexpr char kNoTenant[] = "no_tenant";
constexpr char kCertificateWithoutTenant[] = "certificate_without_tenant";
constexpr char kTenantMismatch[] = "tenant_mismatch";
constexpr char kMissingRole[] = "missing_role";
constexpr char kBadTenant[] = "bad_tenant";
// The verifier's replay codes under the names AuthConfig documents.
constexpr char kReplayedJti[] = "replayed_jti";
constexpr char kNoJti[] = "no_jti";

// Rate-limit refusals are logged at most this often: a tenant over its limit
// must not turn into a flood of log lines.
constexpr absl::Duration kRateLogInterval = absl::Seconds(10);

// Tenants are identifiers chosen by the operator, never free text: a claim
// or certificate name that is long or holds control characters or spaces is
// refused rather than made a store key.
constexpr size_t kMaxTenantBytes = 128;
bool PlausibleTenant(absl::string_view tenant) {
  if (tenant.empty() || tenant.size() > kMaxTenantBytes) return false;
  for (char c : tenant) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

// The per-process key of subject pseudonyms.
const std::array<unsigned char, 32>& PseudonymKey() {
  static const std::array<unsigned char, 32> key = [] {
    std::array<unsigned char, 32> k{};
    if (RAND_bytes(k.data(), static_cast<int>(k.size())) != 1) {
      // Without randomness a pseudonym could be reversed by guessing.
      std::abort();
    }
    return k;
  }();
  return key;
}

std::string Pseudonym(absl::string_view kind, absl::string_view what) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t len = 0;
  const auto& key = PseudonymKey();
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(),
                key.size(), reinterpret_cast<const unsigned char*>(what.data()),
                what.size(), mac, sizeof(mac), &len) == nullptr) {
    return std::string(kind) + ":?";
  }
  return absl::StrCat(
      kind, ":",
      absl::BytesToHexString(absl::string_view(
          reinterpret_cast<const char*>(mac), std::min<size_t>(len, 8))));
}

absl::string_view ToView(grpc::string_ref s) { return {s.data(), s.size()}; }

// Logs a refusal: the code, the RPC and the peer address, nothing the
// caller sent.
void LogRefusal(const grpc::ServerContextBase& ctx, Rpc rpc,
                absl::string_view outcome, absl::string_view reason) {
  ATTUNE_LOG(WARNING) << "call refused" << LogField("outcome", outcome)
                      << LogField("reason", reason)
                      << LogField("rpc", RpcName(rpc))
                      << LogField("peer", ctx.peer())
                      << LogField("request_id", ops::RequestIdOf(ctx));
}

absl::Status Unauthenticated(const grpc::ServerContextBase& ctx, Rpc rpc,
                             absl::string_view reason) {
  LogRefusal(ctx, rpc, "unauthenticated", reason);
  return absl::UnauthenticatedError(kAuthenticationRequired);
}

// One line for the first rate-limit refusal and then at most one per
// kRateLogInterval, counting the refusals in between. Never the tenant.
void LogRateLimited(const grpc::ServerContextBase& ctx, Rpc rpc) {
  static absl::Mutex mu(absl::kConstInit);
  static absl::Time last_logged = absl::InfinitePast();
  static int64_t unlogged = 0;
  int64_t refused = 0;
  {
    absl::MutexLock lock(&mu);
    ++unlogged;
    const absl::Time now = absl::Now();
    if (now - last_logged < kRateLogInterval) return;
    last_logged = now;
    refused = unlogged;
    unlogged = 0;
  }
  ATTUNE_LOG(WARNING) << "call refused"
                      << LogField("outcome", "resource_exhausted")
                      << LogField("reason", "rate_limited")
                      << LogField("rpc", RpcName(rpc))
                      << LogField("peer", ctx.peer())
                      << LogField("request_id", ops::RequestIdOf(ctx))
                      << LogField("refused_since_last_report", refused);
}

// The client's deadline; InfiniteFuture without one.
absl::Time ClientDeadline(const grpc::ServerContextBase& ctx) {
  const std::chrono::system_clock::time_point deadline = ctx.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

// The tenants the client certificate names, and its leaf PEM.
struct CertificateIdentity {
  std::vector<std::string> tenants;
  std::string pem;
};

CertificateIdentity CertificateOf(const grpc::ServerContextBase& ctx) {
  CertificateIdentity id;
  std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  if (auth == nullptr) return id;
  for (const grpc::string_ref& uri :
       auth->FindPropertyValues(GRPC_PEER_URI_PROPERTY_NAME)) {
    absl::string_view value = ToView(uri);
    if (absl::StartsWith(value, kTenantUriPrefix)) {
      id.tenants.emplace_back(value.substr(sizeof(kTenantUriPrefix) - 1));
    }
  }
  for (const grpc::string_ref& pem :
       auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME)) {
    id.pem = std::string(ToView(pem));
  }
  return id;
}

// The bearer token of the call: nullopt without an authorization header;
// an empty string for one that is not "Bearer <token>".
std::optional<absl::string_view> BearerToken(
    const grpc::ServerContextBase& ctx) {
  const auto& metadata = ctx.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return std::nullopt;
  absl::string_view value = ToView(it->second);
  // The scheme is case-insensitive (RFC 7235).
  if (value.size() <= sizeof(kBearerPrefix) - 1 ||
      !absl::StartsWithIgnoreCase(value, kBearerPrefix)) {
    return absl::string_view();
  }
  return absl::StripAsciiWhitespace(value.substr(sizeof(kBearerPrefix) - 1));
}

}  // namespace

const char* RoleFor(Rpc rpc) {
  switch (rpc) {
    case Rpc::kSubmitEvent:
    case Rpc::kSubmitEvents:
    case Rpc::kRecordPromptFeedback:
      return kRoleIngest;
    case Rpc::kGetAssessment:
    case Rpc::kListPrompts:
    case Rpc::kWatchPrompts:
      return kRoleRead;
    case Rpc::kListModules:
    case Rpc::kReloadModules:
    case Rpc::kCompareShadow:
    case Rpc::kEraseClient:
      return kRoleAdmin;
  }
  return kRoleAdmin;
}

const char* RpcName(Rpc rpc) {
  switch (rpc) {
    case Rpc::kSubmitEvent:
      return "SubmitEvent";
    case Rpc::kSubmitEvents:
      return "SubmitEvents";
    case Rpc::kRecordPromptFeedback:
      return "RecordPromptFeedback";
    case Rpc::kGetAssessment:
      return "GetAssessment";
    case Rpc::kListPrompts:
      return "ListPrompts";
    case Rpc::kWatchPrompts:
      return "WatchPrompts";
    case Rpc::kListModules:
      return "RuleAdmin.ListModules";
    case Rpc::kReloadModules:
      return "RuleAdmin.ReloadModules";
    case Rpc::kCompareShadow:
      return "RuleAdmin.CompareShadow";
    case Rpc::kEraseClient:
      return "DataAdmin.EraseClient";
  }
  return "unknown";
}

absl::Time CallDeadline(absl::Time client, absl::Time now,
                        absl::Duration max_call, bool stream) {
  if (stream) return client;
  return std::min(client, now + max_call);
}

absl::StatusOr<std::unique_ptr<CallerResolver>> CallerResolver::Create(
    const v1::ServerConfig& config, auth::JwtVerifier::Clock clock) {
  auto resolver = std::make_unique<CallerResolver>();
  resolver->tenant_from_certificate_ =
      config.tls().tenant_from_certificate() ==
      v1::TlsConfig::CERTIFICATE_TENANT_URI_SAN;
  const v1::LimitsConfig& limits = config.limits();
  if (limits.has_max_call_seconds()) {
    resolver->max_call_ = absl::Seconds(limits.max_call_seconds());
  }
  if (limits.tenant_calls_per_second() > 0) {
    RateLimitOptions options;
    options.calls_per_second = limits.tenant_calls_per_second();
    options.burst = limits.has_tenant_burst()
                        ? limits.tenant_burst()
                        : std::max(1.0, options.calls_per_second);
    resolver->rate_limiter_ =
        std::make_unique<TenantRateLimiter>(options, clock);
  }
  if (!config.has_auth()) return resolver;
  const v1::AuthConfig& a = config.auth();
  resolver->token_required_ = !a.has_required() || a.required();
  auth::JwtVerifierOptions options;
  options.allowed_issuers.assign(a.issuers().begin(), a.issuers().end());
  options.audience = a.audience();
  if (a.has_max_clock_skew_seconds()) {
    options.max_clock_skew = absl::Seconds(a.max_clock_skew_seconds());
  }
  options.tenant_claim =
      a.has_tenant_claim() ? a.tenant_claim() : std::string("attune_tenant");
  options.roles_claim =
      a.has_roles_claim() ? a.roles_claim() : std::string("roles");
  // Single-use tokens (the CDS Hooks model) unless the operator lets a
  // client reuse its token until it expires; jti is then optional.
  options.replay_cache = !a.has_single_use_tokens() || a.single_use_tokens();
  absl::StatusOr<std::unique_ptr<auth::JwksFile>> keys =
      auth::JwksFile::Open(a.jwks_file(), clock);
  if (!keys.ok()) {
    return absl::Status(
        keys.status().code(),
        absl::StrCat("auth.jwks_file: ", keys.status().message()));
  }
  absl::StatusOr<std::unique_ptr<auth::JwtVerifier>> verifier =
      auth::JwtVerifier::Create(
          std::move(options),
          std::shared_ptr<auth::KeySetSource>(*std::move(keys)),
          std::move(clock));
  if (!verifier.ok()) {
    return absl::Status(verifier.status().code(),
                        absl::StrCat("auth.", verifier.status().message()));
  }
  resolver->verifier_ = *std::move(verifier);
  return resolver;
}

std::string CallerResolver::SubjectPseudonym(absl::string_view kind,
                                             absl::string_view what) const {
  if (!subject_pseudonym_) return Pseudonym(kind, what);
  return absl::StrCat(kind, ":", subject_pseudonym_(kind, what));
}

absl::StatusOr<Caller> CallerResolver::Resolve(
    const grpc::ServerContextBase& ctx, Rpc rpc, Caller* identified) const {
  // Before anything that costs work or uses up the token's jti.
  const absl::Time arrived = absl::Now();
  const absl::Time client_deadline = ClientDeadline(ctx);
  if (client_deadline <= arrived) {
    return absl::DeadlineExceededError(
        "deadline exceeded before the call started");
  }

  Caller caller;
  std::optional<auth::VerifiedToken> token;
  if (verifier_ != nullptr) {
    std::optional<absl::string_view> bearer = BearerToken(ctx);
    if (!bearer.has_value()) {
      if (token_required_) return Unauthenticated(ctx, rpc, kMissingToken);
    } else if (bearer->empty()) {
      return Unauthenticated(ctx, rpc, kNotBearer);
    } else {
      absl::StatusOr<auth::VerifiedToken> verified =
          verifier_->Verify(std::string_view(bearer->data(), bearer->size()));
      // The verifier's message is exactly a reason code.
      if (!verified.ok()) {
        absl::string_view reason = verified.status().message();
        if (reason == auth::jwt_reason::kReplayed) {
          reason = kReplayedJti;
        } else if (reason == auth::jwt_reason::kMissingJti) {
          reason = kNoJti;
        }
        return Unauthenticated(ctx, rpc, reason);
      }
      token = *std::move(verified);
    }
  }

  std::optional<std::string> certificate_tenant;
  std::string certificate_pem;
  if (tenant_from_certificate_) {
    CertificateIdentity id = CertificateOf(ctx);
    if (id.tenants.size() != 1) {
      return Unauthenticated(ctx, rpc, kCertificateWithoutTenant);
    }
    certificate_tenant = id.tenants[0];
    certificate_pem = std::move(id.pem);
  }

  if ((token.has_value() && !token->tenant.empty() &&
       !PlausibleTenant(token->tenant)) ||
      (certificate_tenant.has_value() &&
       !PlausibleTenant(*certificate_tenant))) {
    return Unauthenticated(ctx, rpc, kBadTenant);
  }
  if (token.has_value() && !token->tenant.empty()) {
    if (certificate_tenant.has_value() &&
        *certificate_tenant != token->tenant) {
      LogRefusal(ctx, rpc, "permission_denied", kTenantMismatch);
      return absl::PermissionDeniedError(
          "tenant of the token and the client certificate differ");
    }
    caller.tenant = token->tenant;
  } else if (certificate_tenant.has_value()) {
    caller.tenant = *certificate_tenant;
  } else if (token.has_value()) {
    // A token that names no tenant, and no certificate that does.
    return Unauthenticated(ctx, rpc, kNoTenant);
  } else {
    caller.tenant = kDefaultTenant;
  }

  if (token.has_value()) {
    caller.roles = token->roles;
    caller.subject = SubjectPseudonym(
        "tok", absl::StrCat(token->issuer, "\n", token->subject));
  } else {
    caller.roles = {kRoleIngest, kRoleRead, kRoleAdmin};
    caller.subject = certificate_pem.empty()
                         ? std::string("local")
                         : SubjectPseudonym("crt", certificate_pem);
  }
  if (identified != nullptr) {
    identified->tenant = caller.tenant;
    identified->subject = caller.subject;
  }
  const char* needed = RoleFor(rpc);
  if (std::find(caller.roles.begin(), caller.roles.end(), needed) ==
      caller.roles.end()) {
    ATTUNE_LOG(WARNING) << "call refused"
                        << LogField("outcome", "permission_denied")
                        << LogField("reason", kMissingRole)
                        << LogField("role", needed)
                        << LogField("rpc", RpcName(rpc))
                        << LogField("subject", caller.subject)
                        << LogField("peer", ctx.peer())
                        << LogField("request_id", ops::RequestIdOf(ctx));
    return absl::PermissionDeniedError(
        absl::StrCat("this call needs the ", needed, " role"));
  }

  if (rate_limiter_ != nullptr) {
    const absl::Duration wait = rate_limiter_->Acquire(caller.tenant);
    if (wait > absl::ZeroDuration()) {
      LogRateLimited(ctx, rpc);
      const int64_t ms = std::max<int64_t>(
          1,
          absl::ToInt64Milliseconds(absl::Ceil(wait, absl::Milliseconds(1))));
      absl::Status limited = absl::ResourceExhaustedError(absl::StrCat(
          "rate limit for this tenant exceeded; retry after ", ms, " ms"));
      SetRetryDelay(limited, absl::Milliseconds(ms));
      return limited;
    }
  }
  caller.deadline = CallDeadline(client_deadline, arrived, max_call_,
                                 /*stream=*/rpc == Rpc::kWatchPrompts);
  return caller;
}

}  // namespace attune::server
