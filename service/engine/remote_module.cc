#include "service/engine/remote_module.h"

#include <chrono>
#include <cstddef>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "attune/v1/rule_module.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "service/common/log.h"
#include "service/engine/native_plugin.h"
#include "service/engine/proposed_prompt.h"

namespace attune::engine {
namespace {

constexpr int kDefaultDeadlineMs = 200;
constexpr int kDefaultFailureThreshold = 3;
constexpr int kDefaultRetryAfterMs = 5000;
constexpr int kDefaultConnectTimeoutMs = 2000;
// Bounds on what a server can make attuned copy: as for native plugins.
constexpr int kMaxResponseBytes = 1 << 20;
constexpr int kMaxPrompts = 32;
// Ids, versions and error texts from the server, as quoted in messages.
constexpr std::size_t kMaxQuotedBytes = 256;

using Clock = std::chrono::steady_clock;

// What the server sent, made fit for one message line.
std::string Printable(std::string_view text) {
  std::string out(text.substr(0, kMaxQuotedBytes));
  for (char& c : out) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = ' ';
  }
  return out;
}

std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// gRPC and absl number their codes alike; a server may send any number.
absl::Status FromGrpc(const grpc::Status& status, std::string prefix) {
  grpc::StatusCode code = status.error_code();
  if (code < grpc::StatusCode::OK || code > grpc::StatusCode::UNAUTHENTICATED) {
    code = grpc::StatusCode::UNKNOWN;
  }
  const std::string detail = Printable(status.error_message());
  return absl::Status(
      static_cast<absl::StatusCode>(code),
      absl::StrCat(prefix, CodeName(code), detail.empty() ? "" : ": ", detail));
}

std::chrono::system_clock::time_point DeadlineIn(std::chrono::milliseconds d) {
  return std::chrono::system_clock::now() + d;
}

// What the modules of one server share.
struct Connection {
  std::string address;
  std::string config_json;
  std::chrono::milliseconds deadline{kDefaultDeadlineMs};
  int failure_threshold = kDefaultFailureThreshold;
  std::chrono::milliseconds retry_after{kDefaultRetryAfterMs};
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::RuleModule::Stub> stub;
};

// Closed: every evaluation calls. Open: none does until `retry_at_`; then
// exactly one (the probe) does, and its outcome closes or re-opens it.
class CircuitBreaker {
 public:
  enum class Admission { kCall, kProbe, kRefused };

  CircuitBreaker(std::string module_id, int threshold,
                 std::chrono::milliseconds retry_after)
      : module_id_(std::move(module_id)),
        threshold_(threshold),
        retry_after_(retry_after) {}

  bool Available() const {
    std::lock_guard<std::mutex> lock(mu_);
    return !open_ || (!probing_ && Clock::now() >= retry_at_);
  }

  // Whether (and how) this evaluation may call the server.
  Admission Admit() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!open_) return Admission::kCall;
    if (probing_ || Clock::now() < retry_at_) return Admission::kRefused;
    probing_ = true;
    ATTUNE_LOG(INFO) << "remote module circuit half-open; probing"
                     << LogField("module", module_id_);
    return Admission::kProbe;
  }

  void Succeeded(Admission admission) {
    std::lock_guard<std::mutex> lock(mu_);
    if (admission == Admission::kProbe) probing_ = false;
    failures_ = 0;
    if (open_) {
      open_ = false;
      ATTUNE_LOG(INFO) << "remote module circuit closed"
                       << LogField("module", module_id_);
    }
  }

  void Failed(Admission admission, absl::StatusCode code) {
    std::lock_guard<std::mutex> lock(mu_);
    if (admission == Admission::kProbe) {
      probing_ = false;
      open_ = true;
      retry_at_ = Clock::now() + retry_after_;
      ATTUNE_LOG(WARNING) << "remote module probe failed; circuit stays open"
                          << LogField("module", module_id_)
                          << LogField("code", static_cast<int>(code));
      return;
    }
    // A call that was in flight when the circuit opened changes nothing.
    if (open_) return;
    if (++failures_ >= threshold_) {
      open_ = true;
      retry_at_ = Clock::now() + retry_after_;
      ATTUNE_LOG(WARNING) << "remote module circuit opened"
                          << LogField("module", module_id_)
                          << LogField("code", static_cast<int>(code))
                          << LogField("failures", failures_);
    }
  }

 private:
  const std::string module_id_;
  const int threshold_;
  const std::chrono::milliseconds retry_after_;
  mutable std::mutex mu_;
  bool open_ = false;
  bool probing_ = false;
  int failures_ = 0;
  Clock::time_point retry_at_;
};

class RemoteRuleModule final : public RuleModule {
 public:
  RemoteRuleModule(std::string id, std::string version,
                   std::shared_ptr<const Connection> connection)
      : id_(std::move(id)),
        version_(std::move(version)),
        connection_(std::move(connection)),
        breaker_(id_, connection_->failure_threshold,
                 connection_->retry_after) {}

  std::string_view id() const override { return id_; }
  std::string_view version() const override { return version_; }
  bool Enabled(const v1::RulesConfig&) const override { return true; }
  ModuleSource source() const override { return ModuleSource::kRemote; }
  std::string location() const override { return connection_->address; }
  bool Available() const override { return breaker_.Available(); }

  absl::Status Evaluate(const RuleInput& input,
                        RuleOutput& output) const override {
    const CircuitBreaker::Admission admission = breaker_.Admit();
    if (admission == CircuitBreaker::Admission::kRefused) {
      return absl::UnavailableError(
          absl::StrCat("module ", id_, ": circuit open; not called"));
    }
    absl::StatusOr<std::vector<ProposedPrompt>> prompts =
        Call(input, output, admission == CircuitBreaker::Admission::kProbe);
    if (!prompts.ok()) {
      breaker_.Failed(admission, prompts.status().code());
      return prompts.status();
    }
    breaker_.Succeeded(admission);
    for (ProposedPrompt& p : *prompts) output.prompts.push_back(std::move(p));
    return absl::OkStatus();
  }

 private:
  absl::StatusOr<std::vector<ProposedPrompt>> Call(const RuleInput& input,
                                                   const RuleOutput& output,
                                                   bool probe) const {
    v1::EvaluateRequest request;
    request.set_module_id(id_);
    *request.mutable_episode() = input.history.episode();
    for (const v1::SessionEvent& event : input.history.events()) {
      *request.add_events() = event;
    }
    *request.mutable_trigger() = input.trigger;
    if (output.assessment != nullptr) {
      *request.mutable_assessment() = *output.assessment;
    }
    request.set_config_json(connection_->config_json);

    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(connection_->deadline));
    if (probe) {
      // The channel may be waiting out a long reconnect backoff from while
      // the server was down: the probe reconnects now, within its deadline.
      grpc::experimental::ChannelResetConnectionBackoff(
          connection_->channel.get());
      context.set_wait_for_ready(true);
    }
    v1::EvaluateResponse response;
    const grpc::Status status =
        connection_->stub->Evaluate(&context, request, &response);
    if (!status.ok()) {
      return FromGrpc(status,
                      absl::StrCat("module ", id_, ": Evaluate failed with "));
    }
    if (response.prompts_size() > kMaxPrompts) {
      return absl::ResourceExhaustedError(
          absl::StrCat("module ", id_, ": returned ", response.prompts_size(),
                       " prompts (at most ", kMaxPrompts, ")"));
    }
    std::vector<ProposedPrompt> prompts;
    for (int i = 0; i < response.prompts_size(); ++i) {
      absl::StatusOr<ProposedPrompt> p = CheckProposedPrompt(
          id_, std::move(*response.mutable_prompts(i)), i + 1);
      if (!p.ok()) return p.status();
      prompts.push_back(*std::move(p));
    }
    return prompts;
  }

  const std::string id_;
  const std::string version_;
  const std::shared_ptr<const Connection> connection_;
  mutable CircuitBreaker breaker_;
};

}  // namespace

absl::StatusOr<std::vector<std::unique_ptr<RuleModule>>> LoadRemoteModules(
    const v1::RemoteModule& config) {
  const std::string& address = config.address();
  auto refuse = [&address](absl::StatusCode code, const std::string& why) {
    return absl::Status(code,
                        absl::StrCat("remote module ", address, ": ", why));
  };
  if (address.empty()) {
    return absl::InvalidArgumentError("remote module: the address is empty");
  }
  auto connection = std::make_shared<Connection>();
  connection->address = address;
  connection->config_json =
      config.config_json().empty() ? "{}" : config.config_json();
  if (config.has_deadline_ms()) {
    connection->deadline = std::chrono::milliseconds(config.deadline_ms());
  }
  if (config.has_failure_threshold()) {
    connection->failure_threshold = config.failure_threshold();
  }
  if (config.has_retry_after_ms()) {
    connection->retry_after =
        std::chrono::milliseconds(config.retry_after_ms());
  }
  const int connect_timeout_ms = config.has_connect_timeout_ms()
                                     ? config.connect_timeout_ms()
                                     : kDefaultConnectTimeoutMs;

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxResponseBytes);
  connection->channel = grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), args);
  connection->stub = v1::RuleModule::NewStub(connection->channel);

  const auto deadline =
      DeadlineIn(std::chrono::milliseconds(connect_timeout_ms));
  if (!connection->channel->WaitForConnected(deadline)) {
    return refuse(absl::StatusCode::kUnavailable,
                  absl::StrCat("unreachable (no connection within ",
                               connect_timeout_ms, " ms)"));
  }
  v1::DescribeModulesRequest request;
  request.set_config_json(connection->config_json);
  v1::DescribeModulesResponse response;
  grpc::ClientContext context;
  context.set_deadline(deadline);
  context.set_wait_for_ready(true);
  const grpc::Status status =
      connection->stub->Describe(&context, request, &response);
  if (!status.ok()) {
    // A server that rejects config_json says which field: pass that on as
    // the caller's error.
    const absl::Status failed = FromGrpc(
        status,
        absl::StrCat("remote module ", address, ": Describe failed with "));
    return absl::Status(
        status.error_code() == grpc::StatusCode::INVALID_ARGUMENT
            ? absl::StatusCode::kInvalidArgument
            : absl::StatusCode::kFailedPrecondition,
        failed.message());
  }
  if (response.modules().empty()) {
    return refuse(absl::StatusCode::kFailedPrecondition,
                  "describes no rule modules");
  }

  std::vector<std::unique_ptr<RuleModule>> modules;
  std::set<std::string> ids;
  for (const v1::ModuleDescriptor& d : response.modules()) {
    if (!IsValidModuleId(d.id())) {
      return refuse(absl::StatusCode::kFailedPrecondition,
                    absl::StrCat("module id '", Printable(d.id()),
                                 "' is not dotted, vendor first "
                                 "([a-z0-9_]+(.[a-z0-9_]+)+)"));
    }
    if (!IsValidModuleVersion(d.version())) {
      return refuse(
          absl::StatusCode::kFailedPrecondition,
          absl::StrCat("module ", d.id(), ": version '", Printable(d.version()),
                       "' is not MAJOR.MINOR.PATCH"));
    }
    if (!ids.insert(d.id()).second) {
      return refuse(absl::StatusCode::kAlreadyExists,
                    absl::StrCat("module ", d.id(), " is described twice"));
    }
    modules.push_back(
        std::make_unique<RemoteRuleModule>(d.id(), d.version(), connection));
  }
  return modules;
}

}  // namespace attune::engine
