#include "service/auth/jwks.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "service/auth/jose_encoding.h"
#include "service/common/log.h"

namespace attune::auth {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

constexpr int kMinRsaBits = 2048;
// Above this, verification cost is a denial-of-service lever and no issuer
// needs it.
constexpr int kMaxRsaBits = 8192;

struct BnDeleter {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};
struct ParamBldDeleter {
  void operator()(OSSL_PARAM_BLD* bld) const { OSSL_PARAM_BLD_free(bld); }
};
struct ParamDeleter {
  void operator()(OSSL_PARAM* params) const { OSSL_PARAM_free(params); }
};
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnDeleter>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;

absl::Status KeyError(size_t index, absl::string_view field,
                      absl::string_view rule) {
  return absl::InvalidArgumentError(absl::StrCat(
      "keys[", index, "]", field.empty() ? "" : ".", field, ": ", rule));
}

// The string member `name`, nullptr when absent; an error when present with
// another JSON type.
absl::StatusOr<const std::string*> OptionalString(const Struct& jwk,
                                                  size_t index,
                                                  const std::string& name) {
  auto it = jwk.fields().find(name);
  if (it == jwk.fields().end()) return nullptr;
  if (it->second.kind_case() != Value::kStringValue) {
    return KeyError(index, name, "must be a string");
  }
  return &it->second.string_value();
}

absl::StatusOr<std::string> RequiredBase64Url(const Struct& jwk, size_t index,
                                              const std::string& name) {
  auto value = OptionalString(jwk, index, name);
  if (!value.ok()) return value.status();
  if (*value == nullptr) return KeyError(index, name, "required");
  std::optional<std::string> bytes = Base64UrlDecode(**value);
  if (!bytes.has_value()) return KeyError(index, name, "not base64url");
  if (bytes->empty()) return KeyError(index, name, "empty");
  return *std::move(bytes);
}

// Builds a public key from OSSL_PARAMs and runs OpenSSL's public-key check
// (RSA: odd modulus and exponent, exponent range, modulus not prime; EC:
// point on the curve and in the right subgroup).
absl::StatusOr<EvpPkeyPtr> FromData(const char* type, OSSL_PARAM_BLD* bld,
                                    size_t index, absl::string_view field) {
  std::unique_ptr<OSSL_PARAM, ParamDeleter> params(
      OSSL_PARAM_BLD_to_param(bld));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (params == nullptr || ctx == nullptr) {
    return absl::InternalError("jwks: OpenSSL allocation failed");
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) !=
          1) {
    return KeyError(index, field, "not a valid public key");
  }
  EvpPkeyPtr key(raw);
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (check == nullptr || EVP_PKEY_public_check(check.get()) != 1) {
    return KeyError(index, field, "fails the public key check");
  }
  return key;
}

absl::StatusOr<EvpPkeyPtr> RsaKey(const Struct& jwk, size_t index) {
  auto n = RequiredBase64Url(jwk, index, "n");
  if (!n.ok()) return n.status();
  auto e = RequiredBase64Url(jwk, index, "e");
  if (!e.ok()) return e.status();
  BnPtr n_bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()),
                       static_cast<int>(n->size()), nullptr));
  BnPtr e_bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()),
                       static_cast<int>(e->size()), nullptr));
  if (n_bn == nullptr || e_bn == nullptr) {
    return absl::InternalError("jwks: OpenSSL allocation failed");
  }
  // Checked before OpenSSL sees the key: a huge modulus is refused cheaply.
  int bits = BN_num_bits(n_bn.get());
  if (bits < kMinRsaBits) {
    return KeyError(index, "n",
                    absl::StrCat("RSA key of ", bits, " bits, at least ",
                                 kMinRsaBits, " required"));
  }
  if (bits > kMaxRsaBits) {
    return KeyError(index, "n",
                    absl::StrCat("RSA key of ", bits, " bits, at most ",
                                 kMaxRsaBits, " accepted"));
  }
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldDeleter> bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n_bn.get()) !=
          1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e_bn.get()) !=
          1) {
    return absl::InternalError("jwks: OpenSSL allocation failed");
  }
  return FromData("RSA", bld.get(), index, "n");
}

absl::StatusOr<EvpPkeyPtr> EcKey(const Struct& jwk, size_t index,
                                 const char* group, size_t coordinate_bytes) {
  auto x = RequiredBase64Url(jwk, index, "x");
  if (!x.ok()) return x.status();
  auto y = RequiredBase64Url(jwk, index, "y");
  if (!y.ok()) return y.status();
  // RFC 7518 §6.2.1.2: coordinates are full-length octet strings.
  if (x->size() != coordinate_bytes) {
    return KeyError(index, "x",
                    absl::StrCat("must be ", coordinate_bytes, " bytes"));
  }
  if (y->size() != coordinate_bytes) {
    return KeyError(index, "y",
                    absl::StrCat("must be ", coordinate_bytes, " bytes"));
  }
  std::string point = absl::StrCat("\x04", *x, *y);  // SEC1 uncompressed
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldDeleter> bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                      group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY,
                                       point.data(), point.size()) != 1) {
    return absl::InternalError("jwks: OpenSSL allocation failed");
  }
  return FromData("EC", bld.get(), index, "x");
}

bool AlgFits(std::string_view alg, KeyType type) {
  switch (type) {
    case KeyType::kRsa:
      return alg == "RS256" || alg == "RS384";
    case KeyType::kEcP256:
      return alg == "ES256";
    case KeyType::kEcP384:
      return alg == "ES384";
  }
  return false;
}

bool SupportedAlg(std::string_view alg) {
  return alg == "RS256" || alg == "RS384" || alg == "ES256" || alg == "ES384";
}

// A usable key, or a note saying why the key is ignored.
struct KeyOutcome {
  std::optional<JsonWebKey> key;
  std::string ignored_note;
};

absl::StatusOr<KeyOutcome> ParseKey(const Value& value, size_t index) {
  if (value.kind_case() != Value::kStructValue) {
    return KeyError(index, "", "must be an object");
  }
  const Struct& jwk = value.struct_value();
  auto ignore = [index](absl::string_view why) {
    return KeyOutcome{std::nullopt, absl::StrCat("keys[", index, "]: ", why)};
  };

  auto kty = OptionalString(jwk, index, "kty");
  if (!kty.ok()) return kty.status();
  if (*kty == nullptr) return KeyError(index, "kty", "required");
  auto use = OptionalString(jwk, index, "use");
  if (!use.ok()) return use.status();
  auto alg = OptionalString(jwk, index, "alg");
  if (!alg.ok()) return alg.status();
  auto kid = OptionalString(jwk, index, "kid");
  if (!kid.ok()) return kid.status();

  if (*use != nullptr && **use != "sig") return ignore("use is not sig");
  if (auto ops = jwk.fields().find("key_ops"); ops != jwk.fields().end()) {
    if (ops->second.kind_case() != Value::kListValue) {
      return KeyError(index, "key_ops", "must be an array");
    }
    bool verify = false;
    for (const Value& op : ops->second.list_value().values()) {
      if (op.kind_case() == Value::kStringValue &&
          op.string_value() == "verify") {
        verify = true;
      }
    }
    if (!verify) return ignore("key_ops lack verify");
  }

  KeyType type;
  EvpPkeyPtr pkey;
  if (**kty == "RSA") {
    type = KeyType::kRsa;
  } else if (**kty == "EC") {
    auto crv = OptionalString(jwk, index, "crv");
    if (!crv.ok()) return crv.status();
    if (*crv == nullptr) return KeyError(index, "crv", "required");
    if (**crv == "P-256") {
      type = KeyType::kEcP256;
    } else if (**crv == "P-384") {
      type = KeyType::kEcP384;
    } else {
      return ignore(absl::StrCat("crv ", **crv, " not supported"));
    }
  } else {
    // "oct" (HMAC secrets) lands here too: never a verification key.
    return ignore(absl::StrCat("kty ", **kty, " not supported"));
  }

  if (*alg != nullptr && !AlgFits(**alg, type)) {
    // An algorithm Attune verifies on the wrong key type, or a symmetric one
    // on a public key, is a broken document; PS256, RS512 and the like are
    // merely not for Attune.
    if (SupportedAlg(**alg) || **alg == "none" || (*alg)->rfind("HS", 0) == 0) {
      return KeyError(index, "alg", "does not fit the key type");
    }
    return ignore(absl::StrCat("alg ", **alg, " not supported"));
  }
  if (*kid == nullptr || (*kid)->empty()) {
    return KeyError(index, "kid", "required");
  }

  switch (type) {
    case KeyType::kRsa: {
      auto key = RsaKey(jwk, index);
      if (!key.ok()) return key.status();
      pkey = *std::move(key);
      break;
    }
    case KeyType::kEcP256: {
      auto key = EcKey(jwk, index, "prime256v1", 32);
      if (!key.ok()) return key.status();
      pkey = *std::move(key);
      break;
    }
    case KeyType::kEcP384: {
      auto key = EcKey(jwk, index, "secp384r1", 48);
      if (!key.ok()) return key.status();
      pkey = *std::move(key);
      break;
    }
  }
  JsonWebKey key;
  key.kid = **kid;
  key.type = type;
  key.alg = *alg != nullptr ? **alg : "";
  key.bits = EVP_PKEY_get_bits(pkey.get());
  key.pkey = std::move(pkey);
  return KeyOutcome{std::move(key), ""};
}

}  // namespace

absl::StatusOr<JsonWebKeySet> JsonWebKeySet::Parse(std::string_view json) {
  std::optional<Struct> doc = ParseJsonObject(json);
  if (!doc.has_value()) {
    return absl::InvalidArgumentError("jwks: not a JSON object");
  }
  auto keys = doc->fields().find("keys");
  if (keys == doc->fields().end()) {
    return absl::InvalidArgumentError("keys: required");
  }
  if (keys->second.kind_case() != Value::kListValue) {
    return absl::InvalidArgumentError("keys: must be an array");
  }
  JsonWebKeySet set;
  const auto& values = keys->second.list_value().values();
  for (int i = 0; i < values.size(); ++i) {
    size_t index = static_cast<size_t>(i);
    auto outcome = ParseKey(values[i], index);
    if (!outcome.ok()) return outcome.status();
    if (!outcome->key.has_value()) {
      set.ignored_.push_back(std::move(outcome->ignored_note));
      continue;
    }
    std::string kid = outcome->key->kid;
    if (!set.keys_.emplace(kid, *std::move(outcome->key)).second) {
      return KeyError(index, "kid", "duplicate");
    }
  }
  return set;
}

const JsonWebKey* JsonWebKeySet::Find(std::string_view kid) const {
  auto it = keys_.find(absl::string_view(kid.data(), kid.size()));
  return it == keys_.end() ? nullptr : &it->second;
}

absl::StatusOr<std::unique_ptr<JwksFile>> JwksFile::Open(std::string path,
                                                         Clock clock) {
  std::unique_ptr<JwksFile> file(
      new JwksFile(std::move(path), std::move(clock)));
  auto identity = file->Stat();
  if (!identity.ok()) return identity.status();
  auto keys = file->Load();
  if (!keys.ok()) return keys.status();
  for (const std::string& note : keys->ignored()) {
    ATTUNE_LOG(INFO) << "jwks key ignored" << LogField("file", file->path_)
                     << LogField("key", note);
  }
  absl::MutexLock lock(&file->mu_);
  file->keys_ = std::make_shared<const JsonWebKeySet>(*std::move(keys));
  file->seen_ = *identity;
  file->last_check_ = file->clock_();
  return file;
}

std::shared_ptr<const JsonWebKeySet> JwksFile::Current() {
  absl::MutexLock lock(&mu_);
  absl::Time now = clock_();
  if (now - last_check_ < absl::Seconds(1)) return keys_;
  last_check_ = now;

  absl::StatusOr<FileIdentity> identity = Stat();
  if (!identity.ok()) {
    // Warn once per disappearance, not once per second.
    if (seen_.size != -1) {
      ATTUNE_LOG(WARNING) << "jwks file unreadable, keeping previous keys"
                          << LogField("file", path_)
                          << LogField("error", identity.status().message());
      seen_ = FileIdentity{};
    }
    return keys_;
  }
  if (*identity == seen_) return keys_;
  seen_ = *identity;

  absl::StatusOr<JsonWebKeySet> keys = Load();
  if (!keys.ok()) {
    ATTUNE_LOG(WARNING) << "jwks file invalid, keeping previous keys"
                        << LogField("file", path_)
                        << LogField("error", keys.status().message());
    return keys_;
  }
  for (const std::string& note : keys->ignored()) {
    ATTUNE_LOG(INFO) << "jwks key ignored" << LogField("file", path_)
                     << LogField("key", note);
  }
  keys_ = std::make_shared<const JsonWebKeySet>(*std::move(keys));
  ATTUNE_LOG(INFO) << "jwks reloaded" << LogField("file", path_)
                   << LogField("keys", keys_->size());
  return keys_;
}

absl::StatusOr<JwksFile::FileIdentity> JwksFile::Stat() const {
  struct stat st;
  if (::stat(path_.c_str(), &st) != 0) {
    int err = errno;
    std::string message = absl::StrCat(path_, ": ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(message)
                         : absl::FailedPreconditionError(message);
  }
  FileIdentity id;
  id.device = st.st_dev;
  id.inode = st.st_ino;
  id.size = static_cast<int64_t>(st.st_size);
  id.mtime_ns =
      static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return id;
}

absl::StatusOr<JsonWebKeySet> JwksFile::Load() const {
  std::ifstream in(path_, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(absl::StrCat(path_, ": cannot open"));
  }
  std::string text;
  text.resize(kMaxFileBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) {
    return absl::FailedPreconditionError(absl::StrCat(path_, ": read failed"));
  }
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": larger than ", kMaxFileBytes, " bytes"));
  }
  absl::StatusOr<JsonWebKeySet> keys = JsonWebKeySet::Parse(text);
  if (!keys.ok()) {
    return absl::Status(keys.status().code(),
                        absl::StrCat(path_, ": ", keys.status().message()));
  }
  return keys;
}

}  // namespace attune::auth
