// HttpEndpoint: the operations endpoint, a deliberately small HTTP/1.1
// server for /metrics, /livez and /readyz (OpsConfig in config.proto).
//
//   HttpEndpoint::Options options;
//   options.listen_address = "127.0.0.1:0";
//   options.routes["/livez"] = [] { return HttpResponse{200, "ok\n"}; };
//   auto endpoint = HttpEndpoint::Start(std::move(options));
//   ... (*endpoint)->port() ...
//   (*endpoint)->Stop();
//
// One thread accepts and answers connections one at a time: scrapes and
// probes are rare and cheap, and a single thread bounds what the endpoint
// can cost. Each connection carries one request (Connection: close) and
// gets `io_timeout` in all to send its request line and headers (at most
// kMaxRequestBytes; a body is never read) and to take the response, so a
// slow client holds up the others for at most that long. GET and HEAD only
// (405 with Allow otherwise), exact paths (a query string is ignored; 404
// otherwise), 400 for a malformed request, 431 for an oversize one, 408
// when the request does not arrive in time. Request contents are never
// logged or echoed.
//
// Threading: handlers run on the endpoint's thread, one at a time; Stop may
// be called from any other thread and waits for the request in hand.
#ifndef ATTUNE_SERVICE_OPS_HTTP_ENDPOINT_H_
#define ATTUNE_SERVICE_OPS_HTTP_ENDPOINT_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace attune::ops {

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "text/plain; charset=utf-8";
};

using HttpHandler = std::function<HttpResponse()>;

class HttpEndpoint {
 public:
  static constexpr size_t kMaxRequestBytes = 8192;

  struct Options {
    // host:port; "[::1]:port" for IPv6; port 0 picks a free port.
    std::string listen_address;
    // Exact path -> handler.
    std::map<std::string, HttpHandler> routes;
    absl::Duration io_timeout = absl::Seconds(2);
  };

  // Binds and starts the thread. INVALID_ARGUMENT "ops.listen_address: ..."
  // for an address that is not host:port; UNAVAILABLE when it cannot be
  // bound.
  static absl::StatusOr<std::unique_ptr<HttpEndpoint>> Start(Options options);
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  int port() const { return port_; }
  // Finishes the connection in hand, joins the thread and closes the port
  // (later connections are refused). Idempotent.
  void Stop();

 private:
  HttpEndpoint() = default;
  void Loop();
  void Serve(int fd);

  Options options_;
  int listen_fd_ = -1;
  // Written by Stop to wake the loop's poll.
  int wake_fd_[2] = {-1, -1};
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex stop_mu_;  // one Stop at a time
  std::thread thread_;
};

}  // namespace attune::ops

#endif  // ATTUNE_SERVICE_OPS_HTTP_ENDPOINT_H_
