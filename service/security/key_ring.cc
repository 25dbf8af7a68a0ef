#include "service/security/key_ring.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace attune::security {
namespace {

constexpr size_t kKeyBytes = 32;
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;
constexpr unsigned char kSealVersion = 0x01;
constexpr size_t kMaxKeyFileBytes = 64 * 1024;
constexpr char kSalt[] = "attune-storage-v1";

bool ValidKeyId(absl::string_view id) {
  if (id.empty() || id.size() > 32) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' &&
        c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

std::string HmacSha256(absl::string_view key, absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
       &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

// HKDF-SHA-256 (RFC 5869) of `secret` for `info`; 32 bytes. Empty on failure
// (only on an OpenSSL that lacks HKDF, which Debian 12's does not).
std::string Hkdf(absl::string_view secret, absl::string_view info) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (kdf == nullptr) return {};
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  if (ctx == nullptr) return {};
  std::string digest = "SHA256";
  std::string salt = kSalt;
  std::string key(secret);
  std::string inf(info);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest.data(), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, key.data(),
                                        key.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt.data(),
                                        salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, inf.data(),
                                        inf.size()),
      OSSL_PARAM_construct_end()};
  std::string out(kKeyBytes, '\0');
  const int ok = EVP_KDF_derive(
      ctx, reinterpret_cast<unsigned char*>(out.data()), out.size(), params);
  EVP_KDF_CTX_free(ctx);
  OPENSSL_cleanse(key.data(), key.size());
  if (ok != 1) return {};
  return out;
}

struct CipherCtx {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  ~CipherCtx() { EVP_CIPHER_CTX_free(ctx); }
};

}  // namespace

KeyRing::KeyRing(std::vector<Key> keys) : keys_(std::move(keys)) {}

KeyRing::~KeyRing() {
  for (Key& key : keys_) OPENSSL_cleanse(key.secret.data(), key.secret.size());
  for (auto& [unused, derived] : cache_) {
    OPENSSL_cleanse(derived.data(), derived.size());
  }
}

absl::StatusOr<std::shared_ptr<const KeyRing>> KeyRing::FromFile(
    const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat(path, ": no such key file"));
  }
  if (S_ISLNK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": is a symbolic link; name the key file itself"));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": is not a regular file"));
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": readable by group or others; chmod 600 it"));
  }
  if (static_cast<size_t>(st.st_size) > kMaxKeyFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": larger than 64 KiB; not a key file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot be read"));
  }
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  auto ring = FromText(text, path);
  OPENSSL_cleanse(text.data(), text.size());
  return ring;
}

absl::StatusOr<std::shared_ptr<const KeyRing>> KeyRing::FromText(
    absl::string_view text, absl::string_view source) {
  std::vector<Key> keys;
  std::set<std::string> ids;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    std::vector<absl::string_view> parts =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    const std::string where = absl::StrCat(source, ":", line_number, ": ");
    if (parts.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "expected \"<key id> <base64 of 32 bytes>\""));
    }
    if (!ValidKeyId(parts[0])) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "key id must be 1-32 characters of A-Z a-z 0-9 _ . -"));
    }
    std::string id(parts[0]);
    if (!ids.insert(id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "key id '", id, "' appears twice"));
    }
    std::string secret;
    if (!absl::Base64Unescape(parts[1], &secret) ||
        secret.size() != kKeyBytes) {
      OPENSSL_cleanse(secret.data(), secret.size());
      return absl::InvalidArgumentError(absl::StrCat(
          where, "key '", id, "' is not base64 of exactly 32 bytes"));
    }
    keys.push_back(Key{std::move(id), std::move(secret)});
  }
  if (keys.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": no keys"));
  }
  return std::shared_ptr<const KeyRing>(new KeyRing(std::move(keys)));
}

absl::StatusOr<std::string> KeyRing::GenerateKeyLine(absl::string_view id) {
  if (!ValidKeyId(id)) {
    return absl::InvalidArgumentError(
        "key id: must be 1-32 characters of A-Z a-z 0-9 _ . -");
  }
  std::string secret(kKeyBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()),
                 static_cast<int>(secret.size())) != 1) {
    return absl::InternalError("key generation: the random generator failed");
  }
  std::string line = absl::StrCat(id, " ", absl::Base64Escape(secret));
  OPENSSL_cleanse(secret.data(), secret.size());
  return line;
}

std::vector<std::string> KeyRing::key_ids() const {
  std::vector<std::string> ids;
  ids.reserve(keys_.size());
  for (const Key& key : keys_) ids.push_back(key.id);
  return ids;
}

const std::string& KeyRing::active_key_id() const { return keys_.front().id; }

const KeyRing::Key* KeyRing::Find(absl::string_view id) const {
  for (const Key& key : keys_) {
    if (key.id == id) return &key;
  }
  return nullptr;
}

std::string KeyRing::Derived(const Key& key, absl::string_view purpose,
                             absl::string_view tenant) const {
  // Key ids and purposes never contain '\0'; tenants are checked upstream
  // (no control characters), and the id leads, so the cache key is unique.
  std::string cache_key = absl::StrCat(key.id, std::string(1, '\0'), purpose,
                                       std::string(1, '\0'), tenant);
  std::lock_guard<std::mutex> lock(cache_mu_);
  auto it = cache_.find(cache_key);
  if (it != cache_.end()) return it->second;
  std::string derived =
      Hkdf(key.secret, absl::StrCat(purpose, std::string(1, '\0'), tenant));
  cache_.emplace(std::move(cache_key), derived);
  return derived;
}

absl::StatusOr<std::string> KeyRing::CheckValue(const std::string& id) const {
  const Key* key = Find(id);
  if (key == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("storage key '", id, "' is not in the key ring"));
  }
  return absl::BytesToHexString(
      HmacSha256(key->secret, "attune storage key check v1"));
}

std::string KeyRing::LookupHash(absl::string_view tenant,
                                absl::string_view kind,
                                absl::string_view value) const {
  return absl::BytesToHexString(HmacSha256(
      Derived(keys_.front(), absl::StrCat("lookup:", kind), tenant), value));
}

std::vector<std::string> KeyRing::LookupHashes(absl::string_view tenant,
                                               absl::string_view kind,
                                               absl::string_view value) const {
  std::vector<std::string> hashes;
  hashes.reserve(keys_.size());
  for (const Key& key : keys_) {
    hashes.push_back(absl::BytesToHexString(HmacSha256(
        Derived(key, absl::StrCat("lookup:", kind), tenant), value)));
  }
  return hashes;
}

absl::StatusOr<std::string> KeyRing::Seal(absl::string_view tenant,
                                          absl::string_view context,
                                          absl::string_view plaintext) const {
  const Key& key = keys_.front();
  const std::string aes_key = Derived(key, "seal", tenant);
  if (aes_key.size() != kKeyBytes) {
    return absl::InternalError("seal: key derivation failed");
  }
  std::string out;
  out.reserve(2 + key.id.size() + kNonceBytes + plaintext.size() + kTagBytes);
  out.push_back(static_cast<char>(kSealVersion));
  out.push_back(static_cast<char>(key.id.size()));
  out.append(key.id);
  std::string nonce(kNonceBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()),
                 static_cast<int>(nonce.size())) != 1) {
    return absl::InternalError("seal: the random generator failed");
  }
  out.append(nonce);
  CipherCtx c;
  int len = 0;
  const auto* k = reinterpret_cast<const unsigned char*>(aes_key.data());
  const auto* iv = reinterpret_cast<const unsigned char*>(nonce.data());
  if (c.ctx == nullptr ||
      EVP_EncryptInit_ex(c.ctx, EVP_aes_256_gcm(), nullptr, k, iv) != 1 ||
      EVP_EncryptUpdate(c.ctx, nullptr, &len,
                        reinterpret_cast<const unsigned char*>(context.data()),
                        static_cast<int>(context.size())) != 1) {
    return absl::InternalError("seal: cipher set-up failed");
  }
  const size_t header = out.size();
  out.resize(header + plaintext.size() + kTagBytes);
  auto* dst = reinterpret_cast<unsigned char*>(out.data()) + header;
  if (EVP_EncryptUpdate(
          c.ctx, dst, &len,
          reinterpret_cast<const unsigned char*>(plaintext.data()),
          static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(c.ctx, dst + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_GET_TAG, kTagBytes,
                          dst + plaintext.size()) != 1) {
    return absl::InternalError("seal: encryption failed");
  }
  return out;
}

bool KeyRing::LooksSealed(absl::string_view bytes) {
  if (bytes.size() < 2 || static_cast<unsigned char>(bytes[0]) != kSealVersion)
    return false;
  const size_t id_len = static_cast<unsigned char>(bytes[1]);
  return id_len >= 1 && id_len <= 32 &&
         bytes.size() >= 2 + id_len + kNonceBytes + kTagBytes &&
         ValidKeyId(bytes.substr(2, id_len));
}

absl::StatusOr<std::string> KeyRing::Open(absl::string_view tenant,
                                          absl::string_view context,
                                          absl::string_view sealed) const {
  if (!LooksSealed(sealed)) {
    return absl::DataLossError("stored value is not sealed");
  }
  const size_t id_len = static_cast<unsigned char>(sealed[1]);
  const absl::string_view id = sealed.substr(2, id_len);
  const Key* key = Find(id);
  if (key == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("storage key '", id, "' is not in the key ring"));
  }
  const std::string aes_key = Derived(*key, "seal", tenant);
  if (aes_key.size() != kKeyBytes) {
    return absl::InternalError("open: key derivation failed");
  }
  const absl::string_view nonce = sealed.substr(2 + id_len, kNonceBytes);
  const absl::string_view body = sealed.substr(2 + id_len + kNonceBytes);
  const absl::string_view ciphertext = body.substr(0, body.size() - kTagBytes);
  std::string tag(body.substr(body.size() - kTagBytes));
  CipherCtx c;
  int len = 0;
  if (c.ctx == nullptr ||
      EVP_DecryptInit_ex(
          c.ctx, EVP_aes_256_gcm(), nullptr,
          reinterpret_cast<const unsigned char*>(aes_key.data()),
          reinterpret_cast<const unsigned char*>(nonce.data())) != 1 ||
      EVP_DecryptUpdate(c.ctx, nullptr, &len,
                        reinterpret_cast<const unsigned char*>(context.data()),
                        static_cast<int>(context.size())) != 1) {
    return absl::InternalError("open: cipher set-up failed");
  }
  std::string out(ciphertext.size(), '\0');
  auto* dst = reinterpret_cast<unsigned char*>(out.data());
  if (EVP_DecryptUpdate(
          c.ctx, dst, &len,
          reinterpret_cast<const unsigned char*>(ciphertext.data()),
          static_cast<int>(ciphertext.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) !=
          1 ||
      EVP_DecryptFinal_ex(c.ctx, dst + len, &len) != 1) {
    OPENSSL_cleanse(out.data(), out.size());
    return absl::DataLossError("stored value failed authentication");
  }
  return out;
}

absl::StatusOr<std::string> KeyRing::AuditMac(const std::string& key_id,
                                              absl::string_view data) const {
  const Key* key = Find(key_id);
  if (key == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("storage key '", key_id, "' is not in the key ring"));
  }
  return HmacSha256(Derived(*key, "audit", ""), data);
}

}  // namespace attune::security
