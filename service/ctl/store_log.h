// Reading a stored event log straight from an attuned database file, for
// `attunectl export` and `attunectl replay <file.db>`.
#ifndef ATTUNE_SERVICE_CTL_STORE_LOG_H_
#define ATTUNE_SERVICE_CTL_STORE_LOG_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "attune/v1/event.pb.h"
#include "service/store/store.h"

namespace attune::ctl {

// True when the file starts with the SQLite header.
bool IsSqliteFile(const std::string& path);

// Opens an existing attuned SQLite database to read it. NOT_FOUND when there
// is no such file (a new, empty database is never created by mistake);
// FAILED_PRECONDITION when its schema is not exactly this build's (this tool
// never migrates a database, which attuned may be serving; reading is safe
// while it does).
absl::StatusOr<std::unique_ptr<store::Store>> OpenExistingStore(
    const std::string& path);

// The events of several episodes in one timeline, as they happened: each
// episode's events keep their stored order (the order attuned received
// them), and episodes interleave by occurred_at, so cross-episode rules
// (clinician days, clinician prompts) see what the live server saw and the
// episode ids' alphabetical order shows nowhere.
std::vector<v1::SessionEvent> InterleaveByTime(
    std::vector<v1::SessionEvent> events);

// Calls `fn` for every event of `tenant`, episode by episode, each episode's
// events in the order they were stored. Stops at the first error of `fn`.
absl::Status ForEachStoredEvent(
    store::Store& store, const std::string& tenant,
    const std::function<absl::Status(v1::SessionEvent&)>& fn);

}  // namespace attune::ctl

#endif  // ATTUNE_SERVICE_CTL_STORE_LOG_H_
