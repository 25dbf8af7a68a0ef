#include "tests/integration/test_pki.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace attune::testing {
namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "OpenSSL failed: %s\n", what);
    std::abort();
  }
}

EVP_PKEY* NewKey() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  Check(key != nullptr, "EC keygen");
  return key;
}

void AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  Check(ext != nullptr, "X509V3_EXT_conf_nid");
  Check(X509_add_ext(cert, ext, -1) == 1, "X509_add_ext");
  X509_EXTENSION_free(ext);
}

// A certificate for `key` named `common_name`, not yet signed. With a null
// issuer it is its own issuer.
X509* NewCert(EVP_PKEY* key, const std::string& common_name, X509* issuer) {
  X509* cert = X509_new();
  Check(cert != nullptr, "X509_new");
  Check(X509_set_version(cert, X509_VERSION_3) == 1, "X509_set_version");
  unsigned char serial[16];
  Check(RAND_bytes(serial, sizeof serial) == 1, "RAND_bytes");
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  Check(bn != nullptr &&
            BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != nullptr,
        "serial");
  BN_free(bn);
  Check(X509_gmtime_adj(X509_getm_notBefore(cert), -3600) != nullptr,
        "notBefore");
  Check(X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600) != nullptr,
        "notAfter");
  Check(X509_set_pubkey(cert, key) == 1, "X509_set_pubkey");
  X509_NAME* name = X509_get_subject_name(cert);
  Check(X509_NAME_add_entry_by_txt(
            name, "CN", MBSTRING_ASC,
            reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
            0) == 1,
        "CN");
  Check(X509_set_issuer_name(cert, X509_get_subject_name(
                                       issuer == nullptr ? cert : issuer)) == 1,
        "issuer");
  return cert;
}

std::string CertPem(X509* cert) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()),
                                                &BIO_free);
  Check(PEM_write_bio_X509(bio.get(), cert) == 1, "PEM_write_bio_X509");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string KeyPem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()),
                                                &BIO_free);
  Check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr,
                                 nullptr) == 1,
        "PEM_write_bio_PrivateKey");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace

TestCa::TestCa(const std::string& common_name) {
  EVP_PKEY* key = NewKey();
  X509* cert = NewCert(key, common_name, nullptr);
  AddExtension(cert, cert, NID_basic_constraints, "critical,CA:TRUE");
  AddExtension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  AddExtension(cert, cert, NID_subject_key_identifier, "hash");
  Check(X509_sign(cert, key, EVP_sha256()) > 0, "X509_sign CA");
  key_ = key;
  cert_ = cert;
  pem_ = {CertPem(cert), KeyPem(key)};
}

TestCa::~TestCa() {
  X509_free(static_cast<X509*>(cert_));
  EVP_PKEY_free(static_cast<EVP_PKEY*>(key_));
}

PemPair TestCa::Issue(const std::string& common_name, const std::string& san,
                      const char* extended_key_usage) const {
  X509* issuer = static_cast<X509*>(cert_);
  EVP_PKEY* key = NewKey();
  X509* cert = NewCert(key, common_name, issuer);
  AddExtension(cert, issuer, NID_basic_constraints, "critical,CA:FALSE");
  AddExtension(cert, issuer, NID_key_usage, "critical,digitalSignature");
  AddExtension(cert, issuer, NID_ext_key_usage, extended_key_usage);
  AddExtension(cert, issuer, NID_authority_key_identifier, "keyid:always");
  if (!san.empty()) {
    AddExtension(cert, issuer, NID_subject_alt_name, san);
  }
  Check(X509_sign(cert, static_cast<EVP_PKEY*>(key_), EVP_sha256()) > 0,
        "X509_sign");
  PemPair pair{CertPem(cert), KeyPem(key)};
  X509_free(cert);
  EVP_PKEY_free(key);
  return pair;
}

PemPair TestCa::IssueServer() const {
  return Issue("attuned", "DNS:localhost,IP:127.0.0.1", "serverAuth");
}

PemPair TestCa::IssueClient(const std::string& common_name,
                            const std::vector<std::string>& uris) const {
  std::vector<std::string> names;
  for (const std::string& uri : uris) names.push_back("URI:" + uri);
  return Issue(common_name, absl::StrJoin(names, ","), "clientAuth");
}

bool WriteFile(const std::string& path, const std::string& content) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return false;
  bool ok = write(fd, content.data(), content.size()) ==
            static_cast<ssize_t>(content.size());
  return close(fd) == 0 && ok;
}

}  // namespace attune::testing
