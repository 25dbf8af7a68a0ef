#include "service/store/common/codec.h"

#include <climits>
#include <limits>

#include "absl/strings/str_cat.h"

namespace attune::store {
namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;
// Whole seconds that still fit in int64 nanoseconds with any nanos part.
constexpr int64_t kMaxSeconds =
    std::numeric_limits<int64_t>::max() / kNanosPerSecond - 1;

}  // namespace

int64_t TimestampToNanos(const google::protobuf::Timestamp& timestamp) {
  if (timestamp.seconds() > kMaxSeconds) {
    return std::numeric_limits<int64_t>::max();
  }
  if (timestamp.seconds() < -kMaxSeconds) {
    return std::numeric_limits<int64_t>::min();
  }
  return timestamp.seconds() * kNanosPerSecond + timestamp.nanos();
}

int64_t TimeToNanos(absl::Time time) {
  if (time >= absl::FromUnixNanos(std::numeric_limits<int64_t>::max())) {
    return std::numeric_limits<int64_t>::max();
  }
  if (time <= absl::FromUnixNanos(std::numeric_limits<int64_t>::min())) {
    return std::numeric_limits<int64_t>::min();
  }
  return absl::ToUnixNanos(time);
}

absl::StatusOr<std::string> SerializeMessage(
    const google::protobuf::MessageLite& message, absl::string_view context) {
  std::string bytes;
  if (!message.SerializeToString(&bytes)) {
    return absl::InternalError(
        absl::StrCat(context, ": cannot serialise ", message.GetTypeName()));
  }
  return bytes;
}

absl::Status ParseMessage(absl::string_view bytes,
                          google::protobuf::MessageLite* message,
                          absl::string_view context) {
  if (bytes.size() > INT_MAX ||
      !message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InternalError(absl::StrCat(
        context, ": stored ", message->GetTypeName(), " is corrupt"));
  }
  return absl::OkStatus();
}

}  // namespace attune::store
