// ValidateConfig's checks of tls and auth: each error names the field.
#include <unistd.h>

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "attune/v1/config.pb.h"
#include "gtest/gtest.h"
#include "service/config/config_loader.h"

namespace attune::config {
namespace {

using v1::ServerConfig;

// ctest runs each test in its own process, several at once: every process
// writes its own files.
std::string WriteFile(const std::string& name, const std::string& text) {
  std::string path = absl::StrCat(testing::TempDir(), "/security_config_test_",
                                  ::getpid(), "_", name);
  std::ofstream(path) << text;
  return path;
}

const char kCert[] =
    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const char kKey[] =
    "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n";

ServerConfig Base() {
  absl::StatusOr<ServerConfig> config = DefaultConfig();
  EXPECT_TRUE(config.ok()) << config.status();
  return config.value_or(ServerConfig());
}

ServerConfig WithTls() {
  ServerConfig c = Base();
  c.mutable_tls()->set_cert_file(WriteFile("cert.pem", kCert));
  c.mutable_tls()->set_key_file(WriteFile("key.pem", kKey));
  return c;
}

ServerConfig WithAuth() {
  ServerConfig c = Base();
  c.mutable_auth()->set_jwks_file(WriteFile("jwks.json", R"({"keys":[]})"));
  c.mutable_auth()->add_issuers("https://idp.example");
  c.mutable_auth()->set_audience("attune");
  return c;
}

std::string Error(const ServerConfig& c) {
  return std::string(ValidateConfig(c).message());
}

TEST(SecurityConfigTest, ValidTlsAndAuthPass) {
  ServerConfig c = WithTls();
  c.mutable_tls()->set_client_ca_file(WriteFile("ca.pem", kCert));
  c.mutable_tls()->set_tenant_from_certificate(
      v1::TlsConfig::CERTIFICATE_TENANT_URI_SAN);
  *c.mutable_auth() = WithAuth().auth();
  EXPECT_TRUE(ValidateConfig(c).ok()) << ValidateConfig(c);
}

TEST(SecurityConfigTest, TlsFilesMustBeGivenReadableAndPem) {
  ServerConfig c = WithTls();
  c.mutable_tls()->clear_key_file();
  EXPECT_EQ(Error(c), "tls.key_file: is required");

  c = WithTls();
  c.mutable_tls()->set_cert_file("/nonexistent/cert.pem");
  EXPECT_EQ(Error(c), "tls.cert_file: cannot read /nonexistent/cert.pem");

  // A device would hang start-up (or exhaust memory) if read.
  c = WithTls();
  c.mutable_tls()->set_key_file("/dev/zero");
  EXPECT_EQ(Error(c), "tls.key_file: /dev/zero is not a regular file");

  c = WithTls();
  c.mutable_tls()->set_cert_file(c.tls().key_file());
  EXPECT_EQ(Error(c).rfind("tls.cert_file: ", 0), 0u) << Error(c);
  EXPECT_NE(Error(c).find("is not a PEM certificate chain"), std::string::npos);

  c = WithTls();
  c.mutable_tls()->set_client_ca_file(WriteFile("junk.txt", "hello"));
  EXPECT_EQ(Error(c).rfind("tls.client_ca_file: ", 0), 0u) << Error(c);
}

TEST(SecurityConfigTest, TenantFromCertificateNeedsClientCertificates) {
  ServerConfig c = WithTls();
  c.mutable_tls()->set_tenant_from_certificate(
      v1::TlsConfig::CERTIFICATE_TENANT_URI_SAN);
  EXPECT_EQ(Error(c),
            "tls.tenant_from_certificate: needs tls.client_ca_file (client "
            "certificates)");
}

TEST(SecurityConfigTest, AuthNeedsKeysIssuersAndAudience) {
  ServerConfig c = WithAuth();
  c.mutable_auth()->clear_issuers();
  EXPECT_EQ(Error(c), "auth.issuers: at least one issuer is required");

  c = WithAuth();
  c.mutable_auth()->add_issuers("");
  EXPECT_EQ(Error(c), "auth.issuers[1]: is empty");

  c = WithAuth();
  c.mutable_auth()->clear_audience();
  EXPECT_EQ(Error(c), "auth.audience: is required");

  c = WithAuth();
  c.mutable_auth()->clear_jwks_file();
  EXPECT_EQ(Error(c), "auth.jwks_file: is required");

  c = WithAuth();
  c.mutable_auth()->set_jwks_file("/nonexistent/jwks.json");
  EXPECT_EQ(Error(c), "auth.jwks_file: cannot read /nonexistent/jwks.json");

  c = WithAuth();
  c.mutable_auth()->set_max_clock_skew_seconds(301);
  EXPECT_EQ(Error(c), "auth.max_clock_skew_seconds: must be 0-300");

  c = WithAuth();
  c.mutable_auth()->set_tenant_claim("");
  EXPECT_EQ(Error(c), "auth.tenant_claim: is required");
}

}  // namespace
}  // namespace attune::config
