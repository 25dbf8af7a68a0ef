// LoadRemoteModules and the gRPC-backed RuleModule, against an in-process
// attune.v1.RuleModule server whose behaviour each test sets: prompts mapped,
// failures counted through RulePipeline::Health, the circuit breaker, and
// every way loading is refused.
#include "service/engine/remote_module.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "attune/v1/rule_module.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "service/config/config_loader.h"
#include "service/engine/instrument_registry.h"
#include "service/engine/module_set.h"
#include "service/engine/rule_pipeline.h"

namespace attune::engine {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// What the test server does with Evaluate.
enum class Behaviour {
  kPrompt,        // one well-formed prompt
  kError,         // INTERNAL
  kSlow,          // answers only when the caller gives up
  kHold,          // answers once Release() is called
  kBadKind,       // a prompt of another module's kind
  kEmptySummary,  // a prompt without summary
  kTooMany,       // 33 prompts
  kTooLarge,      // a response over 1 MiB
};

class FakeModuleService final : public v1::RuleModule::Service {
 public:
  grpc::Status Describe(grpc::ServerContext*,
                        const v1::DescribeModulesRequest* request,
                        v1::DescribeModulesResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    describe_config_ = request->config_json();
    if (!describe_status_.ok()) return describe_status_;
    for (const auto& [id, version] : descriptors_) {
      v1::ModuleDescriptor* d = response->add_modules();
      d->set_id(id);
      d->set_version(version);
    }
    return grpc::Status::OK;
  }

  grpc::Status Evaluate(grpc::ServerContext* context,
                        const v1::EvaluateRequest* request,
                        v1::EvaluateResponse* response) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_request_ = *request;
      ++calls_;
    }
    calls_cv_.notify_all();
    const std::string kind = request->module_id() + "/check_in";
    switch (behaviour_.load()) {
      case Behaviour::kPrompt:
        AddPrompt(response, kind, "Check in about the break");
        return grpc::Status::OK;
      case Behaviour::kError:
        return {grpc::StatusCode::INTERNAL, "module crashed"};
      case Behaviour::kSlow:
        while (!context->IsCancelled()) {
          std::this_thread::sleep_for(milliseconds(2));
        }
        AddPrompt(response, kind, "Too late");
        return grpc::Status::OK;
      case Behaviour::kHold: {
        std::unique_lock<std::mutex> lock(mu_);
        while (!released_ && !context->IsCancelled()) {
          release_cv_.wait_for(lock, milliseconds(5));
        }
        AddPrompt(response, kind, "Held, then answered");
        return grpc::Status::OK;
      }
      case Behaviour::kBadKind:
        AddPrompt(response, "attune.rupture/check_rupture", "Not mine");
        return grpc::Status::OK;
      case Behaviour::kEmptySummary:
        AddPrompt(response, kind, "");
        return grpc::Status::OK;
      case Behaviour::kTooMany:
        for (int i = 0; i < 33; ++i) AddPrompt(response, kind, "One of many");
        return grpc::Status::OK;
      case Behaviour::kTooLarge:
        AddPrompt(response, kind, "Large")
            ->set_detail(std::string(2 << 20, 'x'));
        return grpc::Status::OK;
    }
    return grpc::Status::OK;
  }

  void Describes(std::vector<std::pair<std::string, std::string>> modules) {
    std::lock_guard<std::mutex> lock(mu_);
    descriptors_ = std::move(modules);
  }
  void FailDescribe(grpc::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    describe_status_ = std::move(status);
  }
  void Set(Behaviour b) { behaviour_ = b; }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = true;
    }
    release_cv_.notify_all();
  }

  int calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  // Waits until Evaluate has been called `n` times in all.
  bool AwaitCalls(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return calls_cv_.wait_for(lock, std::chrono::seconds(10),
                              [&] { return calls_ >= n; });
  }
  v1::EvaluateRequest last_request() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_request_;
  }
  std::string describe_config() const {
    std::lock_guard<std::mutex> lock(mu_);
    return describe_config_;
  }

 private:
  static v1::Prompt* AddPrompt(v1::EvaluateResponse* response,
                               const std::string& kind,
                               const std::string& summary) {
    v1::Prompt* p = response->add_prompts();
    p->set_kind(kind);
    p->set_severity(v1::SEVERITY_INFO);
    p->set_summary(summary);
    p->set_detail("Sessions 2 and 3 were 28 days apart.");
    p->set_reflective_question("What did the break mean?");
    p->set_scope(v1::PROMPT_SCOPE_EPISODE);
    p->set_strength(28);
    // The engine's fields: a module cannot set them.
    p->set_id("forged-id");
    p->set_module_id("attune.rupture");
    p->set_status(v1::PROMPT_STATUS_ACKNOWLEDGED);
    p->set_shadow(true);
    p->set_raised_at_session(99);
    return p;
  }

  mutable std::mutex mu_;
  std::condition_variable calls_cv_;
  std::condition_variable release_cv_;
  std::vector<std::pair<std::string, std::string>> descriptors_ = {
      {"acme.long_gap", "1.2.0"}};
  grpc::Status describe_status_;
  std::string describe_config_;
  std::atomic<Behaviour> behaviour_{Behaviour::kPrompt};
  bool released_ = false;
  int calls_ = 0;
  v1::EvaluateRequest last_request_;
};

// The fake service on 127.0.0.1; restartable on the same port.
class TestServer {
 public:
  explicit TestServer(FakeModuleService* service) : service_(service) {}
  ~TestServer() { Stop(); }

  bool Start(int port = 0) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(port),
                             grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_);
    server_ = builder.BuildAndStart();
    return server_ != nullptr && port_ > 0;
  }
  // In-flight calls are cancelled after a short grace (a test about a
  // server going away must not wait for idle clients).
  void Stop() {
    if (server_ == nullptr) return;
    server_->Shutdown(std::chrono::system_clock::now() + milliseconds(100));
    server_->Wait();
    server_.reset();
  }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  FakeModuleService* service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

v1::SessionEvent Event(const std::string& json) {
  v1::SessionEvent event;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &event).ok())
      << json;
  return event;
}

// Two held sessions of one episode, sent out of order.
std::vector<v1::SessionEvent> Events() {
  const std::string episode =
      R"("episode": {"clientId": "c-1", "clinicianId": "t-1",
                     "episodeId": "ep-1"})";
  return {
      Event(R"({"eventId": "e2", "occurredAt": "2026-11-24T10:00:00Z", )" +
            episode +
            R"(, "sessionHeld": {"sessionNumber": 2,
                 "start": "2026-11-24T09:00:00Z",
                 "end": "2026-11-24T09:50:00Z"}})"),
      Event(R"({"eventId": "e1", "occurredAt": "2026-11-03T10:00:00Z", )" +
            episode +
            R"(, "sessionHeld": {"sessionNumber": 1,
                 "start": "2026-11-03T09:00:00Z",
                 "end": "2026-11-03T09:50:00Z"}})"),
  };
}

// A module that runs before the remote one and fills part of the
// assessment, as the built-ins do.
class SessionCounter final : public RuleModule {
 public:
  std::string_view id() const override { return "test.counter"; }
  std::string_view version() const override { return "1.0.0"; }
  bool Enabled(const v1::RulesConfig&) const override { return true; }
  absl::Status Evaluate(const RuleInput& input,
                        RuleOutput& output) const override {
    output.assessment->set_sessions_held(
        static_cast<int>(input.history.HeldSessions().size()));
    return absl::OkStatus();
  }
};

// `modules` through the real pipeline over Events(), the session-2 event as
// trigger.
class PipelineRun {
 public:
  explicit PipelineRun(std::vector<std::unique_ptr<RuleModule>> modules)
      : pipeline_(std::move(modules)) {
    absl::StatusOr<v1::ServerConfig> config = config::DefaultConfig();
    EXPECT_TRUE(config.ok()) << config.status();
    rules_ = config->rules();
    absl::StatusOr<InstrumentRegistry> registry =
        InstrumentRegistry::Create(rules_);
    EXPECT_TRUE(registry.ok()) << registry.status();
    std::vector<v1::SessionEvent> events = Events();
    trigger_ = events.front();
    history_ = EpisodeHistory::Fold(std::move(events), *registry);
  }

  PipelineResult Run() const {
    return pipeline_.Run(RuleInput{history_, trigger_, rules_, day_});
  }
  // Run(), timed.
  Clock::duration Timed(PipelineResult* result = nullptr) const {
    const Clock::time_point start = Clock::now();
    PipelineResult r = Run();
    const Clock::duration elapsed = Clock::now() - start;
    if (result != nullptr) *result = std::move(r);
    return elapsed;
  }
  ModuleHealth Health(std::string_view id) const {
    for (ModuleHealth& h : pipeline_.Health(rules_)) {
      if (h.module_id == id) return h;
    }
    ADD_FAILURE() << "no module " << id;
    return {};
  }
  const RuleModule& module(std::string_view id) const {
    return *pipeline_.Find(id);
  }

 private:
  RulePipeline pipeline_;
  v1::RulesConfig rules_;
  EpisodeHistory history_;
  v1::SessionEvent trigger_;
  ClinicianDay day_;
};

class RemoteModuleTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start()); }

  v1::RemoteModule Config() const {
    v1::RemoteModule config;
    config.set_address(server_.address());
    config.set_config_json(R"({"max_gap_days": 14})");
    return config;
  }

  // The modules the server describes under `config`, loaded successfully.
  std::vector<std::unique_ptr<RuleModule>> Load(
      const v1::RemoteModule& config) {
    absl::StatusOr<std::vector<std::unique_ptr<RuleModule>>> modules =
        LoadRemoteModules(config);
    EXPECT_TRUE(modules.ok()) << modules.status();
    if (!modules.ok()) return {};
    return *std::move(modules);
  }

  // The fake counter first, then the remote modules.
  std::unique_ptr<PipelineRun> Pipeline(const v1::RemoteModule& config) {
    std::vector<std::unique_ptr<RuleModule>> modules;
    modules.push_back(std::make_unique<SessionCounter>());
    for (auto& m : Load(config)) modules.push_back(std::move(m));
    return std::make_unique<PipelineRun>(std::move(modules));
  }

  FakeModuleService service_;
  TestServer server_{&service_};
};

// --- Loading -----------------------------------------------------------------

TEST_F(RemoteModuleTest, LoadsEveryDescribedModuleWithItsAddress) {
  service_.Describes({{"acme.long_gap", "1.2.0"}, {"acme.no_show", "0.3.1"}});
  std::vector<std::unique_ptr<RuleModule>> modules = Load(Config());
  ASSERT_EQ(modules.size(), 2u);
  EXPECT_EQ(modules[0]->id(), "acme.long_gap");
  EXPECT_EQ(modules[0]->version(), "1.2.0");
  EXPECT_EQ(modules[1]->id(), "acme.no_show");
  EXPECT_EQ(modules[1]->version(), "0.3.1");
  for (const auto& m : modules) {
    EXPECT_EQ(m->source(), ModuleSource::kRemote);
    EXPECT_EQ(m->location(), server_.address());
    EXPECT_TRUE(m->Available());
  }
  EXPECT_EQ(service_.describe_config(), R"({"max_gap_days": 14})");
}

TEST_F(RemoteModuleTest, EmptyConfigJsonIsSentAsAnEmptyObject) {
  v1::RemoteModule config = Config();
  config.clear_config_json();
  Load(config);
  EXPECT_EQ(service_.describe_config(), "{}");
}

TEST_F(RemoteModuleTest, UnreachableAddressIsRefusedNamingIt) {
  // A port nobody listens on: bound, then released.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  const std::string address =
      "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  v1::RemoteModule config;
  config.set_address(address);
  config.set_connect_timeout_ms(300);
  absl::StatusOr<std::vector<std::unique_ptr<RuleModule>>> modules =
      LoadRemoteModules(config);
  ASSERT_FALSE(modules.ok());
  EXPECT_EQ(modules.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(modules.status().message()),
              StartsWith("remote module " + address + ": unreachable"));
}

TEST_F(RemoteModuleTest, DescribeErrorIsRefusedWithItsCodeAndReason) {
  service_.FailDescribe({grpc::StatusCode::INVALID_ARGUMENT,
                         "config_json.max_gap_days: must be 1-365"});
  absl::StatusOr<std::vector<std::unique_ptr<RuleModule>>> modules =
      LoadRemoteModules(Config());
  ASSERT_FALSE(modules.ok());
  EXPECT_EQ(modules.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(modules.status().message(),
            "remote module " + server_.address() +
                ": Describe failed with INVALID_ARGUMENT: "
                "config_json.max_gap_days: must be 1-365");

  service_.FailDescribe({grpc::StatusCode::INTERNAL, ""});
  modules = LoadRemoteModules(Config());
  ASSERT_FALSE(modules.ok());
  EXPECT_EQ(modules.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(modules.status().message(), "remote module " + server_.address() +
                                            ": Describe failed with INTERNAL");
}

TEST_F(RemoteModuleTest, BadDescriptorsAreRefusedNamingTheAddress) {
  struct Case {
    std::vector<std::pair<std::string, std::string>> modules;
    absl::StatusCode code;
    std::string why;
  };
  const std::vector<Case> cases = {
      {{{"LongGap", "1.0.0"}},
       absl::StatusCode::kFailedPrecondition,
       "module id 'LongGap' is not dotted, vendor first"},
      {{{"long_gap", "1.0.0"}},
       absl::StatusCode::kFailedPrecondition,
       "module id 'long_gap' is not dotted"},
      {{{"acme.long_gap", ""}},
       absl::StatusCode::kFailedPrecondition,
       "module acme.long_gap: version '' is not MAJOR.MINOR.PATCH"},
      {{{"acme.long_gap", "1.0.0"}, {"acme.long_gap", "1.1.0"}},
       absl::StatusCode::kAlreadyExists,
       "module acme.long_gap is described twice"},
      {{}, absl::StatusCode::kFailedPrecondition, "describes no rule modules"},
  };
  for (const Case& c : cases) {
    service_.Describes(c.modules);
    absl::StatusOr<std::vector<std::unique_ptr<RuleModule>>> modules =
        LoadRemoteModules(Config());
    ASSERT_FALSE(modules.ok()) << c.why;
    EXPECT_EQ(modules.status().code(), c.code) << c.why;
    EXPECT_THAT(
        std::string(modules.status().message()),
        StartsWith("remote module " + server_.address() + ": " + c.why));
  }
}

// --- Evaluating --------------------------------------------------------------

TEST_F(RemoteModuleTest, PromptsAreMappedAndTheEpisodeIsSent) {
  auto run = Pipeline(Config());
  const PipelineResult result = run->Run();
  EXPECT_TRUE(result.failed_modules.empty());
  ASSERT_EQ(result.proposals.size(), 1u);
  const ModuleProposal& mp = result.proposals[0];
  EXPECT_EQ(mp.module_id, "acme.long_gap");
  EXPECT_EQ(mp.module_version, "1.2.0");
  EXPECT_DOUBLE_EQ(mp.proposal.strength, 28);
  const v1::Prompt& p = mp.proposal.prompt;
  EXPECT_EQ(p.kind(), "acme.long_gap/check_in");
  EXPECT_EQ(p.severity(), v1::SEVERITY_INFO);
  EXPECT_EQ(p.summary(), "Check in about the break");
  EXPECT_EQ(p.detail(), "Sessions 2 and 3 were 28 days apart.");
  EXPECT_EQ(p.reflective_question(), "What did the break mean?");
  EXPECT_EQ(p.scope(), v1::PROMPT_SCOPE_EPISODE);
  // Only the module's fields survive.
  EXPECT_EQ(p.id(), "");
  EXPECT_EQ(p.module_id(), "");
  EXPECT_EQ(p.status(), v1::PROMPT_STATUS_UNSPECIFIED);
  EXPECT_FALSE(p.shadow());
  EXPECT_EQ(p.raised_at_session(), 0);
  EXPECT_EQ(p.strength(), 0);

  const v1::EvaluateRequest request = service_.last_request();
  EXPECT_EQ(request.module_id(), "acme.long_gap");
  EXPECT_EQ(request.episode().episode_id(), "ep-1");
  ASSERT_EQ(request.events_size(), 2);
  EXPECT_EQ(request.events(0).event_id(), "e1");  // clinical order
  EXPECT_EQ(request.events(1).event_id(), "e2");
  EXPECT_EQ(request.trigger().event_id(), "e2");
  EXPECT_EQ(request.assessment().sessions_held(), 2);  // the counter's
  EXPECT_EQ(request.config_json(), R"({"max_gap_days": 14})");

  const ModuleHealth h = run->Health("acme.long_gap");
  EXPECT_EQ(h.evaluations, 1);
  EXPECT_EQ(h.errors, 0);
  EXPECT_EQ(h.source, ModuleSource::kRemote);
  EXPECT_EQ(h.location, server_.address());
  EXPECT_TRUE(h.available);
}

TEST_F(RemoteModuleTest, ErrorStatusSkipsTheModuleAndIsCounted) {
  auto run = Pipeline(Config());
  service_.Set(Behaviour::kError);
  const PipelineResult result = run->Run();
  EXPECT_THAT(result.failed_modules, ::testing::ElementsAre("acme.long_gap"));
  EXPECT_TRUE(result.proposals.empty());
  // The module before it still ran.
  EXPECT_EQ(result.assessment.sessions_held(), 2);
  const ModuleHealth h = run->Health("acme.long_gap");
  EXPECT_EQ(h.errors, 1);
  EXPECT_EQ(h.timeouts, 0);
  EXPECT_EQ(h.consecutive_failures, 1);
  EXPECT_EQ(h.last_error_code, static_cast<int>(absl::StatusCode::kInternal));
  EXPECT_TRUE(h.available);  // one failure is below the threshold

  service_.Set(Behaviour::kPrompt);
  EXPECT_EQ(run->Run().proposals.size(), 1u);
  EXPECT_EQ(run->Health("acme.long_gap").consecutive_failures, 0);
}

TEST_F(RemoteModuleTest, LateAnswerIsATimeout) {
  v1::RemoteModule config = Config();
  config.set_deadline_ms(100);
  auto run = Pipeline(config);
  service_.Set(Behaviour::kSlow);
  const Clock::duration elapsed = run->Timed();
  EXPECT_GE(elapsed, milliseconds(100));
  const ModuleHealth h = run->Health("acme.long_gap");
  EXPECT_EQ(h.timeouts, 1);
  EXPECT_EQ(h.errors, 1);
  EXPECT_EQ(h.last_error_code,
            static_cast<int>(absl::StatusCode::kDeadlineExceeded));
}

TEST_F(RemoteModuleTest, MalformedResponsesFailTheEvaluation) {
  v1::RemoteModule config = Config();
  config.set_failure_threshold(1000);  // each case is called
  std::vector<std::unique_ptr<RuleModule>> modules = Load(config);
  ASSERT_EQ(modules.size(), 1u);
  absl::StatusOr<v1::ServerConfig> defaults = config::DefaultConfig();
  absl::StatusOr<InstrumentRegistry> registry =
      InstrumentRegistry::Create(defaults->rules());
  std::vector<v1::SessionEvent> events = Events();
  const v1::SessionEvent trigger = events.front();
  const EpisodeHistory history =
      EpisodeHistory::Fold(std::move(events), *registry);
  const ClinicianDay day;

  const std::vector<std::pair<Behaviour, std::string>> cases = {
      {Behaviour::kBadKind,
       "module acme.long_gap: prompt 1: kind must start with "
       "\"acme.long_gap/\""},
      {Behaviour::kEmptySummary,
       "module acme.long_gap: prompt 1: summary must be 1-139 bytes"},
      {Behaviour::kTooMany,
       "module acme.long_gap: returned 33 prompts (at most 32)"},
      {Behaviour::kTooLarge,
       "module acme.long_gap: Evaluate failed with RESOURCE_EXHAUSTED"},
  };
  for (const auto& [behaviour, message] : cases) {
    service_.Set(behaviour);
    v1::Assessment assessment;
    RuleOutput out;
    out.assessment = &assessment;
    const absl::Status status = modules[0]->Evaluate(
        RuleInput{history, trigger, defaults->rules(), day}, out);
    EXPECT_FALSE(status.ok()) << message;
    EXPECT_THAT(std::string(status.message()), StartsWith(message));
    EXPECT_TRUE(out.prompts.empty()) << message;
  }
}

TEST_F(RemoteModuleTest, ConcurrentEvaluationsAllSucceed) {
  auto run = Pipeline(Config());
  std::vector<std::thread> threads;
  std::atomic<int> proposals{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) proposals += run->Run().proposals.size();
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(proposals.load(), 40);
  EXPECT_EQ(service_.calls(), 40);
  EXPECT_EQ(run->Health("acme.long_gap").errors, 0);
}

// --- Circuit breaker ---------------------------------------------------------

TEST_F(RemoteModuleTest, OpenCircuitSkipsTheModuleWithoutCallingIt) {
  v1::RemoteModule config = Config();
  config.set_deadline_ms(300);
  config.set_failure_threshold(3);
  config.set_retry_after_ms(600000);
  auto run = Pipeline(config);
  service_.Set(Behaviour::kSlow);
  Clock::duration slowest{};
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(run->module("acme.long_gap").Available()) << i;
    slowest = std::max(slowest, run->Timed());
  }
  EXPECT_EQ(service_.calls(), 3);
  EXPECT_FALSE(run->module("acme.long_gap").Available());

  PipelineResult result;
  const Clock::duration open = run->Timed(&result);
  EXPECT_THAT(result.failed_modules, ::testing::ElementsAre("acme.long_gap"));
  EXPECT_EQ(result.assessment.sessions_held(), 2);  // the others still ran
  run->Run();
  EXPECT_EQ(service_.calls(), 3);  // not called while open
  EXPECT_GE(slowest, milliseconds(300));
  EXPECT_LT(open * 3, slowest);

  const ModuleHealth h = run->Health("acme.long_gap");
  EXPECT_FALSE(h.available);
  EXPECT_EQ(h.evaluations, 3);
  EXPECT_EQ(h.timeouts, 3);
  EXPECT_EQ(h.errors, 3);
  EXPECT_EQ(h.skipped, 2);
  EXPECT_EQ(h.consecutive_failures, 3);
  EXPECT_EQ(h.last_error_code,
            static_cast<int>(absl::StatusCode::kDeadlineExceeded));
}

// Long enough that the tests see the circuit open on a busy machine, short
// enough to wait for.
constexpr int kRetryAfterMs = 1500;

// Waits (bounded) until the breaker lets a probe through.
bool AwaitAvailable(const RuleModule& module) {
  const Clock::time_point give_up = Clock::now() + std::chrono::seconds(10);
  while (!module.Available()) {
    if (Clock::now() > give_up) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

TEST_F(RemoteModuleTest, OneProbeAfterRetryAfterClosesTheCircuit) {
  v1::RemoteModule config = Config();
  config.set_deadline_ms(5000);
  config.set_failure_threshold(2);
  config.set_retry_after_ms(kRetryAfterMs);
  auto run = Pipeline(config);
  const RuleModule& module = run->module("acme.long_gap");
  service_.Set(Behaviour::kError);
  run->Run();
  run->Run();
  ASSERT_FALSE(module.Available());

  // A failed probe opens it again for retry_after.
  ASSERT_TRUE(AwaitAvailable(module));
  run->Run();
  EXPECT_EQ(service_.calls(), 3);
  EXPECT_FALSE(module.Available());

  // The next probe is held by the server: nobody else gets through.
  ASSERT_TRUE(AwaitAvailable(module));
  service_.Set(Behaviour::kHold);
  PipelineResult probe;
  std::thread prober([&] { probe = run->Run(); });
  ASSERT_TRUE(service_.AwaitCalls(4));
  EXPECT_FALSE(module.Available());
  const PipelineResult meanwhile = run->Run();
  EXPECT_THAT(meanwhile.failed_modules,
              ::testing::ElementsAre("acme.long_gap"));
  EXPECT_EQ(service_.calls(), 4);
  service_.Release();
  prober.join();

  // Its success closes the circuit.
  ASSERT_EQ(probe.proposals.size(), 1u);
  EXPECT_TRUE(module.Available());
  service_.Set(Behaviour::kPrompt);
  EXPECT_EQ(run->Run().proposals.size(), 1u);
  EXPECT_EQ(service_.calls(), 5);
  const ModuleHealth h = run->Health("acme.long_gap");
  EXPECT_TRUE(h.available);
  EXPECT_EQ(h.consecutive_failures, 0);
  EXPECT_EQ(h.errors, 3);
  EXPECT_EQ(h.skipped, 1);
}

TEST_F(RemoteModuleTest, ServerGoneFailsFastAndAProbeFindsItBack) {
  v1::RemoteModule config = Config();
  config.set_deadline_ms(2000);
  config.set_failure_threshold(2);
  config.set_retry_after_ms(kRetryAfterMs);
  auto run = Pipeline(config);
  const RuleModule& module = run->module("acme.long_gap");
  ASSERT_EQ(run->Run().proposals.size(), 1u);

  // Shut down with a call in flight: it fails, and so does the next.
  service_.Set(Behaviour::kHold);
  PipelineResult in_flight;
  std::thread caller([&] { in_flight = run->Run(); });
  ASSERT_TRUE(service_.AwaitCalls(2));
  const int port = server_.port();
  server_.Stop();
  caller.join();
  EXPECT_THAT(in_flight.failed_modules,
              ::testing::ElementsAre("acme.long_gap"));
  const Clock::duration gone = run->Timed();
  EXPECT_LT(gone, milliseconds(2000));  // no server: no waiting for one
  EXPECT_FALSE(module.Available());
  ModuleHealth h = run->Health("acme.long_gap");
  EXPECT_EQ(h.errors, 2);
  EXPECT_EQ(h.timeouts, 0);
  EXPECT_EQ(h.last_error_code,
            static_cast<int>(absl::StatusCode::kUnavailable));

  // Back on the same port: the next probe reconnects and closes it.
  service_.Set(Behaviour::kPrompt);
  ASSERT_TRUE(server_.Start(port));
  ASSERT_TRUE(AwaitAvailable(module));
  EXPECT_EQ(run->Run().proposals.size(), 1u);
  EXPECT_TRUE(module.Available());
  h = run->Health("acme.long_gap");
  EXPECT_EQ(h.consecutive_failures, 0);
}

// --- The module set ----------------------------------------------------------

TEST_F(RemoteModuleTest, ModuleSetRunsRemoteModulesAfterTheOthers) {
  absl::StatusOr<v1::ServerConfig> config = config::DefaultConfig();
  ASSERT_TRUE(config.ok());
  *config->add_remote_modules() = Config();
  absl::StatusOr<std::vector<std::unique_ptr<RuleModule>>> modules =
      LoadRuleModules(*config);
  ASSERT_TRUE(modules.ok()) << modules.status();
  ASSERT_GE(modules->size(), 2u);
  EXPECT_EQ(modules->front()->source(), ModuleSource::kBuiltin);
  EXPECT_EQ(modules->back()->id(), "acme.long_gap");
  EXPECT_EQ(modules->back()->source(), ModuleSource::kRemote);
}

TEST_F(RemoteModuleTest, ModuleSetRefusesAnIdTakenTwiceNamingTheAddress) {
  absl::StatusOr<v1::ServerConfig> config = config::DefaultConfig();
  ASSERT_TRUE(config.ok());
  *config->add_remote_modules() = Config();
  *config->add_remote_modules() = Config();
  absl::StatusOr<std::vector<std::unique_ptr<RuleModule>>> modules =
      LoadRuleModules(*config);
  ASSERT_FALSE(modules.ok());
  EXPECT_EQ(modules.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(modules.status().message()),
              StartsWith("remote module " + server_.address() +
                         ": module acme.long_gap is already provided"));

  service_.Describes({{"attune.rupture", "9.0.0"}});
  config->clear_remote_modules();
  *config->add_remote_modules() = Config();
  modules = LoadRuleModules(*config);
  ASSERT_FALSE(modules.ok());
  EXPECT_THAT(std::string(modules.status().message()),
              HasSubstr("module attune.rupture is already provided"));
}

}  // namespace
}  // namespace attune::engine
