// attunectl import: a clinic moved from its SQLite file to PostgreSQL (and
// to another SQLite file) through the engine holds exactly what the source
// holds: the same events, assessments and prompts (feedback included), and
// importing again changes nothing. Runs on the throwaway cluster of
// tests/postgres/ (ctest fixture `postgres`).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "service/config/config_loader.h"
#include "service/ctl/commands.h"
#include "service/ctl/json_lines.h"
#include "service/engine/alliance_engine.h"
#include "service/engine/module_set.h"
#include "service/security/key_ring.h"
#include "service/store/postgres/postgres_store.h"
#include "service/store/sqlite/sqlite_store.h"
#include "tests/common/scratch.h"
#include "tests/unit/service/ctl/run_ctl.h"
#include "tests/unit/service/store/postgres_test_util.h"

namespace attune::ctl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kDemo =
    std::string(ATTUNE_SOURCE_DIR) + "/deploy/local/demo/episode.jsonl";
constexpr int kEpisodes = 3;

using testing::RunCtl;

std::string Dir() {
  static const std::string* const dir =
      new std::string(attune::testing::ScratchDir("ctl-import"));
  return *dir;
}

// A key file attunectl accepts (0600), and the same keys as a ring.
std::string KeyFile() {
  static const std::string* const path = [] {
    auto line = security::KeyRing::GenerateKeyLine("import-test");
    EXPECT_TRUE(line.ok()) << line.status();
    auto* p = new std::string(Dir() + "/storage.keys");
    std::ofstream(*p) << *line << "\n";
    std::filesystem::permissions(*p, std::filesystem::perms(0600));
    return p;
  }();
  return *path;
}

std::shared_ptr<const security::KeyRing> Keys() {
  auto ring = security::KeyRing::FromFile(KeyFile());
  EXPECT_TRUE(ring.ok()) << ring.status();
  return ring.ok() ? *std::move(ring) : nullptr;
}

std::string EpisodeId(int n) { return absl::StrCat("demo-episode-", n); }

// A small clinic in a sealed SQLite file: the demo course three times over
// (three clients of one clinician, a day apart, so clinician-day rules see
// them together), with the clinician dismissing the first rupture prompt.
std::string StoreClinic() {
  const std::string db = Dir() + "/clinic.db";
  std::ifstream in(kDemo);
  EventLines lines = ReadEventLines(in, kDemo);
  EXPECT_TRUE(lines.errors.empty());
  auto config = config::LoadEffectiveConfig("");
  EXPECT_TRUE(config.ok()) << config.status();
  auto modules = engine::LoadRuleModules(*config);
  EXPECT_TRUE(modules.ok()) << modules.status();
  store::SqliteStoreOptions options;
  options.path = db;
  options.keys = Keys();
  auto store = store::OpenSqliteStore(options);
  EXPECT_TRUE(store.ok()) << store.status();
  auto live = engine::AllianceEngine::Create(store->get(), *config,
                                             *std::move(modules));
  EXPECT_TRUE(live.ok()) << live.status();
  bool dismissed = false;
  for (const NumberedEvent& line : lines.events) {
    for (int n = 1; n <= kEpisodes; ++n) {
      v1::SessionEvent e = line.event;
      e.set_event_id(absl::StrCat(e.event_id(), "-", n));
      e.mutable_episode()->set_episode_id(EpisodeId(n));
      e.mutable_episode()->set_client_id(absl::StrCat("demo-client-", n));
      e.mutable_occurred_at()->set_seconds(e.occurred_at().seconds() +
                                           (n - 1) * 3600);
      auto response = (*live)->Submit("default", e);
      EXPECT_TRUE(response.ok()) << line.line << ": " << response.status();
      if (!response.ok() || dismissed) continue;
      for (const v1::Prompt& p : response->changed()) {
        if (p.kind() != "attune.rupture/check_rupture") continue;
        v1::RecordPromptFeedbackRequest fb;
        fb.set_event_id("demo-feedback-1");
        fb.set_prompt_id(p.id());
        fb.set_outcome(v1::PromptFeedback::OUTCOME_DISMISSED);
        fb.set_reason(v1::PromptFeedback::DISMISS_REASON_ALREADY_ADDRESSED);
        *fb.mutable_occurred_at() = e.occurred_at();
        fb.mutable_occurred_at()->set_seconds(e.occurred_at().seconds() + 60);
        EXPECT_TRUE((*live)->RecordFeedback("default", fb).ok());
        dismissed = true;
        break;
      }
    }
  }
  EXPECT_TRUE(dismissed) << "the demo no longer raises check_rupture";
  return db;
}

const std::string& Clinic() {
  static const std::string* const db = new std::string(StoreClinic());
  return *db;
}

// Everything a clinician or the engine can read of the episode.
struct EpisodeView {
  int64_t events = 0;
  v1::Assessment assessment;
  std::vector<v1::Prompt> prompts;  // by id
};

EpisodeView View(store::Store& store, const std::string& episode_id) {
  EpisodeView view;
  auto snapshot = store.LoadEpisode("default", episode_id);
  EXPECT_TRUE(snapshot.ok()) << snapshot.status();
  if (!snapshot.ok()) return view;
  EXPECT_TRUE(snapshot->exists) << episode_id;
  view.events = static_cast<int64_t>(snapshot->events.size());
  view.assessment = snapshot->assessment;
  view.prompts = snapshot->prompts;
  std::sort(
      view.prompts.begin(), view.prompts.end(),
      [](const v1::Prompt& a, const v1::Prompt& b) { return a.id() < b.id(); });
  return view;
}

void ExpectSameClinic(store::Store& source, store::Store& target) {
  int dismissed = 0;
  for (int n = 1; n <= kEpisodes; ++n) {
    const EpisodeView a = View(source, EpisodeId(n));
    const EpisodeView b = View(target, EpisodeId(n));
    EXPECT_GT(a.events, 30) << EpisodeId(n);
    EXPECT_EQ(a.events, b.events) << EpisodeId(n);
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
        a.assessment, b.assessment))
        << EpisodeId(n) << "\nsource: " << a.assessment.ShortDebugString()
        << "\ntarget: " << b.assessment.ShortDebugString();
    ASSERT_EQ(a.prompts.size(), b.prompts.size()) << EpisodeId(n);
    EXPECT_FALSE(a.prompts.empty()) << EpisodeId(n);
    for (std::size_t i = 0; i < a.prompts.size(); ++i) {
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
          a.prompts[i], b.prompts[i]))
          << "\nsource: " << a.prompts[i].ShortDebugString()
          << "\ntarget: " << b.prompts[i].ShortDebugString();
    }
  }
  auto fa = source.CountFeedback("default");
  auto fb = target.CountFeedback("default");
  ASSERT_TRUE(fa.ok() && fb.ok());
  ASSERT_EQ(fa->size(), fb->size());
  for (std::size_t i = 0; i < fa->size(); ++i) {
    if ((*fb)[i].outcome == v1::PromptFeedback::OUTCOME_DISMISSED) {
      dismissed += (*fb)[i].count;
    }
    EXPECT_EQ((*fa)[i].module_id, (*fb)[i].module_id);
    EXPECT_EQ((*fa)[i].outcome, (*fb)[i].outcome);
    EXPECT_EQ((*fa)[i].count, (*fb)[i].count);
  }
  EXPECT_EQ(dismissed, 1) << "the clinician's dismissal did not survive";
}

std::unique_ptr<store::Store> OpenSource() {
  store::SqliteStoreOptions options;
  options.path = Clinic();
  options.keys = Keys();
  auto store = store::OpenSqliteStore(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

void ExpectNoIdentifiers(const testing::CtlResult& r) {
  for (const char* id : {"demo-client-", "demo-clinician-", "demo-episode-"}) {
    EXPECT_THAT(r.out, Not(HasSubstr(id)));
    EXPECT_THAT(r.err, Not(HasSubstr(id)));
  }
}

TEST(ImportTest,
     SqliteClinicToPostgresRoundTripsExactlyAndAgainChangesNothing) {
  auto database = store::testing::TestDatabase::Create();
  ASSERT_TRUE(database.ok()) << database.status();
  const std::string dsn = (*database)->dsn();

  const testing::CtlResult first =
      RunCtl({"import", Clinic(), "--to", dsn, "--key-file", KeyFile()});
  ASSERT_EQ(first.code, kExitOk) << first.err;
  EXPECT_THAT(first.out,
              HasSubstr(absl::StrCat("of ", kEpisodes, " episode(s)")));
  EXPECT_THAT(first.out, HasSubstr(" 0 already there, 0 rejected"));
  ExpectNoIdentifiers(first);
  EXPECT_THAT(first.out + first.err, Not(HasSubstr((*database)->name())));

  const testing::CtlResult again =
      RunCtl({"import", Clinic(), "--to", dsn, "--key-file", KeyFile()});
  ASSERT_EQ(again.code, kExitOk) << again.err;
  EXPECT_THAT(again.out, HasSubstr(": 0 stored, "));

  store::PostgresStoreOptions options;
  options.dsn = dsn;
  options.keys = Keys();
  auto target = store::OpenPostgresStore(options);
  ASSERT_TRUE(target.ok()) << target.status();
  auto source = OpenSource();
  ASSERT_NE(source, nullptr);
  ExpectSameClinic(*source, **target);
}

TEST(ImportTest, ExportedLogIntoANewSqliteFileHoldsTheSameClinic) {
  const std::string log = Dir() + "/clinic.jsonl";
  const testing::CtlResult exported = RunCtl(
      {"export", "--db", Clinic(), "--key-file", KeyFile(), "--out", log});
  ASSERT_EQ(exported.code, kExitOk) << exported.err;
  const std::string copy = Dir() + "/copy.db";
  const testing::CtlResult imported =
      RunCtl({"import", log, "--to", copy, "--key-file", KeyFile()});
  ASSERT_EQ(imported.code, kExitOk) << imported.err;
  ExpectNoIdentifiers(imported);

  store::SqliteStoreOptions options;
  options.path = copy;
  options.keys = Keys();
  auto target = store::OpenSqliteStore(options);
  ASSERT_TRUE(target.ok()) << target.status();
  auto source = OpenSource();
  ASSERT_NE(source, nullptr);
  ExpectSameClinic(*source, **target);
}

TEST(ImportTest, BadCommandLinesNameTheFlagAndStoreNothing) {
  const std::string target = Dir() + "/untouched.db";
  testing::CtlResult r = RunCtl({"import", Clinic(), "--key-file", KeyFile()});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--to: is required"));

  // No keys: a target in the clear only when asked for.
  r = RunCtl({"import", kDemo, "--to", target});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--key-file: "));
  EXPECT_FALSE(std::filesystem::exists(target));

  // An unreachable server: named as --to, never the connection string (it
  // may hold a password).
  r = RunCtl({"import", kDemo, "--to",
              "host=/nonexistent-attune dbname=x user=u password=hunter2",
              "--key-file", KeyFile()});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--to: postgres: "));
  EXPECT_THAT(r.err, Not(HasSubstr("hunter2")));
  EXPECT_THAT(r.err, Not(HasSubstr("nonexistent-attune")));

  const std::string bad = Dir() + "/bad.jsonl";
  std::ofstream(bad) << "{\"eventId\": \"x\"\n";
  r = RunCtl({"import", bad, "--to", target, "--key-file", KeyFile()});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr(bad + ":1: "));
  EXPECT_FALSE(std::filesystem::exists(target));
}

}  // namespace
}  // namespace attune::ctl
