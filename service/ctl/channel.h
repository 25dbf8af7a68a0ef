// attunectl's channel to attuned, from the global flags:
//
//   --tls-ca FILE     verify the server's certificate against these PEM CAs
//                     (implies TLS)
//   --tls-cert FILE   client certificate chain for mutual TLS (with
//   --tls-key FILE    its private key; implies TLS, system roots without
//                     --tls-ca)
//   --token-file FILE bearer token (a JWT) sent as "authorization: Bearer"
//                     with every call; the file's content is never printed
//
// Without TLS flags the channel is plain text (the loopback sidecar). A token
// is refused over plain text to anything but loopback or a Unix socket: it
// would cross the network in clear.
#ifndef ATTUNE_SERVICE_CTL_CHANNEL_H_
#define ATTUNE_SERVICE_CTL_CHANNEL_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "service/ctl/command_line.h"

namespace attune::ctl {

// INVALID_ARGUMENT naming the flag ("--tls-key: cannot read FILE", "--tls-cert
// needs --tls-key") when the flags do not make a channel. Files are read
// here, once.
absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenChannel(
    const CommandLine& line, const std::string& server);

}  // namespace attune::ctl

#endif  // ATTUNE_SERVICE_CTL_CHANNEL_H_
