// The audit log's hash chain, independent of the database that holds it:
// the row encoding, the row hash, the walk that verifies a chain row by row,
// and the log lines of the chain's head. The SQLite backend (sqlite/audit.h)
// and the PostgreSQL backend (postgres/postgres_store.cc) store the rows;
// both chain and verify them with this code, so a chain moved between
// backends verifies the same.
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
// plaintext store) anyone who can write the database can rebuild a
// consistent SHA-256 chain, so only a head recorded elsewhere (attuned logs
// it, see AuditHeadLog) catches that. Deleting rows from the end leaves a
// valid shorter chain: compare the head with one recorded earlier
// (ExpectedHead). A row without a key after a keyed row (a downgrade to the
// recomputable SHA-256) is a break too.
//
// Threading: the functions are pure; an AuditChainVerifier or AuditHeadLog
// is used by one thread at a time.
#ifndef ATTUNE_SERVICE_STORE_COMMON_AUDIT_CHAIN_H_
#define ATTUNE_SERVICE_STORE_COMMON_AUDIT_CHAIN_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/security/key_ring.h"
#include "service/store/store.h"

namespace attune::store {

// Bytes of a row hash.
inline constexpr size_t kAuditHashBytes = 32;

// The last row of the chain.
struct AuditHead {
  // 0 when the log is empty.
  int64_t seq = 0;
  // 32 raw bytes; empty when the log is empty.
  std::string hash;
};

// A head recorded earlier ("attunectl audit verify --expect-head"): the
// chain must reach `seq` and its row `seq` must have this hash.
struct ExpectedHead {
  int64_t seq = 0;
  // 32 raw bytes.
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

// One stored row, as a backend reads it back.
struct AuditRow {
  int64_t seq = 0;
  int64_t at_nanos = 0;
  AuditRecord record;  // record.at is ignored: at_nanos is what was hashed.
  std::string key_id;
  std::string hash;
};

// A row ready to be stored: the next link of the chain.
struct ChainedAuditRow {
  int64_t seq = 0;
  int64_t at_nanos = 0;
  std::string key_id;
  std::string hash;
};

// Chains `records` to `head` (seq 0: the empty log), keyed with keys'
// active key or unkeyed without keys, and returns the rows to store in
// order; *head becomes the last of them. Does not validate: call
// ValidateAuditRecords first.
absl::StatusOr<std::vector<ChainedAuditRow>> ChainAuditRecords(
    const security::KeyRing* keys, const std::vector<AuditRecord>& records,
    AuditHead* head);

// Walks a chain fed in seq order and stops at the first break. `keys` (may
// be null) must hold every key that wrote a row. Result():
// AuditVerification.rows counts the rows fed, the bad one included;
// head_seq/head_hash are those of the last row (of the last intact row
// after a break). Problems: "seq 18 missing: 17 is followed by 19", "seq 1
// missing: the log starts at 4", "seq 17: hash does not match the row",
// "seq 17: storage key 'k0' is not in the key ring", "seq 17: unkeyed row
// after keyed rows", and with `expected`: "seq 18 missing: the log ends at
// 17, an earlier head was 20", "seq 20: hash differs from the expected
// head".
class AuditChainVerifier {
 public:
  AuditChainVerifier(const security::KeyRing* keys,
                     std::optional<ExpectedHead> expected);

  // Checks the next row. Returns false once the chain is broken (stop
  // feeding); errors only for a failing hash function (INTERNAL).
  absl::StatusOr<bool> Add(const AuditRow& row);
  // The verdict once every row was fed (or Add returned false).
  AuditVerification Result();

 private:
  void Fail(int64_t seq, std::string problem);

  const security::KeyRing* keys_;
  std::optional<ExpectedHead> expected_;
  AuditVerification result_;
  std::string prev_hash_;
  int64_t prev_seq_ = 0;
  bool keyed_seen_ = false;
};

// Log lines of the chain's head ("audit head" with seq and hash, info
// level), so that a truncated log can be caught later by comparing with
// `attunectl audit verify --expect-head SEQ:HASH`: one when the store opens,
// one at most every `interval` while rows are appended, and one at close
// when rows were appended since open. Not thread-safe: the caller
// serialises its use.
class AuditHeadLog {
 public:
  explicit AuditHeadLog(absl::Duration interval) : interval_(interval) {}
  // The head found at open; logged.
  void Opened(const AuditHead& head);
  // After an append committed: remembers the head, logs it when `interval`
  // has passed since the last line. A head older than one already seen (an
  // append that finished later on another connection) is ignored.
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

}  // namespace attune::store

#endif  // ATTUNE_SERVICE_STORE_COMMON_AUDIT_CHAIN_H_
