// KeyRing: the storage keys that pseudonymise identifiers and encrypt stored
// messages (HIPAA 164.312(a)(2)(iv), encryption at rest).
//
//   ATTUNE_ASSIGN_OR_RETURN(auto keys, KeyRing::FromFile("/etc/attune/keys"));
//   std::string key = keys->LookupHash("clinic-a", "clinician", "C-1001");
//   ATTUNE_ASSIGN_OR_RETURN(std::string sealed,
//                           keys->Seal("clinic-a", "events/e-1", bytes));
//   ATTUNE_ASSIGN_OR_RETURN(std::string plain,
//                           keys->Open("clinic-a", "events/e-1", sealed));
//
// Key file (also the text of the ATTUNE_STORAGE_KEYS environment variable):
// one key per line, "<id> <base64 of exactly 32 bytes>"; blank lines and
// lines starting with '#' are ignored; ids are 1-32 characters of
// [A-Za-z0-9_.-] and unique. The first key is the active one: it seals new
// values and makes new lookup hashes. Later keys only open values sealed
// with them and make the extra lookup hashes that still find rows written
// under them, so rotating is: put a new key first, keep the old ones until
// nothing needs them. Errors name the source and line ("<source>:3: ...")
// and never contain key material.
//
// Per-tenant keys: every operation uses a key derived from the master key
// with HKDF-SHA-256 (salt "attune-storage-v1", info "<purpose>\0<tenant>"),
// so a tenant's hashes and ciphertexts are unrelated to another tenant's
// and one tenant's data cannot be decrypted with a key derived for another.
// Derived keys are cached.
//
// Threading: a KeyRing is immutable after creation; every method may be
// called from any thread.
#ifndef ATTUNE_SERVICE_SECURITY_KEY_RING_H_
#define ATTUNE_SERVICE_SECURITY_KEY_RING_H_

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace attune::security {

// The environment variable read when no key file is configured.
inline constexpr char kStorageKeysEnv[] = "ATTUNE_STORAGE_KEYS";

class KeyRing {
 public:
  // Reads a key file: the path must name a regular file itself (not a
  // symbolic link), at most 64 KiB, with no group or other permission bits
  // (FAILED_PRECONDITION "<path>: readable by group or others; chmod 600
  // it"). NOT_FOUND when missing.
  static absl::StatusOr<std::shared_ptr<const KeyRing>> FromFile(
      const std::string& path);
  // Parses key file text; `source` names it in errors ("ATTUNE_STORAGE_KEYS").
  // INVALID_ARGUMENT "<source>:<line>: ..." for a malformed line, a bad id, a
  // duplicate id, a key that is not 32 bytes; "<source>: no keys" when empty.
  static absl::StatusOr<std::shared_ptr<const KeyRing>> FromText(
      absl::string_view text, absl::string_view source);

  // A new key line "<id> <base64>" from 32 bytes of OpenSSL's CSPRNG, for
  // `attunectl keys generate`. INVALID_ARGUMENT for a bad id; INTERNAL when
  // the random generator fails.
  static absl::StatusOr<std::string> GenerateKeyLine(absl::string_view id);

  // Key ids, the active one first.
  std::vector<std::string> key_ids() const;
  const std::string& active_key_id() const;

  // A check value for the key `id` (64 hex digits, HMAC-SHA-256 of a fixed
  // label): stored with a database so that opening it with different key
  // material under the same id is caught. NOT_FOUND for an unknown id.
  absl::StatusOr<std::string> CheckValue(const std::string& id) const;

  // The lookup pseudonym of `value` (an identifier) for `tenant`: 64 lower-
  // case hex digits of HMAC-SHA-256 under the active key's lookup key for the
  // tenant and `kind` ("client", "clinician", "caller", ...). Same inputs,
  // same output; different tenant, kind or key, unrelated output.
  std::string LookupHash(absl::string_view tenant, absl::string_view kind,
                         absl::string_view value) const;
  // The lookup pseudonyms under every key, the active key's first: what a
  // query matches (column IN (...)) so rows written before a rotation are
  // still found.
  std::vector<std::string> LookupHashes(absl::string_view tenant,
                                        absl::string_view kind,
                                        absl::string_view value) const;

  // AES-256-GCM under the active key's encryption key for `tenant`, with a
  // fresh random 96-bit nonce and `context` as additional authenticated data
  // (bind it to where the value lives, e.g. "events/<event id>", so a
  // ciphertext moved to another row fails to open). Layout: 0x01, key id
  // length (1 byte), key id, nonce (12), ciphertext, tag (16).
  absl::StatusOr<std::string> Seal(absl::string_view tenant,
                                   absl::string_view context,
                                   absl::string_view plaintext) const;
  // Opens what Seal produced with any key of the ring. DATA_LOSS "stored
  // value failed authentication" for a tampered value, wrong tenant or
  // wrong context; FAILED_PRECONDITION "storage key '<id>' is not in the key
  // ring" when the key that sealed it is missing; DATA_LOSS "stored value is
  // not sealed" for bytes that do not start like a sealed value.
  absl::StatusOr<std::string> Open(absl::string_view tenant,
                                   absl::string_view context,
                                   absl::string_view sealed) const;
  // True when `bytes` starts like a Seal output (version byte and a key id
  // length that fits): how a store tells sealed rows from plaintext ones.
  static bool LooksSealed(absl::string_view bytes);

  // HMAC-SHA-256 (32 raw bytes) of `data` under the audit key derived from
  // key `key_id` (server-wide, not per tenant): links the audit chain.
  // NOT_FOUND for an unknown id.
  absl::StatusOr<std::string> AuditMac(const std::string& key_id,
                                       absl::string_view data) const;

  KeyRing(const KeyRing&) = delete;
  KeyRing& operator=(const KeyRing&) = delete;
  ~KeyRing();

 private:
  struct Key {
    std::string id;
    std::string secret;  // 32 bytes; wiped on destruction
  };
  explicit KeyRing(std::vector<Key> keys);
  // The 32-byte key derived from `key` for (purpose, tenant), cached.
  std::string Derived(const Key& key, absl::string_view purpose,
                      absl::string_view tenant) const;
  const Key* Find(absl::string_view id) const;

  std::vector<Key> keys_;
  mutable std::mutex cache_mu_;
  mutable absl::flat_hash_map<std::string, std::string> cache_;
};

}  // namespace attune::security

#endif  // ATTUNE_SERVICE_SECURITY_KEY_RING_H_
