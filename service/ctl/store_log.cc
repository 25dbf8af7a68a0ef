#include "service/ctl/store_log.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "service/store/sqlite/sqlite_store.h"

namespace attune::ctl {
namespace {

constexpr int kPageSize = 1000;
constexpr char kSqliteMagic[] = "SQLite format 3";  // then a NUL

}  // namespace

bool IsSqliteFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char header[sizeof(kSqliteMagic)] = {};
  if (!in.read(header, sizeof(header))) return false;
  return std::string(header, sizeof(header)) ==
         std::string(kSqliteMagic, sizeof(kSqliteMagic));
}

absl::StatusOr<std::unique_ptr<store::Store>> OpenExistingStore(
    const std::string& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such database file"));
  }
  if (!IsSqliteFile(path)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": is not an attuned SQLite database"));
  }
  store::SqliteStoreOptions options;
  options.path = path;
  return store::OpenSqliteStore(options);
}

absl::Status ForEachStoredEvent(
    store::Store& store, const std::string& tenant,
    const std::function<absl::Status(v1::SessionEvent&)>& fn) {
  std::string token;
  do {
    absl::StatusOr<store::EventPage> page =
        store.ScanEvents(tenant, kPageSize, token);
    if (!page.ok()) return page.status();
    for (v1::SessionEvent& event : page->events) {
      absl::Status status = fn(event);
      if (!status.ok()) return status;
    }
    token = std::move(page->next_page_token);
  } while (!token.empty());
  return absl::OkStatus();
}

}  // namespace attune::ctl
