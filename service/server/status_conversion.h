// The one conversion from absl::Status to grpc::Status, at the server edge,
// and the retry advice a status can carry.
//
//   absl::Status s = absl::ResourceExhaustedError("... retry after 40 ms");
//   SetRetryDelay(s, absl::Milliseconds(40));
//   reactor->Finish(ToGrpcStatus(s));   // code, message, RetryInfo detail
//
// Details travel as gRPC's binary status details ("grpc-status-details-bin"):
// a serialized google.rpc.Status whose `details` hold one google.protobuf.Any
// per payload of the absl::Status (absl payloads are keyed by the same type
// URLs). Debian 12 ships no C++ code for google/rpc/*.proto, so the two small
// messages involved (google.rpc.Status and RetryInfo) are written and read
// field by field here with protobuf's wire format; any client with the
// googleapis protos (grpc-status in Go, Java, Python) decodes them as usual.
#ifndef ATTUNE_SERVICE_SERVER_STATUS_CONVERSION_H_
#define ATTUNE_SERVICE_SERVER_STATUS_CONVERSION_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/support/status.h"

namespace attune::server {

// Type URL of google.rpc.RetryInfo, the key of its absl::Status payload.
inline constexpr char kRetryInfoTypeUrl[] =
    "type.googleapis.com/google.rpc.RetryInfo";

// Code and message as they are; every payload of `status` becomes one Any
// in the binary details (none: no details).
grpc::Status ToGrpcStatus(const absl::Status& status);

// Attaches google.rpc.RetryInfo{retry_delay: `delay`} to a non-OK `status`
// (no effect on OK). Negative delays are sent as zero.
void SetRetryDelay(absl::Status& status, absl::Duration delay);

// The RetryInfo delay `status` carries (SetRetryDelay), if any.
std::optional<absl::Duration> RetryDelay(const absl::Status& status);

// The RetryInfo delay in the binary details of a received grpc::Status, if
// any (clients and tests). Malformed details read as none.
std::optional<absl::Duration> RetryDelay(const grpc::Status& status);

}  // namespace attune::server

#endif  // ATTUNE_SERVICE_SERVER_STATUS_CONVERSION_H_
