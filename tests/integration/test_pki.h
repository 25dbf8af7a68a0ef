// Test-only X.509: a CA and the certificates it issues, made with the
// OpenSSL 3 API in memory, so TLS tests need no `openssl` binary and no
// checked-in keys (which would expire or leak into real use).
#ifndef ATTUNE_TESTS_INTEGRATION_TEST_PKI_H_
#define ATTUNE_TESTS_INTEGRATION_TEST_PKI_H_

#include <string>
#include <vector>

namespace attune::testing {

// A certificate and its private key, PEM.
struct PemPair {
  std::string cert;
  std::string key;
};

// A self-signed CA (P-256 key, valid from an hour ago for a day) that issues
// leaf certificates. Aborts the test binary if OpenSSL fails.
class TestCa {
 public:
  explicit TestCa(const std::string& common_name);
  ~TestCa();
  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

  // The CA certificate, PEM.
  const std::string& cert() const { return pem_.cert; }

  // A server certificate (extendedKeyUsage serverAuth) for DNS:localhost and
  // IP:127.0.0.1.
  PemPair IssueServer() const;
  // A client certificate (clientAuth). `uris` become URI subject alternative
  // names, e.g. "urn:attune:tenant:clinic-a"; none leaves the SAN out.
  PemPair IssueClient(const std::string& common_name,
                      const std::vector<std::string>& uris) const;

 private:
  PemPair Issue(const std::string& common_name, const std::string& san,
                const char* extended_key_usage) const;

  void* key_ = nullptr;   // EVP_PKEY
  void* cert_ = nullptr;  // X509
  PemPair pem_;
};

// Writes `content` to `path` (mode 0600). False on failure.
bool WriteFile(const std::string& path, const std::string& content);

}  // namespace attune::testing

#endif  // ATTUNE_TESTS_INTEGRATION_TEST_PKI_H_
