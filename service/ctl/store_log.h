// Reading a stored event log straight from an attuned database file, for
// `attunectl export` and `attunectl replay <file.db>`.
#ifndef ATTUNE_SERVICE_CTL_STORE_LOG_H_
#define ATTUNE_SERVICE_CTL_STORE_LOG_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "attune/v1/event.pb.h"
#include "service/store/store.h"

namespace attune::ctl {

// True when the file starts with the SQLite header.
bool IsSqliteFile(const std::string& path);

// Opens an existing attuned SQLite database. NOT_FOUND when there is no such
// file (a new, empty database is never created by mistake). Opening applies
// pending schema migrations, as attuned does at start; a database written by
// a newer attuned is refused.
absl::StatusOr<std::unique_ptr<store::Store>> OpenExistingStore(
    const std::string& path);

// Calls `fn` for every event of `tenant`, episode by episode, each episode's
// events in the order they were stored. Stops at the first error of `fn`.
absl::Status ForEachStoredEvent(
    store::Store& store, const std::string& tenant,
    const std::function<absl::Status(v1::SessionEvent&)>& fn);

}  // namespace attune::ctl

#endif  // ATTUNE_SERVICE_CTL_STORE_LOG_H_
