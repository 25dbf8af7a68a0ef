#include "service/ops/http_endpoint.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "service/common/log.h"

namespace attune::ops {
namespace {

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return status < 500 ? "Client Error" : "Server Error";
  }
}

// Milliseconds left until `deadline`, at least 0, for poll().
int MillisLeft(absl::Time deadline) {
  const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
  return ms <= 0 ? 0 : static_cast<int>(std::min<int64_t>(ms, 60000));
}

bool WaitFor(int fd, short events, absl::Time deadline) {
  pollfd p{fd, events, 0};
  while (true) {
    const int rc = poll(&p, 1, MillisLeft(deadline));
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) return false;
  }
}

// Writes all of `data` before `deadline`; false when the peer went away or
// was too slow.
bool SendAll(int fd, std::string_view data, absl::Time deadline) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
        WaitFor(fd, POLLOUT, deadline)) {
      continue;
    }
    return false;
  }
  return true;
}

// absl::StrSplit takes absl::string_view, which is not std's here.
std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    const size_t at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

struct Request {
  int status = 0;  // non-zero: answer with this error
  std::string method;
  std::string path;
};

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < 'A' || c > 'Z') return false;
  }
  return true;
}

// Parses the head of a request (request line and headers, terminator
// excluded).
Request Parse(std::string_view head) {
  Request r;
  std::vector<std::string_view> lines = Split(head, '\n');
  for (std::string_view& line : lines) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  }
  std::vector<std::string_view> parts = Split(lines.front(), ' ');
  if (parts.size() != 3 || !IsToken(parts[0]) || parts[1].empty() ||
      parts[1].front() != '/' ||
      (parts[2] != "HTTP/1.1" && parts[2] != "HTTP/1.0")) {
    r.status = 400;
    return r;
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == std::string_view::npos || colon == 0) {
      r.status = 400;
      return r;
    }
  }
  r.method = std::string(parts[0]);
  std::string_view target = parts[1];
  if (auto q = target.find('?'); q != std::string_view::npos) {
    target = target.substr(0, q);
  }
  r.path = std::string(target);
  return r;
}

// Splits "host:port" / "[v6]:port"; false when it is neither.
bool SplitHostPort(const std::string& address, std::string& host,
                   std::string& port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size()) return false;
  host = address.substr(0, colon);
  port = address.substr(colon + 1);
  if (port.find_first_not_of("0123456789") != std::string::npos ||
      port.size() > 5) {
    return false;
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return false;  // an IPv6 address needs brackets
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(
    Options options) {
  std::string host, port;
  if (!SplitHostPort(options.listen_address, host, port)) {
    return absl::InvalidArgumentError(
        "ops.listen_address: must be host:port ([host]:port for IPv6)");
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(),
                                 port.c_str(), &hints, &found);
      rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("ops.listen_address: cannot resolve ",
                     options.listen_address, ": ", gai_strerror(rc)));
  }
  std::unique_ptr<HttpEndpoint> e(new HttpEndpoint());
  int error = 0;
  for (addrinfo* a = found; a != nullptr && e->listen_fd_ < 0; a = a->ai_next) {
    const int fd =
        socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
               a->ai_protocol);
    if (fd < 0) {
      error = errno;
      continue;
    }
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 64) != 0) {
      error = errno;
      close(fd);
      continue;
    }
    e->listen_fd_ = fd;
  }
  freeaddrinfo(found);
  if (e->listen_fd_ < 0) {
    return absl::UnavailableError(
        absl::StrCat("ops.listen_address: cannot listen on ",
                     options.listen_address, ": ", std::strerror(error)));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  getsockname(e->listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  e->port_ = bound.ss_family == AF_INET6
                 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                 : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  if (pipe2(e->wake_fd_, O_CLOEXEC | O_NONBLOCK) != 0) {
    return absl::InternalError("ops endpoint: pipe2 failed");
  }
  e->options_ = std::move(options);
  HttpEndpoint* self = e.get();
  e->thread_ = std::thread([self] { self->Loop(); });
  return e;
}

HttpEndpoint::~HttpEndpoint() {
  Stop();
  for (int fd : {listen_fd_, wake_fd_[0], wake_fd_[1]}) {
    if (fd >= 0) close(fd);
  }
}

void HttpEndpoint::Stop() {
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (!stop_.exchange(true)) {
    const char byte = 1;
    if (wake_fd_[1] >= 0) (void)!write(wake_fd_[1], &byte, 1);
  }
  if (thread_.joinable()) thread_.join();
  // Refuse connections from now on rather than leave them in the backlog.
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    listen_fd_ = -1;
  }
}

void HttpEndpoint::Loop() {
  pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_[0], POLLIN, 0}};
  while (!stop_.load()) {
    const int rc = poll(fds, 2, -1);
    if (rc < 0 && errno != EINTR) {
      ATTUNE_LOG(ERROR) << "ops endpoint: poll failed"
                        << LogField("errno", errno);
      return;
    }
    if (stop_.load()) return;
    if (rc <= 0 || !(fds[0].revents & POLLIN)) continue;
    const int fd =
        accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) continue;  // the peer gave up, or out of descriptors
    Serve(fd);
    close(fd);
  }
}

void HttpEndpoint::Serve(int fd) {
  const absl::Time deadline = absl::Now() + options_.io_timeout;
  std::string buffer;
  size_t head_end = std::string::npos;
  int error = 0;
  char chunk[2048];
  while (head_end == std::string::npos) {
    if (buffer.size() > kMaxRequestBytes) {
      error = 431;
      break;
    }
    const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      // Search only where a terminator can newly end.
      const size_t from = buffer.size() < 3 ? 0 : buffer.size() - 3;
      buffer.append(chunk, static_cast<size_t>(n));
      for (size_t i = from; i < buffer.size(); ++i) {
        if (buffer.compare(i, 4, "\r\n\r\n") == 0) {
          head_end = i;
          break;
        }
        if (buffer.compare(i, 2, "\n\n") == 0) {
          head_end = i;
          break;
        }
      }
      if (head_end != std::string::npos && head_end > kMaxRequestBytes) {
        error = 431;
      }
      continue;
    }
    if (n == 0) {
      if (buffer.empty()) return;  // connected and left: a port check
      error = 400;
      break;
    }
    if (errno == EINTR) continue;
    if ((errno == EAGAIN || errno == EWOULDBLOCK) &&
        WaitFor(fd, POLLIN, deadline)) {
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      error = 408;
      break;
    }
    return;  // reset by the peer
  }

  HttpResponse response;
  std::string extra_headers;
  bool head = false;
  if (error != 0) {
    response.status = error;
  } else {
    Request request = Parse(std::string_view(buffer).substr(0, head_end));
    head = request.method == "HEAD";
    if (request.status != 0) {
      response.status = request.status;
    } else if (request.method != "GET" && !head) {
      response.status = 405;
      extra_headers = "Allow: GET, HEAD\r\n";
    } else if (auto route = options_.routes.find(request.path);
               route == options_.routes.end()) {
      response.status = 404;
    } else {
      response = route->second();
    }
  }
  if (response.status != 200 && response.body.empty()) {
    response.body =
        absl::StrCat(response.status, " ", Reason(response.status), "\n");
  }
  std::string out =
      absl::StrCat("HTTP/1.1 ", response.status, " ", Reason(response.status),
                   "\r\nContent-Type: ", response.content_type,
                   "\r\nContent-Length: ", response.body.size(),
                   "\r\nCache-Control: no-store\r\nConnection: close\r\n",
                   extra_headers, "\r\n");
  if (!head) out += response.body;
  if (!SendAll(fd, out, deadline)) return;
  // Half-close, then read what the client still sends (an oversize request)
  // for a moment, so closing does not reset the connection before the
  // client has read the response.
  shutdown(fd, SHUT_WR);
  const absl::Time linger =
      std::min(deadline, absl::Now() + absl::Milliseconds(200));
  size_t drained = 0;
  while (drained < 64 * 1024) {
    const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      drained += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
        WaitFor(fd, POLLIN, linger)) {
      continue;
    }
    break;
  }
}

}  // namespace attune::ops
