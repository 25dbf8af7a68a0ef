// attunectl replay: an offline backtest. Runs the module set of a
// configuration over a recorded event log with the real engine on a
// throw-away SQLite store, and reports what clinicians would have seen.
//
// Identifiers never reach the output: episodes are numbered #1, #2, ... in
// the order of their first line in the file.
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "service/config/config_loader.h"
#include "service/ctl/commands.h"
#include "service/ctl/json_lines.h"
#include "service/ctl/offline_engine.h"
#include "service/ctl/store_log.h"
#include "service/engine/alliance_engine.h"
#include "service/engine/episode_history.h"
#include "service/engine/module_set.h"
#include "service/security/key_ring.h"
#include "service/store/sqlite/sqlite_store.h"

namespace attune::ctl {
namespace {

constexpr std::size_t kMaxParseErrorsShown = 20;

struct ModuleStats {
  std::set<std::string> prompt_ids;
  std::set<std::string> warning_ids;
  int held_sessions = 0;
  int held_with_warning = 0;
  // (episode number, session number) pairs a visible warning of the module
  // was shown for (see SessionOf).
  std::set<std::pair<int, int>> warned;
};

// The session an event is about: the one it names (engine::SessionOfEvent),
// else the episode's latest held session so far (goals, endings, feedback).
// A rating recorded at the end of session 6 is about session 6 whichever
// order the log lists it in.
int SessionOf(const v1::SessionEvent& e, int latest_held) {
  const int named = engine::SessionOfEvent(e);
  return named != 0 ? named : latest_held;
}

struct RaisedPrompt {
  std::string module_id;
  std::string kind;
  int session = 0;
  v1::PromptStatus status = v1::PROMPT_STATUS_UNSPECIFIED;
};

struct Rejected {
  int line = 0;
  std::string error;
};

struct ReplayResult {
  std::vector<std::string> module_ids;  // run order
  std::map<std::string, ModuleStats> modules;
  // Episode number (1-based) -> prompt id -> final state, in order of first
  // appearance of the prompt.
  std::map<int, std::vector<std::pair<std::string, RaisedPrompt>>> episodes;
  int episode_count = 0;
  int accepted = 0;
  std::vector<Rejected> rejected;
};

bool IsVisibleWarning(const v1::Prompt& p) {
  return p.severity() >= v1::SEVERITY_WARNING &&
         (p.status() == v1::PROMPT_STATUS_ACTIVE ||
          p.status() == v1::PROMPT_STATUS_ACKNOWLEDGED);
}

std::string StatusName(v1::PromptStatus status) {
  std::string name = v1::PromptStatus_Name(status);
  constexpr absl::string_view kPrefix = "PROMPT_STATUS_";
  if (name.rfind(std::string(kPrefix), 0) == 0) {
    name = name.substr(kPrefix.size());
  }
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return name;
}

// A fresh directory, removed with everything in it on destruction.
class TempDir {
 public:
  static absl::StatusOr<std::unique_ptr<TempDir>> Create() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "attunectl-replay-XXXXXX")
            .string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return absl::UnavailableError("cannot create a temporary directory");
    }
    return std::unique_ptr<TempDir>(new TempDir(pattern));
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// `tenant`: prompt ids depend on it, so feedback in a log names the right
// prompts only when replayed in the tenant it was recorded in.
// `keys`: the storage keys given for the database file the log was read
// from (null for a JSON-lines log, or when none were given), so that the
// temporary copy of sealed data is sealed too.
absl::StatusOr<ReplayResult> Replay(
    const std::vector<NumberedEvent>& events, const v1::ServerConfig& config,
    const std::string& tenant,
    const std::shared_ptr<const security::KeyRing>& keys) {
  absl::StatusOr<std::unique_ptr<TempDir>> dir = TempDir::Create();
  if (!dir.ok()) return dir.status();
  store::SqliteStoreOptions options;
  options.path = (*dir)->path() + "/replay.db";
  options.keys = keys;
  absl::StatusOr<std::unique_ptr<store::Store>> store =
      store::OpenSqliteStore(options);
  if (!store.ok()) return store.status();

  absl::StatusOr<std::unique_ptr<engine::AllianceEngine>> engine =
      MakeOfflineEngine(store->get(), config, events);
  if (!engine.ok()) return engine.status();
  ReplayResult result;
  {
    const std::shared_ptr<const engine::RuleSet> set = (*engine)->rules();
    for (const engine::ModuleHealth& m :
         set->pipeline().Health(set->config().rules())) {
      result.module_ids.push_back(m.module_id);
      result.modules[m.module_id];
    }
  }

  std::map<std::string, int> episode_numbers;
  for (const NumberedEvent& e : events) {
    episode_numbers.emplace(e.event.episode().episode_id(),
                            static_cast<int>(episode_numbers.size()) + 1);
  }
  result.episode_count = static_cast<int>(episode_numbers.size());
  std::map<std::string, int> prompt_episode;  // prompt id -> episode number
  // (episode, session) pairs with a sessionHeld event, and per episode the
  // highest held session number so far.
  std::set<std::pair<int, int>> held_sessions;
  std::map<int, int> latest_held;

  SubmitInOrder(
      **engine, tenant, events,
      [&](const NumberedEvent& e,
          const absl::StatusOr<v1::SubmitEventResponse>& r) {
        if (!r.ok()) {
          result.rejected.push_back(
              {e.line, DescribeError(static_cast<int>(r.status().code()),
                                     std::string(r.status().message()))});
          return;
        }
        ++result.accepted;
        const int episode = episode_numbers.at(e.event.episode().episode_id());
        for (const v1::Prompt& p : r->changed()) {
          const int owner =
              prompt_episode.emplace(p.id(), episode).first->second;
          auto& list = result.episodes[owner];
          auto it = std::find_if(list.begin(), list.end(), [&](const auto& x) {
            return x.first == p.id();
          });
          if (it == list.end()) {
            list.emplace_back(p.id(), RaisedPrompt{});
            it = std::prev(list.end());
          }
          it->second = {p.module_id(), p.kind(), p.raised_at_session(),
                        p.status()};
          ModuleStats& stats = result.modules[p.module_id()];
          stats.prompt_ids.insert(p.id());
          if (p.severity() >= v1::SEVERITY_WARNING) {
            stats.warning_ids.insert(p.id());
          }
        }
        if (e.event.has_session_held()) {
          const int number = e.event.session_held().session_number();
          held_sessions.emplace(episode, number);
          latest_held[episode] = std::max(latest_held[episode], number);
        }
        const int session = SessionOf(e.event, latest_held[episode]);
        if (session == 0) return;
        for (const v1::Prompt& p : r->prompts()) {
          auto stats = result.modules.find(p.module_id());
          if (stats != result.modules.end() && IsVisibleWarning(p)) {
            stats->second.warned.emplace(episode, session);
          }
        }
      });
  // A session counts once it was held, whenever its warning showed.
  for (auto& [id, stats] : result.modules) {
    stats.held_sessions = static_cast<int>(held_sessions.size());
    stats.held_with_warning = static_cast<int>(std::count_if(
        stats.warned.begin(), stats.warned.end(),
        [&](const auto& s) { return held_sessions.count(s) > 0; }));
  }
  engine->reset();  // before the store it writes to
  store->reset();   // before its directory
  return result;
}

double FiringRate(const ModuleStats& s) {
  return s.held_sessions == 0 ? 0.0
                              : 100.0 * s.held_with_warning / s.held_sessions;
}

// (module, episode, kind) -> number of prompts.
using PromptKey = std::tuple<std::string, int, std::string>;
std::map<PromptKey, int> PromptKeys(const ReplayResult& r) {
  std::map<PromptKey, int> keys;
  for (const auto& [episode, prompts] : r.episodes) {
    for (const auto& [id, p] : prompts) ++keys[{p.module_id, episode, p.kind}];
  }
  return keys;
}

struct Difference {
  std::string module_id;
  int episode = 0;
  std::string kind;
  int count = 0;
};

// Prompts of `a` that `b` does not have as often.
std::vector<Difference> OnlyIn(const std::map<PromptKey, int>& a,
                               const std::map<PromptKey, int>& b) {
  std::vector<Difference> out;
  for (const auto& [key, count] : a) {
    auto it = b.find(key);
    const int extra = count - (it == b.end() ? 0 : it->second);
    if (extra > 0) {
      out.push_back(
          {std::get<0>(key), std::get<1>(key), std::get<2>(key), extra});
    }
  }
  return out;
}

constexpr char kNumberingNote[] =
    "note: episodes are numbered #1, #2, ... in the order of their first "
    "line in the file; no identifiers are shown";

void WriteText(const std::string& path, const ReplayResult& r,
               std::ostream& out) {
  out << "replay of " << path << ": " << r.accepted << " event(s) accepted, "
      << r.rejected.size() << " rejected, " << r.episode_count
      << " episode(s)\n";
  for (const Rejected& x : r.rejected) {
    out << "rejected: line " << x.line << ": " << x.error << "\n";
  }
  out << "\n"
      << absl::StrFormat("%-28s %8s %9s %5s %12s\n", "MODULE", "PROMPTS",
                         "WARNINGS", "HELD", "FIRING RATE");
  for (const std::string& id : r.module_ids) {
    const ModuleStats& s = r.modules.at(id);
    out << absl::StrFormat("%-28s %8d %9d %5d %11.1f%%\n", id,
                           s.prompt_ids.size(), s.warning_ids.size(),
                           s.held_sessions, FiringRate(s));
  }
  out << "(firing rate: share of held sessions for which a warning of the "
         "module was visible, counting the answers to every event about the "
         "session, its ratings included; alert budget target ~15%)\n\n";
  for (int episode = 1; episode <= r.episode_count; ++episode) {
    out << "episode #" << episode << ":";
    auto it = r.episodes.find(episode);
    if (it == r.episodes.end()) {
      out << " no prompts\n";
      continue;
    }
    out << "\n";
    for (const auto& [id, p] : it->second) {
      out << "  session " << p.session << ": " << p.kind << " (" << p.module_id
          << ", " << StatusName(p.status) << ")\n";
    }
  }
  out << kNumberingNote << "\n";
}

void WriteDiffText(const std::vector<Difference>& only_a,
                   const std::vector<Difference>& only_b, std::ostream& out) {
  out << "\ndifference (A = --config, B = --against):\n";
  if (only_a.empty() && only_b.empty()) {
    out << "  none: both raise the same prompts\n";
    return;
  }
  for (const auto& [label, diffs] :
       {std::pair{"only in A", &only_a}, std::pair{"only in B", &only_b}}) {
    for (const Difference& d : *diffs) {
      out << "  " << label << ": " << d.module_id << " episode #" << d.episode
          << " " << d.kind;
      if (d.count > 1) out << " x" << d.count;
      out << "\n";
    }
  }
}

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;

Value Num(double v) {
  Value x;
  x.set_number_value(v);
  return x;
}
Value Str(const std::string& v) {
  Value x;
  x.set_string_value(v);
  return x;
}

Struct ToJson(const ReplayResult& r) {
  Struct s;
  auto& f = *s.mutable_fields();
  f["accepted"] = Num(r.accepted);
  f["episodes_count"] = Num(r.episode_count);
  ListValue* rejected = f["rejected"].mutable_list_value();
  for (const Rejected& x : r.rejected) {
    Struct item;
    (*item.mutable_fields())["line"] = Num(x.line);
    (*item.mutable_fields())["error"] = Str(x.error);
    *rejected->add_values()->mutable_struct_value() = std::move(item);
  }
  ListValue* modules = f["modules"].mutable_list_value();
  for (const std::string& id : r.module_ids) {
    const ModuleStats& m = r.modules.at(id);
    Struct item;
    auto& g = *item.mutable_fields();
    g["module_id"] = Str(id);
    g["prompts"] = Num(static_cast<double>(m.prompt_ids.size()));
    g["warnings"] = Num(static_cast<double>(m.warning_ids.size()));
    g["held_sessions"] = Num(m.held_sessions);
    g["held_sessions_with_warning"] = Num(m.held_with_warning);
    g["firing_rate_percent"] = Num(FiringRate(m));
    *modules->add_values()->mutable_struct_value() = std::move(item);
  }
  ListValue* episodes = f["episodes"].mutable_list_value();
  for (int episode = 1; episode <= r.episode_count; ++episode) {
    Struct item;
    auto& g = *item.mutable_fields();
    g["episode"] = Num(episode);
    ListValue* prompts = g["prompts"].mutable_list_value();
    if (auto it = r.episodes.find(episode); it != r.episodes.end()) {
      for (const auto& [id, p] : it->second) {
        Struct prompt;
        auto& h = *prompt.mutable_fields();
        h["module_id"] = Str(p.module_id);
        h["kind"] = Str(p.kind);
        h["raised_at_session"] = Num(p.session);
        h["status"] = Str(StatusName(p.status));
        *prompts->add_values()->mutable_struct_value() = std::move(prompt);
      }
    }
    *episodes->add_values()->mutable_struct_value() = std::move(item);
  }
  f["note"] = Str(kNumberingNote);
  return s;
}

Value DiffJson(const std::vector<Difference>& diffs) {
  Value v;
  ListValue* list = v.mutable_list_value();
  for (const Difference& d : diffs) {
    Struct item;
    auto& g = *item.mutable_fields();
    g["module_id"] = Str(d.module_id);
    g["episode"] = Num(d.episode);
    g["kind"] = Str(d.kind);
    g["count"] = Num(d.count);
    *list->add_values()->mutable_struct_value() = std::move(item);
  }
  return v;
}

absl::StatusOr<v1::ServerConfig> LoadConfig(const std::string& path) {
  return config::LoadEffectiveConfig(path);
}

}  // namespace

int RunReplay(const CommandEnv& env) {
  const std::string& path = env.line.arguments.at(0);
  const std::string format = env.line.Get("format", "text");
  if (format != "text" && format != "json") {
    return ReportUsageError(
        env, absl::InvalidArgumentError("--format: expected text or json"));
  }
  const std::string tenant = env.line.Get("tenant", "default");
  absl::StatusOr<EventLog> log =
      ReadEventLog(path, tenant,
                   env.line.Has("key-file")
                       ? std::optional<std::string>(env.line.Get("key-file"))
                       : std::nullopt,
                   env.storage_keys_env);
  if (!log.ok()) return ReportUsageError(env, log.status());
  const EventLines& lines = log->lines;
  const std::shared_ptr<const security::KeyRing>& keys = log->keys;
  if (!lines.errors.empty()) {
    for (std::size_t i = 0; i < lines.errors.size() && i < kMaxParseErrorsShown;
         ++i) {
      env.err << lines.errors[i] << "\n";
    }
    return ReportUsageError(
        env, absl::InvalidArgumentError(path + ": malformed lines"));
  }

  absl::StatusOr<v1::ServerConfig> config_a =
      LoadConfig(env.line.Get("config", ""));
  if (!config_a.ok()) return ReportUsageError(env, config_a.status());
  const bool against = env.line.Has("against");
  absl::StatusOr<v1::ServerConfig> config_b =
      against ? LoadConfig(env.line.Get("against")) : config_a;
  if (!config_b.ok()) return ReportUsageError(env, config_b.status());

  absl::StatusOr<ReplayResult> a =
      Replay(lines.events, *config_a, tenant, keys);
  if (!a.ok()) {
    env.err << "attunectl: replay: "
            << DescribeError(static_cast<int>(a.status().code()),
                             std::string(a.status().message()))
            << "\n";
    return kExitFailed;
  }
  absl::StatusOr<ReplayResult> b;
  if (against) {
    b = Replay(lines.events, *config_b, tenant, keys);
    if (!b.ok()) {
      env.err << "attunectl: replay: --against: "
              << DescribeError(static_cast<int>(b.status().code()),
                               std::string(b.status().message()))
              << "\n";
      return kExitFailed;
    }
  }
  std::vector<Difference> only_a, only_b;
  if (against) {
    const auto keys_a = PromptKeys(*a);
    const auto keys_b = PromptKeys(*b);
    only_a = OnlyIn(keys_a, keys_b);
    only_b = OnlyIn(keys_b, keys_a);
  }

  if (format == "json") {
    Struct report;
    if (against) {
      auto& f = *report.mutable_fields();
      *f["a"].mutable_struct_value() = ToJson(*a);
      *f["b"].mutable_struct_value() = ToJson(*b);
      f["only_in_a"] = DiffJson(only_a);
      f["only_in_b"] = DiffJson(only_b);
    } else {
      report = ToJson(*a);
    }
    std::string json;
    if (auto printed = google::protobuf::util::MessageToJsonString(
            report, &json, google::protobuf::util::JsonPrintOptions());
        !printed.ok()) {
      env.err << "attunectl: replay: cannot print the report\n";
      return kExitFailed;
    }
    env.out << json << "\n";
  } else {
    if (against)
      env.out << "=== A: " << env.line.Get("config", "(defaults)") << "\n";
    WriteText(path, *a, env.out);
    if (against) {
      env.out << "\n=== B: " << env.line.Get("against") << "\n";
      WriteText(path, *b, env.out);
      WriteDiffText(only_a, only_b, env.out);
    }
  }
  const bool any_rejected =
      !a->rejected.empty() || (against && !b->rejected.empty());
  if (any_rejected) {
    env.err << "attunectl: replay: " << a->rejected.size()
            << " event(s) rejected\n";
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace attune::ctl
