// Transport security, caller identity and tenant isolation through the real
// attuned: TLS and mutual TLS with certificates made here, bearer JWTs signed
// here (RS384, ES384; single-use by default, so clients sign a fresh one per
// call), roles per RPC, and two tenants that cannot see, change or infer each
// other's data.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "attune/v1/rule_admin.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/attuned_process.h"
#include "tests/integration/episode_script.h"
#include "tests/integration/test_pki.h"
#include "tests/integration/test_tokens.h"

namespace attune::testing {
namespace {

constexpr char kIssuer[] = "https://idp.test";
constexpr char kTenantA[] = "clinic-a";
constexpr char kTenantB[] = "clinic-b";
constexpr char kCheckRupture[] = "attune.rupture/check_rupture";

std::string TenantUri(const std::string& tenant) {
  return "urn:attune:tenant:" + tenant;
}

// A client: its channel and, with auth, the token each call carries.
struct Client {
  // The same token on every call; none when empty.
  Client(std::shared_ptr<grpc::Channel> c, std::string token = "")
      : channel(std::move(c)),
        mint([token = std::move(token)] { return token; }) {}
  // A token from `m` for every call (single-use tokens: a fresh one each).
  Client(std::shared_ptr<grpc::Channel> c, std::function<std::string()> m)
      : channel(std::move(c)), mint(std::move(m)) {}

  std::shared_ptr<grpc::Channel> channel;
  std::function<std::string()> mint;

  std::string Token() const { return mint(); }
  std::unique_ptr<grpc::ClientContext> Ctx() const {
    std::unique_ptr<grpc::ClientContext> ctx = Context();
    const std::string token = mint();
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
    return ctx;
  }
  std::unique_ptr<v1::AllianceService::Stub> Stub() const {
    return v1::AllianceService::NewStub(channel);
  }
  std::unique_ptr<v1::RuleAdmin::Stub> Admin() const {
    return v1::RuleAdmin::NewStub(channel);
  }

  grpc::Status Submit(const v1::SessionEvent& event,
                      v1::SubmitEventResponse* resp = nullptr) const {
    v1::SubmitEventRequest req;
    *req.mutable_event() = event;
    v1::SubmitEventResponse ignored;
    return Stub()->SubmitEvent(Ctx().get(), req, resp ? resp : &ignored);
  }
  grpc::Status Assess(const std::string& episode_id,
                      v1::GetAssessmentResponse* resp = nullptr) const {
    v1::GetAssessmentRequest req;
    req.set_episode_id(episode_id);
    v1::GetAssessmentResponse ignored;
    return Stub()->GetAssessment(Ctx().get(), req, resp ? resp : &ignored);
  }
  grpc::Status ListModules(v1::ListModulesResponse* resp) const {
    return Admin()->ListModules(Ctx().get(), v1::ListModulesRequest(), resp);
  }
};

// A course that goes well for four sessions, then a challenging session
// with a sharp drop: raises attune.rupture/check_rupture.
std::vector<v1::SessionEvent> RuptureCourse(EpisodeScript& s) {
  std::vector<v1::SessionEvent> events;
  const double srs[] = {37, 38.5, 38, 39};
  for (int n = 1; n <= 4; ++n) {
    events.push_back(s.Held(n));
    events.push_back(s.Srs(n, srs[n - 1]));
    if (n == 2) events.push_back(s.Goals(2));
  }
  events.push_back(s.Held(5, true));
  events.push_back(s.Srs(5, 30));
  return events;
}

const v1::Prompt* FindPrompt(const v1::SubmitEventResponse& r,
                             const std::string& kind) {
  for (const v1::Prompt& p : r.prompts()) {
    if (p.kind() == kind) return &p;
  }
  return nullptr;
}

EpisodeScript ScriptFor(const std::string& client) {
  // Recent, so prompts have not expired when read.
  return EpisodeScript(client, "clin-shared", "ep-shared",
                       absl::Now() - absl::Hours(24 * 7 * 5));
}

class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("security");
    server_pem_ = ca_.IssueServer();
    ASSERT_TRUE(WriteFile(Path("ca.pem"), ca_.cert()));
    ASSERT_TRUE(WriteFile(Path("server.pem"), server_pem_.cert));
    ASSERT_TRUE(WriteFile(Path("server.key"), server_pem_.key));
    ASSERT_TRUE(WriteFile(Path("jwks.json"), TestJwks()));
  }

  void TearDown() override {
    // Channels first: a graceful shutdown waits for idle connections.
    clients_.clear();
    if (server_ != nullptr) {
      EXPECT_EQ(server_->Stop(), 0) << server_->Log();
    }
  }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  std::string TlsConfig(bool mutual) const {
    std::string text =
        absl::StrCat("tls {\n  cert_file: \"", Path("server.pem"),
                     "\"\n  key_file: \"", Path("server.key"), "\"\n");
    if (mutual) {
      absl::StrAppend(&text, "  client_ca_file: \"", Path("ca.pem"),
                      "\"\n  tenant_from_certificate: "
                      "CERTIFICATE_TENANT_URI_SAN\n");
    }
    return text + "}\n";
  }

  // `extra`: more fields of the auth block.
  std::string AuthConfig(const std::string& extra = "") const {
    return TestAuthConfig(Path("jwks.json"), extra);
  }

  // Starts attuned with `config` as its configuration file.
  // Synthetic data: no storage keys needed (allow_plaintext).
  bool StartServer(const std::string& config,
                   std::vector<std::string> extra_args = {}) {
    if (!WriteFile(Path("attuned.textproto"),
                   "store { allow_plaintext: true }\n" + config)) {
      return false;
    }
    std::vector<std::string> args = {"--config", Path("attuned.textproto")};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    server_ = std::make_unique<AttunedProcess>(dir_, std::move(args));
    return server_->Start();
  }

  std::string Target() const { return server_->address(); }

  // A channel that trusts `ca_pem` (default: the test CA) and presents
  // `client` when given.
  std::shared_ptr<grpc::Channel> TlsChannel(
      const PemPair* client = nullptr, const std::string* ca_pem = nullptr) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ca_pem ? *ca_pem : ca_.cert();
    if (client != nullptr) {
      options.pem_cert_chain = client->cert;
      options.pem_private_key = client->key;
    }
    return Keep(grpc::CreateChannel(Target(), grpc::SslCredentials(options)));
  }

  std::shared_ptr<grpc::Channel> PlainChannel() {
    return Keep(
        grpc::CreateChannel(Target(), grpc::InsecureChannelCredentials()));
  }

  std::shared_ptr<grpc::Channel> Keep(std::shared_ptr<grpc::Channel> channel) {
    clients_.push_back(channel);
    return channel;
  }

  // A signed token, issued now, valid for `lifetime` (negative: expired
  // that long ago), with a fresh jti (none when `jti` is empty).
  static std::string Token(const std::string& tenant,
                           const std::vector<std::string>& roles,
                           const std::string& alg = "RS384",
                           const std::string& issuer = kIssuer,
                           absl::Duration lifetime = absl::Minutes(10),
                           std::optional<std::string> jti = std::nullopt) {
    return MintToken({.tenant = tenant,
                      .roles = roles,
                      .alg = alg,
                      .issuer = issuer,
                      .lifetime = lifetime,
                      .jti = std::move(jti)});
  }

  // Signs a fresh token for every call.
  static std::function<std::string()> Fresh(
      const std::string& tenant, const std::vector<std::string>& roles,
      const std::string& alg = "RS384") {
    return [=] { return Token(tenant, roles, alg); };
  }

  static std::vector<std::string> AllRoles() {
    return {"ingest", "read", "admin"};
  }

  TestCa ca_{"attune test CA"};
  PemPair server_pem_;
  std::string dir_;
  std::unique_ptr<AttunedProcess> server_;
  std::vector<std::shared_ptr<grpc::Channel>> clients_;
};

// --- TLS -------------------------------------------------------------------

TEST_F(SecurityTest, TlsServerRefusesPlaintextAndServesVerifiedTlsClients) {
  ASSERT_TRUE(StartServer(TlsConfig(/*mutual=*/false))) << server_->Log();
  EXPECT_NE(server_->Log().find("transport=tls"), std::string::npos);

  Client plain{PlainChannel(), ""};
  EXPECT_EQ(plain.Assess("ep-none").error_code(),
            grpc::StatusCode::UNAVAILABLE);

  TestCa other("another CA");
  const std::string other_ca = other.cert();
  Client wrong_ca{TlsChannel(nullptr, &other_ca), ""};
  EXPECT_EQ(wrong_ca.Assess("ep-none").error_code(),
            grpc::StatusCode::UNAVAILABLE);

  // No tenant source configured: the tenant is "default", every role.
  Client tls{TlsChannel(), ""};
  EpisodeScript s = ScriptFor("client-tls");
  ASSERT_TRUE(tls.Submit(s.Held(1)).ok());
  v1::GetAssessmentResponse resp;
  ASSERT_TRUE(tls.Assess("ep-shared", &resp).ok());
  EXPECT_EQ(resp.assessment().event_count(), 1);
  v1::ListModulesResponse modules;
  EXPECT_TRUE(tls.ListModules(&modules).ok());
}

// Connects to 127.0.0.1:port and runs a TLS handshake with OpenSSL, offering
// only versions up to `max_version`. True when the handshake completes.
bool HandshakeSucceeds(int port, int max_version, const std::string& ca_pem) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return false;
  // Security level 0: let this client really offer TLS 1.0/1.1, so it is the
  // server that refuses them.
  SSL_CTX_set_security_level(ctx, 0);
  SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
  SSL_CTX_set_max_proto_version(ctx, max_version);
  static const unsigned char kAlpn[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof kAlpn);
  BIO* bio = BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size()));
  X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca);
  X509_free(ca);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);

  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    ok = SSL_connect(ssl) == 1;
    if (ok) ok = SSL_version(ssl) >= TLS1_2_VERSION;
    SSL_free(ssl);
  }
  close(fd);
  SSL_CTX_free(ctx);
  return ok;
}

// gRPC 1.51 has no setting for the minimum TLS version: its OpenSSL
// handshaker allows 1.2 and 1.3 only. This pins that down.
TEST_F(SecurityTest, TlsOlderThan12IsRefused) {
  ASSERT_TRUE(StartServer(TlsConfig(/*mutual=*/false))) << server_->Log();
  EXPECT_FALSE(HandshakeSucceeds(server_->port(), TLS1_1_VERSION, ca_.cert()));
  EXPECT_FALSE(HandshakeSucceeds(server_->port(), TLS1_VERSION, ca_.cert()));
  // The same client offering TLS 1.2 gets through: the refusal above is
  // about the version.
  EXPECT_TRUE(HandshakeSucceeds(server_->port(), TLS1_2_VERSION, ca_.cert()));
}

TEST_F(SecurityTest, NonLoopbackListenIsAllowedWithTls) {
  ASSERT_TRUE(
      StartServer(TlsConfig(/*mutual=*/false), {"--listen", "0.0.0.0:0"}))
      << server_->Log();
  EXPECT_EQ(server_->Log().find("INSECURE"), std::string::npos);
  Client tls{TlsChannel(), ""};
  EXPECT_EQ(tls.Assess("ep-none").error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(SecurityTest, NonLoopbackListenWithoutTlsIsRefused) {
  EXPECT_FALSE(StartServer("", {"--listen", "0.0.0.0:0"}));
  EXPECT_EQ(server_->Stop(), 1);
  EXPECT_NE(server_->Log().find("listen_address: is not a loopback address "
                                "and tls is not configured"),
            std::string::npos)
      << server_->Log();
  server_.reset();
}

TEST_F(SecurityTest, MissingCertificateFileStopsStartupNamingTheField) {
  std::string config = TlsConfig(false);
  config.replace(config.find("server.pem"), 10, "absent.pem");
  EXPECT_FALSE(StartServer(config));
  EXPECT_EQ(server_->Stop(), 1);
  EXPECT_NE(server_->Log().find("tls.cert_file: cannot read"),
            std::string::npos)
      << server_->Log();
  server_.reset();
}

// --- Mutual TLS --------------------------------------------------------------

TEST_F(SecurityTest, MutualTlsRefusesClientsWithoutACertificate) {
  ASSERT_TRUE(StartServer(TlsConfig(/*mutual=*/true))) << server_->Log();
  Client anonymous{TlsChannel(), ""};
  EXPECT_EQ(anonymous.Assess("ep-none").error_code(),
            grpc::StatusCode::UNAVAILABLE);
  // A certificate from another CA is no better.
  TestCa other("another CA");
  PemPair foreign = other.IssueClient("a", {TenantUri(kTenantA)});
  Client stranger{TlsChannel(&foreign), ""};
  EXPECT_EQ(stranger.Assess("ep-none").error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(SecurityTest, MutualTlsTakesTheTenantFromTheCertificate) {
  ASSERT_TRUE(StartServer(TlsConfig(/*mutual=*/true))) << server_->Log();
  PemPair cert_a = ca_.IssueClient("client a", {TenantUri(kTenantA)});
  PemPair cert_b = ca_.IssueClient("client b", {TenantUri(kTenantB)});
  Client a{TlsChannel(&cert_a), ""};
  Client b{TlsChannel(&cert_b), ""};

  EpisodeScript s = ScriptFor("client-a");
  ASSERT_TRUE(a.Submit(s.Held(1)).ok());
  EXPECT_TRUE(a.Assess("ep-shared").ok());
  EXPECT_EQ(b.Assess("ep-shared").error_code(), grpc::StatusCode::NOT_FOUND);

  // A certificate that names no tenant gets nothing.
  PemPair nameless = ca_.IssueClient("nameless", {});
  Client c{TlsChannel(&nameless), ""};
  grpc::Status st = c.Assess("ep-shared");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(st.error_message(), "authentication required");
  EXPECT_NE(server_->Log().find("reason=certificate_without_tenant"),
            std::string::npos)
      << server_->Log();
}

TEST_F(SecurityTest, TokenAndCertificateMustNameTheSameTenant) {
  ASSERT_TRUE(StartServer(TlsConfig(/*mutual=*/true) + AuthConfig()))
      << server_->Log();
  PemPair cert_a = ca_.IssueClient("client a", {TenantUri(kTenantA)});
  Client agree{TlsChannel(&cert_a), Fresh(kTenantA, AllRoles())};
  EXPECT_EQ(agree.Assess("ep-none").error_code(), grpc::StatusCode::NOT_FOUND);
  // A token without a tenant claim takes the certificate's.
  Client no_claim{TlsChannel(&cert_a), Fresh("", AllRoles())};
  EXPECT_EQ(no_claim.Assess("ep-none").error_code(),
            grpc::StatusCode::NOT_FOUND);

  Client disagree{TlsChannel(&cert_a), Fresh(kTenantB, AllRoles())};
  grpc::Status st = disagree.Assess("ep-none");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(server_->Log().find("reason=tenant_mismatch"), std::string::npos);
}

// --- Bearer tokens ----------------------------------------------------------

TEST_F(SecurityTest, MissingOrBadTokenIsUnauthenticatedWithoutDetail) {
  ASSERT_TRUE(StartServer(AuthConfig())) << server_->Log();
  Client none{PlainChannel(), ""};
  grpc::Status st = none.Assess("ep-none");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(st.error_message(), "authentication required");
  EXPECT_NE(server_->Log().find("reason=missing_token"), std::string::npos);

  // Valid but for one signature character (not the last, whose low bits
  // are padding).
  std::string tampered = Token(kTenantA, AllRoles());
  char& flipped = tampered[tampered.size() - 10];
  flipped = flipped == 'A' ? 'B' : 'A';
  const std::string expired =
      Token(kTenantA, AllRoles(), "ES384", kIssuer, -absl::Minutes(10));
  const std::string wrong_issuer =
      Token(kTenantA, AllRoles(), "RS384", "https://evil.test");
  struct Case {
    std::string token;
    const char* reason;
  };
  for (const Case& c :
       {Case{tampered, "bad_signature"}, Case{expired, "expired"},
        Case{wrong_issuer, "issuer_not_allowed"},
        Case{Token("clinic a", AllRoles()), "bad_tenant"},
        Case{"not-a-jwt", "malformed"}}) {
    Client client{PlainChannel(), c.token};
    grpc::Status bad = client.Assess("ep-none");
    EXPECT_EQ(bad.error_code(), grpc::StatusCode::UNAUTHENTICATED) << c.reason;
    EXPECT_EQ(bad.error_message(), "authentication required") << c.reason;
    const std::string log = server_->Log();
    EXPECT_NE(log.find(absl::StrCat("reason=", c.reason)), std::string::npos)
        << c.reason << "\n"
        << log;
    EXPECT_EQ(log.find(c.token), std::string::npos) << c.reason;
    // Not even the signature or the payload alone.
    for (absl::string_view part : absl::StrSplit(c.token, '.')) {
      if (part.size() > 8) {
        EXPECT_EQ(log.find(std::string(part)), std::string::npos) << c.reason;
      }
    }
  }
  // Every call of both services is covered, streams included.
  v1::WatchPromptsRequest watch;
  watch.set_episode_id("ep-none");
  grpc::ClientContext ctx;
  auto reader = none.Stub()->WatchPrompts(&ctx, watch);
  v1::PromptUpdate update;
  EXPECT_FALSE(reader->Read(&update));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  v1::ListModulesResponse modules;
  EXPECT_EQ(none.ListModules(&modules).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  // Health stays open: load balancers and probes carry no token.
  auto health = grpc::health::v1::Health::NewStub(none.channel);
  grpc::health::v1::HealthCheckResponse resp;
  EXPECT_TRUE(health
                  ->Check(Context().get(),
                          grpc::health::v1::HealthCheckRequest(), &resp)
                  .ok());
}

TEST_F(SecurityTest, Rs384AndEs384TokensCarryTenantAndRoles) {
  ASSERT_TRUE(StartServer(AuthConfig())) << server_->Log();
  Client rs{PlainChannel(), Fresh(kTenantA, AllRoles(), "RS384")};
  Client es{PlainChannel(), Fresh(kTenantA, AllRoles(), "ES384")};
  EpisodeScript s = ScriptFor("client-a");
  ASSERT_TRUE(rs.Submit(s.Held(1)).ok());
  v1::GetAssessmentResponse resp;
  ASSERT_TRUE(es.Assess("ep-shared", &resp).ok());
  EXPECT_EQ(resp.assessment().event_count(), 1);
}

// Single-use tokens (the default): a replayed token is refused like any bad
// one, a fresh jti goes through, and a token without jti is refused.
TEST_F(SecurityTest, ReplayedTokenIsUnauthenticated) {
  ASSERT_TRUE(StartServer(AuthConfig())) << server_->Log();
  const std::string token = Token(kTenantA, AllRoles());
  Client once{PlainChannel(), token};
  EXPECT_EQ(once.Assess("ep-none").error_code(), grpc::StatusCode::NOT_FOUND);

  grpc::Status replayed = once.Assess("ep-none");
  EXPECT_EQ(replayed.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(replayed.error_message(), "authentication required");
  // Also on another connection and another RPC.
  Client thief{PlainChannel(), token};
  EpisodeScript s = ScriptFor("client-a");
  EXPECT_EQ(thief.Submit(s.Held(1)).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  std::string log = server_->Log();
  EXPECT_NE(log.find("reason=replayed_jti"), std::string::npos) << log;
  EXPECT_EQ(log.find(token), std::string::npos);

  // The refused replay stored nothing; a fresh token (new jti) works.
  Client fresh{PlainChannel(), Fresh(kTenantA, AllRoles())};
  EXPECT_EQ(fresh.Assess("ep-shared").error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(fresh.Submit(s.Held(1)).ok());

  Client no_jti{PlainChannel(), Token(kTenantA, AllRoles(), "ES384", kIssuer,
                                      absl::Minutes(10), /*jti=*/"")};
  grpc::Status refused = no_jti.Assess("ep-shared");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(refused.error_message(), "authentication required");
  log = server_->Log();
  EXPECT_NE(log.find("reason=no_jti"), std::string::npos) << log;
}

// single_use_tokens: false: one token for many calls, jti optional.
TEST_F(SecurityTest, ReusableTokensWhenSingleUseIsOff) {
  ASSERT_TRUE(StartServer(AuthConfig("single_use_tokens: false")))
      << server_->Log();
  Client with_jti{PlainChannel(), Token(kTenantA, AllRoles())};
  Client without_jti{PlainChannel(),
                     Token(kTenantA, AllRoles(), "ES384", kIssuer,
                           absl::Minutes(10), /*jti=*/"")};
  EpisodeScript s = ScriptFor("client-a");
  ASSERT_TRUE(with_jti.Submit(s.Held(1)).ok());
  ASSERT_TRUE(without_jti.Submit(s.Held(2)).ok());
  v1::GetAssessmentResponse resp;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(with_jti.Assess("ep-shared", &resp).ok()) << i;
    ASSERT_TRUE(without_jti.Assess("ep-shared", &resp).ok()) << i;
  }
  EXPECT_EQ(resp.assessment().event_count(), 2);
}

TEST_F(SecurityTest, MissingRoleIsPermissionDeniedNamingTheRole) {
  ASSERT_TRUE(StartServer(AuthConfig())) << server_->Log();
  Client reader{PlainChannel(), Fresh(kTenantA, {"read"})};
  Client ingester{PlainChannel(), Fresh(kTenantA, {"ingest"})};
  EpisodeScript s = ScriptFor("client-a");

  grpc::Status st = reader.Submit(s.Held(1));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(st.error_message(), "this call needs the ingest role");
  ASSERT_TRUE(ingester.Submit(s.Held(1)).ok());

  st = ingester.Assess("ep-shared");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(st.error_message(), "this call needs the read role");
  EXPECT_TRUE(reader.Assess("ep-shared").ok());

  v1::ListModulesResponse modules;
  st = reader.ListModules(&modules);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(st.error_message(), "this call needs the admin role");
  EXPECT_NE(server_->Log().find("reason=missing_role"), std::string::npos);
}

// --- Tenant isolation -------------------------------------------------------

// Two tenants on one server (tenant from the token), the same episode,
// clinician and event ids: B can neither read, change nor infer A's data.
TEST_F(SecurityTest, TenantsCannotReadWriteOrInferEachOthersData) {
  ASSERT_TRUE(StartServer(AuthConfig())) << server_->Log();
  Client a{PlainChannel(), Fresh(kTenantA, AllRoles())};
  Client b{PlainChannel(), Fresh(kTenantB, AllRoles(), "ES384")};

  // B watches the clinician's prompts throughout. Its own episode's rupture
  // arriving on the stream shows the watch is live before A writes.
  grpc::ClientContext b_watch_ctx;
  b_watch_ctx.AddMetadata("authorization", "Bearer " + b.Token());
  b_watch_ctx.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(60));
  v1::WatchPromptsRequest watch;
  watch.set_clinician_id("clin-shared");
  auto b_watch = b.Stub()->WatchPrompts(&b_watch_ctx, watch);
  EpisodeScript sb("client-b", "clin-shared", "ep-b-own",
                   absl::Now() - absl::Hours(24 * 7 * 5));
  v1::SubmitEventResponse last;
  for (const v1::SessionEvent& e : RuptureCourse(sb)) {
    ASSERT_TRUE(b.Submit(e, &last).ok());
  }
  const v1::Prompt* b_rupture = FindPrompt(last, kCheckRupture);
  ASSERT_NE(b_rupture, nullptr);
  const std::string b_prompt_id = b_rupture->id();
  v1::PromptUpdate update;
  bool b_live = false;
  while (!b_live && b_watch->Read(&update)) {
    b_live = update.prompt().id() == b_prompt_id;
  }
  ASSERT_TRUE(b_live);

  EpisodeScript sa = ScriptFor("client-a");
  const std::vector<v1::SessionEvent> a_events = RuptureCourse(sa);
  for (const v1::SessionEvent& e : a_events) {
    ASSERT_TRUE(a.Submit(e, &last).ok());
  }
  const v1::Prompt* a_rupture = FindPrompt(last, kCheckRupture);
  ASSERT_NE(a_rupture, nullptr);
  const std::string a_prompt_id = a_rupture->id();

  // GetAssessment: exactly what a never-seen episode gives.
  grpc::Status unseen = b.Assess("ep-never-seen");
  grpc::Status foreign = b.Assess("ep-shared");
  EXPECT_EQ(foreign.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(foreign.error_code(), unseen.error_code());
  EXPECT_EQ(foreign.error_message(), unseen.error_message());

  // ListPrompts for A's episode: empty for B; for the shared clinician, B
  // sees only its own.
  v1::ListPromptsRequest list;
  list.set_episode_id("ep-shared");
  v1::ListPromptsResponse listed;
  ASSERT_TRUE(b.Stub()->ListPrompts(b.Ctx().get(), list, &listed).ok());
  EXPECT_EQ(listed.prompts_size(), 0);
  ASSERT_TRUE(a.Stub()->ListPrompts(a.Ctx().get(), list, &listed).ok());
  EXPECT_GE(listed.prompts_size(), 1);
  list.Clear();
  list.set_clinician_id("clin-shared");
  ASSERT_TRUE(b.Stub()->ListPrompts(b.Ctx().get(), list, &listed).ok());
  EXPECT_GE(listed.prompts_size(), 1);
  for (const v1::Prompt& p : listed.prompts()) {
    EXPECT_EQ(p.episode().client_id(), "client-b");
  }

  // Feedback on A's prompt: NOT_FOUND like an unknown id.
  v1::RecordPromptFeedbackRequest fb;
  fb.set_event_id("fb-b-1");
  fb.set_prompt_id(a_prompt_id);
  fb.set_outcome(v1::PromptFeedback::OUTCOME_DISMISSED);
  fb.set_reason(v1::PromptFeedback::DISMISS_REASON_ALREADY_ADDRESSED);
  v1::RecordPromptFeedbackResponse fr;
  grpc::Status st = b.Stub()->RecordPromptFeedback(b.Ctx().get(), fb, &fr);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  fb.set_prompt_id("p-unknown");
  fb.set_event_id("fb-b-2");
  grpc::Status unknown = b.Stub()->RecordPromptFeedback(b.Ctx().get(), fb, &fr);
  EXPECT_EQ(st.error_code(), unknown.error_code());
  EXPECT_EQ(st.error_message(), unknown.error_message());

  // B sends A's first event verbatim: a new event of B's, not a replay (or
  // a conflict) that would reveal that A used the id.
  v1::SubmitEventResponse copied;
  ASSERT_TRUE(b.Submit(a_events[0], &copied).ok());
  EXPECT_FALSE(copied.replayed());
  v1::GetAssessmentResponse b_assessment, a_assessment;
  ASSERT_TRUE(b.Assess("ep-shared", &b_assessment).ok());
  ASSERT_TRUE(a.Assess("ep-shared", &a_assessment).ok());
  EXPECT_EQ(b_assessment.assessment().event_count(), 1);
  EXPECT_EQ(a_assessment.assessment().event_count(),
            static_cast<int>(a_events.size()));

  // Counted per tenant: A dismisses its rupture prompt, B accepts its own.
  fb.set_event_id("fb-a-1");
  fb.set_prompt_id(a_prompt_id);
  ASSERT_TRUE(a.Stub()->RecordPromptFeedback(a.Ctx().get(), fb, &fr).ok());
  fb.Clear();
  fb.set_event_id("fb-b-3");
  fb.set_prompt_id(b_prompt_id);
  fb.set_outcome(v1::PromptFeedback::OUTCOME_ACCEPTED);
  ASSERT_TRUE(b.Stub()->RecordPromptFeedback(b.Ctx().get(), fb, &fr).ok());
  auto tally = [](const v1::ListModulesResponse& modules) {
    for (const auto& m : modules.modules()) {
      if (m.id() == "attune.rupture") return m.feedback();
    }
    return v1::FeedbackTally();
  };
  v1::ListModulesResponse a_modules, b_modules;
  ASSERT_TRUE(a.ListModules(&a_modules).ok());
  ASSERT_TRUE(b.ListModules(&b_modules).ok());
  EXPECT_EQ(tally(a_modules).dismissed(), 1);
  EXPECT_EQ(tally(a_modules).accepted(), 0);
  EXPECT_EQ(tally(b_modules).dismissed(), 0);
  EXPECT_EQ(tally(b_modules).accepted(), 1);

  // B's watch saw nothing of A's. Updates are published in order, so every
  // one of A's would have come before B's acceptance of its own prompt.
  bool accepted = false;
  while (!accepted && b_watch->Read(&update)) {
    EXPECT_EQ(update.prompt().episode().client_id(), "client-b")
        << update.prompt().kind();
    EXPECT_NE(update.prompt().id(), a_prompt_id);
    accepted = update.prompt().id() == b_prompt_id &&
               update.prompt().status() == v1::PROMPT_STATUS_ACKNOWLEDGED;
  }
  EXPECT_TRUE(accepted);
  b_watch_ctx.TryCancel();
  b_watch->Finish();
}

// --- attunectl -------------------------------------------------------------

struct Output {
  int code;
  std::string text;  // stdout and stderr
};

Output Ctl(const std::string& args) {
  std::string cmd = std::string(ATTUNE_BINARY_DIR) + "/service/ctl/attunectl " +
                    args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  int status = pclose(p);
  return {WEXITSTATUS(status), text};
}

TEST_F(SecurityTest, AttunectlSpeaksMutualTlsWithABearerToken) {
  ASSERT_TRUE(StartServer(TlsConfig(/*mutual=*/true) + AuthConfig()))
      << server_->Log();
  PemPair cert_a = ca_.IssueClient("client a", {TenantUri(kTenantA)});
  ASSERT_TRUE(WriteFile(Path("a.pem"), cert_a.cert));
  ASSERT_TRUE(WriteFile(Path("a.key"), cert_a.key));
  const std::string token = Token(kTenantA, {"admin"});
  ASSERT_TRUE(WriteFile(Path("token"), token + "\n"));
  const std::string tls =
      absl::StrCat("--server ", Target(), " --tls-ca ", Path("ca.pem"),
                   " --tls-cert ", Path("a.pem"), " --tls-key ", Path("a.key"));

  Output ok = Ctl(tls + " --token-file " + Path("token") + " modules");
  EXPECT_EQ(ok.code, 0) << ok.text;
  EXPECT_NE(ok.text.find("attune.rupture"), std::string::npos) << ok.text;
  EXPECT_EQ(ok.text.find(token), std::string::npos);

  Output no_token = Ctl(tls + " modules");
  EXPECT_EQ(no_token.code, 1);
  EXPECT_NE(no_token.text.find("UNAUTHENTICATED: authentication required"),
            std::string::npos)
      << no_token.text;

  Output half =
      Ctl(absl::StrCat("--server ", Target(), " --tls-ca ", Path("ca.pem"),
                       " --tls-cert ", Path("a.pem"), " modules"));
  EXPECT_EQ(half.code, 2);
  EXPECT_NE(half.text.find("--tls-cert needs --tls-key"), std::string::npos)
      << half.text;

  // A token is never sent in clear text beyond loopback.
  Output clear = Ctl("--server 192.0.2.1:50051 --token-file " + Path("token") +
                     " modules");
  EXPECT_EQ(clear.code, 2);
  EXPECT_NE(clear.text.find("--token-file"), std::string::npos) << clear.text;
}

}  // namespace
}  // namespace attune::testing
