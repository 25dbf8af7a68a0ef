// DataAdminServiceImpl: attune.v1.DataAdmin, operations on the stored data
// itself (proto/attune/v1/data_admin.proto).
//
// EraseClient deletes every episode of one client in the caller's tenant
// (store.h Store::EraseClient) and answers with the counts. It needs the
// admin role (CallerResolver, Rpc::kEraseClient). Errors: INVALID_ARGUMENT
// "client_id: must not be empty" / "client_id: at most 128 bytes"; the
// caller's UNAUTHENTICATED / PERMISSION_DENIED; the store's UNAVAILABLE or
// INTERNAL. The log gets counts only, never the client id.
//
// Threading: the store work runs on the worker pool, never on a gRPC
// callback thread; every method may be called concurrently.
#ifndef ATTUNE_SERVICE_SERVER_DATA_ADMIN_SERVICE_H_
#define ATTUNE_SERVICE_SERVER_DATA_ADMIN_SERVICE_H_

#include <functional>

#include "attune/v1/data_admin.grpc.pb.h"
#include "service/server/audit_trail.h"
#include "service/server/caller.h"
#include "service/server/worker_pool.h"
#include "service/store/store.h"

namespace attune::server {

// Longest client_id EraseClient accepts: SessionEvent.client_id's limit.
inline constexpr size_t kMaxClientIdBytes = 128;

class DataAdminServiceImpl final : public v1::DataAdmin::CallbackService {
 public:
  // `callers` decides each call's tenant and whether it holds the admin
  // role (caller.h); null means tenant "default" with every role. `audit`
  // gets one row per call, refused ones included, on the client's
  // pseudonym ("client:<lookup hash>", audit_trail.h); null records
  // nothing. None is owned; all outlive the service. `erased` runs after
  // every erasure that removed something (the server drops the engine's
  // in-memory episodes with it).
  DataAdminServiceImpl(store::Store* store, WorkerPool* pool,
                       const CallerResolver* callers = nullptr,
                       AuditTrail* audit = nullptr,
                       std::function<void()> erased = {});

  grpc::ServerUnaryReactor* EraseClient(grpc::CallbackServerContext* ctx,
                                        const v1::EraseClientRequest* req,
                                        v1::EraseClientResponse* resp) override;

 private:
  store::Store* store_;
  WorkerPool* pool_;
  const CallerResolver* callers_;
  AuditTrail* audit_;
  std::function<void()> erased_;
};

}  // namespace attune::server

#endif  // ATTUNE_SERVICE_SERVER_DATA_ADMIN_SERVICE_H_
