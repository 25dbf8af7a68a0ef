// The operations endpoint of a real attuned: /metrics after real calls
// (counts, labels, no identifiers), request ids in responses and in JSON
// log lines, and the SIGTERM drain (/readyz 503 and NOT_SERVING while an
// in-flight call still completes, then exit 0).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "attune/v1/rule_module.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/common/prometheus_text.h"
#include "tests/integration/attuned_process.h"
#include "tests/integration/episode_script.h"

namespace attune::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct HttpResult {
  int status = 0;
  std::string body;
};

// One GET over a fresh connection; status 0 when nothing answered.
HttpResult HttpGet(int port, const std::string& path) {
  HttpResult result;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return result;
  }
  const std::string request =
      "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) {
    close(fd);
    return result;
  }
  std::string response;
  char buf[8192];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) response.append(buf, n);
  close(fd);
  if (!absl::StartsWith(response, "HTTP/1.1 ")) return result;
  result.status = std::atoi(response.c_str() + 9);
  const size_t body = response.find("\r\n\r\n");
  if (body != std::string::npos) result.body = response.substr(body + 4);
  return result;
}

constexpr auto& Value = attune::testing::MetricValue;

std::string Rpc(const std::string& method) {
  return "method=\"attune.v1.AllianceService/" + method + "\"";
}

grpc::Status Submit(v1::AllianceService::Stub& stub, const v1::SessionEvent& e,
                    v1::SubmitEventResponse* out = nullptr,
                    const std::string& request_id = "",
                    std::string* returned_id = nullptr) {
  v1::SubmitEventRequest req;
  *req.mutable_event() = e;
  v1::SubmitEventResponse resp;
  auto ctx = Context();
  if (!request_id.empty()) ctx->AddMetadata("x-request-id", request_id);
  grpc::Status s = stub.SubmitEvent(ctx.get(), req, &resp);
  if (out != nullptr) *out = resp;
  if (returned_id != nullptr) {
    const auto& md = ctx->GetServerInitialMetadata();
    auto it = md.find("x-request-id");
    *returned_id = it == md.end()
                       ? "<none>"
                       : std::string(it->second.data(), it->second.size());
  }
  return s;
}

constexpr char kClient[] = "client-OPSX-7f3a";
constexpr char kClinician[] = "clin-OPSX-91b2";
constexpr char kEpisode[] = "ep-OPSX-55c1";

TEST(OpsIntegrationTest, MetricsCountRealCallsWithLabelsAndNoIdentifiers) {
  AttunedProcess server(MakeTempDir("ops-metrics"));
  ASSERT_TRUE(server.Start()) << server.Log();
  ASSERT_GT(server.ops_port(), 0) << "attuned printed no ops line";
  EXPECT_EQ(HttpGet(server.ops_port(), "/livez").status, 200);
  EXPECT_EQ(HttpGet(server.ops_port(), "/readyz").status, 200);
  auto stub = server.stub();

  // A steady course, then a rupture: session 5 challenging, SRS down to 30.
  EpisodeScript s(kClient, kClinician, kEpisode);
  const double srs[] = {37, 38.5, 38, 39};
  std::vector<v1::SessionEvent> events;
  for (int n = 1; n <= 4; ++n) {
    events.push_back(s.Held(n));
    events.push_back(s.Srs(n, srs[n - 1]));
  }
  events.push_back(s.Held(5, /*challenging=*/true));
  for (const v1::SessionEvent& e : events) {
    ASSERT_TRUE(Submit(*stub, e).ok());
  }
  v1::SubmitEventResponse r;
  std::string returned_id;
  const v1::SessionEvent drop = s.Srs(5, 30);
  ASSERT_TRUE(Submit(*stub, drop, &r, "trace-42.a_B", &returned_id).ok());
  EXPECT_EQ(returned_id.size(), 16u) << returned_id;
  EXPECT_NE(returned_id, "trace-42.a_B") << "a caller's value is never kept";
  std::string rupture_id;
  for (const v1::Prompt& p : r.prompts()) {
    if (p.kind() == "attune.rupture/check_rupture") rupture_id = p.id();
  }
  ASSERT_FALSE(rupture_id.empty());
  // The same event again: replayed.
  ASSERT_TRUE(Submit(*stub, drop).ok());
  // Calls that succeeded; all but the replay stored an event.
  const int submitted_ok = static_cast<int>(events.size()) + 2;
  const int stored = submitted_ok - 1 + 1;  // and the feedback below

  // An invalid event (session 0), with an id that is not a safe token: the
  // call fails and gets an id of attuned's own.
  v1::SessionEvent bad = s.Held(6);
  bad.mutable_session_held()->set_session_number(0);
  EXPECT_EQ(
      Submit(*stub, bad, nullptr, "client Jane Doe", &returned_id).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(returned_id.size(), 16u) << returned_id;

  // The clinician dismisses the rupture prompt.
  v1::RecordPromptFeedbackRequest fb;
  fb.set_event_id("fb-ops-1");
  fb.set_prompt_id(rupture_id);
  fb.set_outcome(v1::PromptFeedback::OUTCOME_DISMISSED);
  fb.set_reason(v1::PromptFeedback::DISMISS_REASON_ALREADY_ADDRESSED);
  v1::RecordPromptFeedbackResponse fr;
  ASSERT_TRUE(stub->RecordPromptFeedback(Context().get(), fb, &fr).ok());

  const HttpResult scrape = HttpGet(server.ops_port(), "/metrics");
  ASSERT_EQ(scrape.status, 200);
  const std::string& text = scrape.body;

  // RPC latency by method and code: every call counted once.
  EXPECT_EQ(Value(text, "attune_rpc_duration_seconds_count{code=\"OK\"," +
                            Rpc("SubmitEvent") + "}"),
            submitted_ok);
  EXPECT_EQ(
      Value(text,
            "attune_rpc_duration_seconds_count{code=\"INVALID_ARGUMENT\"," +
                Rpc("SubmitEvent") + "}"),
      1);
  EXPECT_EQ(Value(text, "attune_rpc_duration_seconds_count{code=\"OK\"," +
                            Rpc("RecordPromptFeedback") + "}"),
            1);
  EXPECT_EQ(Value(text, "attune_rpc_duration_seconds_bucket{code=\"OK\"," +
                            Rpc("SubmitEvent") + ",le=\"+Inf\"}"),
            submitted_ok);

  // Events: the feedback is an event of the episode too.
  EXPECT_EQ(Value(text, "attune_events_total{outcome=\"accepted\"}"), stored);
  EXPECT_EQ(Value(text, "attune_events_total{outcome=\"replayed\"}"), 1);
  EXPECT_EQ(Value(text, "attune_events_total{outcome=\"rejected\"}"), 1);

  // Prompts by module, severity and status; the feedback by outcome.
  EXPECT_GE(Value(text,
                  "attune_prompts_total{module=\"attune.rupture\",severity="
                  "\"warning\",status=\"active\"}"),
            1);
  EXPECT_EQ(Value(text,
                  "attune_prompts_total{module=\"attune.rupture\",severity="
                  "\"warning\",status=\"dismissed\"}"),
            1);
  EXPECT_EQ(Value(text,
                  "attune_prompt_feedback_total{module=\"attune.rupture\","
                  "outcome=\"dismissed\"}"),
            1);

  // Modules, read from the pipeline.
  EXPECT_GE(
      Value(text, "attune_module_evaluations_total{module=\"attune.rupture\"}"),
      submitted_ok - 1);
  EXPECT_EQ(
      Value(text, "attune_module_errors_total{module=\"attune.rupture\"}"), 0);

  // Store: one commit per accepted event, grouped into batches.
  const double commits = Value(text, "attune_store_commits_total{code=\"OK\"}");
  EXPECT_EQ(commits, stored);
  EXPECT_EQ(
      Value(text, "attune_store_commit_duration_seconds_count{code=\"OK\"}"),
      commits);
  const double batches = Value(text, "attune_store_batches_total");
  EXPECT_GE(batches, 1);
  EXPECT_LE(batches, commits);

  // The one episode is read from the store once, then kept in memory.
  EXPECT_EQ(Value(text, "attune_episode_cache_lookups_total{result=\"miss\"}"),
            1);
  EXPECT_GE(Value(text, "attune_episode_cache_lookups_total{result=\"hit\"}"),
            stored - 1);
  EXPECT_EQ(Value(text, "attune_episode_cache_lookups_total{result=\"stale\"}"),
            0);
  EXPECT_EQ(Value(text, "attune_episode_cache_entries"), 1);
  EXPECT_GT(Value(text, "attune_episode_cache_bytes"), 0);

  // Nothing that identifies a person or an episode.
  for (const char* id : {kClient, kClinician, kEpisode, "OPSX", "Jane",
                         rupture_id.c_str(), "trace-42"}) {
    EXPECT_THAT(text, Not(HasSubstr(id)));
  }
  stub.reset();
  EXPECT_EQ(server.Stop(), 0) << server.Log();
}

TEST(OpsIntegrationTest, JsonLogsNameTheRequestIdOfARefusedCall) {
  const std::string dir = MakeTempDir("ops-json");
  const std::string config = dir + "/attuned.textproto";
  std::ofstream(config) << "ops { log_format: \"json\" }\n"
                           "limits { tenant_calls_per_second: 0.001 "
                           "tenant_burst: 1 }\n";
  AttunedProcess server(dir, {"--config", config});
  ASSERT_TRUE(server.Start()) << server.Log();
  auto stub = server.stub();
  // The burst allows one call; the second is refused and logged.
  grpc::StatusCode codes[2];
  std::string ids[2];
  for (int i = 0; i < 2; ++i) {
    v1::GetAssessmentRequest req;
    req.set_episode_id(kEpisode);
    v1::GetAssessmentResponse resp;
    auto ctx = Context();
    // Sent, but never logged: attuned logs only the ids it makes.
    ctx->AddMetadata("x-request-id", "MRN-" + std::to_string(4711 + i));
    codes[i] = stub->GetAssessment(ctx.get(), req, &resp).error_code();
    const auto& md = ctx->GetServerInitialMetadata();
    auto it = md.find("x-request-id");
    if (it != md.end()) ids[i].assign(it->second.data(), it->second.size());
  }
  ASSERT_EQ(ids[1].size(), 16u);
  EXPECT_NE(codes[0], grpc::StatusCode::RESOURCE_EXHAUSTED);
  ASSERT_EQ(codes[1], grpc::StatusCode::RESOURCE_EXHAUSTED);
  stub.reset();
  ASSERT_EQ(server.Stop(), 0) << server.Log();

  // Every line is one JSON object with time, level and msg; the refusal
  // names the refused call's id, and no identifier appears.
  const std::string log = server.Log();
  int refusals = 0;
  int lines = 0;
  for (const std::string& line :
       std::vector<std::string>(absl::StrSplit(log, '\n'))) {
    if (line.empty()) continue;
    ++lines;
    google::protobuf::Struct object;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &object).ok())
        << line;
    const auto& f = object.fields();
    EXPECT_TRUE(f.count("time") && f.count("level") && f.count("msg")) << line;
    if (f.count("msg") && f.at("msg").string_value() == "call refused") {
      ++refusals;
      ASSERT_TRUE(f.count("request_id")) << line;
      EXPECT_EQ(f.at("request_id").string_value(), ids[1]) << line;
    }
  }
  EXPECT_GE(lines, 3);
  EXPECT_EQ(refusals, 1) << log;
  EXPECT_THAT(log, Not(HasSubstr(kEpisode)));
  EXPECT_THAT(log, Not(HasSubstr("MRN-")));
}

// A remote rule module whose Evaluate waits until released: a call that
// stays in flight for as long as the test wants.
class GateModule final : public v1::RuleModule::Service {
 public:
  grpc::Status Describe(grpc::ServerContext*, const v1::DescribeModulesRequest*,
                        v1::DescribeModulesResponse* resp) override {
    v1::ModuleDescriptor* m = resp->add_modules();
    m->set_id("test.gate");
    m->set_version("1.0.0");
    m->set_description("holds every evaluation until released");
    return grpc::Status::OK;
  }
  grpc::Status Evaluate(grpc::ServerContext*, const v1::EvaluateRequest*,
                        v1::EvaluateResponse*) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++entered_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return released_; });
    return grpc::Status::OK;
  }
  bool WaitEntered() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(20),
                        [this] { return entered_ > 0; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int entered_ = 0;
  bool released_ = false;
};

// Polls `path` until it answers `status` (or 20 s pass).
bool AwaitStatus(int port, const std::string& path, int status) {
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < until) {
    if (HttpGet(port, path).status == status) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// SIGTERM while a call is in flight: not ready at once, the call still
// completes OK, exit 0. With shutdown_drain_seconds the port stays open
// through the drain (health answers NOT_SERVING), and a second SIGTERM ends
// the drain early.
void RunDrain(bool with_drain_seconds) {
  GateModule gate;
  grpc::ServerBuilder builder;
  int gate_port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &gate_port);
  builder.RegisterService(&gate);
  std::unique_ptr<grpc::Server> gate_server = builder.BuildAndStart();
  ASSERT_NE(gate_server, nullptr);

  const std::string dir = MakeTempDir("ops-drain");
  const std::string config = dir + "/attuned.textproto";
  std::ofstream(config) << "shutdown_grace_seconds: 30\n"
                        << "shutdown_drain_seconds: "
                        << (with_drain_seconds ? 120 : 0) << "\n"
                        << "remote_modules { address: \"127.0.0.1:" << gate_port
                        << "\" deadline_ms: 60000 }\n";
  AttunedProcess server(dir, {"--config", config});
  ASSERT_TRUE(server.Start()) << server.Log();
  ASSERT_EQ(HttpGet(server.ops_port(), "/readyz").status, 200);

  grpc::Status in_flight;
  std::thread call([&] {
    auto channel = grpc::CreateChannel(server.address(),
                                       grpc::InsecureChannelCredentials());
    auto stub = v1::AllianceService::NewStub(channel);
    EpisodeScript s(kClient, kClinician, kEpisode);
    v1::SubmitEventRequest req;
    *req.mutable_event() = s.Held(1);
    v1::SubmitEventResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(60));
    in_flight = stub->SubmitEvent(&ctx, req, &resp);
  });
  ASSERT_TRUE(gate.WaitEntered()) << server.Log();

  ASSERT_TRUE(server.Signal(SIGTERM));
  EXPECT_TRUE(AwaitStatus(server.ops_port(), "/readyz", 503)) << server.Log();
  EXPECT_EQ(HttpGet(server.ops_port(), "/livez").status, 200);
  if (with_drain_seconds) {
    // Still accepting calls, and saying not to send any.
    auto channel = grpc::CreateChannel(server.address(),
                                       grpc::InsecureChannelCredentials());
    auto health = grpc::health::v1::Health::NewStub(channel);
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    ASSERT_TRUE(health->Check(Context().get(), req, &resp).ok());
    EXPECT_EQ(resp.status(),
              grpc::health::v1::HealthCheckResponse::NOT_SERVING);
    health.reset();
    channel.reset();
    // A second SIGTERM ends the drain wait: shutdown proper begins.
    ASSERT_TRUE(server.Signal(SIGTERM));
  }
  const auto released = std::chrono::steady_clock::now();
  gate.Release();
  call.join();
  EXPECT_TRUE(in_flight.ok()) << in_flight.error_message();
  EXPECT_EQ(server.Wait(), 0) << server.Log();
  // Not the 120 s drain: the second signal ended it.
  EXPECT_LT(std::chrono::steady_clock::now() - released,
            std::chrono::seconds(60));
  EXPECT_THAT(server.Log(), HasSubstr("draining"));
  gate_server->Shutdown();
}

TEST(OpsIntegrationTest, SigtermMakesNotReadyWhileAnInFlightCallFinishes) {
  RunDrain(/*with_drain_seconds=*/false);
}

TEST(OpsIntegrationTest, DrainSecondsKeepServingNotServingUntilSecondSignal) {
  RunDrain(/*with_drain_seconds=*/true);
}

}  // namespace
}  // namespace attune::testing
