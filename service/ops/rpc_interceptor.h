// The gRPC server interceptor behind attune_rpc_duration_seconds and
// request ids: registered once on the ServerBuilder, so no handler changes.
//
//   std::vector<std::unique_ptr<
//       grpc::experimental::ServerInterceptorFactoryInterface>> creators;
//   creators.push_back(ops::MakeRpcInterceptorFactory(&metrics, methods));
//   builder.experimental().SetInterceptorCreators(std::move(creators));
//
// For every call it
//   - sets the request id (request_id.h) before the handler runs: the
//     caller's x-request-id when valid, else a new one, stored in the call's
//     client metadata for RequestIdOf, and sent back in the initial metadata;
//   - observes the time from the call's arrival to the status it sends
//     (for a stream, when it closes; CANCELLED when none was sent), labelled
//     with the method, or "other" for a method not in `methods`, since a
//     client can ask for any name.
//
// Ownership: `metrics` must outlive the server. Threading: gRPC's.
#ifndef ATTUNE_SERVICE_OPS_RPC_INTERCEPTOR_H_
#define ATTUNE_SERVICE_OPS_RPC_INTERCEPTOR_H_

#include <memory>
#include <set>
#include <string>

#include "grpcpp/support/server_interceptor.h"
#include "service/ops/metrics.h"

namespace attune::ops {

// `methods`: the served methods, as "package.Service/Method".
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeRpcInterceptorFactory(Metrics* metrics, std::set<std::string> methods);

// The methods of the named services in the generated descriptor pool, as
// "package.Service/Method" (unknown names are skipped).
std::set<std::string> MethodsOf(const std::set<std::string>& services);

}  // namespace attune::ops

#endif  // ATTUNE_SERVICE_OPS_RPC_INTERCEPTOR_H_
