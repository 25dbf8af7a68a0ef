#include "service/ctl/channel.h"

#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/client_interceptor.h"

namespace attune::ctl {
namespace {

absl::StatusOr<std::string> ReadFlagFile(const CommandLine& line,
                                         const std::string& flag) {
  const std::string path = line.Get(flag);
  std::ifstream in(path, std::ios::binary);
  if (path.empty() || !in) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": cannot read ", path));
  }
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

bool IsLocalServer(const std::string& server) {
  for (const char* prefix : {"unix:", "127.", "localhost:", "[::1]:"}) {
    if (absl::StartsWith(server, prefix)) return true;
  }
  return false;
}

// Adds the bearer token to every call, whatever the channel's security: gRPC
// call credentials are withheld on plain-text channels, which the loopback
// sidecar with auth needs.
class BearerInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit BearerInterceptor(const std::string* header) : header_(header) {}
  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::
                PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->insert({"authorization", *header_});
    }
    methods->Proceed();
  }

 private:
  const std::string* header_;
};

class BearerInterceptorFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit BearerInterceptorFactory(std::string token)
      : header_("Bearer " + std::move(token)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new BearerInterceptor(&header_);
  }

 private:
  // Lives as long as the channel, which owns the factory.
  const std::string header_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenChannel(
    const CommandLine& line, const std::string& server) {
  const bool tls =
      line.Has("tls-ca") || line.Has("tls-cert") || line.Has("tls-key");
  if (line.Has("tls-cert") != line.Has("tls-key")) {
    return absl::InvalidArgumentError(line.Has("tls-cert")
                                          ? "--tls-cert needs --tls-key"
                                          : "--tls-key needs --tls-cert");
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::InsecureChannelCredentials();
  if (tls) {
    grpc::SslCredentialsOptions options;
    if (line.Has("tls-ca")) {
      absl::StatusOr<std::string> ca = ReadFlagFile(line, "tls-ca");
      if (!ca.ok()) return ca.status();
      options.pem_root_certs = *std::move(ca);
    }
    if (line.Has("tls-cert")) {
      absl::StatusOr<std::string> cert = ReadFlagFile(line, "tls-cert");
      if (!cert.ok()) return cert.status();
      absl::StatusOr<std::string> key = ReadFlagFile(line, "tls-key");
      if (!key.ok()) return key.status();
      options.pem_cert_chain = *std::move(cert);
      options.pem_private_key = *std::move(key);
    }
    credentials = grpc::SslCredentials(options);
  }

  // Batch responses run to a few KiB per event: allow what attuned may send.
  grpc::ChannelArguments channel_args;
  channel_args.SetMaxReceiveMessageSize(64 << 20);
  if (!line.Has("token-file")) {
    return grpc::CreateCustomChannel(server, credentials, channel_args);
  }
  if (!tls && !IsLocalServer(server)) {
    return absl::InvalidArgumentError(
        "--token-file: would send the token in clear text to a remote "
        "server; add --tls-ca");
  }
  absl::StatusOr<std::string> token = ReadFlagFile(line, "token-file");
  if (!token.ok()) return token.status();
  std::string trimmed(absl::StripAsciiWhitespace(*token));
  // One compact JWS: never a line break or space, which would also let the
  // file inject further metadata.
  if (trimmed.empty() ||
      trimmed.find_first_of(" \t\r\n") != std::string::npos) {
    return absl::InvalidArgumentError(
        "--token-file: must hold one token on one line");
  }
  std::vector<
      std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(
      std::make_unique<BearerInterceptorFactory>(std::move(trimmed)));
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      server, credentials, channel_args, std::move(interceptors));
}

}  // namespace attune::ctl
