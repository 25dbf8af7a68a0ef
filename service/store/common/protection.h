// Protection: how identifiers and stored messages are written to, and read
// back from, a store's columns in the database's protection mode (the same
// in SQLite and PostgreSQL: the column names below are the tables of both).
//
//   Protection protection(keys);  // keys null: plaintext
//   std::string key = protection.IdKey(tenant, kClinicianKind, clinician_id);
//   ATTUNE_ASSIGN_OR_RETURN(
//       std::string blob,
//       protection.SealMessage(tenant, kEventEvent, event_id, event));
//
// Sealed mode (a KeyRing is set): identifier columns (prompts.clinician_id,
// held_sessions.clinician_id, episodes.client_key) hold the tenant's lookup
// hash under the active key (KeyRing::LookupHash) and every BLOB holds
// KeyRing::Seal output whose additional authenticated data is
// "<table>.<column>/<row id>", so a ciphertext copied to another row or
// column, or to another tenant, fails to open. Queries match an identifier
// against the lookup hashes under every key of the ring (IdKeys), so rows
// written before a key rotation are still found. Plaintext mode: values are
// stored as given.
//
// Row ids (episode_id, event_id, prompt_id) stay in the clear: they are the
// tables' keys. They must be opaque references, not medical record numbers.
//
// Errors name the table and column only ("events.event: stored value failed
// authentication"), never a row id or a value.
//
// Threading: immutable; every method may be called from any thread.
#ifndef ATTUNE_SERVICE_STORE_COMMON_PROTECTION_H_
#define ATTUNE_SERVICE_STORE_COMMON_PROTECTION_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message_lite.h"
#include "service/security/key_ring.h"

namespace attune::store {

// store_protection.mode values.
inline constexpr char kModePlaintext[] = "plaintext";
inline constexpr char kModeSealed[] = "sealed";

// Identifier kinds (KeyRing::LookupHash `kind`).
inline constexpr char kClientKind[] = "client";
inline constexpr char kClinicianKind[] = "clinician";

// Sealed columns; with the row id they form the additional authenticated
// data of the sealed value.
inline constexpr char kEpisodeAssessment[] = "episodes.assessment";
inline constexpr char kEventFingerprint[] = "events.fingerprint";
inline constexpr char kEventEvent[] = "events.event";
inline constexpr char kEventResponse[] = "events.response";
inline constexpr char kPromptPrompt[] = "prompts.prompt";

class Protection {
 public:
  // Plaintext when `keys` is null.
  explicit Protection(std::shared_ptr<const security::KeyRing> keys = nullptr)
      : keys_(std::move(keys)) {}

  bool sealed() const { return keys_ != nullptr; }
  // Null in plaintext mode.
  const security::KeyRing* keys() const { return keys_.get(); }

  // What an identifier column stores for `id` of `kind`: the lookup hash
  // under the active key, or `id` itself in plaintext mode.
  std::string IdKey(absl::string_view tenant, absl::string_view kind,
                    absl::string_view id) const;
  // Every value a query on an identifier column must match (column IN
  // (...)): the lookup hashes under every ring key, the active one first, or
  // just `id` in plaintext mode.
  std::vector<std::string> IdKeys(absl::string_view tenant,
                                  absl::string_view kind,
                                  absl::string_view id) const;

  // The bytes a BLOB `column` of row `row_id` stores for `plain`.
  // INTERNAL when sealing fails.
  absl::StatusOr<std::string> Seal(absl::string_view tenant,
                                   absl::string_view column,
                                   absl::string_view row_id,
                                   absl::string_view plain) const;
  // The plaintext of a stored BLOB. Sealed mode: DATA_LOSS when it fails
  // authentication (tampered, or moved from another row, column or tenant)
  // or is not sealed at all; FAILED_PRECONDITION naming the key id when the
  // key that sealed it is not in the ring.
  absl::StatusOr<std::string> Open(absl::string_view tenant,
                                   absl::string_view column,
                                   absl::string_view row_id,
                                   absl::string_view stored) const;

  // Seal/Open of a message's binary serialisation. OpenMessage adds INTERNAL
  // "<table>: stored <type> is corrupt" when the plaintext does not parse.
  absl::StatusOr<std::string> SealMessage(
      absl::string_view tenant, absl::string_view column,
      absl::string_view row_id,
      const google::protobuf::MessageLite& message) const;
  absl::Status OpenMessage(absl::string_view tenant, absl::string_view column,
                           absl::string_view row_id, absl::string_view stored,
                           google::protobuf::MessageLite* message) const;

 private:
  std::shared_ptr<const security::KeyRing> keys_;
};

// A database records the check value (KeyRing::CheckValue) of every key
// that wrote to it (`known`: key id, check value). FAILED_PRECONDITION
// "<store>: storage key '<id>' is not the key of that id that wrote this
// database; ..." when the ring holds other key material under a known id
// (never names key material); ids not in the ring are not checked.
absl::Status CheckKnownStorageKeys(
    const security::KeyRing& keys,
    const std::vector<std::pair<std::string, std::string>>& known,
    absl::string_view store);

}  // namespace attune::store

#endif  // ATTUNE_SERVICE_STORE_COMMON_PROTECTION_H_
