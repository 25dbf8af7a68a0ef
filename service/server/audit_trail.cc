#include "service/server/audit_trail.h"

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "service/common/log.h"
#include "service/security/key_ring.h"

namespace attune::server {
namespace {

constexpr absl::Duration kCloseTimeout = absl::Seconds(5);

void AppendField(std::string& out, absl::string_view field) {
  const uint32_t n = static_cast<uint32_t>(field.size());
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>(n >> (8 * i)));
  out.append(field.data(), field.size());
}

// SHA-256 hex of the length-prefixed fields: unambiguous, but only a
// pseudonym against someone who cannot guess the identifier (no keys: the
// store holds the identifiers in the clear anyway).
std::string UnkeyedPseudonym(absl::string_view tenant, absl::string_view kind,
                             absl::string_view id) {
  std::string data = "attune.audit.object.v1";
  AppendField(data, tenant);
  AppendField(data, kind);
  AppendField(data, id);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(),
                 nullptr) != 1) {
    // Never the identifier itself.
    return "?";
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), len));
}

std::chrono::nanoseconds ToChrono(absl::Duration d) {
  return absl::ToChronoNanoseconds(std::max(d, absl::ZeroDuration()));
}

}  // namespace

std::string AuditObject(const security::KeyRing* keys, absl::string_view tenant,
                        absl::string_view kind, absl::string_view id) {
  if (id.empty()) return "";
  return absl::StrCat(kind, ":",
                      keys != nullptr ? keys->LookupHash(tenant, kind, id)
                                      : UnkeyedPseudonym(tenant, kind, id));
}

std::function<std::string(absl::string_view kind, absl::string_view what)>
StableSubjectPseudonyms(std::shared_ptr<const security::KeyRing> keys) {
  return
      [keys = std::move(keys)](absl::string_view kind, absl::string_view what) {
        return keys->LookupHash("", absl::StrCat("caller.", kind), what)
            .substr(0, 16);
      };
}

AuditTrail::AuditTrail(store::Store* store,
                       std::shared_ptr<const security::KeyRing> keys)
    : AuditTrail(store, std::move(keys), Options()) {}

AuditTrail::AuditTrail(store::Store* store,
                       std::shared_ptr<const security::KeyRing> keys,
                       Options options)
    : store_(store), keys_(std::move(keys)), options_(std::move(options)) {
  flusher_ = std::thread([this] { FlusherLoop(); });
}

AuditTrail::~AuditTrail() { Close(kCloseTimeout); }

void AuditTrail::Record(store::AuditRecord record) {
  if (record.tenant.empty()) record.tenant = "-";
  // The store refuses rows without these, and a refused batch would be
  // retried forever.
  if (record.action.empty()) record.action = "unknown";
  if (record.outcome.empty()) record.outcome = "UNKNOWN";
  const absl::Time now = absl::Now();
  if (record.at == absl::UnixEpoch()) record.at = now;
  std::unique_lock<std::mutex> lock(mu_);
  if (!closed_ && queue_.size() >= options_.max_queued) {
    ++stats_.waited;
    ++stats_.waiting;
    room_cv_.wait(lock, [this] {
      return closed_ || queue_.size() < options_.max_queued;
    });
    --stats_.waiting;
  }
  if (closed_) {
    ++stats_.lost;
    lock.unlock();
    ATTUNE_LOG(ERROR) << "audit row recorded after the audit trail closed; "
                         "lost"
                      << LogField("action", record.action);
    return;
  }
  queue_.push_back(Queued{std::move(record), now});
  ++stats_.recorded;
  // The flusher needs to hear of the first row (to time it) and of a full
  // batch; rows in between change nothing for it.
  if (queue_.size() == 1 || queue_.size() == options_.batch_rows) {
    work_cv_.notify_one();
  }
}

std::string AuditTrail::Object(absl::string_view tenant, absl::string_view kind,
                               absl::string_view id) const {
  return AuditObject(keys_.get(), tenant, kind, id);
}

absl::Status AuditTrail::Flush(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  const int64_t target = stats_.recorded;
  flush_target_ = std::max(flush_target_, target);
  work_cv_.notify_one();
  const bool done = done_cv_.wait_for(lock, ToChrono(timeout), [&] {
    return stats_.written + stats_.lost >= target;
  });
  if (!done) {
    return absl::DeadlineExceededError(absl::StrCat(
        "audit: ", target - stats_.written, " rows not yet written"));
  }
  if (stats_.written < target) {
    return absl::UnavailableError(
        absl::StrCat("audit: ", stats_.lost, " rows lost"));
  }
  return absl::OkStatus();
}

void AuditTrail::Close(absl::Duration timeout) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) return;
  }
  absl::Status flushed = Flush(timeout);
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  work_cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  room_cv_.notify_all();
  done_cv_.notify_all();
  if (!flushed.ok()) {
    ATTUNE_LOG(ERROR) << "audit trail closed with rows unwritten"
                      << LogField("lost", stats_.lost)
                      << LogField("written", stats_.written);
  }
}

AuditTrail::Stats AuditTrail::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void AuditTrail::FlusherLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  std::vector<store::AuditRecord> batch;
  absl::Duration retry_wait = options_.retry_wait;
  int64_t failures_in_a_row = 0;
  for (;;) {
    if (batch.empty()) {
      // Wait for a full batch, the oldest row's deadline, a Flush, or the
      // end.
      for (;;) {
        if (closing_ && queue_.empty()) return;
        if (!queue_.empty() &&
            (closing_ || queue_.size() >= options_.batch_rows ||
             flush_target_ > stats_.written)) {
          break;
        }
        if (queue_.empty()) {
          work_cv_.wait(lock);
          continue;
        }
        const absl::Duration left =
            queue_.front().queued_at + options_.flush_interval - absl::Now();
        if (left <= absl::ZeroDuration()) break;
        work_cv_.wait_for(lock, ToChrono(left));
      }
      const size_t n = std::min(queue_.size(), options_.batch_rows);
      batch.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front().record));
        queue_.pop_front();
      }
      room_cv_.notify_all();
    }

    lock.unlock();
    // A copy: the batch is kept for the retry when the append fails.
    absl::Status appended = store_->AppendAudit(batch);
    lock.lock();
    if (appended.ok()) {
      stats_.written += static_cast<int64_t>(batch.size());
      batch.clear();
      retry_wait = options_.retry_wait;
      failures_in_a_row = 0;
      done_cv_.notify_all();
      continue;
    }
    ++stats_.failed_appends;
    ++failures_in_a_row;
    ATTUNE_LOG(ERROR) << "AUDIT ROWS NOT WRITTEN; retrying"
                      << LogField("code",
                                  absl::StatusCodeToString(appended.code()))
                      << LogField("rows", batch.size())
                      << LogField("queued", queue_.size())
                      << LogField("failures_in_a_row", failures_in_a_row);
    if (closing_) {
      // Close has waited for its flush already: give up on what is left.
      stats_.lost += static_cast<int64_t>(batch.size() + queue_.size());
      ATTUNE_LOG(ERROR) << "AUDIT ROWS LOST at shutdown"
                        << LogField("rows", batch.size() + queue_.size());
      batch.clear();
      queue_.clear();
      done_cv_.notify_all();
      return;
    }
    work_cv_.wait_for(lock, ToChrono(retry_wait), [this] { return closing_; });
    retry_wait = std::min(retry_wait * 2, options_.max_retry_wait);
  }
}

CallAudit::CallAudit(AuditTrail* trail, Rpc rpc,
                     const absl::StatusOr<Caller>& caller,
                     const Caller& identified)
    : trail_(trail), action_(RpcName(rpc)) {
  const Caller* who = caller.ok() ? &*caller : &identified;
  if (!who->tenant.empty()) tenant_ = who->tenant;
  if (!who->subject.empty()) caller_ = who->subject;
}

std::string CallAudit::Object(absl::string_view kind,
                              absl::string_view id) const {
  if (trail_ == nullptr || tenant_ == "-") return "";
  return trail_->Object(tenant_, kind, id);
}

void CallAudit::Record(std::string object, absl::StatusCode code) const {
  RecordAs(action_, std::move(object), code);
}

void CallAudit::RecordAs(absl::string_view action, std::string object,
                         absl::StatusCode code) const {
  if (trail_ == nullptr) return;
  store::AuditRecord record;
  record.at = absl::Now();
  record.tenant = tenant_;
  record.caller = caller_;
  record.action = std::string(action);
  record.object = std::move(object);
  record.outcome = absl::StatusCodeToString(code);
  trail_->Record(std::move(record));
}

}  // namespace attune::server
