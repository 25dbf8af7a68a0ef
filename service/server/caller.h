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
//
// Threading: Resolve may be called from any thread concurrently.
#ifndef ATTUNE_SERVICE_SERVER_CALLER_H_
#define ATTUNE_SERVICE_SERVER_CALLER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "attune/v1/config.pb.h"
#include "grpcpp/server_context.h"
#include "service/auth/jwt.h"

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
  // within one run of attuned and reveals nothing of the subject.
  std::string subject;
};

class CallerResolver {
 public:
  // Opens auth.jwks_file (errors name the field: "auth.jwks_file: ...")
  // when auth is configured. `clock` is the verifier's (tests).
  static absl::StatusOr<std::unique_ptr<CallerResolver>> Create(
      const v1::ServerConfig& config,
      auth::JwtVerifier::Clock clock = &absl::Now);

  // A resolver for no configuration: tenant "default", every role.
  CallerResolver() = default;

  // The caller of one call of `rpc`, or UNAUTHENTICATED / PERMISSION_DENIED
  // as described above. Logs every refusal.
  absl::StatusOr<Caller> Resolve(const grpc::ServerContextBase& ctx,
                                 Rpc rpc) const;

 private:
  // Null without auth.
  std::unique_ptr<auth::JwtVerifier> verifier_;
  bool token_required_ = false;
  bool tenant_from_certificate_ = false;
};

}  // namespace attune::server

#endif  // ATTUNE_SERVICE_SERVER_CALLER_H_
