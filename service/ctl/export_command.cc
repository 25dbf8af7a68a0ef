// attunectl export: a tenant's events out of an attuned database file as
// JSON lines, the input of `attunectl submit --batch` (moving a clinic to
// another store) and of `attunectl replay` (backtesting), in the order the
// events happened (store_log.h, InterleaveByTime). With --deidentify the log
// carries no identifiers and no calendar dates (deidentify.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ext/stdio_filebuf.h>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "service/ctl/commands.h"
#include "service/ctl/deidentify.h"
#include "service/ctl/json_lines.h"
#include "service/ctl/store_log.h"
#include "service/security/key_ring.h"

namespace attune::ctl {
namespace {

// The log holds health data: readable by its owner only, whether the file is
// new or not, and never written through a symlink.
absl::StatusOr<int> OpenPrivateFile(const std::string& path) {
  const int fd =
      ::open(path.c_str(),
             O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || ::fchmod(fd, 0600) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(
        "--out: ", path, ": cannot be written (", std::strerror(err), ")"));
  }
  return fd;
}

}  // namespace

int RunExport(const CommandEnv& env) {
  if (!env.line.Has("db")) {
    return ReportUsageError(env,
                            absl::InvalidArgumentError("--db: is required"));
  }
  const std::string tenant = env.line.Get("tenant", "default");
  const bool deidentify = env.line.Has("deidentify");
  std::optional<Deidentifier> deid;
  if (deidentify) {
    absl::StatusOr<Deidentifier> created = Deidentifier::Create();
    if (!created.ok()) return ReportUsageError(env, created.status());
    deid.emplace(*std::move(created));
  }

  absl::StatusOr<std::shared_ptr<const security::KeyRing>> keys =
      LoadReadKeys(env.line.Has("key-file")
                       ? std::optional<std::string>(env.line.Get("key-file"))
                       : std::nullopt,
                   env.storage_keys_env);
  if (!keys.ok()) return ReportUsageError(env, keys.status());
  absl::StatusOr<std::unique_ptr<store::Store>> store =
      OpenExistingStore(env.line.Get("db"), *std::move(keys));
  if (!store.ok()) return ReportUsageError(env, store.status());

  std::unique_ptr<__gnu_cxx::stdio_filebuf<char>> file;
  std::unique_ptr<std::ostream> file_stream;
  std::ostream* out = &env.out;
  if (env.line.Has("out")) {
    absl::StatusOr<int> fd = OpenPrivateFile(env.line.Get("out"));
    if (!fd.ok()) return ReportUsageError(env, fd.status());
    file = std::make_unique<__gnu_cxx::stdio_filebuf<char>>(*fd, std::ios::out);
    file_stream = std::make_unique<std::ostream>(file.get());
    out = file_stream.get();
  }

  std::vector<v1::SessionEvent> log;
  std::set<std::string> episodes;
  PromptLookup lookup = [&](const std::string& prompt_id) {
    return (*store)->GetPrompt(tenant, prompt_id);
  };
  absl::Status status = ForEachStoredEvent(
      **store, tenant, [&](v1::SessionEvent& event) -> absl::Status {
        episodes.insert(event.episode().episode_id());
        if (deid) {
          absl::Status applied = deid->Apply(tenant, lookup, event);
          if (!applied.ok()) return applied;
        }
        log.push_back(std::move(event));
        return absl::OkStatus();
      });
  const size_t events = log.size();
  if (status.ok()) {
    for (const v1::SessionEvent& event : InterleaveByTime(std::move(log))) {
      status = WriteJson(event, /*pretty=*/false, *out);
      if (!status.ok()) break;
    }
  }
  if (status.ok() && file_stream != nullptr) {
    file_stream->flush();
    if (!*file_stream || file->close() == nullptr) {
      status = absl::DataLossError("--out: writing failed");
    }
  }
  if (!status.ok()) {
    env.err << "attunectl: export: "
            << DescribeError(static_cast<int>(status.code()),
                             std::string(status.message()))
            << "\n";
    return kExitFailed;
  }
  env.err << "exported " << events << " event(s) of " << episodes.size()
          << " episode(s)"
          << (deidentify ? "; de-identified: identifiers replaced by keyed "
                           "hashes whose key was not kept, times moved back "
                           "by a secret whole number of weeks"
                         : "; the log holds identifiers: handle it as health "
                           "data")
          << "\n";
  return kExitOk;
}

}  // namespace attune::ctl
