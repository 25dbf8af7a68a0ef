#include "service/store/sqlite/audit.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "service/common/status_macros.h"
#include "service/store/common/codec.h"

namespace attune::store::sqlite {
namespace {

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

}  // namespace

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
  ATTUNE_ASSIGN_OR_RETURN(std::vector<ChainedAuditRow> rows,
                          ChainAuditRecords(keys, records, &head));
  for (size_t i = 0; i < rows.size(); ++i) {
    const AuditRecord& record = records[i];
    const ChainedAuditRow& row = rows[i];
    ATTUNE_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.Prepare("INSERT INTO audit_log (seq, at, tenant, caller, action,"
                     " object, outcome, key_id, hash)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                     "audit_log: append"));
    ATTUNE_RETURN_IF_ERROR(stmt.Bind(
        row.seq, row.at_nanos, record.tenant, record.caller, record.action,
        record.object, record.outcome, row.key_id, Blob{row.hash}));
    ATTUNE_RETURN_IF_ERROR(stmt.Run());
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
  AuditChainVerifier verifier(keys, expected);
  for (;;) {
    ATTUNE_ASSIGN_OR_RETURN(bool found, stmt.Step());
    if (!found) break;
    AuditRow row;
    row.seq = stmt.ColumnInt64(0);
    row.at_nanos = stmt.ColumnInt64(1);
    row.record.at = absl::FromUnixNanos(row.at_nanos);
    row.record.tenant = std::string(stmt.ColumnBytes(2));
    row.record.caller = std::string(stmt.ColumnBytes(3));
    row.record.action = std::string(stmt.ColumnBytes(4));
    row.record.object = std::string(stmt.ColumnBytes(5));
    row.record.outcome = std::string(stmt.ColumnBytes(6));
    row.key_id = std::string(stmt.ColumnBytes(7));
    row.hash = std::string(stmt.ColumnBytes(8));
    ATTUNE_ASSIGN_OR_RETURN(bool intact, verifier.Add(row));
    if (!intact) break;
  }
  return verifier.Result();
}

}  // namespace attune::store::sqlite
