#include "service/store/common/audit_chain.h"

#include <openssl/evp.h>

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "service/common/log.h"
#include "service/common/status_macros.h"
#include "service/store/common/codec.h"

namespace attune::store {
namespace {

// Changing the encoding means a new tag (and a way to verify old rows).
constexpr absl::string_view kDomainTag("attune.audit.v1", 15);

void AppendBigEndian(std::string& out, uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) {
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  }
}

void AppendField(std::string& out, absl::string_view field) {
  AppendBigEndian(out, field.size(), 4);
  out.append(field.data(), field.size());
}

absl::StatusOr<std::string> Sha256(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(),
                 nullptr) != 1 ||
      len != kAuditHashBytes) {
    return absl::InternalError("audit_log: SHA-256 failed");
  }
  return std::string(reinterpret_cast<const char*>(digest), len);
}

std::string Hex(absl::string_view bytes) {
  return absl::BytesToHexString(bytes);
}

}  // namespace

absl::Status ValidateAuditRecords(const std::vector<AuditRecord>& records) {
  for (size_t i = 0; i < records.size(); ++i) {
    const AuditRecord& r = records[i];
    const char* missing = r.tenant.empty()    ? "tenant"
                          : r.action.empty()  ? "action"
                          : r.outcome.empty() ? "outcome"
                                              : nullptr;
    if (missing != nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("records[", i, "].", missing, ": must not be empty"));
    }
  }
  return absl::OkStatus();
}

std::string EncodeAuditRow(int64_t seq, int64_t at_nanos,
                           const AuditRecord& record,
                           absl::string_view key_id) {
  std::string out;
  out.reserve(kDomainTag.size() + 16 + 6 * 4 + record.tenant.size() +
              record.caller.size() + record.action.size() +
              record.object.size() + record.outcome.size() + key_id.size());
  out.append(kDomainTag.data(), kDomainTag.size());
  AppendBigEndian(out, static_cast<uint64_t>(seq), 8);
  AppendBigEndian(out, static_cast<uint64_t>(at_nanos), 8);
  AppendField(out, record.tenant);
  AppendField(out, record.caller);
  AppendField(out, record.action);
  AppendField(out, record.object);
  AppendField(out, record.outcome);
  AppendField(out, key_id);
  return out;
}

absl::StatusOr<std::string> AuditRowHash(const security::KeyRing* keys,
                                         absl::string_view key_id,
                                         absl::string_view prev_hash,
                                         absl::string_view encoded_row) {
  std::string data;
  data.reserve(prev_hash.size() + encoded_row.size());
  data.append(prev_hash.data(), prev_hash.size());
  data.append(encoded_row.data(), encoded_row.size());
  if (key_id.empty()) return Sha256(data);
  if (keys == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("storage key '", key_id, "' is not in the key ring"));
  }
  return keys->AuditMac(std::string(key_id), data);
}

absl::StatusOr<std::vector<ChainedAuditRow>> ChainAuditRecords(
    const security::KeyRing* keys, const std::vector<AuditRecord>& records,
    AuditHead* head) {
  if (head->seq == 0) head->hash.assign(kAuditHashBytes, '\0');
  const std::string key_id =
      keys != nullptr ? keys->active_key_id() : std::string();
  std::vector<ChainedAuditRow> rows;
  rows.reserve(records.size());
  for (const AuditRecord& record : records) {
    ChainedAuditRow& row = rows.emplace_back();
    row.seq = head->seq + 1;
    row.at_nanos = TimeToNanos(record.at);
    row.key_id = key_id;
    ATTUNE_ASSIGN_OR_RETURN(
        row.hash,
        AuditRowHash(keys, key_id, head->hash,
                     EncodeAuditRow(row.seq, row.at_nanos, record, key_id)));
    head->seq = row.seq;
    head->hash = row.hash;
  }
  return rows;
}

AuditChainVerifier::AuditChainVerifier(const security::KeyRing* keys,
                                       std::optional<ExpectedHead> expected)
    : keys_(keys),
      expected_(std::move(expected)),
      prev_hash_(kAuditHashBytes, '\0') {}

void AuditChainVerifier::Fail(int64_t seq, std::string problem) {
  result_.ok = false;
  result_.first_bad_seq = seq;
  result_.problem = std::move(problem);
}

absl::StatusOr<bool> AuditChainVerifier::Add(const AuditRow& row) {
  if (!result_.ok) return false;
  ++result_.rows;
  const int64_t seq = row.seq;
  if (seq != prev_seq_ + 1) {
    Fail(prev_seq_ + 1,
         prev_seq_ == 0
             ? absl::StrCat("seq 1 missing: the log starts at ", seq)
             : absl::StrCat("seq ", prev_seq_ + 1, " missing: ", prev_seq_,
                            " is followed by ", seq));
    return false;
  }
  if (row.key_id.empty() && keyed_seen_) {
    Fail(seq, absl::StrCat("seq ", seq, ": unkeyed row after keyed rows"));
    return false;
  }
  keyed_seen_ = keyed_seen_ || !row.key_id.empty();
  absl::StatusOr<std::string> hash =
      AuditRowHash(keys_, row.key_id, prev_hash_,
                   EncodeAuditRow(seq, row.at_nanos, row.record, row.key_id));
  if (absl::IsNotFound(hash.status())) {
    Fail(seq, absl::StrCat("seq ", seq, ": ", hash.status().message()));
    return false;
  }
  if (!hash.ok()) return hash.status();
  if (*hash != row.hash) {
    Fail(seq, absl::StrCat("seq ", seq, ": hash does not match the row"));
    return false;
  }
  if (expected_.has_value() && seq == expected_->seq &&
      row.hash != expected_->hash) {
    Fail(seq,
         absl::StrCat("seq ", seq, ": hash differs from the expected head"));
    return false;
  }
  prev_seq_ = seq;
  prev_hash_ = row.hash;
  return true;
}

AuditVerification AuditChainVerifier::Result() {
  if (result_.ok && expected_.has_value() && prev_seq_ < expected_->seq) {
    Fail(prev_seq_ + 1,
         absl::StrCat("seq ", prev_seq_ + 1, " missing: the log ends at ",
                      prev_seq_, ", an earlier head was ", expected_->seq));
  }
  AuditVerification result = result_;
  result.head_seq = prev_seq_;
  result.head_hash = prev_seq_ == 0 ? std::string() : Hex(prev_hash_);
  return result;
}

std::string FormatAuditHead(int64_t seq, absl::string_view hash) {
  return absl::StrCat(seq, ":", Hex(hash));
}

void AuditHeadLog::Opened(const AuditHead& head) {
  head_ = head;
  ATTUNE_LOG(INFO) << "audit head" << LogField("at", "open")
                   << LogField("head", FormatAuditHead(head.seq, head.hash));
}

void AuditHeadLog::Appended(const AuditHead& head, absl::Time now) {
  // Appends on several connections may report out of order: keep the newest.
  if (appended_ && head.seq <= head_.seq) return;
  head_ = head;
  appended_ = true;
  if (now - logged_at_ < interval_) return;
  logged_at_ = now;
  ATTUNE_LOG(INFO) << "audit head" << LogField("at", "append")
                   << LogField("head", FormatAuditHead(head.seq, head.hash));
}

void AuditHeadLog::Closed() {
  if (!appended_) return;
  ATTUNE_LOG(INFO) << "audit head" << LogField("at", "close")
                   << LogField("head", FormatAuditHead(head_.seq, head_.hash));
}

}  // namespace attune::store
