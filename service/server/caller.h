// Who is calling: the tenant and roles of one RPC, from the bearer token
// (auth in the configuration) and the client certificate (tls with
// tenant_from_certificate), checked against the role the RPC needs.
//
//   ATTUNE_ASSIGN_OR_RETURN(auto resolver, CallerResolver::Create(config));
//   absl::StatusOr<Caller> caller = resolver->Resolve(*ctx, Rpc::kListPrompts);
//   if (!caller.ok()) return Finish(ToGrpcStatus(caller.status()));
//   ... every store access uses caller->tenant ...
//
// The rules, in order:
//  - A token ("authorization: Bearer <jwt>" metadata) is verified when auth is
//    configured; a missing one (when auth.required) or an invalid one is
//    UNAUTHENTICATED "authentication required", nothing more. The log gets a
//    reason code (service/auth/jwt.h, or missing_token, not_bearer,
//    no_tenant, certificate_without_tenant, bad_tenant: over 128 bytes, or
//    spaces or control characters), the RPC and the peer address; never the
//    token, its claims or the tenant.
//  - The tenant comes from the token's tenant claim and/or the client
//    certificate's "urn:attune:tenant:<name>" URI SAN (when
//    tls.tenant_from_certificate says so). Both present and different:
//    PERMISSION_DENIED "tenant of the token and the client certificate
//    differ". Neither: "default" when no tenant source is configured (the
//    loopback sidecar) or auth is not required and no token was sent;
//    otherwise UNAUTHENTICATED.
//  - Roles come from the token's roles claim. A caller without a token
//    (auth not configured, or not required) has every role: the transport
//    (loopback, mutual TLS) is its authorization. A missing role is
//    PERMISSION_DENIED "this call needs the <role> role".
//  - Single-use tokens (auth.single_use_tokens, default true): a token's jti
//    is accepted once per process for the token's lifetime; a second use is
//    UNAUTHENTICATED (reason replayed_jti), a token without jti too (no_jti).
//    The jti is used up once the signature and claims pass, even when the
//    call is then refused for its tenant, role or rate.
//  - Limits (LimitsConfig): a call whose deadline has already passed when it
//    arrives is DEADLINE_EXCEEDED before anything else (its token is not
//    used up). After the role check, the tenant's token bucket
//    (tenant_calls_per_second, tenant_burst; rate_limiter.h) is charged one
//    call; over the limit: RESOURCE_EXHAUSTED "rate limit for this tenant
//    exceeded; retry after <n> ms" with a google.rpc.RetryInfo detail
//    (status_conversion.h), and the call must do nothing. Refusals for rate
//    are logged at most once per 10 s per process, with a count.
//  Limits unset in the configuration (a config not built by the loader,
//  which merges defaults.textproto) are not applied.
//
// Threading: Resolve may be called from any thread concurrently.
#ifndef ATTUNE_SERVICE_SERVER_CALLER_H_
#define ATTUNE_SERVICE_SERVER_CALLER_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "attune/v1/config.pb.h"
#include "grpcpp/server_context.h"
#include "service/auth/jwt.h"
#include "service/server/rate_limiter.h"

namespace attune::server {

// The tenant every call uses when nothing names one (the sidecar case).
inline constexpr char kDefaultTenant[] = "default";

// The RPCs that touch tenant data; health checks and reflection are not
// among them and stay unauthenticated.
enum class Rpc {
  kSubmitEvent,
  kSubmitEvents,
  kRecordPromptFeedback,
  kGetAssessment,
  kListPrompts,
  kWatchPrompts,
  kListModules,
  kReloadModules,
  kCompareShadow,
  kEraseClient,
};

// The role names as they appear in the token's roles claim.
inline constexpr char kRoleIngest[] = "ingest";
inline constexpr char kRoleRead[] = "read";
inline constexpr char kRoleAdmin[] = "admin";

// The role `rpc` needs: kRoleIngest, kRoleRead or kRoleAdmin.
const char* RoleFor(Rpc rpc);
// "SubmitEvent", "RuleAdmin.ListModules", ... for log lines.
const char* RpcName(Rpc rpc);

struct Caller {
  // Every store key of the call starts with it. Never empty.
  std::string tenant;
  // The roles the caller holds (all three when it has no token).
  std::vector<std::string> roles;
  // A pseudonym of the token's issuer and subject ("tok:" + 16 hex digits)
  // or of the client certificate ("crt:..."), "local" with neither: for
  // audit lines. Keyed with a per-process random key, so it links calls
  // within one run of attuned and reveals nothing of the subject; with
  // CallerResolver::set_subject_pseudonym (storage keys configured), stable
  // across restarts.
  std::string subject;
  // When the call's work must stop: the client's deadline, capped at
  // limits.max_call_seconds from arrival for every RPC but WatchPrompts.
  // InfiniteFuture when neither applies. Compare with absl::Now().
  absl::Time deadline = absl::InfiniteFuture();
};

// The deadline of a call that arrived at `now` with the client's deadline
// `client` (InfiniteFuture: none), capped at `max_call` unless `stream`.
absl::Time CallDeadline(absl::Time client, absl::Time now,
                        absl::Duration max_call, bool stream);

class CallerResolver {
 public:
  // Opens auth.jwks_file (errors name the field: "auth.jwks_file: ...")
  // when auth is configured. `clock` is the token verifier's and the rate
  // limiter's (tests); deadlines always use the real clock, as gRPC does.
  static absl::StatusOr<std::unique_ptr<CallerResolver>> Create(
      const v1::ServerConfig& config,
      auth::JwtVerifier::Clock clock = &absl::Now);

  // A resolver for no configuration: tenant "default", every role.
  CallerResolver() = default;

  // The caller of one call of `rpc`, or UNAUTHENTICATED / PERMISSION_DENIED
  // / DEADLINE_EXCEEDED / RESOURCE_EXHAUSTED as described above. Logs every
  // refusal but expired deadlines (rate refusals throttled). `identified`,
  // when given, gets the tenant and subject as soon as they are established,
  // so that a call refused after that (missing role, rate limit) can still be
  // audited under them; it stays empty for refusals before (authentication).
  absl::StatusOr<Caller> Resolve(const grpc::ServerContextBase& ctx, Rpc rpc,
                                 Caller* identified = nullptr) const;

  // Makes Caller::subject "<kind>:" + fn(kind, what) ("tok", issuer and
  // subject; "crt", the certificate PEM) instead of the per-process keyed
  // hash, so the audit log names a caller alike across restarts
  // (audit_trail.h StableSubjectPseudonyms). Call before serving.
  using PseudonymFn = std::function<std::string(absl::string_view kind,
                                                absl::string_view what)>;
  void set_subject_pseudonym(PseudonymFn fn) {
    subject_pseudonym_ = std::move(fn);
  }

 private:
  // Null without auth.
  std::unique_ptr<auth::JwtVerifier> verifier_;
  bool token_required_ = false;
  bool tenant_from_certificate_ = false;
  // Null when tenant_calls_per_second is unset or 0.
  std::unique_ptr<TenantRateLimiter> rate_limiter_;
  absl::Duration max_call_ = absl::InfiniteDuration();
  // Empty: the per-process key.
  PseudonymFn subject_pseudonym_;
  std::string SubjectPseudonym(absl::string_view kind,
                               absl::string_view what) const;
};

}  // namespace attune::server

#endif  // ATTUNE_SERVICE_SERVER_CALLER_H_
