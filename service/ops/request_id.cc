#include "service/ops/request_id.h"

#include <openssl/rand.h>

#include <array>
#include <atomic>
#include <cstdint>

namespace attune::ops {

bool IsValidRequestId(std::string_view id) {
  if (id.size() != kRequestIdLength) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string NewRequestId() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::array<unsigned char, 8> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    // Ids only need to be distinct, not secret: fall back to a counter
    // rather than fail the call.
    static std::atomic<uint64_t> counter{0};
    uint64_t n = counter.fetch_add(1) + 1;
    for (unsigned char& b : bytes) {
      b = static_cast<unsigned char>(n & 0xFF);
      n >>= 8;
    }
  }
  std::string out;
  out.reserve(2 * bytes.size());
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 0xF];
  }
  return out;
}

std::string RequestIdOf(const grpc::ServerContextBase& ctx) {
  const auto& metadata = ctx.client_metadata();
  auto it = metadata.find(kRequestIdKey);
  if (it == metadata.end()) return "-";
  std::string_view id(it->second.data(), it->second.size());
  // The interceptor leaves only valid ids; without it the caller's value
  // is untrusted and never logged.
  return IsValidRequestId(id) ? std::string(id) : "-";
}

}  // namespace attune::ops
