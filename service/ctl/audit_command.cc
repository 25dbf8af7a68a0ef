// attunectl audit verify: walks the hash chain of a database file's audit
// log (service/store/sqlite/audit.h) through a query-only connection, so it
// is safe while attuned serves the file and never migrates or rewrites it.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "service/ctl/commands.h"
#include "service/ctl/store_log.h"
#include "service/security/key_ring.h"
#include "service/store/sqlite/audit.h"
#include "service/store/sqlite/connection.h"
#include "service/store/sqlite/migrations.h"

namespace attune::ctl {
namespace {

// The first schema version with an audit log.
constexpr int64_t kAuditSchemaVersion = 3;

// "SEQ:HASH" as attuned logs it ("audit head ... head=17:ab12...").
absl::StatusOr<store::sqlite::ExpectedHead> ParseHead(const std::string& text) {
  std::pair<std::string, std::string> parts =
      absl::StrSplit(text, absl::MaxSplits(':', 1));
  store::sqlite::ExpectedHead head;
  if (!absl::SimpleAtoi(parts.first, &head.seq) || head.seq < 1 ||
      parts.second.size() != 64 ||
      parts.second.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return absl::InvalidArgumentError(
        "--expect-head: must be SEQ:HASH as attuned logs it (\"audit head\" "
        "line), e.g. 17:<64 lower-case hex digits>");
  }
  head.hash = absl::HexStringToBytes(parts.second);
  return head;
}

int Verify(const CommandEnv& env) {
  if (!env.line.Has("db")) {
    return ReportUsageError(env,
                            absl::InvalidArgumentError("--db: is required"));
  }
  std::optional<store::sqlite::ExpectedHead> expected;
  if (env.line.Has("expect-head")) {
    absl::StatusOr<store::sqlite::ExpectedHead> head =
        ParseHead(env.line.Get("expect-head"));
    if (!head.ok()) return ReportUsageError(env, head.status());
    expected = *std::move(head);
  }
  absl::StatusOr<std::shared_ptr<const security::KeyRing>> keys =
      LoadReadKeys(env.line.Has("key-file")
                       ? std::optional<std::string>(env.line.Get("key-file"))
                       : std::nullopt,
                   env.storage_keys_env);
  if (!keys.ok()) return ReportUsageError(env, keys.status());
  absl::StatusOr<std::unique_ptr<store::sqlite::Connection>> conn =
      OpenReadOnlyDatabase(env.line.Get("db"), kAuditSchemaVersion,
                           " has no audit log");
  if (!conn.ok()) return ReportUsageError(env, conn.status());

  absl::StatusOr<store::AuditVerification> result =
      store::sqlite::VerifyAuditChain(**conn, keys->get(), expected);
  if (!result.ok()) {
    env.err << "attunectl: audit verify: "
            << DescribeError(static_cast<int>(result.status().code()),
                             std::string(result.status().message()))
            << "\n";
    return kExitFailed;
  }
  env.out << "rows: " << result->rows << "\n"
          << "head: " << result->head_seq << ":" << result->head_hash << "\n"
          << "intact: " << (result->ok ? "yes" : "no") << "\n";
  if (result->ok) return kExitOk;
  std::string hint;
  if (*keys == nullptr &&
      result->problem.find("is not in the key ring") != std::string::npos) {
    hint = "; give attuned's storage key file with --key-file FILE";
  }
  env.err << "attunectl: audit verify: " << result->problem << hint << "\n";
  return kExitFailed;
}

}  // namespace

int RunAudit(const CommandEnv& env) {
  if (env.line.arguments.empty() || env.line.arguments[0] != "verify") {
    return ReportUsageError(
        env, absl::InvalidArgumentError("<action>: must be verify"));
  }
  return Verify(env);
}

}  // namespace attune::ctl
