#include "service/store/common/protection.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "service/common/status_macros.h"
#include "service/store/common/codec.h"

namespace attune::store {
namespace {

// The additional authenticated data of a sealed value: where it lives.
std::string Aad(absl::string_view column, absl::string_view row_id) {
  return absl::StrCat(column, "/", row_id);
}

// "events.event" -> "events": the prefix ParseMessage errors carry.
absl::string_view Table(absl::string_view column) {
  return column.substr(0, column.find('.'));
}

}  // namespace

std::string Protection::IdKey(absl::string_view tenant, absl::string_view kind,
                              absl::string_view id) const {
  if (!sealed()) return std::string(id);
  return keys_->LookupHash(tenant, kind, id);
}

std::vector<std::string> Protection::IdKeys(absl::string_view tenant,
                                            absl::string_view kind,
                                            absl::string_view id) const {
  if (!sealed()) return {std::string(id)};
  return keys_->LookupHashes(tenant, kind, id);
}

absl::StatusOr<std::string> Protection::Seal(absl::string_view tenant,
                                             absl::string_view column,
                                             absl::string_view row_id,
                                             absl::string_view plain) const {
  if (!sealed()) return std::string(plain);
  absl::StatusOr<std::string> sealed_value =
      keys_->Seal(tenant, Aad(column, row_id), plain);
  if (!sealed_value.ok()) {
    return absl::Status(
        sealed_value.status().code(),
        absl::StrCat(column, ": ", sealed_value.status().message()));
  }
  return sealed_value;
}

absl::StatusOr<std::string> Protection::Open(absl::string_view tenant,
                                             absl::string_view column,
                                             absl::string_view row_id,
                                             absl::string_view stored) const {
  if (!sealed()) return std::string(stored);
  absl::StatusOr<std::string> plain =
      keys_->Open(tenant, Aad(column, row_id), stored);
  if (!plain.ok()) {
    return absl::Status(plain.status().code(),
                        absl::StrCat(column, ": ", plain.status().message()));
  }
  return plain;
}

absl::StatusOr<std::string> Protection::SealMessage(
    absl::string_view tenant, absl::string_view column,
    absl::string_view row_id,
    const google::protobuf::MessageLite& message) const {
  ATTUNE_ASSIGN_OR_RETURN(std::string bytes, SerializeMessage(message, column));
  return Seal(tenant, column, row_id, bytes);
}

absl::Status Protection::OpenMessage(
    absl::string_view tenant, absl::string_view column,
    absl::string_view row_id, absl::string_view stored,
    google::protobuf::MessageLite* message) const {
  if (!sealed()) return ParseMessage(stored, message, Table(column));
  ATTUNE_ASSIGN_OR_RETURN(std::string bytes,
                          Open(tenant, column, row_id, stored));
  return ParseMessage(bytes, message, Table(column));
}

absl::Status CheckKnownStorageKeys(
    const security::KeyRing& keys,
    const std::vector<std::pair<std::string, std::string>>& known,
    absl::string_view store) {
  for (const auto& [id, check_value] : known) {
    absl::StatusOr<std::string> ours = keys.CheckValue(id);
    if (!ours.ok()) continue;  // Not in the ring (any more): nothing to check.
    if (*ours != check_value) {
      return absl::FailedPreconditionError(absl::StrCat(
          store, ": storage key '", id,
          "' is not the key of that id that wrote this database; configure "
          "the key file it was written with"));
    }
  }
  return absl::OkStatus();
}

}  // namespace attune::store
