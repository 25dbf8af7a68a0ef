// The audit log's hash chain in SQLite: appending rows (under the write
// lock) and walking the chain to verify it. The table is audit_log of
// migration 3 (migrations.cc); SqliteStore::AppendAudit / VerifyAudit and
// `attunectl audit verify` are the callers. The chain itself (encoding,
// hashes, what a verification proves) is common/audit_chain.h.
//
// Threading: the functions use only the connection they are given, which
// must not be used by another thread meanwhile.
#ifndef ATTUNE_SERVICE_STORE_SQLITE_AUDIT_H_
#define ATTUNE_SERVICE_STORE_SQLITE_AUDIT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/security/key_ring.h"
#include "service/store/common/audit_chain.h"
#include "service/store/sqlite/connection.h"
#include "service/store/store.h"

namespace attune::store::sqlite {

// VerifyAuditChain's parameter type (attunectl spells it sqlite::).
using ::attune::store::ExpectedHead;

// The last row (seq 0 and no hash when the log is empty). Read inside the
// caller's transaction, if any.
absl::StatusOr<AuditHead> ReadAuditHead(Connection& conn);

// Appends `records` in order, chained to the last row, inside the write
// transaction the caller holds on `conn` (BEGIN IMMEDIATE: the head is read
// and extended under SQLite's write lock, so two writers, even in two
// processes, can never fork the chain). Rows are keyed with keys'
// active key, or unkeyed without keys. Returns the new head. Does not
// validate: call ValidateAuditRecords first.
absl::StatusOr<AuditHead> AppendAuditRows(
    Connection& conn, const security::KeyRing* keys,
    const std::vector<AuditRecord>& records);

// Walks the whole chain in seq order (AuditChainVerifier), one row at a
// time in one read transaction (memory does not grow with the log), and
// stops at the first break. `keys` (may be null) must hold every key that
// wrote a row. AuditVerification.rows counts the rows read, the bad one
// included; head_seq/head_hash are those of the last row (of the last intact
// row after a break). Problems: "seq 18 missing: 17 is followed by 19", "seq 1
// missing: the log starts at 4", "seq 17: hash does not match the row",
// "seq 17: storage key 'k0' is not in the key ring", "seq 17: unkeyed row
// after keyed rows", and with `expected`: "seq 18 missing: the log ends at
// 17, an earlier head was 20", "seq 20: hash differs from the expected
// head". Errors (not verification failures): the storage's (UNAVAILABLE,
// INTERNAL), e.g. when there is no audit_log table.
absl::StatusOr<AuditVerification> VerifyAuditChain(
    Connection& conn, const security::KeyRing* keys,
    const std::optional<ExpectedHead>& expected = std::nullopt);

}  // namespace attune::store::sqlite

#endif  // ATTUNE_SERVICE_STORE_SQLITE_AUDIT_H_
