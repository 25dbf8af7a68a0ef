// The one conversion from absl::Status to grpc::Status, at the server edge.
#ifndef ATTUNE_SERVICE_SERVER_STATUS_CONVERSION_H_
#define ATTUNE_SERVICE_SERVER_STATUS_CONVERSION_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace attune::server {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace attune::server

#endif  // ATTUNE_SERVICE_SERVER_STATUS_CONVERSION_H_
