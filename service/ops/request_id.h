// Request ids: one short token per gRPC call, for log lines about the call.
//
// The RPC interceptor (rpc_interceptor.h) gives every call a new random id
// before its handler runs. It puts the id into the call's client metadata
// (dropping whatever the caller sent under that key: a caller's value could
// be an identifier, and attuned logs only values it made itself) and
// returns it to the caller in the response's initial metadata, so a client
// correlates by logging the returned id beside its own. Handlers and the
// helpers they call read it from the call's context, explicitly:
//
//   ATTUNE_LOG(WARNING) << "call refused" << LogField("request_id",
//                                                    ops::RequestIdOf(ctx));
//
// Threading: every function is thread-safe.
#ifndef ATTUNE_SERVICE_OPS_REQUEST_ID_H_
#define ATTUNE_SERVICE_OPS_REQUEST_ID_H_

#include <string>
#include <string_view>

#include "grpcpp/server_context.h"

namespace attune::ops {

// The metadata key, in both directions.
inline constexpr char kRequestIdKey[] = "x-request-id";
inline constexpr size_t kRequestIdLength = 16;

// What NewRequestId makes: exactly 16 lowercase hex digits.
bool IsValidRequestId(std::string_view id);

// A fresh id: 16 lowercase hex digits from the OS's random source.
std::string NewRequestId();

// The call's request id as set by the interceptor; "-" for a call the
// interceptor did not see (a server built without it, e.g. in unit tests)
// unless the caller's value has the shape of an id attuned makes.
std::string RequestIdOf(const grpc::ServerContextBase& ctx);

}  // namespace attune::ops

#endif  // ATTUNE_SERVICE_OPS_REQUEST_ID_H_
