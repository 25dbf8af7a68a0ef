// Metrics: family names, labels and values in the text exposition; the RPC
// interceptor's latency and request ids through a real in-process server.
#include "service/ops/metrics.h"

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "attune/v1/alliance_service.grpc.pb.h"
#include "attune/v1/event.pb.h"
#include "attune/v1/prompt.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "service/ops/request_id.h"
#include "service/ops/rpc_interceptor.h"
#include "tests/common/prometheus_text.h"

namespace attune::ops {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr auto& Value = attune::testing::MetricValue;

TEST(MetricsTest, RpcHistogramByMethodAndCode) {
  Metrics m;
  m.ObserveRpc("attune.v1.AllianceService/SubmitEvent", "OK", 0.003);
  m.ObserveRpc("attune.v1.AllianceService/SubmitEvent", "OK", 0.2);
  m.ObserveRpc("attune.v1.AllianceService/SubmitEvent", "INVALID_ARGUMENT",
               0.0001);
  const std::string text = m.Scrape();
  EXPECT_THAT(text, HasSubstr("# TYPE attune_rpc_duration_seconds histogram"));
  const std::string ok =
      "{code=\"OK\",method=\"attune.v1.AllianceService/SubmitEvent\"";
  EXPECT_EQ(Value(text, "attune_rpc_duration_seconds_count" + ok + "}"), 2);
  EXPECT_DOUBLE_EQ(Value(text, "attune_rpc_duration_seconds_sum" + ok + "}"),
                   0.203);
  EXPECT_EQ(
      Value(text, "attune_rpc_duration_seconds_bucket" + ok + ",le=\"0.005\"}"),
      1);
  EXPECT_EQ(Value(text,
                  "attune_rpc_duration_seconds_count{code=\"INVALID_ARGUMENT\","
                  "method=\"attune.v1.AllianceService/SubmitEvent\"}"),
            1);
}

TEST(MetricsTest, PromptsFeedbackAndStoreCounters) {
  Metrics m;
  m.CountPromptChange("attune.rupture", "warning", "active");
  m.CountPromptChange("attune.rupture", "warning", "active");
  m.CountPromptChange("attune.rupture", "warning", "dismissed");
  m.CountFeedback("attune.rupture", "dismissed");
  m.ObserveStoreCommit("OK", 0.001);
  m.ObserveStoreCommit("ABORTED", 0.002);
  const std::string text = m.Scrape();
  EXPECT_EQ(Value(text,
                  "attune_prompts_total{module=\"attune.rupture\",severity="
                  "\"warning\",status=\"active\"}"),
            2);
  EXPECT_EQ(Value(text,
                  "attune_prompts_total{module=\"attune.rupture\",severity="
                  "\"warning\",status=\"dismissed\"}"),
            1);
  EXPECT_EQ(Value(text,
                  "attune_prompt_feedback_total{module=\"attune.rupture\","
                  "outcome=\"dismissed\"}"),
            1);
  EXPECT_EQ(Value(text, "attune_store_commits_total{code=\"OK\"}"), 1);
  EXPECT_EQ(Value(text, "attune_store_commits_total{code=\"ABORTED\"}"), 1);
  EXPECT_EQ(
      Value(text, "attune_store_commit_duration_seconds_count{code=\"OK\"}"),
      1);
}

TEST(MetricsTest, SourcesAreReadOnEveryScrape) {
  Metrics m;
  EventCounts events{3, 1, 2};
  int64_t batches = 5;
  bool with_batches = true;
  ScrapeSources sources;
  sources.events = [&] { return events; };
  sources.modules = [] {
    return std::vector<ModuleCounts>{{"attune.rupture", 10, 2, 1},
                                     {"acme.remote", 4, 0, 0}};
  };
  sources.store_batches = [&]() -> std::optional<int64_t> {
    if (!with_batches) return std::nullopt;
    return batches;
  };
  m.SetSources(std::move(sources));
  std::string text = m.Scrape();
  EXPECT_THAT(text, HasSubstr("# TYPE attune_events_total counter"));
  EXPECT_EQ(Value(text, "attune_events_total{outcome=\"accepted\"}"), 3);
  EXPECT_EQ(Value(text, "attune_events_total{outcome=\"replayed\"}"), 1);
  EXPECT_EQ(Value(text, "attune_events_total{outcome=\"rejected\"}"), 2);
  EXPECT_EQ(
      Value(text, "attune_module_evaluations_total{module=\"attune.rupture\"}"),
      10);
  EXPECT_EQ(
      Value(text, "attune_module_errors_total{module=\"attune.rupture\"}"), 2);
  EXPECT_EQ(
      Value(text, "attune_module_timeouts_total{module=\"attune.rupture\"}"),
      1);
  EXPECT_EQ(Value(text, "attune_module_errors_total{module=\"acme.remote\"}"),
            0);
  EXPECT_EQ(Value(text, "attune_store_batches_total"), 5);

  events.accepted = 7;
  batches = 6;
  text = m.Scrape();
  EXPECT_EQ(Value(text, "attune_events_total{outcome=\"accepted\"}"), 7);
  EXPECT_EQ(Value(text, "attune_store_batches_total"), 6);

  with_batches = false;
  EXPECT_THAT(m.Scrape(), Not(HasSubstr("attune_store_batches_total")));
}

TEST(MetricsTest, EpisodeCacheCountsSplitHitsFromStaleEntries) {
  Metrics m;
  EXPECT_THAT(m.Scrape(), Not(HasSubstr("attune_episode_cache")));
  ScrapeSources sources;
  // The engine counts a stale entry as a hit (it was found) and as stale.
  sources.episode_cache = [] {
    return EpisodeCacheCounts{.hits = 10,
                              .misses = 3,
                              .stale = 2,
                              .evictions = 1,
                              .entries = 4,
                              .bytes = 4096};
  };
  m.SetSources(std::move(sources));
  const std::string text = m.Scrape();
  EXPECT_EQ(Value(text, "attune_episode_cache_lookups_total{result=\"hit\"}"),
            8);
  EXPECT_EQ(Value(text, "attune_episode_cache_lookups_total{result=\"miss\"}"),
            3);
  EXPECT_EQ(Value(text, "attune_episode_cache_lookups_total{result=\"stale\"}"),
            2);
  EXPECT_EQ(Value(text, "attune_episode_cache_evictions_total"), 1);
  EXPECT_THAT(text, HasSubstr("# TYPE attune_episode_cache_entries gauge"));
  EXPECT_EQ(Value(text, "attune_episode_cache_entries"), 4);
  EXPECT_EQ(Value(text, "attune_episode_cache_bytes"), 4096);
}

TEST(MetricsTest, EnumLabelsAreLowerCaseNames) {
  EXPECT_EQ(SeverityLabel(v1::SEVERITY_WARNING), "warning");
  EXPECT_EQ(SeverityLabel(v1::SEVERITY_CRITICAL), "critical");
  EXPECT_EQ(PromptStatusLabel(v1::PROMPT_STATUS_DISMISSED), "dismissed");
  EXPECT_EQ(PromptStatusLabel(v1::PROMPT_STATUS_ACKNOWLEDGED), "acknowledged");
  EXPECT_EQ(PromptStatusLabel(v1::PROMPT_STATUS_UNSPECIFIED), "unspecified");
  EXPECT_EQ(FeedbackOutcomeLabel(v1::PromptFeedback::OUTCOME_ACCEPTED),
            "accepted");
  EXPECT_EQ(FeedbackOutcomeLabel(v1::PromptFeedback::OUTCOME_SNOOZED),
            "snoozed");
  EXPECT_EQ(SeverityLabel(99), "unknown");
  EXPECT_EQ(PromptStatusLabel(-1), "unknown");
}

TEST(RequestIdTest, ValidIdsAreTheOnesAttunedMakes) {
  EXPECT_TRUE(IsValidRequestId("0123456789abcdef"));
  EXPECT_FALSE(IsValidRequestId("0123456789ABCDEF"));
  EXPECT_FALSE(IsValidRequestId("MRN-0012345-6789"));
  EXPECT_FALSE(IsValidRequestId(""));
  EXPECT_FALSE(IsValidRequestId(std::string(17, 'a')));
  EXPECT_FALSE(IsValidRequestId("has space"));
  EXPECT_FALSE(IsValidRequestId("new\nline"));
  EXPECT_FALSE(IsValidRequestId("client=Jane"));
  EXPECT_FALSE(IsValidRequestId("caf\xc3\xa9"));
  const std::string id = NewRequestId();
  EXPECT_EQ(id.size(), 16u);
  EXPECT_TRUE(IsValidRequestId(id));
  EXPECT_NE(NewRequestId(), id);
}

// GetAssessment answers NOT_FOUND and remembers the request id its handler
// saw.
class FakeAlliance final : public v1::AllianceService::CallbackService {
 public:
  grpc::ServerUnaryReactor* GetAssessment(grpc::CallbackServerContext* ctx,
                                          const v1::GetAssessmentRequest*,
                                          v1::GetAssessmentResponse*) override {
    seen = RequestIdOf(*ctx);
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "episode_id"));
    return reactor;
  }
  std::string seen;
};

class InterceptorTest : public ::testing::Test {
 protected:
  void StartServer(std::set<std::string> methods) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&service_);
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        creators;
    creators.push_back(MakeRpcInterceptorFactory(&metrics_, methods));
    builder.experimental().SetInterceptorCreators(std::move(creators));
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::AllianceService::NewStub(channel_);
  }

  void TearDown() override {
    stub_.reset();
    channel_.reset();  // else Shutdown waits for the idle channel
    if (server_) server_->Shutdown();
  }

  // Calls GetAssessment, sending `request_id` unless empty; returns the id
  // the server sent back.
  std::string Call(const std::string& request_id) {
    grpc::ClientContext ctx;
    if (!request_id.empty()) ctx.AddMetadata(kRequestIdKey, request_id);
    v1::GetAssessmentRequest req;
    v1::GetAssessmentResponse resp;
    grpc::Status status = stub_->GetAssessment(&ctx, req, &resp);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
    std::string returned;
    for (const auto& md :
         {ctx.GetServerInitialMetadata(), ctx.GetServerTrailingMetadata()}) {
      auto it = md.find(kRequestIdKey);
      if (it != md.end()) returned.assign(it->second.data(), it->second.size());
    }
    return returned;
  }

  Metrics metrics_;
  FakeAlliance service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AllianceService::Stub> stub_;
};

// A caller's value could be a record number: never kept, seen or logged,
// even when it has the shape of an id attuned makes.
TEST_F(InterceptorTest, EveryCallGetsAFreshIdWhateverTheCallerSent) {
  StartServer(MethodsOf({"attune.v1.AllianceService"}));
  for (const std::string& given :
       {std::string(), std::string("MRN-00123"), std::string("client Jane Doe"),
        std::string("0123456789abcdef"), std::string(65, 'x')}) {
    const std::string returned = Call(given);
    EXPECT_EQ(returned.size(), 16u) << given;
    EXPECT_TRUE(IsValidRequestId(returned));
    EXPECT_EQ(service_.seen, returned) << "the handler logs the same id";
    EXPECT_NE(returned, given);
  }
}

TEST_F(InterceptorTest, CallsAreTimedByMethodAndCode) {
  StartServer(MethodsOf({"attune.v1.AllianceService"}));
  Call("");
  Call("");
  const std::string text = metrics_.Scrape();
  EXPECT_EQ(Value(text,
                  "attune_rpc_duration_seconds_count{code=\"NOT_FOUND\","
                  "method=\"attune.v1.AllianceService/GetAssessment\"}"),
            2);
}

TEST_F(InterceptorTest, MethodsOutsideTheListAreOther) {
  StartServer({});
  Call("");
  EXPECT_EQ(Value(metrics_.Scrape(),
                  "attune_rpc_duration_seconds_count{code=\"NOT_FOUND\","
                  "method=\"other\"}"),
            1);
}

TEST(MethodsOfTest, ListsEveryMethodOfTheNamedServices) {
  const std::set<std::string> methods =
      MethodsOf({"attune.v1.AllianceService", "no.such.Service"});
  EXPECT_TRUE(methods.count("attune.v1.AllianceService/SubmitEvent"));
  EXPECT_TRUE(methods.count("attune.v1.AllianceService/WatchPrompts"));
  for (const std::string& m : methods) {
    EXPECT_TRUE(absl::StartsWith(m, "attune.v1.AllianceService/")) << m;
  }
}

}  // namespace
}  // namespace attune::ops
