// attunectl export: a tenant's events out of an attuned database file as
// JSON lines, the input of `attunectl submit --batch` (moving a clinic to
// another store) and of `attunectl replay` (backtesting). With --deidentify
// the log carries no identifiers and no calendar dates (deidentify.h).
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <set>
#include <string>

#include "service/ctl/commands.h"
#include "service/ctl/deidentify.h"
#include "service/ctl/json_lines.h"
#include "service/ctl/store_log.h"

namespace attune::ctl {

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

  absl::StatusOr<std::unique_ptr<store::Store>> store =
      OpenExistingStore(env.line.Get("db"));
  if (!store.ok()) return ReportUsageError(env, store.status());

  std::ofstream file;
  std::ostream* out = &env.out;
  if (env.line.Has("out")) {
    const std::string path = env.line.Get("out");
    // The log holds health data: readable by its owner only.
    const mode_t old_mask = ::umask(077);
    file.open(path, std::ios::out | std::ios::trunc);
    ::umask(old_mask);
    if (!file) {
      return ReportUsageError(
          env,
          absl::InvalidArgumentError("--out: " + path + ": cannot be written"));
    }
    out = &file;
  }

  int64_t events = 0;
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
        ++events;
        return WriteJson(event, /*pretty=*/false, *out);
      });
  if (status.ok() && file.is_open()) {
    file.close();
    if (!file) status = absl::DataLossError("--out: writing failed");
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
