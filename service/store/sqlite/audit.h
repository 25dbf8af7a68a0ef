// The audit log's hash chain in SQLite: appending rows (under the write
// lock) and walking the chain to verify it. The table is audit_log of
// migration 3 (migrations.cc); SqliteStore::AppendAudit / VerifyAudit and
// `attunectl audit verify` are the callers.
//
// The chain. Row n stores
//   hash_n = MAC(hash_{n-1} || Encode(seq, at, tenant, caller, action,
//                                     object, outcome, key_id))
// with hash_0 = 32 zero bytes. Encode is a fixed domain tag, seq and at as
// 8-byte big-endian integers, and each text field as a 4-byte big-endian
// length followed by its bytes, so no two different rows encode alike. MAC
// is KeyRing::AuditMac(key_id, ...) when the store has storage keys (key_id
// = the active key's id when the row was written), else SHA-256 with key_id
// ''. seq runs 1, 2, 3... without gaps.
//
// What it proves. Editing any field of a row, deleting a row in the middle,
// reordering rows or forging one breaks the chain at that row. With keys
// nobody without the key file can recompute a chain; without keys (a
// plaintext store) anyone who can write the file can rebuild a consistent
// SHA-256 chain, so only a head recorded elsewhere (attuned logs it, see
// below) catches that. Deleting rows from the end leaves a valid shorter
// chain: compare the head with one recorded earlier (ExpectedHead). A row
// without a key after a keyed row (a downgrade to the recomputable SHA-256)
// is a break too.
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
#include "service/store/sqlite/connection.h"
#include "service/store/store.h"

namespace attune::store::sqlite {

// The last row of the chain.
struct AuditHead {
  // 0 when the log is empty.
  int64_t seq = 0;
  // 32 raw bytes; empty when the log is empty.
  std::string hash;
};

// INVALID_ARGUMENT "records[i].tenant: must not be empty" (or action,
// outcome) for the first bad record.
absl::Status ValidateAuditRecords(const std::vector<AuditRecord>& records);

// The canonical encoding of one row (see above), without the previous hash.
std::string EncodeAuditRow(int64_t seq, int64_t at_nanos,
                           const AuditRecord& record, absl::string_view key_id);

// The row's hash: MAC(prev_hash || encoded_row) as described above. `keys`
// may be null only for key_id ''. NOT_FOUND "storage key '<id>' is not in
// the key ring" for a key id `keys` lacks (or any id without keys).
absl::StatusOr<std::string> AuditRowHash(const security::KeyRing* keys,
                                         absl::string_view key_id,
                                         absl::string_view prev_hash,
                                         absl::string_view encoded_row);

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

// A head recorded earlier ("attunectl audit verify --expect-head"): the
// chain must reach `seq` and its row `seq` must have this hash.
struct ExpectedHead {
  int64_t seq = 0;
  // 32 raw bytes.
  std::string hash;
};

// Walks the whole chain in seq order, one row at a time in one read
// transaction (memory does not grow with the log), and stops at the first
// break. `keys` (may be null) must hold every key that wrote a row.
// AuditVerification.rows counts the rows read, the bad one included;
// head_seq/head_hash are those of the last row (of the last intact row
// after a break). Problems: "seq 18 missing: 17 is followed by 19", "seq 1
// missing: the log starts at 4", "seq 17: hash does not match the row",
// "seq 17: storage key 'k0' is not in the key ring", "seq 17: unkeyed row
// after keyed rows", and with `expected`: "seq 18 missing: the log ends at
// 17, an earlier head was 20", "seq 20: hash differs from the expected
// head". Errors (not verification failures): the storage's (UNAVAILABLE,
// INTERNAL), e.g. when there is no audit_log table.
absl::StatusOr<AuditVerification> VerifyAuditChain(
    Connection& conn, const security::KeyRing* keys,
    const std::optional<ExpectedHead>& expected = std::nullopt);

// Log lines of the chain's head ("audit head" with seq and hash, info
// level), so that a truncated log can be caught later by comparing with
// `attunectl audit verify --expect-head SEQ:HASH`: one when the store opens,
// one at most every `interval` while rows are appended, and one at close
// when rows were appended since open. Not thread-safe: the writer thread
// owns it.
class AuditHeadLog {
 public:
  explicit AuditHeadLog(absl::Duration interval) : interval_(interval) {}
  // The head found at open; logged.
  void Opened(const AuditHead& head);
  // After an append committed: remembers the head, logs it when `interval`
  // has passed since the last line.
  void Appended(const AuditHead& head, absl::Time now);
  // Logs the head once more when rows were appended since open.
  void Closed();

 private:
  absl::Duration interval_;
  AuditHead head_;
  bool appended_ = false;
  absl::Time logged_at_ = absl::InfinitePast();
};

// "SEQ:HASH" (hash as 64 hex digits), as logged and as --expect-head reads
// it; "0:" for an empty log.
std::string FormatAuditHead(int64_t seq, absl::string_view hash);

}  // namespace attune::store::sqlite

#endif  // ATTUNE_SERVICE_STORE_SQLITE_AUDIT_H_
