// attuned start-up and shutdown as an operator sees them.
#include <fstream>

#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/attuned_process.h"

namespace attune::testing {
namespace {

TEST(StartupTest, HealthIsServingOnceStarted) {
  AttunedProcess server(MakeTempDir("health"));
  ASSERT_TRUE(server.Start()) << server.Log();
  auto health = grpc::health::v1::Health::NewStub(server.channel());
  for (const char* service : {"", "attune.v1.AllianceService"}) {
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    grpc::health::v1::HealthCheckResponse resp;
    ASSERT_TRUE(health->Check(Context().get(), req, &resp).ok());
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }
  health.reset();
  EXPECT_EQ(server.Stop(), 0);
  EXPECT_NE(server.Log().find("shutting down"), std::string::npos);
}

TEST(StartupTest, RefusesANonLoopbackAddressWithoutTls) {
  AttunedProcess server(MakeTempDir("remote"), {"--listen", "0.0.0.0:0"});
  EXPECT_FALSE(server.Start());
  EXPECT_EQ(server.Stop(), 1);
  EXPECT_NE(server.Log().find("listen_address: is not a loopback address"),
            std::string::npos)
      << server.Log();
}

TEST(StartupTest, InsecureRemoteIsAllowedButLoud) {
  AttunedProcess server(MakeTempDir("remote-ok"),
                        {"--listen", "0.0.0.0:0", "--insecure_remote"});
  ASSERT_TRUE(server.Start()) << server.Log();
  EXPECT_EQ(server.Stop(), 0);
  EXPECT_NE(server.Log().find("INSECURE"), std::string::npos);
}

TEST(StartupTest, BadConfigStopsStartupNamingFileAndLine) {
  std::string dir = MakeTempDir("badconfig");
  std::string path = dir + "/attuned.textproto";
  std::ofstream(path)
      << "rules {\n  phase { goals_expected_by_sesion: 3 }\n}\n";
  AttunedProcess server(dir, {"--config", path});
  EXPECT_FALSE(server.Start());
  EXPECT_EQ(server.Stop(), 1);
  EXPECT_NE(server.Log().find(path + ":2:"), std::string::npos) << server.Log();
}

TEST(StartupTest, OutOfRangeThresholdNamesTheField) {
  std::string dir = MakeTempDir("range");
  std::string path = dir + "/attuned.textproto";
  std::ofstream(path) << "rules { budget { max_visible_per_episode: 0 } }\n";
  AttunedProcess server(dir, {"--config", path});
  EXPECT_FALSE(server.Start());
  EXPECT_EQ(server.Stop(), 1);
  EXPECT_NE(server.Log().find("max_visible_per_episode"), std::string::npos)
      << server.Log();
}

}  // namespace
}  // namespace attune::testing
