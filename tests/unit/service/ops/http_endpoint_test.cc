// HttpEndpoint over real sockets: routes, methods, malformed, oversize and
// slow requests, concurrent scrapes, stop.
#include "service/ops/http_endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace attune::ops {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  timeval timeout{10, 0};  // a hung endpoint fails the test, not hangs it
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return fd;
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, n);
  return out;
}

// Sends `request` as is and returns everything the endpoint answers.
std::string Exchange(int port, const std::string& request) {
  const int fd = Connect(port);
  if (fd < 0) return "connect failed";
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n =
        send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the endpoint may answer 431 and close early
    sent += static_cast<size_t>(n);
  }
  std::string response = ReadAll(fd);
  close(fd);
  return response;
}

std::string Get(int port, const std::string& path) {
  return Exchange(port, "GET " + path +
                            " HTTP/1.1\r\nHost: localhost\r\nUser-Agent: "
                            "test\r\n\r\n");
}

std::string BodyOf(const std::string& response) {
  const size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

class HttpEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override { StartWith(absl::Seconds(2)); }

  void StartWith(absl::Duration io_timeout) {
    if (endpoint_) endpoint_->Stop();
    HttpEndpoint::Options options;
    options.listen_address = "127.0.0.1:0";
    options.io_timeout = io_timeout;
    options.routes["/livez"] = [] { return HttpResponse{200, "ok\n"}; };
    options.routes["/readyz"] = [this] {
      return ready_.load() ? HttpResponse{200, "ready\n"}
                           : HttpResponse{503, "not ready\n"};
    };
    options.routes["/metrics"] = [] {
      return HttpResponse{200, "attune_up 1\n",
                          "text/plain; version=0.0.4; charset=utf-8"};
    };
    auto started = HttpEndpoint::Start(std::move(options));
    ASSERT_TRUE(started.ok()) << started.status();
    endpoint_ = *std::move(started);
    ASSERT_GT(endpoint_->port(), 0);
  }

  int port() const { return endpoint_->port(); }

  std::atomic<bool> ready_{true};
  std::unique_ptr<HttpEndpoint> endpoint_;
};

TEST_F(HttpEndpointTest, ServesRoutesWithLengthAndConnectionClose) {
  const std::string r = Get(port(), "/livez");
  EXPECT_THAT(r, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(r, HasSubstr("\r\nContent-Length: 3\r\n"));
  EXPECT_THAT(r, HasSubstr("\r\nConnection: close\r\n"));
  EXPECT_EQ(BodyOf(r), "ok\n");

  const std::string m = Get(port(), "/metrics");
  EXPECT_THAT(m, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  EXPECT_EQ(BodyOf(m), "attune_up 1\n");
}

TEST_F(HttpEndpointTest, HandlerDecidesTheStatus) {
  EXPECT_THAT(Get(port(), "/readyz"), StartsWith("HTTP/1.1 200 "));
  ready_ = false;
  const std::string r = Get(port(), "/readyz");
  EXPECT_THAT(r, StartsWith("HTTP/1.1 503 Service Unavailable\r\n"));
  EXPECT_EQ(BodyOf(r), "not ready\n");
}

TEST_F(HttpEndpointTest, QueryStringIsIgnoredAndHttp10Accepted) {
  EXPECT_THAT(Get(port(), "/livez?verbose=1"), StartsWith("HTTP/1.1 200 "));
  EXPECT_THAT(Exchange(port(), "GET /livez HTTP/1.0\r\n\r\n"),
              StartsWith("HTTP/1.1 200 "));
  // Bare LF line ends, as some probes send.
  EXPECT_THAT(Exchange(port(), "GET /livez HTTP/1.1\nHost: x\n\n"),
              StartsWith("HTTP/1.1 200 "));
}

TEST_F(HttpEndpointTest, HeadSendsHeadersWithoutBody) {
  const std::string r = Exchange(port(), "HEAD /livez HTTP/1.1\r\n\r\n");
  EXPECT_THAT(r, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(r, HasSubstr("Content-Length: 3\r\n"));
  EXPECT_EQ(BodyOf(r), "");
}

TEST_F(HttpEndpointTest, UnknownPathIs404) {
  EXPECT_THAT(Get(port(), "/"), StartsWith("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_THAT(Get(port(), "/livez/"), StartsWith("HTTP/1.1 404 "));
  EXPECT_THAT(Get(port(), "/metrics.txt"), StartsWith("HTTP/1.1 404 "));
}

TEST_F(HttpEndpointTest, OtherMethodsAre405WithAllow) {
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "TRACE"}) {
    const std::string r =
        Exchange(port(), std::string(method) +
                             " /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    EXPECT_THAT(r, StartsWith("HTTP/1.1 405 Method Not Allowed\r\n")) << method;
    EXPECT_THAT(r, HasSubstr("\r\nAllow: GET, HEAD\r\n")) << method;
  }
}

TEST_F(HttpEndpointTest, MalformedRequestsAre400) {
  for (const char* request : {
           "GARBAGE\r\n\r\n",
           "get /livez HTTP/1.1\r\n\r\n",   // methods are upper case
           "GET /livez HTTP/2.0\r\n\r\n",   // not HTTP/1.x
           "GET livez HTTP/1.1\r\n\r\n",    // not origin-form
           "GET  /livez HTTP/1.1\r\n\r\n",  // two spaces
           "GET /livez HTTP/1.1\r\nno colon\r\n\r\n",
           "\r\n\r\n",
       }) {
    EXPECT_THAT(Exchange(port(), request),
                StartsWith("HTTP/1.1 400 Bad Request\r\n"))
        << request;
  }
  // Closed before the end of the headers.
  const int fd = Connect(port());
  ASSERT_GE(fd, 0);
  ASSERT_GT(send(fd, "GET /livez HTTP/1.1\r\n", 21, MSG_NOSIGNAL), 0);
  shutdown(fd, SHUT_WR);
  EXPECT_THAT(ReadAll(fd), StartsWith("HTTP/1.1 400 "));
  close(fd);
}

TEST_F(HttpEndpointTest, HeadersBeyond8KiBAre431) {
  const std::string big = "GET /livez HTTP/1.1\r\nX-Pad: " +
                          std::string(HttpEndpoint::kMaxRequestBytes, 'a') +
                          "\r\n\r\n";
  EXPECT_THAT(Exchange(port(), big),
              StartsWith("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  // Without a terminator at all, however long the stream.
  EXPECT_THAT(Exchange(port(), std::string(64 * 1024, 'G')),
              StartsWith("HTTP/1.1 431 "));
  // Just under the cap is fine.
  const std::string prefix = "GET /livez HTTP/1.1\r\nX-Pad: ";
  const std::string fits =
      prefix +
      std::string(HttpEndpoint::kMaxRequestBytes - prefix.size(), 'a') +
      "\r\n\r\n";
  EXPECT_THAT(Exchange(port(), fits), StartsWith("HTTP/1.1 200 "));
}

TEST_F(HttpEndpointTest, SlowRequestTimesOutWith408AndOthersAreServedAfter) {
  StartWith(absl::Milliseconds(200));
  const int slow = Connect(port());
  ASSERT_GE(slow, 0);
  ASSERT_GT(send(slow, "GET /livez HTTP/1.1\r\n", 21, MSG_NOSIGNAL), 0);
  // Never finished: the endpoint gives up on it after io_timeout...
  EXPECT_THAT(ReadAll(slow), StartsWith("HTTP/1.1 408 Request Timeout\r\n"));
  close(slow);
  // ...and serves the next client.
  EXPECT_THAT(Get(port(), "/livez"), StartsWith("HTTP/1.1 200 "));
}

TEST_F(HttpEndpointTest, ConcurrentScrapesAllSucceed) {
  constexpr int kThreads = 8;
  constexpr int kEach = 25;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        const std::string r = Get(port(), i % 2 ? "/metrics" : "/livez");
        if (absl::StartsWith(r, "HTTP/1.1 200 ") &&
            (BodyOf(r) == "attune_up 1\n" || BodyOf(r) == "ok\n")) {
          ++ok;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kEach);
}

TEST_F(HttpEndpointTest, StopClosesThePortAndIsIdempotent) {
  const int p = port();
  endpoint_->Stop();
  endpoint_->Stop();
  EXPECT_EQ(Connect(p), -1);
}

TEST(HttpEndpointStartTest, BadAddressesAreRefusedNamingTheField) {
  for (const char* address : {"nonsense", "127.0.0.1:", "127.0.0.1:http",
                              "::1:80", "127.0.0.1:123456"}) {
    HttpEndpoint::Options options;
    options.listen_address = address;
    auto started = HttpEndpoint::Start(std::move(options));
    ASSERT_FALSE(started.ok()) << address;
    EXPECT_EQ(started.status().code(), absl::StatusCode::kInvalidArgument)
        << address;
    EXPECT_THAT(std::string(started.status().message()),
                StartsWith("ops.listen_address: "));
  }
}

TEST(HttpEndpointStartTest, PortInUseIsUnavailable) {
  HttpEndpoint::Options first;
  first.listen_address = "127.0.0.1:0";
  auto a = HttpEndpoint::Start(std::move(first));
  ASSERT_TRUE(a.ok()) << a.status();
  HttpEndpoint::Options second;
  second.listen_address = "127.0.0.1:" + std::to_string((*a)->port());
  auto b = HttpEndpoint::Start(std::move(second));
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(b.status().message()),
              HasSubstr("ops.listen_address: cannot listen on"));
}

TEST(HttpEndpointStartTest, ListensOnIpv6Loopback) {
  HttpEndpoint::Options options;
  options.listen_address = "[::1]:0";
  options.routes["/livez"] = [] { return HttpResponse{200, "ok\n"}; };
  auto started = HttpEndpoint::Start(std::move(options));
  if (!started.ok()) GTEST_SKIP() << "no IPv6 here: " << started.status();
  EXPECT_GT((*started)->port(), 0);
}

}  // namespace
}  // namespace attune::ops
