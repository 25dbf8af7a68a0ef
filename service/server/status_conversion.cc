#include "service/server/status_conversion.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/any.pb.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/unknown_field_set.h"

namespace attune::server {
namespace {

using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;
using google::protobuf::io::CodedOutputStream;

// Field numbers of google.rpc.Status and google.rpc.RetryInfo
// (googleapis: google/rpc/status.proto, google/rpc/error_details.proto).
constexpr int kStatusCode = 1;
constexpr int kStatusMessage = 2;
constexpr int kStatusDetails = 3;
constexpr int kRetryInfoRetryDelay = 1;

constexpr uint32_t kWireVarint = 0;
constexpr uint32_t kWireLengthDelimited = 2;

// The most google.protobuf.Duration can hold (its documented range).
constexpr int64_t kMaxDurationSeconds = 315576000000;

uint32_t Tag(int field, uint32_t wire_type) {
  return (static_cast<uint32_t>(field) << 3) | wire_type;
}

void WriteBytes(CodedOutputStream& out, int field, absl::string_view bytes) {
  out.WriteTag(Tag(field, kWireLengthDelimited));
  out.WriteVarint32(static_cast<uint32_t>(bytes.size()));
  out.WriteRaw(bytes.data(), static_cast<int>(bytes.size()));
}

// A serialized google.rpc.Status.
std::string EncodeRpcStatus(int code, absl::string_view message,
                            const std::vector<google::protobuf::Any>& details) {
  std::string encoded;
  {
    google::protobuf::io::StringOutputStream raw(&encoded);
    CodedOutputStream out(&raw);
    // proto3: default values are not written.
    if (code != 0) {
      out.WriteTag(Tag(kStatusCode, kWireVarint));
      out.WriteVarint32SignExtended(code);
    }
    if (!message.empty()) WriteBytes(out, kStatusMessage, message);
    for (const google::protobuf::Any& any : details) {
      WriteBytes(out, kStatusDetails, any.SerializeAsString());
    }
  }
  return encoded;
}

// A serialized google.rpc.RetryInfo.
std::string EncodeRetryInfo(absl::Duration delay) {
  google::protobuf::Duration d;
  if (delay > absl::ZeroDuration()) {
    const int64_t seconds = absl::IDivDuration(delay, absl::Seconds(1), &delay);
    if (seconds >= kMaxDurationSeconds) {
      d.set_seconds(kMaxDurationSeconds);
    } else {
      d.set_seconds(seconds);
      d.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(delay)));
    }
  }
  std::string encoded;
  {
    google::protobuf::io::StringOutputStream raw(&encoded);
    CodedOutputStream out(&raw);
    WriteBytes(out, kRetryInfoRetryDelay, d.SerializeAsString());
  }
  return encoded;
}

std::optional<absl::Duration> DecodeRetryInfo(const std::string& encoded) {
  UnknownFieldSet fields;
  if (!fields.ParseFromString(encoded)) return std::nullopt;
  for (int i = 0; i < fields.field_count(); ++i) {
    const UnknownField& f = fields.field(i);
    if (f.number() != kRetryInfoRetryDelay ||
        f.type() != UnknownField::TYPE_LENGTH_DELIMITED) {
      continue;
    }
    google::protobuf::Duration d;
    if (!d.ParseFromString(f.length_delimited())) return std::nullopt;
    return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
  }
  return std::nullopt;
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC share the google.rpc.Code numbering.
  const auto code = static_cast<grpc::StatusCode>(status.code());
  std::vector<google::protobuf::Any> details;
  status.ForEachPayload([&](absl::string_view type_url, const absl::Cord& v) {
    google::protobuf::Any& any = details.emplace_back();
    any.set_type_url(std::string(type_url));
    any.set_value(std::string(v));
  });
  if (details.empty()) return grpc::Status(code, std::string(status.message()));
  return grpc::Status(code, std::string(status.message()),
                      EncodeRpcStatus(static_cast<int>(status.code()),
                                      status.message(), details));
}

void SetRetryDelay(absl::Status& status, absl::Duration delay) {
  status.SetPayload(kRetryInfoTypeUrl, absl::Cord(EncodeRetryInfo(delay)));
}

std::optional<absl::Duration> RetryDelay(const absl::Status& status) {
  auto payload = status.GetPayload(kRetryInfoTypeUrl);
  if (!payload.has_value()) return std::nullopt;
  return DecodeRetryInfo(std::string(*payload));
}

std::optional<absl::Duration> RetryDelay(const grpc::Status& status) {
  if (status.error_details().empty()) return std::nullopt;
  UnknownFieldSet fields;
  if (!fields.ParseFromString(status.error_details())) return std::nullopt;
  for (int i = 0; i < fields.field_count(); ++i) {
    const UnknownField& f = fields.field(i);
    if (f.number() != kStatusDetails ||
        f.type() != UnknownField::TYPE_LENGTH_DELIMITED) {
      continue;
    }
    google::protobuf::Any any;
    if (!any.ParseFromString(f.length_delimited())) return std::nullopt;
    if (any.type_url() == kRetryInfoTypeUrl)
      return DecodeRetryInfo(any.value());
  }
  return std::nullopt;
}

}  // namespace attune::server
