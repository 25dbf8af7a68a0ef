// Fuzz target: a SessionEvent from untrusted bytes, then event validation.
//
// The input is tried both ways a host can send an event: as binary protobuf
// (gRPC) and as proto3 JSON (attunectl's JSON lines, the REST gateway's
// body). Whatever parses is validated with engine::ValidateEvent under the
// server's limits and under attunectl's replay limits. Invariants:
//  - nothing crashes, whatever the bytes;
//  - an error is INVALID_ARGUMENT;
//  - an event that validates re-serialises: to binary and back, and to JSON
//    and back, giving an equal event that validates again, and it folds
//    into an EpisodeHistory (what the server does next).
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "attune/v1/config.pb.h"
#include "attune/v1/event.pb.h"
#include "google/protobuf/util/field_comparator.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "service/config/config_loader.h"
#include "service/engine/episode_history.h"
#include "service/engine/event_validator.h"
#include "service/engine/instrument_registry.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_quiet_protobuf.h"

namespace {

using attune::engine::InstrumentRegistry;
using attune::engine::ValidationLimits;
using attune::v1::SessionEvent;

struct Fixture {
  InstrumentRegistry registry;
  // The server's limits at a fixed "now" after the demo episode (2026), so
  // the seed corpus reaches the payload checks; and attunectl's (plugin
  // check, replay): no upper bound on occurred_at.
  ValidationLimits server;
  ValidationLimits replay;
};

const Fixture& GetFixture() {
  static const Fixture* fixture = [] {
    absl::StatusOr<attune::v1::ServerConfig> config =
        attune::config::DefaultConfig();
    FUZZ_CHECK(config.ok(), "the built-in defaults parse");
    absl::StatusOr<InstrumentRegistry> registry =
        InstrumentRegistry::Create(config->rules());
    FUZZ_CHECK(registry.ok(), "the built-in instruments are valid");
    const absl::Duration snooze =
        absl::Hours(24) * config->rules().budget().max_snooze_days();
    return new Fixture{
        *std::move(registry),
        {absl::FromCivil(absl::CivilSecond(2030, 1, 1, 0, 0, 0),
                         absl::UTCTimeZone()),
         absl::Seconds(config->max_future_skew_seconds()), snooze},
        {absl::InfiniteFuture(), absl::ZeroDuration(), snooze}};
  }();
  return *fixture;
}

bool Equal(const SessionEvent& a, const SessionEvent& b) {
  // NaN may sit in fields the validator does not read (a custom
  // declaration sent with a built-in instrument): equal to itself here.
  google::protobuf::util::DefaultFieldComparator comparator;
  comparator.set_treat_nan_as_equal(true);
  google::protobuf::util::MessageDifferencer differencer;
  differencer.set_field_comparator(&comparator);
  return differencer.Compare(a, b);
}

void CheckValidEvent(SessionEvent event, const ValidationLimits& limits) {
  const Fixture& f = GetFixture();
  // JSON carries no unknown fields; compare what both encodings carry.
  event.DiscardUnknownFields();

  std::string binary;
  FUZZ_CHECK(event.SerializeToString(&binary),
             "a valid event serialises to binary");
  SessionEvent from_binary;
  FUZZ_CHECK(from_binary.ParseFromString(binary),
             "a valid event's binary form parses");
  FUZZ_CHECK(Equal(event, from_binary), "binary round trip is lossless");

  std::string json;
  FUZZ_CHECK(google::protobuf::util::MessageToJsonString(event, &json).ok(),
             "a valid event prints as JSON");
  SessionEvent from_json;
  google::protobuf::util::JsonParseOptions strict;
  strict.ignore_unknown_fields = false;
  FUZZ_CHECK(
      google::protobuf::util::JsonStringToMessage(json, &from_json, strict)
          .ok(),
      "a valid event's JSON parses");
  FUZZ_CHECK(Equal(event, from_json), "JSON round trip is lossless");
  FUZZ_CHECK(attune::engine::ValidateEvent(from_json, f.registry, limits).ok(),
             "a re-parsed valid event is still valid");

  std::vector<SessionEvent> events;
  events.push_back(std::move(event));
  attune::engine::EpisodeHistory::Fold(std::move(events), f.registry);
}

void Validate(const SessionEvent& event) {
  const Fixture& f = GetFixture();
  for (const ValidationLimits* limits : {&f.server, &f.replay}) {
    const absl::Status status =
        attune::engine::ValidateEvent(event, f.registry, *limits);
    FUZZ_TRACE(limits == &f.server ? "server limits" : "replay limits", status);
    if (status.ok()) {
      CheckValidEvent(event, *limits);
    } else {
      FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument,
                 "validation fails only with INVALID_ARGUMENT");
      FUZZ_CHECK(!status.message().empty(), "a refusal names a field");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);

  SessionEvent binary;
  if (binary.ParseFromString(bytes)) {
    FUZZ_TRACE("binary", absl::OkStatus());
    Validate(binary);
  }

  SessionEvent json;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto parsed =
      google::protobuf::util::JsonStringToMessage(bytes, &json, options);
  FUZZ_TRACE("json", parsed);
  if (parsed.ok()) Validate(json);
  return 0;
}
