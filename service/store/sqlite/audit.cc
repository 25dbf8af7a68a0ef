#include "service/store/sqlite/audit.h"

#include <openssl/evp.h>

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "service/common/log.h"
#include "service/common/status_macros.h"
#include "service/store/sqlite/codec.h"

namespace attune::store::sqlite {
namespace {

constexpr size_t kHashBytes = 32;
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
      len != kHashBytes) {
    return absl::InternalError("audit_log: SHA-256 failed");
  }
  return std::string(reinterpret_cast<const char*>(digest), len);
}

// Rolls back the read transaction on every path.
class ReadSnapshot {
 public:
  explicit ReadSnapshot(Connection& conn) : conn_(conn) {}
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;
  ~ReadSnapshot() {
    if (conn_.InTransaction()) {
      conn_.Exec("ROLLBACK", "audit_log: end verify").IgnoreError();
    }
  }

 private:
  Connection& conn_;
};

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

absl::StatusOr<AuditHead> ReadAuditHead(Connection& conn) {
  ATTUNE_ASSIGN_OR_RETURN(
      Statement stmt,
      conn.Prepare("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
                   "audit_log: read head"));
  ATTUNE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  AuditHead head;
  if (!row) return head;
  head.seq = stmt.ColumnInt64(0);
  head.hash = std::string(stmt.ColumnBytes(1));
  return head;
}

absl::StatusOr<AuditHead> AppendAuditRows(
    Connection& conn, const security::KeyRing* keys,
    const std::vector<AuditRecord>& records) {
  ATTUNE_ASSIGN_OR_RETURN(AuditHead head, ReadAuditHead(conn));
  if (head.seq == 0) head.hash.assign(kHashBytes, '\0');
  const std::string key_id =
      keys != nullptr ? keys->active_key_id() : std::string();
  for (const AuditRecord& record : records) {
    const int64_t seq = head.seq + 1;
    const int64_t at = TimeToNanos(record.at);
    ATTUNE_ASSIGN_OR_RETURN(
        std::string hash,
        AuditRowHash(keys, key_id, head.hash,
                     EncodeAuditRow(seq, at, record, key_id)));
    ATTUNE_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.Prepare("INSERT INTO audit_log (seq, at, tenant, caller, action,"
                     " object, outcome, key_id, hash)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                     "audit_log: append"));
    ATTUNE_RETURN_IF_ERROR(stmt.Bind(seq, at, record.tenant, record.caller,
                                     record.action, record.object,
                                     record.outcome, key_id, Blob{hash}));
    ATTUNE_RETURN_IF_ERROR(stmt.Run());
    head.seq = seq;
    head.hash = std::move(hash);
  }
  return head;
}

absl::StatusOr<AuditVerification> VerifyAuditChain(
    Connection& conn, const security::KeyRing* keys,
    const std::optional<ExpectedHead>& expected) {
  ReadSnapshot snapshot(conn);
  // One snapshot: rows appended meanwhile are not half-seen.
  ATTUNE_RETURN_IF_ERROR(conn.Exec("BEGIN", "audit_log: begin verify"));
  ATTUNE_ASSIGN_OR_RETURN(
      Statement stmt,
      conn.Prepare("SELECT seq, at, tenant, caller, action, object, outcome,"
                   " key_id, hash FROM audit_log ORDER BY seq",
                   "audit_log: verify"));
  AuditVerification result;
  std::string prev_hash(kHashBytes, '\0');
  int64_t prev_seq = 0;
  bool keyed_seen = false;
  auto fail = [&result](int64_t seq, std::string problem) {
    result.ok = false;
    result.first_bad_seq = seq;
    result.problem = std::move(problem);
  };
  for (;;) {
    ATTUNE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    ++result.rows;
    const int64_t seq = stmt.ColumnInt64(0);
    if (seq != prev_seq + 1) {
      fail(prev_seq + 1,
           prev_seq == 0
               ? absl::StrCat("seq 1 missing: the log starts at ", seq)
               : absl::StrCat("seq ", prev_seq + 1, " missing: ", prev_seq,
                              " is followed by ", seq));
      break;
    }
    AuditRecord record;
    record.at = absl::FromUnixNanos(stmt.ColumnInt64(1));
    record.tenant = std::string(stmt.ColumnBytes(2));
    record.caller = std::string(stmt.ColumnBytes(3));
    record.action = std::string(stmt.ColumnBytes(4));
    record.object = std::string(stmt.ColumnBytes(5));
    record.outcome = std::string(stmt.ColumnBytes(6));
    const std::string key_id(stmt.ColumnBytes(7));
    const std::string stored(stmt.ColumnBytes(8));
    if (key_id.empty() && keyed_seen) {
      fail(seq, absl::StrCat("seq ", seq, ": unkeyed row after keyed rows"));
      break;
    }
    keyed_seen = keyed_seen || !key_id.empty();
    absl::StatusOr<std::string> hash =
        AuditRowHash(keys, key_id, prev_hash,
                     EncodeAuditRow(seq, stmt.ColumnInt64(1), record, key_id));
    if (absl::IsNotFound(hash.status())) {
      fail(seq, absl::StrCat("seq ", seq, ": ", hash.status().message()));
      break;
    }
    if (!hash.ok()) return hash.status();
    if (*hash != stored) {
      fail(seq, absl::StrCat("seq ", seq, ": hash does not match the row"));
      break;
    }
    if (expected.has_value() && seq == expected->seq &&
        stored != expected->hash) {
      fail(seq,
           absl::StrCat("seq ", seq, ": hash differs from the expected head"));
      break;
    }
    prev_seq = seq;
    prev_hash = stored;
  }
  if (result.ok && expected.has_value() && prev_seq < expected->seq) {
    fail(prev_seq + 1,
         absl::StrCat("seq ", prev_seq + 1, " missing: the log ends at ",
                      prev_seq, ", an earlier head was ", expected->seq));
  }
  result.head_seq = prev_seq;
  result.head_hash = prev_seq == 0 ? std::string() : Hex(prev_hash);
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

}  // namespace attune::store::sqlite
