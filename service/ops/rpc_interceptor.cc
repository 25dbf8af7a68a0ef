#include "service/ops/rpc_interceptor.h"

#include <chrono>
#include <map>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "google/protobuf/descriptor.h"
#include "service/ops/request_id.h"

namespace attune::ops {
namespace {

using grpc::experimental::InterceptionHookPoints;

std::string CodeName(grpc::StatusCode code) {
  // gRPC's codes and absl's share numbers and names.
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

class RpcInterceptor final : public grpc::experimental::Interceptor {
 public:
  RpcInterceptor(Metrics* metrics, std::string method)
      : metrics_(metrics),
        method_(std::move(method)),
        start_(std::chrono::steady_clock::now()) {}

  ~RpcInterceptor() override {
    // A call that ended without sending a status (the client cancelled).
    if (!observed_) Observe(grpc::StatusCode::CANCELLED);
  }

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      SetRequestId(methods->GetRecvInitialMetadata());
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      if (request_id_.empty()) request_id_ = NewRequestId();
      methods->GetSendInitialMetadata()->emplace(kRequestIdKey, request_id_);
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      Observe(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  // A new id, as the only x-request-id in the metadata the handler sees.
  // Whatever the caller sent under that key is dropped unread: a caller's
  // value could be an identifier (a record number), and attuned logs only
  // values it made itself. The map holds string_refs: the id lives in this
  // interceptor, which lives as long as the call.
  void SetRequestId(
      std::multimap<grpc::string_ref, grpc::string_ref>* metadata) {
    if (metadata == nullptr) return;
    if (request_id_.empty()) request_id_ = NewRequestId();
    metadata->erase(kRequestIdKey);
    metadata->emplace(kRequestIdKey, request_id_);
  }

  void Observe(grpc::StatusCode code) {
    observed_ = true;
    const std::chrono::duration<double> elapsed =
        std::chrono::steady_clock::now() - start_;
    metrics_->ObserveRpc(method_, CodeName(code), elapsed.count());
  }

  Metrics* metrics_;
  const std::string method_;
  const std::chrono::steady_clock::time_point start_;
  std::string request_id_;
  bool observed_ = false;
};

class RpcInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  RpcInterceptorFactory(Metrics* metrics, std::set<std::string> methods)
      : metrics_(metrics), methods_(std::move(methods)) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    std::string_view method = info->method() ? info->method() : "";
    if (!method.empty() && method.front() == '/') method.remove_prefix(1);
    auto known = methods_.find(std::string(method));
    return new RpcInterceptor(metrics_,
                              known == methods_.end() ? "other" : *known);
  }

 private:
  Metrics* metrics_;
  const std::set<std::string> methods_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeRpcInterceptorFactory(Metrics* metrics, std::set<std::string> methods) {
  return std::make_unique<RpcInterceptorFactory>(metrics, std::move(methods));
}

std::set<std::string> MethodsOf(const std::set<std::string>& services) {
  std::set<std::string> out;
  const google::protobuf::DescriptorPool* pool =
      google::protobuf::DescriptorPool::generated_pool();
  for (const std::string& name : services) {
    const google::protobuf::ServiceDescriptor* service =
        pool->FindServiceByName(name);
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      out.insert(name + "/" + service->method(i)->name());
    }
  }
  return out;
}

}  // namespace attune::ops
