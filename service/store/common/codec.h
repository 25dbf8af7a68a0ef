// How values are laid out in the stores' columns, the same in every backend:
// times as Unix nanoseconds (SQLite INTEGER, PostgreSQL BIGINT; saturating
// at the int64 range), messages as their binary protobuf serialisation
// (BLOB, BYTEA).
#ifndef ATTUNE_SERVICE_STORE_COMMON_CODEC_H_
#define ATTUNE_SERVICE_STORE_COMMON_CODEC_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message_lite.h"
#include "google/protobuf/timestamp.pb.h"

namespace attune::store {

int64_t TimestampToNanos(const google::protobuf::Timestamp& timestamp);
int64_t TimeToNanos(absl::Time time);

// INTERNAL (naming `context`) when the message cannot be serialised.
absl::StatusOr<std::string> SerializeMessage(
    const google::protobuf::MessageLite& message, absl::string_view context);

// INTERNAL (naming `context`) when the stored bytes do not parse.
absl::Status ParseMessage(absl::string_view bytes,
                          google::protobuf::MessageLite* message,
                          absl::string_view context);

}  // namespace attune::store

#endif  // ATTUNE_SERVICE_STORE_COMMON_CODEC_H_
