#include "service/server/status_conversion.h"

#include <string>

#include "gtest/gtest.h"

namespace attune::server {
namespace {

TEST(StatusConversionTest, CodeAndMessagePassUnchangedWithoutDetails) {
  grpc::Status s = ToGrpcStatus(absl::NotFoundError("episode_id: no such"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), "episode_id: no such");
  EXPECT_TRUE(s.error_details().empty());
  EXPECT_EQ(RetryDelay(s), std::nullopt);
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

// The bytes Google's own generated code writes for
//   google.rpc.Status{code: 8, message: "slow down",
//     details: [Any(google.rpc.RetryInfo{retry_delay: 1.5s})]}
// (googleapis error_details_pb2/status_pb2, Python protobuf), so clients with
// the googleapis protos read what attuned sends.
constexpr char kGoogleEncoding[] =
    "\x08\x08\x12\x09slow down\x1a\x36\x0a\x28"
    "type.googleapis.com/google.rpc.RetryInfo"
    "\x12\x0a\x0a\x08\x08\x01\x10\x80\xca\xb5\xee\x01";

TEST(StatusConversionTest, RetryDelayTravelsAsGoogleRpcRetryInfo) {
  absl::Status status = absl::ResourceExhaustedError("slow down");
  SetRetryDelay(status, absl::Milliseconds(1500));
  EXPECT_EQ(RetryDelay(status), absl::Milliseconds(1500));

  grpc::Status sent = ToGrpcStatus(status);
  EXPECT_EQ(sent.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(sent.error_message(), "slow down");
  EXPECT_EQ(sent.error_details(),
            std::string(kGoogleEncoding, sizeof(kGoogleEncoding) - 1));
  EXPECT_EQ(RetryDelay(sent), absl::Milliseconds(1500));
}

TEST(StatusConversionTest, ZeroAndNegativeDelaysAreSentAsZero) {
  absl::Status status = absl::UnavailableError("later");
  SetRetryDelay(status, -absl::Seconds(3));
  EXPECT_EQ(RetryDelay(ToGrpcStatus(status)), absl::ZeroDuration());
}

TEST(StatusConversionTest, MalformedDetailsReadAsNoDelay) {
  grpc::Status garbage(grpc::StatusCode::RESOURCE_EXHAUSTED, "x",
                       std::string("\x1a\x7f\x01", 3));
  EXPECT_EQ(RetryDelay(garbage), std::nullopt);
  grpc::Status other_detail(grpc::StatusCode::RESOURCE_EXHAUSTED, "x",
                            std::string("\x1a\x0c\x0a\x0atype.x/Foo", 14));
  EXPECT_EQ(RetryDelay(other_detail), std::nullopt);
}

}  // namespace
}  // namespace attune::server
