// JSON Web Key Sets (RFC 7517): the public keys that sign bearer tokens.
//
//   ATTUNE_ASSIGN_OR_RETURN(JsonWebKeySet keys, JsonWebKeySet::Parse(json));
//   const JsonWebKey* key = keys.Find(kid);  // nullptr: unknown kid
//
//   ATTUNE_ASSIGN_OR_RETURN(auto file,
//   JwksFile::Open("/etc/attune/jwks.json")); std::shared_ptr<const
//   JsonWebKeySet> now = file->Current();
//
// Supported keys: RSA ("kty": "RSA", "n", "e"; 2048 to 8192 bits) and EC on
// P-256 or P-384 ("kty": "EC", "crv", "x", "y"), all base64url. Every usable
// key needs a unique "kid": tokens name their key, nothing is tried in turn.
// A key whose "use" is not "sig", whose "key_ops" lack "verify", whose kty or
// crv is not supported (oct, OKP, P-521) or whose "alg" is one Attune does not
// verify (PS256, RS512, ...) is ignored and listed in ignored(); a key that is
// malformed, too weak, fails OpenSSL's public-key check, or whose "alg"
// contradicts its type (ES384 on an RSA key) makes the whole set invalid.
#ifndef ATTUNE_SERVICE_AUTH_JWKS_H_
#define ATTUNE_SERVICE_AUTH_JWKS_H_

#include <openssl/evp.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace attune::auth {

struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

enum class KeyType { kRsa, kEcP256, kEcP384 };

// One verification key. The EVP_PKEY is owned here and only read afterwards;
// OpenSSL allows concurrent verifications with one EVP_PKEY.
struct JsonWebKey {
  std::string kid;
  KeyType type = KeyType::kRsa;
  // The JWK's "alg" ("RS256", "RS384", "ES256", "ES384"), empty when absent.
  // When set, a token must use exactly this algorithm with the key.
  std::string alg;
  int bits = 0;
  EvpPkeyPtr pkey;
};

// An immutable set of keys by kid. Movable, not copyable; share it through
// std::shared_ptr<const JsonWebKeySet>.
class JsonWebKeySet {
 public:
  // Parses a JWKS document ({"keys": [...]}). A pure function of the bytes.
  // INVALID_ARGUMENT naming the key and field, e.g. "keys[2].n: not
  // base64url", "keys[0].n: RSA key of 1024 bits, at least 2048 required",
  // "keys[1].kid: duplicate". An empty "keys" array is valid (no token
  // verifies).
  static absl::StatusOr<JsonWebKeySet> Parse(std::string_view json);

  JsonWebKeySet() = default;
  JsonWebKeySet(JsonWebKeySet&&) = default;
  JsonWebKeySet& operator=(JsonWebKeySet&&) = default;

  // The key with this kid, or nullptr. Valid while the set lives.
  const JsonWebKey* Find(std::string_view kid) const;
  size_t size() const { return keys_.size(); }
  // Keys in the document that are not used, one note each ("keys[3]: kty
  // OKP not supported"), for a log line. Notes carry no key material.
  const std::vector<std::string>& ignored() const { return ignored_; }

 private:
  absl::flat_hash_map<std::string, JsonWebKey> keys_;
  std::vector<std::string> ignored_;
};

// Where a verifier gets its keys. Current() is called once per verification
// from any thread and never returns null.
class KeySetSource {
 public:
  virtual ~KeySetSource() = default;
  virtual std::shared_ptr<const JsonWebKeySet> Current() = 0;
};

// A key set that never changes (tests, or keys from configuration).
class FixedKeySet final : public KeySetSource {
 public:
  explicit FixedKeySet(JsonWebKeySet keys)
      : keys_(std::make_shared<const JsonWebKeySet>(std::move(keys))) {}
  std::shared_ptr<const JsonWebKeySet> Current() override { return keys_; }

 private:
  std::shared_ptr<const JsonWebKeySet> keys_;
};

// A JWKS file that is re-read when it changes, so keys can be rotated
// without a restart. Current() checks the file's identity (device, inode,
// size, mtime with nanoseconds) at most once per second of `clock`, on the
// calling thread; when it changed, the file is read and parsed under the
// lock. A new file that cannot be read or parsed keeps the old keys and logs
// one warning per distinct bad file; writing a good file (or renaming one
// into place) recovers. Thread-safe.
class JwksFile final : public KeySetSource {
 public:
  using Clock = std::function<absl::Time()>;

  // Files above this size are refused rather than read.
  static constexpr size_t kMaxFileBytes = 1 << 20;

  // Reads and parses `path` now. NOT_FOUND / FAILED_PRECONDITION if it cannot
  // be read, INVALID_ARGUMENT "<path>: keys[2].n: ..." if it is not a valid
  // key set: a server should not start without its keys.
  static absl::StatusOr<std::unique_ptr<JwksFile>> Open(
      std::string path, Clock clock = &absl::Now);

  std::shared_ptr<const JsonWebKeySet> Current() override;

 private:
  struct FileIdentity {
    dev_t device = 0;
    ino_t inode = 0;
    int64_t size = -1;
    int64_t mtime_ns = 0;
    bool operator==(const FileIdentity&) const = default;
  };

  JwksFile(std::string path, Clock clock)
      : path_(std::move(path)), clock_(std::move(clock)) {}
  absl::StatusOr<FileIdentity> Stat() const;
  absl::StatusOr<JsonWebKeySet> Load() const;

  const std::string path_;
  const Clock clock_;
  absl::Mutex mu_;
  std::shared_ptr<const JsonWebKeySet> keys_ ABSL_GUARDED_BY(mu_);
  absl::Time last_check_ ABSL_GUARDED_BY(mu_);
  // What the last read (good or bad) saw; a change from it triggers a read.
  FileIdentity seen_ ABSL_GUARDED_BY(mu_);
};

}  // namespace attune::auth

#endif  // ATTUNE_SERVICE_AUTH_JWKS_H_
