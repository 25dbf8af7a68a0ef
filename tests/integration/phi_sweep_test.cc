// Issue 4 item 6, "no PHI in logs or errors", proved through the real
// attuned: recognisable client and clinician identifiers (in events, in
// requests, in the token's subject and in the call's metadata), alliance
// scores and dates are sent through every served RPC, in calls that succeed
// and in every way a call can fail (invalid fields, conflicts, closed
// episodes, unknown or foreign objects, no/bad/expired/replayed token,
// missing role, rate limit), and none of them may come back in an error
// message, the binary error details or the response metadata, nor appear
// in attuned's log, read after it has stopped (shutdown and audit-head lines
// included) and logging at debug level.
//
// What is covered is what deploy/SECURITY.md promises: client and clinician
// identifiers are never logged, and messages name fields and rules, never
// the values (scores, dates) they refused.
// Episode, event and prompt ids are opaque references that stay in the clear
// by design, so they are not markers here. SessionEvent has no free-text
// field and no date of birth; a pre-1970 occurred_at stands in for one.
//
// The calls are a table, one entry per RPC with its cases; the sweep checks
// that the exercised methods are exactly those of the services attuned
// serves (its reflection service) as the generated descriptors declare
// them, so an RPC or service added without a sweep entry fails this test.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "attune/v1/alliance_service.grpc.pb.h"
#include "attune/v1/data_admin.grpc.pb.h"
#include "attune/v1/rule_admin.grpc.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/unknown_field_set.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "service/server/status_conversion.h"
#include "tests/integration/attuned_process.h"
#include "tests/integration/episode_script.h"
#include "tests/integration/test_pki.h"
#include "tests/integration/test_tokens.h"
#include "tests/unit/service/auth/test_keys.h"

namespace attune::testing {
namespace {

namespace keys = ::attune::auth::test;

constexpr char kTenantA[] = "clinic-a";
constexpr char kTenantB[] = "clinic-b";
constexpr char kCheckRupture[] = "attune.rupture/check_rupture";
// Set as max_batch_events, so a batch over the limit stays small.
constexpr int kMaxBatch = 20;
// An SRS item no rule accepts (items are 0-10), printed alike by %g,
// StrCat and ostream; no log timestamp can contain it (seconds < 60).
constexpr double kBadScore = 96.0625;
constexpr char kBadScoreText[] = "96.0625";

// 16 random hex digits: a marker that cannot occur by chance.
std::string RandomHex() {
  std::random_device rd;
  const uint64_t v = (static_cast<uint64_t>(rd()) << 32) | rd();
  return absl::StrCat(absl::Hex(v, absl::kZeroPad16));
}

using Texts = std::vector<std::string>;
// One call on `channel` with `ctx` (deadline, token and marker metadata
// already set). Appends to `texts` whatever else the caller is shown that
// must be free of markers (per-event messages of a batch). EXPECTs on the
// response (that a successful call did its job) go inside.
using CallFn =
    std::function<grpc::Status(const std::shared_ptr<grpc::Channel>& channel,
                               grpc::ClientContext& ctx, Texts& texts)>;

// How a call authenticates.
enum class Who {
  kTenantA,    // a fresh token of tenant A with every role
  kTenantB,    // a fresh token of tenant B with every role
  kNoToken,    // no authorization metadata
  kTampered,   // tenant A's token with one signature character changed
  kExpired,    // tenant A's token, expired ten minutes ago
  kReplayed,   // tenant A's token, already used once
  kWrongRole,  // tenant A's token with every role but the RPC's
};

const char* WhoName(Who who) {
  switch (who) {
    case Who::kTenantA:
      return "tenant_a";
    case Who::kTenantB:
      return "tenant_b";
    case Who::kNoToken:
      return "no_token";
    case Who::kTampered:
      return "tampered_token";
    case Who::kExpired:
      return "expired_token";
    case Who::kReplayed:
      return "replayed_token";
    case Who::kWrongRole:
      return "wrong_role";
  }
  return "?";
}

struct Case {
  std::string label;
  grpc::StatusCode want;
  // The call did what it is for (a watch that delivered and was then
  // cancelled by the client counts, although it ends CANCELLED).
  bool served;
  CallFn call;
  Who who = Who::kTenantA;
  // The error message must start with this field path ("" = no check).
  std::string field = "";
};

// One RPC of the sweep.
struct RpcEntry {
  // "attune.v1.AllianceService.SubmitEvent", as the descriptor names it.
  std::string method;
  // The role the RPC needs: "ingest", "read" or "admin".
  std::string role;
  // Its own cases, in order.
  std::vector<Case> cases;
  // A request full of markers, sent by every refused caller (no, bad,
  // expired or replayed token; wrong role; over the rate).
  CallFn marked;
};

// What one call showed its caller, for the scan.
struct Seen {
  std::string method;
  std::string label;
  grpc::StatusCode code;
  bool served;
  // (where, bytes): error message, error details, metadata, batch messages.
  std::vector<std::pair<std::string, std::string>> surfaces;
};

std::string MetadataText(
    const std::multimap<grpc::string_ref, grpc::string_ref>& md) {
  std::string out;
  for (const auto& [key, value] : md) {
    absl::StrAppend(&out, std::string(key.data(), key.size()), ": ",
                    std::string(value.data(), value.size()), "\n");
  }
  return out;
}

// The names of the services `channel`'s server lists through gRPC server
// reflection (v1alpha, what gRPC 1.51 serves), spoken with a generic stub
// and protobuf's wire format: Debian installs no C++ code for reflection.
std::set<std::string> ServedServices(
    const std::shared_ptr<grpc::Channel>& channel) {
  std::set<std::string> names;
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call = stub.PrepareCall(
      &ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      &cq);
  auto step = [&cq](intptr_t want) {
    void* tag = nullptr;
    bool ok = false;
    return cq.Next(&tag, &ok) && ok && reinterpret_cast<intptr_t>(tag) == want;
  };
  grpc::ByteBuffer in;
  grpc::Status status;
  // One operation at a time, each awaited; a failed step cancels the call.
  const bool done = [&] {
    call->StartCall(reinterpret_cast<void*>(1));
    if (!step(1)) return false;
    // ServerReflectionRequest{list_services (7): ""}.
    const std::string request("\x3a\x00", 2);
    grpc::Slice slice(request);
    grpc::ByteBuffer out(&slice, 1);
    call->Write(out, reinterpret_cast<void*>(2));
    if (!step(2)) return false;
    call->WritesDone(reinterpret_cast<void*>(3));
    if (!step(3)) return false;
    call->Read(&in, reinterpret_cast<void*>(4));
    if (!step(4)) return false;
    call->Finish(&status, reinterpret_cast<void*>(5));
    return step(5);
  }();
  if (!done) ctx.TryCancel();
  // The queue must be drained before it is destroyed.
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
  if (!done || !status.ok()) return names;
  std::vector<grpc::Slice> slices;
  if (!in.Dump(&slices).ok()) return names;
  std::string bytes;
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  // ServerReflectionResponse.list_services_response (6) ->
  // ListServiceResponse.service (1) -> ServiceResponse.name (1).
  google::protobuf::UnknownFieldSet response;
  if (!response.ParseFromString(bytes)) return names;
  for (int i = 0; i < response.field_count(); ++i) {
    if (response.field(i).number() != 6 ||
        response.field(i).type() !=
            google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
      continue;
    }
    google::protobuf::UnknownFieldSet list;
    if (!list.ParseFromString(response.field(i).length_delimited())) continue;
    for (int j = 0; j < list.field_count(); ++j) {
      if (list.field(j).number() != 1) continue;
      google::protobuf::UnknownFieldSet service;
      if (!service.ParseFromString(list.field(j).length_delimited())) continue;
      for (int k = 0; k < service.field_count(); ++k) {
        if (service.field(k).number() == 1) {
          names.insert(service.field(k).length_delimited());
        }
      }
    }
  }
  return names;
}

class PhiSweepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = "PHI-CLIENT-" + RandomHex();
    other_client_ = "PHI-CLIENT-" + RandomHex();
    clinician_ = "PHI-CLIN-" + RandomHex();
    // Markers are matched by their random part, case-insensitively, so a
    // reformatted, truncated-prefix or lower-cased echo is caught too.
    for (const std::string* m : {&client_, &other_client_, &clinician_}) {
      needles_.push_back(m->substr(m->rfind('-') + 1));
    }
    needles_.push_back(kBadScoreText);
    // Dates: one too far in the future, one like a date of birth.
    future_ = absl::Now() + absl::Hours(24 * 400);
    birth_ = absl::FromCivil(absl::CivilSecond(1961, 4, 12, 6, 7, 0),
                             absl::UTCTimeZone());
    for (absl::Time t : {future_, birth_}) {
      needles_.push_back(absl::FormatTime("%Y-%m-%d", t, absl::UTCTimeZone()));
      needles_.push_back(absl::StrCat(absl::ToUnixSeconds(t)));
    }
    dir_ = MakeTempDir("phi-sweep");
    ASSERT_TRUE(WriteFile(dir_ + "/jwks.json", TestJwks()));
  }

  void TearDown() override {
    // Channels first: a graceful shutdown waits for idle connections.
    channels_.clear();
    for (auto& server : servers_) {
      if (server != nullptr) server->Stop();
    }
  }

  // attuned with its own directory, sealed storage (the default key file),
  // debug logging, bearer tokens and `config`.
  AttunedProcess* StartServer(const std::string& name,
                              const std::string& config) {
    const std::string dir = dir_ + "/" + name;
    if (mkdir(dir.c_str(), 0700) != 0) return nullptr;
    const std::string path = dir + "/attuned.textproto";
    if (!WriteFile(path, TestAuthConfig(dir_ + "/jwks.json") + config)) {
      return nullptr;
    }
    servers_.push_back(std::make_unique<AttunedProcess>(
        dir, std::vector<std::string>{"--config", path, "--log_level=debug"}));
    if (!servers_.back()->Start()) return nullptr;
    return servers_.back().get();
  }

  std::shared_ptr<grpc::Channel> NewChannel(const AttunedProcess& server) {
    channels_.push_back(grpc::CreateChannel(
        server.address(), grpc::InsecureChannelCredentials()));
    return channels_.back();
  }

  // A signed RS384 token whose subject is the clinician marker (the
  // clinician's own login), with a fresh jti. Its payload is a needle: the
  // token must never be logged.
  std::string Token(const std::string& tenant,
                    const std::vector<std::string>& roles,
                    absl::Duration lifetime = absl::Minutes(10)) {
    static std::atomic<int> counter{0};
    const int64_t now = absl::ToUnixSeconds(absl::Now());
    const int64_t iat = lifetime < absl::ZeroDuration()
                            ? now + 2 * absl::ToInt64Seconds(lifetime)
                            : now;
    std::vector<std::string> quoted;
    for (const std::string& r : roles) quoted.push_back("\"" + r + "\"");
    const std::string payload =
        absl::StrCat(R"({"iss":")", kTestIssuer, R"(","aud":")", kTestAudience,
                     R"(","sub":")", clinician_, R"(","iat":)", iat,
                     R"(,"exp":)", now + absl::ToInt64Seconds(lifetime),
                     R"(,"roles":[)", absl::StrJoin(quoted, ","),
                     R"(],"attune_tenant":")", tenant, R"(","jti":"phi-)",
                     getpid(), "-", counter++, "-", RandomHex(), R"("})");
    const std::string token =
        keys::SignToken(R"({"alg":"RS384","kid":"rsa-1","typ":"JWT"})", payload,
                        "RS384", keys::Rsa2048());
    std::vector<std::string> parts = absl::StrSplit(token, '.');
    if (parts.size() == 3) needles_.push_back(parts[1]);
    return token;
  }

  static std::vector<std::string> AllRolesBut(const std::string& role) {
    std::vector<std::string> roles;
    for (const char* r : {"ingest", "read", "admin"}) {
      if (role != r) roles.push_back(r);
    }
    return roles;
  }

  // The token `who` sends for an RPC needing `role` ("" for none). For
  // kReplayed, the token is used once first (on a read that changes
  // nothing) through `channel`.
  std::string TokenFor(Who who, const std::string& role,
                       const std::shared_ptr<grpc::Channel>& channel) {
    switch (who) {
      case Who::kTenantA:
        return Token(kTenantA, {"ingest", "read", "admin"});
      case Who::kTenantB:
        return Token(kTenantB, {"ingest", "read", "admin"});
      case Who::kNoToken:
        return "";
      case Who::kTampered: {
        std::string token = Token(kTenantA, {"ingest", "read", "admin"});
        // Not the last character, whose low bits are padding.
        char& c = token[token.size() - 10];
        c = c == 'A' ? 'B' : 'A';
        return token;
      }
      case Who::kExpired:
        return Token(kTenantA, {"ingest", "read", "admin"}, -absl::Minutes(10));
      case Who::kReplayed: {
        std::string token = Token(kTenantA, {"ingest", "read", "admin"});
        grpc::ClientContext first;
        first.AddMetadata("authorization", "Bearer " + token);
        v1::GetAssessmentRequest req;
        req.set_episode_id("ep-phi-never");
        v1::GetAssessmentResponse resp;
        EXPECT_EQ(v1::AllianceService::NewStub(channel)
                      ->GetAssessment(&first, req, &resp)
                      .error_code(),
                  grpc::StatusCode::NOT_FOUND);
        return token;
      }
      case Who::kWrongRole:
        return Token(kTenantA, AllRolesBut(role));
    }
    return "";
  }

  // Runs one call as `who`, checks its code and records what it showed.
  void Run(const std::string& method, const std::string& role, const Case& c,
           const std::shared_ptr<grpc::Channel>& channel) {
    const std::string token = TokenFor(c.who, role, channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    // Where a careless server might copy request metadata from.
    ctx.AddMetadata("x-client-id", client_);
    ctx.AddMetadata("x-clinician-id", clinician_);
    Texts texts;
    const grpc::Status status = c.call(channel, ctx, texts);
    const std::string label = absl::StrCat(c.label, " as ", WhoName(c.who));
    EXPECT_EQ(status.error_code(), c.want)
        << method << " " << label << ": " << status.error_message();
    if (!c.field.empty()) {
      EXPECT_TRUE(absl::StartsWith(status.error_message(), c.field + ": "))
          << method << " " << label << ": " << status.error_message();
    }
    Seen seen{method, label, status.error_code(), c.served, {}};
    seen.surfaces.emplace_back("error message", status.error_message());
    seen.surfaces.emplace_back("error details", status.error_details());
    seen.surfaces.emplace_back("initial metadata",
                               MetadataText(ctx.GetServerInitialMetadata()));
    seen.surfaces.emplace_back("trailing metadata",
                               MetadataText(ctx.GetServerTrailingMetadata()));
    for (const std::string& t : texts) seen.surfaces.emplace_back("reply", t);
    seen_.push_back(std::move(seen));
  }

  // The needles found in `haystack`, case-insensitively.
  std::vector<std::string> Leaks(const std::string& haystack) const {
    const std::string lower = absl::AsciiStrToLower(haystack);
    std::vector<std::string> found;
    for (const std::string& needle : needles_) {
      if (absl::StrContains(lower, absl::AsciiStrToLower(needle))) {
        found.push_back(needle);
      }
    }
    return found;
  }

  std::string client_;
  std::string other_client_;
  std::string clinician_;
  absl::Time future_;
  absl::Time birth_;
  std::vector<std::string> needles_;
  std::string dir_;
  std::vector<std::unique_ptr<AttunedProcess>> servers_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<Seen> seen_;
};

std::unique_ptr<v1::AllianceService::Stub> Alliance(
    const std::shared_ptr<grpc::Channel>& channel) {
  return v1::AllianceService::NewStub(channel);
}

std::string Method(const std::string& service, const std::string& name) {
  return service + "." + name;
}

TEST_F(PhiSweepTest, NoIdentifierScoreOrDateReachesLogsErrorsOrMetadata) {
  // attune.bordin in shadow mode, so CompareShadow has a module to compare.
  AttunedProcess* main = StartServer(
      "main", absl::StrCat("max_batch_events: ", kMaxBatch,
                           "\nrules { modules { module_id: \"attune.bordin\" "
                           "shadow: true } }\n"));
  ASSERT_NE(main, nullptr) << (servers_.empty() ? "" : servers_.back()->Log());
  // Every tenant's bucket holds one call and refills in 1000 s.
  AttunedProcess* limited = StartServer(
      "limited", "limits { tenant_calls_per_second: 0.001 tenant_burst: 1 }\n");
  ASSERT_NE(limited, nullptr) << servers_.back()->Log();
  const std::string main_config = main->dir() + "/attuned.textproto";
  std::string good_config;
  {
    std::ifstream in(main_config);
    good_config.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::shared_ptr<grpc::Channel> channel = NewChannel(*main);
  std::shared_ptr<grpc::Channel> limited_channel = NewChannel(*limited);

  // A course that goes well for four sessions, then a challenging session
  // with a sharp SRS drop: the last event raises check_rupture.
  const absl::Time first = absl::Now() - absl::Hours(24 * 7 * 5);
  EpisodeScript course(client_, clinician_, "ep-phi-1", first);
  std::vector<v1::SessionEvent> backfill;
  const double srs[] = {37, 38.5, 38, 39};
  for (int n = 1; n <= 4; ++n) {
    backfill.push_back(course.Held(n));
    backfill.push_back(course.Srs(n, srs[n - 1]));
    if (n == 2) backfill.push_back(course.Goals(2));
  }
  backfill.push_back(course.Held(5, /*challenging=*/true));
  const v1::SessionEvent drop = course.Srs(5, 30);
  // An episode that ended after one session.
  EpisodeScript closed(client_, clinician_, "ep-phi-closed", first);
  backfill.push_back(closed.Held(1));
  backfill.push_back(closed.Closed(1, v1::ENDING_REASON_DROPOUT));
  const int stored_events = static_cast<int>(backfill.size()) + 1;

  // Events that must be refused, each carrying markers.
  EpisodeScript bad(client_, clinician_, "ep-phi-bad", first);
  v1::SessionEvent bad_score = bad.Srs(1, 30);
  bad_score.mutable_measure_recorded()->set_items(0, kBadScore);
  bad_score.mutable_measure_recorded()->set_has_total(false);
  v1::SessionEvent bad_client = bad.Held(1);
  bad_client.mutable_episode()->set_client_id(client_ + "\x01");
  v1::SessionEvent long_clinician = bad.Held(1);
  long_clinician.mutable_episode()->set_clinician_id(clinician_ +
                                                     std::string(200, 'x'));
  v1::SessionEvent no_episode_id = bad.Held(1);
  no_episode_id.mutable_episode()->clear_episode_id();
  v1::SessionEvent no_payload = bad.Held(1);
  no_payload.clear_session_held();
  v1::SessionEvent in_future = bad.Held(1);
  in_future.mutable_occurred_at()->set_seconds(absl::ToUnixSeconds(future_));
  v1::SessionEvent before_1970 = bad.Held(1);
  before_1970.mutable_occurred_at()->set_seconds(absl::ToUnixSeconds(birth_));
  // The drop's episode, claimed for another client.
  v1::SessionEvent other_client = course.Held(6);
  other_client.mutable_episode()->set_client_id(other_client_);
  // A stored event's id with other content (SRS of session 1).
  v1::SessionEvent conflicting = backfill[1];
  conflicting.mutable_measure_recorded()->set_items(0, 1);
  conflicting.mutable_measure_recorded()->set_total(
      conflicting.measure_recorded().total() - 8.25);
  // The same id twice in one batch, with different content.
  v1::SessionEvent duplicate = backfill[0];
  duplicate.mutable_session_held()->set_modality(v1::MODALITY_VIDEO);
  const v1::SessionEvent after_close = closed.Held(2);

  std::string prompt_id;  // tenant A's check_rupture, once raised
  const std::string alliance = v1::AllianceService::service_full_name();
  const std::string rule_admin = v1::RuleAdmin::service_full_name();
  const std::string data_admin = v1::DataAdmin::service_full_name();

  auto submit = [](v1::SessionEvent event,
                   std::function<void(const v1::SubmitEventResponse&)> check =
                       nullptr) -> CallFn {
    return [event = std::move(event), check = std::move(check)](
               const std::shared_ptr<grpc::Channel>& ch,
               grpc::ClientContext& ctx, Texts&) {
      v1::SubmitEventRequest req;
      *req.mutable_event() = event;
      v1::SubmitEventResponse resp;
      grpc::Status st = Alliance(ch)->SubmitEvent(&ctx, req, &resp);
      if (st.ok() && check) check(resp);
      return st;
    };
  };
  auto batch = [](std::vector<v1::SessionEvent> events,
                  std::function<void(const v1::SubmitEventsResponse&)> check =
                      nullptr) -> CallFn {
    return [events = std::move(events), check = std::move(check)](
               const std::shared_ptr<grpc::Channel>& ch,
               grpc::ClientContext& ctx, Texts& texts) {
      v1::SubmitEventsRequest req;
      for (const v1::SessionEvent& e : events) *req.add_events() = e;
      v1::SubmitEventsResponse resp;
      grpc::Status st = Alliance(ch)->SubmitEvents(&ctx, req, &resp);
      for (const v1::EventResult& r : resp.results()) {
        texts.push_back(r.message());
      }
      if (st.ok() && check) check(resp);
      return st;
    };
  };
  auto assess = [](std::string episode_id,
                   std::function<void(const v1::GetAssessmentResponse&)> check =
                       nullptr) -> CallFn {
    return [episode_id = std::move(episode_id), check = std::move(check)](
               const std::shared_ptr<grpc::Channel>& ch,
               grpc::ClientContext& ctx, Texts&) {
      v1::GetAssessmentRequest req;
      req.set_episode_id(episode_id);
      v1::GetAssessmentResponse resp;
      grpc::Status st = Alliance(ch)->GetAssessment(&ctx, req, &resp);
      if (st.ok() && check) check(resp);
      return st;
    };
  };
  auto list = [](v1::ListPromptsRequest req,
                 std::function<void(const v1::ListPromptsResponse&)> check =
                     nullptr) -> CallFn {
    return [req = std::move(req), check = std::move(check)](
               const std::shared_ptr<grpc::Channel>& ch,
               grpc::ClientContext& ctx, Texts&) {
      v1::ListPromptsResponse resp;
      grpc::Status st = Alliance(ch)->ListPrompts(&ctx, req, &resp);
      if (st.ok() && check) check(resp);
      return st;
    };
  };
  // Reads the stream until `until` says enough (then cancels it) or it
  // ends; returns how it ended.
  auto watch = [](v1::WatchPromptsRequest req,
                  std::function<bool(const v1::PromptUpdate&)> until =
                      nullptr) -> CallFn {
    return [req = std::move(req), until = std::move(until)](
               const std::shared_ptr<grpc::Channel>& ch,
               grpc::ClientContext& ctx, Texts&) {
      auto reader = Alliance(ch)->WatchPrompts(&ctx, req);
      v1::PromptUpdate update;
      bool enough = false;
      while (!enough && reader->Read(&update)) {
        enough = until && until(update);
      }
      if (until) {
        EXPECT_TRUE(enough) << "the watch delivered nothing";
      }
      if (enough) ctx.TryCancel();
      return reader->Finish();
    };
  };
  auto feedback =
      [&prompt_id](
          std::string event_id, v1::PromptFeedback::Outcome outcome,
          std::function<void(v1::RecordPromptFeedbackRequest&)> edit = nullptr,
          std::function<void(const v1::Prompt&)> check = nullptr) -> CallFn {
    return [&prompt_id, event_id = std::move(event_id), outcome,
            edit = std::move(edit),
            check = std::move(check)](const std::shared_ptr<grpc::Channel>& ch,
                                      grpc::ClientContext& ctx, Texts&) {
      v1::RecordPromptFeedbackRequest req;
      req.set_event_id(event_id);
      req.set_prompt_id(prompt_id);
      req.set_outcome(outcome);
      if (edit) edit(req);
      v1::RecordPromptFeedbackResponse resp;
      grpc::Status st = Alliance(ch)->RecordPromptFeedback(&ctx, req, &resp);
      if (st.ok() && check) check(resp.prompt());
      return st;
    };
  };
  auto list_modules =
      [](std::function<void(const v1::ListModulesResponse&)> check =
             nullptr) -> CallFn {
    return [check = std::move(check)](const std::shared_ptr<grpc::Channel>& ch,
                                      grpc::ClientContext& ctx, Texts&) {
      v1::ListModulesResponse resp;
      grpc::Status st = v1::RuleAdmin::NewStub(ch)->ListModules(
          &ctx, v1::ListModulesRequest(), &resp);
      if (st.ok() && check) check(resp);
      return st;
    };
  };
  // Writes `config` as the main server's configuration file, then reloads.
  auto reload =
      [main_config](
          std::string config,
          std::function<void(const v1::ReloadModulesResponse&)> check =
              nullptr) -> CallFn {
    return [main_config, config = std::move(config), check = std::move(check)](
               const std::shared_ptr<grpc::Channel>& ch,
               grpc::ClientContext& ctx, Texts&) {
      if (!config.empty()) {
        EXPECT_TRUE(WriteFile(main_config, config));
      }
      v1::ReloadModulesResponse resp;
      grpc::Status st = v1::RuleAdmin::NewStub(ch)->ReloadModules(
          &ctx, v1::ReloadModulesRequest(), &resp);
      if (st.ok() && check) check(resp);
      return st;
    };
  };
  auto compare =
      [](v1::CompareShadowRequest req,
         std::function<void(const v1::CompareShadowResponse&)> check =
             nullptr) -> CallFn {
    return [req = std::move(req), check = std::move(check)](
               const std::shared_ptr<grpc::Channel>& ch,
               grpc::ClientContext& ctx, Texts&) {
      v1::CompareShadowResponse resp;
      grpc::Status st =
          v1::RuleAdmin::NewStub(ch)->CompareShadow(&ctx, req, &resp);
      if (st.ok() && check) check(resp);
      return st;
    };
  };
  auto erase = [](std::string client_id,
                  std::function<void(const v1::EraseClientResponse&)> check =
                      nullptr) -> CallFn {
    return [client_id = std::move(client_id), check = std::move(check)](
               const std::shared_ptr<grpc::Channel>& ch,
               grpc::ClientContext& ctx, Texts&) {
      v1::EraseClientRequest req;
      req.set_client_id(client_id);
      v1::EraseClientResponse resp;
      grpc::Status st =
          v1::DataAdmin::NewStub(ch)->EraseClient(&ctx, req, &resp);
      if (st.ok() && check) check(resp);
      return st;
    };
  };
  auto by_clinician = [this] {
    v1::ListPromptsRequest req;
    req.set_clinician_id(clinician_);
    return req;
  };
  auto watch_clinician = [this] {
    v1::WatchPromptsRequest req;
    req.set_clinician_id(clinician_);
    return req;
  };
  auto shadow = [](std::string shadow_id, std::string live_id,
                   int max_episodes) {
    v1::CompareShadowRequest req;
    req.set_shadow_module_id(std::move(shadow_id));
    req.set_live_module_id(std::move(live_id));
    req.set_max_episodes(max_episodes);
    return req;
  };
  using Code = grpc::StatusCode;

  // In the order they run: each entry's cases, then its refusals.
  const std::vector<RpcEntry> table = {
      {Method(alliance, "SubmitEvents"),
       "ingest",
       {
           {"backfill with refused events", Code::OK, true,
            batch(
                [&] {
                  std::vector<v1::SessionEvent> events = backfill;
                  for (const v1::SessionEvent& e :
                       {bad_score, bad_client, long_clinician, no_episode_id,
                        before_1970, duplicate}) {
                    events.push_back(e);
                  }
                  return events;
                }(),
                [&](const v1::SubmitEventsResponse& r) {
                  EXPECT_EQ(r.accepted(), static_cast<int>(backfill.size()));
                  EXPECT_EQ(r.rejected(), 6);
                  for (int i = 0; i < r.results_size(); ++i) {
                    const v1::EventResult& e = r.results(i);
                    if (i < static_cast<int>(backfill.size())) {
                      EXPECT_EQ(e.code(), 0) << i << ": " << e.message();
                      continue;
                    }
                    EXPECT_NE(e.code(), 0) << i;
                    // Names a field: "path: rule".
                    EXPECT_TRUE(absl::StrContains(e.message(), ": "))
                        << e.message();
                  }
                })},
           {"over max_batch_events", Code::INVALID_ARGUMENT, false,
            batch(std::vector<v1::SessionEvent>(kMaxBatch + 1, bad_score)),
            Who::kTenantA, "events"},
       },
       batch({drop, bad_score})},
      {Method(alliance, "SubmitEvent"),
       "ingest",
       {
           {"raises check_rupture", Code::OK, true,
            submit(drop,
                   [&](const v1::SubmitEventResponse& r) {
                     EXPECT_FALSE(r.replayed());
                     for (const v1::Prompt& p : r.prompts()) {
                       if (p.kind() == kCheckRupture) prompt_id = p.id();
                     }
                     EXPECT_FALSE(prompt_id.empty()) << "no check_rupture";
                   })},
           {"replayed", Code::OK, true,
            submit(drop,
                   [](const v1::SubmitEventResponse& r) {
                     EXPECT_TRUE(r.replayed());
                   })},
           {"conflicting event_id", Code::ALREADY_EXISTS, false,
            submit(conflicting), Who::kTenantA, "event_id"},
           {"score out of range", Code::INVALID_ARGUMENT, false,
            submit(bad_score), Who::kTenantA, "measure_recorded.items[0]"},
           {"client_id with a control character", Code::INVALID_ARGUMENT, false,
            submit(bad_client), Who::kTenantA, "episode.client_id"},
           {"clinician_id too long", Code::INVALID_ARGUMENT, false,
            submit(long_clinician), Who::kTenantA, "episode.clinician_id"},
           {"episode_id missing", Code::INVALID_ARGUMENT, false,
            submit(no_episode_id), Who::kTenantA, "episode.episode_id"},
           {"no payload", Code::INVALID_ARGUMENT, false, submit(no_payload)},
           {"occurred_at in the future", Code::INVALID_ARGUMENT, false,
            submit(in_future), Who::kTenantA, "occurred_at"},
           {"occurred_at before 1970", Code::INVALID_ARGUMENT, false,
            submit(before_1970), Who::kTenantA, "occurred_at"},
           {"episode of another client", Code::INVALID_ARGUMENT, false,
            submit(other_client), Who::kTenantA, "episode.client_id"},
           {"episode closed", Code::FAILED_PRECONDITION, false,
            submit(after_close), Who::kTenantA, "episode"},
       },
       submit(drop)},
      {Method(alliance, "GetAssessment"),
       "read",
       {
           {"the course", Code::OK, true,
            assess("ep-phi-1",
                   [&](const v1::GetAssessmentResponse& r) {
                     EXPECT_EQ(r.assessment().event_count(), stored_events - 2);
                   })},
           {"unknown episode", Code::NOT_FOUND, false, assess("ep-phi-none"),
            Who::kTenantA, "episode_id"},
           {"episode_id missing", Code::INVALID_ARGUMENT, false, assess(""),
            Who::kTenantA, "episode_id"},
           {"another tenant's episode", Code::NOT_FOUND, false,
            assess("ep-phi-1"), Who::kTenantB, "episode_id"},
       },
       assess("ep-phi-1")},
      {Method(alliance, "ListPrompts"),
       "read",
       {
           {"the clinician's prompts", Code::OK, true,
            list(by_clinician(),
                 [&](const v1::ListPromptsResponse& r) {
                   bool rupture = false;
                   for (const v1::Prompt& p : r.prompts()) {
                     rupture = rupture || p.id() == prompt_id;
                   }
                   EXPECT_TRUE(rupture);
                 })},
           {"both episode_id and clinician_id", Code::INVALID_ARGUMENT, false,
            list([&] {
              v1::ListPromptsRequest req = by_clinician();
              req.set_episode_id("ep-phi-1");
              return req;
            }()),
            Who::kTenantA, "episode_id"},
           {"page_size out of range", Code::INVALID_ARGUMENT, false, list([&] {
              v1::ListPromptsRequest req = by_clinician();
              req.set_page_size(9999);
              return req;
            }()),
            Who::kTenantA, "page_size"},
           {"page_token not from a response", Code::INVALID_ARGUMENT, false,
            list([&] {
              v1::ListPromptsRequest req = by_clinician();
              req.set_page_token(client_);
              return req;
            }()),
            Who::kTenantA, "page_token"},
           {"unknown status", Code::INVALID_ARGUMENT, false, list([&] {
              v1::ListPromptsRequest req = by_clinician();
              req.add_statuses(static_cast<v1::PromptStatus>(99));
              return req;
            }()),
            Who::kTenantA, "statuses"},
           {"another tenant's clinician", Code::OK, true,
            list(by_clinician(),
                 [](const v1::ListPromptsResponse& r) {
                   EXPECT_EQ(r.prompts_size(), 0);
                 }),
            Who::kTenantB},
       },
       list(by_clinician())},
      {Method(alliance, "WatchPrompts"),
       "read",
       {
           {"the clinician's prompts, then cancelled", Code::CANCELLED, true,
            watch(watch_clinician(),
                  [&](const v1::PromptUpdate& u) {
                    return u.initial() && u.prompt().id() == prompt_id;
                  })},
           {"both episode_id and clinician_id", Code::INVALID_ARGUMENT, false,
            watch([&] {
              v1::WatchPromptsRequest req = watch_clinician();
              req.set_episode_id("ep-phi-1");
              return req;
            }()),
            Who::kTenantA, "episode_id"},
       },
       watch(watch_clinician())},
      {Method(alliance, "RecordPromptFeedback"),
       "ingest",
       {
           {"accepted", Code::OK, true,
            feedback("fb-phi-1", v1::PromptFeedback::OUTCOME_ACCEPTED, nullptr,
                     [](const v1::Prompt& p) {
                       EXPECT_EQ(p.status(), v1::PROMPT_STATUS_ACKNOWLEDGED);
                     })},
           {"conflicting event_id", Code::ALREADY_EXISTS, false,
            feedback("fb-phi-1", v1::PromptFeedback::OUTCOME_DISMISSED),
            Who::kTenantA, "event_id"},
           {"another tenant's prompt", Code::NOT_FOUND, false,
            feedback("fb-phi-2", v1::PromptFeedback::OUTCOME_DISMISSED),
            Who::kTenantB, "prompt_id"},
           {"unknown prompt", Code::NOT_FOUND, false,
            feedback("fb-phi-3", v1::PromptFeedback::OUTCOME_DISMISSED,
                     [](v1::RecordPromptFeedbackRequest& r) {
                       r.set_prompt_id("p-0000000000000000");
                     }),
            Who::kTenantA, "prompt_id"},
           {"prompt_id missing", Code::INVALID_ARGUMENT, false,
            feedback("fb-phi-4", v1::PromptFeedback::OUTCOME_DISMISSED,
                     [](v1::RecordPromptFeedbackRequest& r) {
                       r.clear_prompt_id();
                     }),
            Who::kTenantA, "prompt_id"},
           {"event_id missing", Code::INVALID_ARGUMENT, false,
            feedback("", v1::PromptFeedback::OUTCOME_DISMISSED), Who::kTenantA,
            "event_id"},
           {"snoozed without snooze_until", Code::INVALID_ARGUMENT, false,
            feedback("fb-phi-5", v1::PromptFeedback::OUTCOME_SNOOZED)},
       },
       feedback("fb-phi-6", v1::PromptFeedback::OUTCOME_DISMISSED)},
      {Method(rule_admin, "ListModules"),
       "admin",
       {
           {"the feedback is counted", Code::OK, true,
            list_modules([](const v1::ListModulesResponse& r) {
              int64_t accepted = -1;
              for (const v1::ModuleReport& m : r.modules()) {
                if (m.id() == "attune.rupture")
                  accepted = m.feedback().accepted();
              }
              EXPECT_EQ(accepted, 1);
            })},
       },
       list_modules()},
      {Method(rule_admin, "ReloadModules"),
       "admin",
       {
           {"same file", Code::OK, true,
            reload("",
                   [](const v1::ReloadModulesResponse& r) {
                     EXPECT_EQ(r.generation(), 2);
                   })},
           {"a file naming a module not loaded", Code::INVALID_ARGUMENT, false,
            reload(good_config +
                   "tenants { tenant: \"clinic-a\" rules { modules { "
                   "module_id: \"acme.absent\" enabled: false } } }\n")},
           {"same file again", Code::OK, true,
            reload(good_config,
                   [](const v1::ReloadModulesResponse& r) {
                     EXPECT_EQ(r.generation(), 3);
                   })},
       },
       reload("")},
      {Method(rule_admin, "CompareShadow"),
       "admin",
       {
           {"bordin against rupture", Code::OK, true,
            compare(shadow("attune.bordin", "attune.rupture", 0),
                    [](const v1::CompareShadowResponse& r) {
                      EXPECT_GE(r.summary().live_prompts(), 1);
                      EXPECT_EQ(r.episodes_size(), 1);
                    })},
           {"max_episodes out of range", Code::INVALID_ARGUMENT, false,
            compare(shadow("attune.bordin", "", 5000)), Who::kTenantA,
            "max_episodes"},
           {"unknown module", Code::NOT_FOUND, false,
            compare(shadow("acme.absent", "", 0)), Who::kTenantA,
            "shadow_module_id"},
       },
       compare(shadow("attune.bordin", "attune.rupture", 0))},
      {Method(data_admin, "EraseClient"),
       "admin",
       {
           {"client_id too long", Code::INVALID_ARGUMENT, false,
            erase(client_ + std::string(200, 'x')), Who::kTenantA, "client_id"},
           {"client_id missing", Code::INVALID_ARGUMENT, false, erase(""),
            Who::kTenantA, "client_id"},
           {"another tenant's client", Code::OK, true,
            erase(client_,
                  [](const v1::EraseClientResponse& r) {
                    EXPECT_EQ(r.episodes_erased(), 0);
                  }),
            Who::kTenantB},
           {"unknown client", Code::OK, true,
            erase(other_client_,
                  [](const v1::EraseClientResponse& r) {
                    EXPECT_EQ(r.episodes_erased(), 0);
                  })},
           {"the client", Code::OK, true,
            erase(client_,
                  [&](const v1::EraseClientResponse& r) {
                    EXPECT_EQ(r.episodes_erased(), 2);
                    EXPECT_EQ(r.events_erased(), stored_events + 1);
                    EXPECT_GE(r.prompts_erased(), 1);
                  })},
       },
       erase(client_)},
  };

  // Tenant A's bucket on the rate-limited server: its one call.
  Run("warm-up", "read",
      Case{"spends the burst", Code::NOT_FOUND, true, assess("ep-phi-none")},
      limited_channel);
  seen_.pop_back();

  for (const RpcEntry& entry : table) {
    for (const Case& c : entry.cases) Run(entry.method, entry.role, c, channel);
    for (Who who :
         {Who::kNoToken, Who::kTampered, Who::kExpired, Who::kReplayed}) {
      Run(entry.method, entry.role,
          Case{"marked request", Code::UNAUTHENTICATED, false, entry.marked,
               who},
          channel);
      EXPECT_EQ(seen_.back().surfaces[0].second, "authentication required");
    }
    Run(entry.method, entry.role,
        Case{"marked request", Code::PERMISSION_DENIED, false, entry.marked,
             Who::kWrongRole},
        channel);
    EXPECT_EQ(seen_.back().surfaces[0].second,
              absl::StrCat("this call needs the ", entry.role, " role"));
    Run(entry.method, entry.role,
        Case{"marked request over the rate", Code::RESOURCE_EXHAUSTED, false,
             [&](const std::shared_ptr<grpc::Channel>& ch,
                 grpc::ClientContext& ctx, Texts& texts) {
               grpc::Status st = entry.marked(ch, ctx, texts);
               // The details were there to scan.
               EXPECT_TRUE(server::RetryDelay(st).has_value());
               return st;
             }},
        limited_channel);
  }
  // The course was erased with its client.
  Run("erased", "read", Case{"", Code::NOT_FOUND, false, assess("ep-phi-1")},
      channel);
  seen_.pop_back();

  // Every method of every attune service attuned serves was called, and
  // succeeded and failed at least once.
  std::set<std::string> served_services;
  for (const std::string& s : ServedServices(channel)) {
    if (absl::StartsWith(s, "attune.")) served_services.insert(s);
  }
  EXPECT_EQ(served_services,
            (std::set<std::string>{alliance, rule_admin, data_admin}))
      << "a new service needs entries in this sweep";
  std::set<std::string> declared;
  for (const std::string& name : served_services) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            name);
    ASSERT_NE(service, nullptr) << name;
    for (int i = 0; i < service->method_count(); ++i) {
      declared.insert(service->method(i)->full_name());
    }
  }
  std::set<std::string> succeeded, failed;
  for (const Seen& s : seen_) {
    (s.served ? succeeded : failed).insert(s.method);
  }
  EXPECT_EQ(succeeded, declared) << "every RPC needs a successful call";
  EXPECT_EQ(failed, declared) << "every RPC needs failing calls";

  // Nothing the callers were shown carries a marker.
  for (const Seen& s : seen_) {
    for (const auto& [where, text] : s.surfaces) {
      const std::vector<std::string> leaks = Leaks(text);
      EXPECT_TRUE(leaks.empty())
          << s.method << " " << s.label << ": " << where << " shows "
          << absl::StrJoin(leaks, ", ") << ":\n"
          << text;
    }
  }

  // Nor does either log, complete once the servers have stopped (client
  // channels closed first, or the graceful shutdown waits for them).
  channel.reset();
  limited_channel.reset();
  channels_.clear();
  for (auto& server : servers_) {
    EXPECT_EQ(server->Stop(), 0) << server->Log();
    const std::string log = server->Log();
    EXPECT_TRUE(absl::StrContains(log, "audit head")) << log;
    EXPECT_TRUE(absl::StrContains(log, "shutting down")) << log;
    const std::vector<std::string> leaks = Leaks(log);
    EXPECT_TRUE(leaks.empty()) << server->dir() << "/attuned.log shows "
                               << absl::StrJoin(leaks, ", ") << ":\n"
                               << log;
  }
  // The log did record the refusals it must not describe.
  const std::string main_log = servers_[0]->Log();
  for (const char* reason :
       {"reason=missing_token", "reason=bad_signature", "reason=expired",
        "reason=replayed_jti", "reason=missing_role", "client erased"}) {
    EXPECT_TRUE(absl::StrContains(main_log, reason)) << reason;
  }
  EXPECT_TRUE(absl::StrContains(servers_[1]->Log(), "reason=rate_limited"));
}

}  // namespace
}  // namespace attune::testing
