#include "tests/bench/store_floor.h"

#include <sqlite3.h>

#include <chrono>
#include <deque>
#include <future>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "plugins/builtin/registry.h"
#include "service/config/config_loader.h"
#include "service/engine/alliance_engine.h"
#include "service/store/sqlite/sqlite_store.h"
#include "tests/bench/server_process.h"

namespace attune::bench {
namespace {

constexpr char kTenant[] = "default";

int64_t Nanos(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1'000'000'000 + ts.nanos();
}

// A prepared statement that is finalized with its owner.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return stmt_; }
  void Text(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()),
                      SQLITE_STATIC);
  }
  void Blob(int i, const std::string& s) {
    sqlite3_bind_blob(stmt_, i, s.data(), static_cast<int>(s.size()),
                      SQLITE_STATIC);
  }
  void Int(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  bool Run() {
    const int rc = sqlite3_step(stmt_);
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    return rc == SQLITE_DONE;
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_ERROR;
};

// What the floor inserts for one event, serialised ahead of the timing.
struct Row {
  std::string episode_id;
  std::string event_id;
  std::string clinician_id;
  int64_t seq = 0;
  int64_t occurred_at = 0;
  std::string event;  // also the fingerprint: both are the serialisation
  const std::string* response = nullptr;
  const std::string* assessment = nullptr;
  bool held = false;
  int session = 0;
  int64_t start = 0;
  int64_t end = 0;
};

absl::Status Exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    absl::Status s = absl::InternalError(
        absl::StrCat(sql, ": ", error != nullptr ? error : "failed"));
    sqlite3_free(error);
    return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<EpisodeTemplate> CaptureTemplate(const Workload& workload,
                                                int events,
                                                const std::string& dir) {
  absl::StatusOr<v1::ServerConfig> config = config::DefaultConfig();
  if (!config.ok()) return config.status();
  absl::StatusOr<std::unique_ptr<store::Store>> store =
      store::OpenSqliteStore({.path = dir + "/template.db"});
  if (!store.ok()) return store.status();
  absl::StatusOr<std::unique_ptr<engine::AllianceEngine>> engine =
      engine::AllianceEngine::Create(store->get(), *config,
                                     builtin::MakeBuiltinModules());
  if (!engine.ok()) return engine.status();
  EpisodeTemplate out;
  for (const v1::SessionEvent& e :
       workload.EpisodePrefix(0, static_cast<size_t>(events))) {
    absl::StatusOr<v1::SubmitEventResponse> r = (*engine)->Submit(kTenant, e);
    if (!r.ok()) {
      return absl::InternalError(absl::StrCat(
          "template event ", out.responses.size(), ": ", r.status().message()));
    }
    out.responses.push_back(*std::move(r));
  }
  if (out.responses.empty()) {
    return absl::InvalidArgumentError("events: must be at least 1");
  }
  return out;
}

absl::StatusOr<StoreRunResult> RunRawStoreFloor(
    const RawStoreOptions& options) {
  const std::string path =
      absl::StrCat(options.dir, "/raw-floor-", options.batch, ".db");
  {
    // The real schema and indexes: the store's own migrations.
    auto store = store::OpenSqliteStore({.path = path});
    if (!store.ok()) return store.status();
  }

  // Rows first, outside the timing.
  std::vector<std::string> responses, assessments;
  for (const v1::SubmitEventResponse& r : options.sizes->responses) {
    responses.push_back(r.SerializeAsString());
    assessments.push_back(r.assessment().SerializeAsString());
  }
  std::vector<Row> rows;
  rows.reserve(static_cast<size_t>(options.max_events));
  for (int64_t episode = 0;
       static_cast<int64_t>(rows.size()) < options.max_events; ++episode) {
    std::vector<v1::SessionEvent> events = options.workload->Episode(episode);
    for (size_t k = 0; k < events.size() &&
                       static_cast<int64_t>(rows.size()) < options.max_events;
         ++k) {
      const v1::SessionEvent& e = events[k];
      Row& row = rows.emplace_back();
      row.episode_id = e.episode().episode_id();
      row.event_id = e.event_id();
      row.clinician_id = e.episode().clinician_id();
      row.seq = static_cast<int64_t>(k) + 1;
      row.occurred_at = Nanos(e.occurred_at());
      row.event = engine::Fingerprint(e);
      row.response = &responses[k % responses.size()];
      row.assessment = &assessments[k % assessments.size()];
      if (e.has_session_held()) {
        row.held = true;
        row.session = e.session_held().session_number();
        row.start = Nanos(e.session_held().start());
        row.end = Nanos(e.session_held().end());
      }
    }
  }

  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat("cannot open ", path));
  }
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> closer(db, sqlite3_close);
  if (auto s = Exec(db,
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
                    "PRAGMA foreign_keys = ON;");
      !s.ok()) {
    return s;
  }
  StoreRunResult result;
  {
    Stmt episode(db,
                 "INSERT INTO episodes (tenant, episode_id, version,"
                 " assessment, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)"
                 " ON CONFLICT (tenant, episode_id) DO UPDATE SET"
                 " version = excluded.version,"
                 " assessment = excluded.assessment,"
                 " updated_at = excluded.updated_at");
    Stmt event(db,
               "INSERT INTO events (tenant, event_id, episode_id, seq,"
               " occurred_at, fingerprint, event, response)"
               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    Stmt held(db,
              "INSERT INTO held_sessions (tenant, episode_id,"
              " session_number, clinician_id, start_at, end_at)"
              " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
              " ON CONFLICT (tenant, episode_id, session_number)"
              " DO UPDATE SET clinician_id = excluded.clinician_id,"
              " start_at = excluded.start_at, end_at = excluded.end_at");
    if (!episode.ok() || !event.ok() || !held.ok()) {
      return absl::InternalError(absl::StrCat("prepare: ", sqlite3_errmsg(db)));
    }
    const std::string tenant = kTenant;
    const absl::Time start = absl::Now();
    const absl::Time stop = start + options.duration;
    size_t next = 0;
    while (next < rows.size() && absl::Now() < stop) {
      if (auto s = Exec(db, "BEGIN IMMEDIATE"); !s.ok()) return s;
      const size_t end =
          std::min(rows.size(), next + static_cast<size_t>(options.batch));
      for (; next < end; ++next) {
        const Row& r = rows[next];
        const int64_t now = absl::ToUnixNanos(absl::Now());
        episode.Text(1, tenant);
        episode.Text(2, r.episode_id);
        episode.Int(3, r.seq);
        episode.Blob(4, *r.assessment);
        episode.Int(5, now);
        event.Text(1, tenant);
        event.Text(2, r.event_id);
        event.Text(3, r.episode_id);
        event.Int(4, r.seq);
        event.Int(5, r.occurred_at);
        event.Blob(6, r.event);
        event.Blob(7, r.event);
        event.Blob(8, *r.response);
        if (!episode.Run() || !event.Run()) {
          return absl::InternalError(
              absl::StrCat("insert: ", sqlite3_errmsg(db)));
        }
        if (r.held) {
          held.Text(1, tenant);
          held.Text(2, r.episode_id);
          held.Int(3, r.session);
          held.Text(4, r.clinician_id);
          held.Int(5, r.start);
          held.Int(6, r.end);
          if (!held.Run()) {
            return absl::InternalError(
                absl::StrCat("insert: ", sqlite3_errmsg(db)));
          }
        }
      }
      if (auto s = Exec(db, "COMMIT"); !s.ok()) return s;
    }
    result.seconds = absl::ToDoubleSeconds(absl::Now() - start);
    result.events = static_cast<int64_t>(next);
  }
  result.events_per_second =
      result.seconds > 0 ? result.events / result.seconds : 0;
  result.db_bytes =
      FilesSize(options.dir, absl::StrCat("raw-floor-", options.batch, ".db"));
  return result;
}

absl::StatusOr<StoreRunResult> FillStore(const FillOptions& options) {
  if (options.sizes == nullptr ||
      options.sizes->responses.size() <
          static_cast<size_t>(options.events_per_episode)) {
    return absl::InvalidArgumentError(
        "sizes: needs a response per event of an episode");
  }
  // Larger groups than attuned's default (256): fewer fsyncs, same rows.
  absl::StatusOr<std::unique_ptr<store::Store>> opened =
      store::OpenSqliteStore({.path = options.db_path, .max_batch = 4096});
  if (!opened.ok()) return opened.status();
  std::unique_ptr<store::Store> store = *std::move(opened);

  // Bounded queue of commits in flight: the writer groups them.
  constexpr size_t kWindow = 16384;
  std::deque<std::future<absl::Status>> pending;
  auto wait_oldest = [&]() -> absl::Status {
    absl::Status s = pending.front().get();
    pending.pop_front();
    return s;
  };

  const absl::Time start = absl::Now();
  StoreRunResult result;
  for (int64_t i = 0; i < options.episodes; ++i) {
    if (absl::Now() - start > options.time_limit) break;
    std::vector<v1::SessionEvent> events = options.workload->EpisodePrefix(
        i, static_cast<size_t>(options.events_per_episode));
    for (size_t k = 0; k < events.size(); ++k) {
      store::EventCommit c;
      c.tenant = kTenant;
      c.fingerprint = engine::Fingerprint(events[k]);
      c.event = std::move(events[k]);
      c.response = options.sizes->responses[k];
      c.assessment = options.sizes->responses[k].assessment();
      // The writer applies queued commits in order, so an episode's
      // commits may all be queued at once.
      c.expected_version = static_cast<int64_t>(k);
      pending.push_back(store->CommitAsync(std::move(c)));
      ++result.events;
      if (pending.size() >= kWindow) {
        if (absl::Status s = wait_oldest(); !s.ok()) return s;
      }
    }
  }
  while (!pending.empty()) {
    if (absl::Status s = wait_oldest(); !s.ok()) return s;
  }
  store.reset();  // checkpoints and closes
  result.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  result.events_per_second =
      result.seconds > 0 ? result.events / result.seconds : 0;
  const std::string dir = options.db_path.substr(0, options.db_path.rfind('/'));
  const std::string file =
      options.db_path.substr(options.db_path.rfind('/') + 1);
  result.db_bytes = FilesSize(dir, file);
  return result;
}

}  // namespace attune::bench
