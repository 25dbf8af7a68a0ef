#include "service/ctl/deidentify.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstdint>

#include "absl/strings/escaping.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"
#include "google/protobuf/timestamp.pb.h"
#include "service/engine/prompt_reconciler.h"

namespace attune::ctl {
namespace {

constexpr int kKeyBytes = 32;
constexpr int kPseudonymHexDigits = 20;
constexpr int kMinShiftWeeks = 52;
constexpr int kMaxShiftWeeks = 520;
// Ordinals a prompt id can have: one per re-raise of a kind in an episode.
constexpr int kMaxOrdinal = 10000;
// A clinician prompt expires two days after the start of its UTC day
// (alliance_engine.cc).
constexpr absl::Duration kClinicianPromptLife = absl::Hours(48);

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

void ShiftTimestamps(Message& message, absl::Duration shift) {
  const google::protobuf::Reflection* r = message.GetReflection();
  const google::protobuf::Descriptor* d = message.GetDescriptor();
  if (d->full_name() ==
      google::protobuf::Timestamp::descriptor()->full_name()) {
    auto& t = static_cast<google::protobuf::Timestamp&>(message);
    t.set_seconds(t.seconds() - absl::ToInt64Seconds(shift));
    return;
  }
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int j = 0; j < r->FieldSize(message, f); ++j) {
        ShiftTimestamps(*r->MutableRepeatedMessage(&message, f, j), shift);
      }
    } else if (r->HasField(message, f)) {
      ShiftTimestamps(*r->MutableMessage(&message, f), shift);
    }
  }
}

absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

}  // namespace

absl::StatusOr<Deidentifier> Deidentifier::Create() {
  std::string key(kKeyBytes, '\0');
  uint32_t weeks = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), kKeyBytes) !=
          1 ||
      RAND_bytes(reinterpret_cast<unsigned char*>(&weeks), sizeof(weeks)) !=
          1) {
    return absl::UnavailableError(
        "no random bytes for a de-identification key");
  }
  const int span = kMaxShiftWeeks - kMinShiftWeeks + 1;
  const int shift_weeks = kMinShiftWeeks + static_cast<int>(weeks % span);
  return Deidentifier(std::move(key), absl::Hours(24 * 7) * shift_weeks);
}

Deidentifier::Deidentifier(std::string key, absl::Duration shift)
    : key_(std::move(key)), shift_(shift) {}

std::string Deidentifier::Pseudonym(absl::string_view kind,
                                    absl::string_view id) const {
  std::string input(kind);
  input.push_back('\0');
  input.append(id.data(), id.size());
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
       &mac_len);
  std::string hex = absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(mac), static_cast<size_t>(mac_len)));
  return absl::StrCat(kind, "-", hex.substr(0, kPseudonymHexDigits));
}

absl::Status Deidentifier::Apply(const std::string& tenant,
                                 const PromptLookup& lookup,
                                 v1::SessionEvent& event) const {
  // The prompt is resolved with the original identifiers, before they go.
  std::optional<std::string> new_prompt_id;
  if (event.has_prompt_feedback()) {
    const std::string& id = event.prompt_feedback().prompt_id();
    absl::StatusOr<std::optional<v1::Prompt>> prompt = lookup(id);
    if (!prompt.ok()) return prompt.status();
    if (prompt->has_value()) {
      const v1::Prompt& p = **prompt;
      if (p.scope() == v1::PROMPT_SCOPE_CLINICIAN) {
        absl::CivilDay day = absl::ToCivilDay(
            ToTime(p.expires_at()) - kClinicianPromptLife, absl::UTCTimeZone());
        absl::CivilDay shifted = day - absl::ToInt64Hours(shift_) / 24;
        new_prompt_id = engine::MakePromptId(
            tenant,
            engine::ClinicianPromptScope(
                Pseudonym("clinician", p.episode().clinician_id()), shifted),
            p.kind(), 1);
      } else {
        for (int n = 1; n <= kMaxOrdinal && !new_prompt_id; ++n) {
          if (engine::MakePromptId(tenant, p.episode().episode_id(), p.kind(),
                                   n) == id) {
            new_prompt_id = engine::MakePromptId(
                tenant, Pseudonym("episode", p.episode().episode_id()),
                p.kind(), n);
          }
        }
      }
    }
    event.mutable_prompt_feedback()->set_prompt_id(
        new_prompt_id.value_or(Pseudonym("prompt", id)));
  }
  v1::EpisodeRef* ref = event.mutable_episode();
  ref->set_client_id(Pseudonym("client", ref->client_id()));
  ref->set_clinician_id(Pseudonym("clinician", ref->clinician_id()));
  ref->set_episode_id(Pseudonym("episode", ref->episode_id()));
  event.set_event_id(Pseudonym("event", event.event_id()));
  ShiftTimestamps(event, shift_);
  return absl::OkStatus();
}

}  // namespace attune::ctl
