// attunectl export and replay from a database file: a clinic's stored log
// comes out complete, replays to the prompts clinicians saw (feedback
// included), and de-identified it carries no identifier or calendar date yet
// replays the same.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/config/config_loader.h"
#include "service/ctl/cli.h"
#include "service/ctl/commands.h"
#include "service/ctl/deidentify.h"
#include "service/ctl/json_lines.h"
#include "service/ctl/store_log.h"
#include "service/engine/alliance_engine.h"
#include "service/engine/module_set.h"
#include "service/engine/prompt_reconciler.h"
#include "service/security/key_ring.h"
#include "service/store/sqlite/sqlite_store.h"
#include "tests/common/scratch.h"
#include "tests/unit/service/ctl/run_ctl.h"

namespace attune::ctl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kDemo =
    std::string(ATTUNE_SOURCE_DIR) + "/deploy/local/demo/episode.jsonl";

using Result = testing::CtlResult;
using testing::RunCtl;

std::string TempPath(const std::string& name) {
  static const std::string* const dir =
      new std::string(attune::testing::ScratchDir("ctl-export"));
  return *dir + "/" + name;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The per-episode part of a replay's text report.
std::string EpisodeBlock(const std::string& out) {
  const std::size_t begin = out.find("episode #1:");
  const std::size_t end = out.find("note:", begin);
  if (begin == std::string::npos || end == std::string::npos) return "";
  return out.substr(begin, end - begin);
}

// The demo clinic: the demo episode up to the rupture prompt, stored by the
// real engine in tenant "default", and the clinician's dismissal of it, in a
// new database `db`, sealed with `keys` when not null. `events`: how many
// events were stored, feedback included.
void StoreDemoClinic(const std::string& db,
                     std::shared_ptr<const security::KeyRing> keys,
                     int* events) {
  std::filesystem::remove(db);
  std::ifstream in(kDemo);
  EventLines lines = ReadEventLines(in, kDemo);
  ASSERT_TRUE(lines.errors.empty());
  absl::StatusOr<v1::ServerConfig> config = config::LoadEffectiveConfig("");
  ASSERT_TRUE(config.ok()) << config.status();
  auto modules = engine::LoadRuleModules(*config);
  ASSERT_TRUE(modules.ok()) << modules.status();
  store::SqliteStoreOptions options;
  options.path = db;
  options.keys = std::move(keys);
  auto store = store::OpenSqliteStore(options);
  ASSERT_TRUE(store.ok()) << store.status();
  auto live = engine::AllianceEngine::Create(store->get(), *config,
                                             *std::move(modules));
  ASSERT_TRUE(live.ok()) << live.status();
  // The log stops right after the dismissal, so the prompt's final state
  // is the clinician's doing: a replay that lost the feedback would show
  // it active.
  bool dismissed = false;
  for (const NumberedEvent& e : lines.events) {
    if (dismissed) break;
    auto response = (*live)->Submit("default", e.event);
    ASSERT_TRUE(response.ok()) << e.line << ": " << response.status();
    ++*events;
    for (const v1::Prompt& p : response->changed()) {
      if (dismissed || p.kind() != "attune.rupture/check_rupture") continue;
      v1::RecordPromptFeedbackRequest fb;
      fb.set_event_id("demo-feedback-1");
      fb.set_prompt_id(p.id());
      fb.set_outcome(v1::PromptFeedback::OUTCOME_DISMISSED);
      fb.set_reason(v1::PromptFeedback::DISMISS_REASON_ALREADY_ADDRESSED);
      google::protobuf::Timestamp at = e.event.occurred_at();
      at.set_seconds(at.seconds() + 3600);
      *fb.mutable_occurred_at() = at;
      auto changed = (*live)->RecordFeedback("default", fb);
      ASSERT_TRUE(changed.ok()) << changed.status();
      ASSERT_EQ(changed->status(), v1::PROMPT_STATUS_DISMISSED);
      dismissed = true;
      ++*events;
    }
  }
  ASSERT_TRUE(dismissed) << "the demo no longer raises check_rupture";
}

class ExportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_ = new std::string(TempPath("clinic.db"));
    StoreDemoClinic(*db_, nullptr, &events_);
  }

  static std::string* db_;
  // Events stored, feedback included.
  static int events_;
};
std::string* ExportTest::db_ = nullptr;
int ExportTest::events_ = 0;

TEST_F(ExportTest, ExportsEveryStoredEventAsJsonLines) {
  const std::string out = TempPath("plain.jsonl");
  const Result r = RunCtl({"export", "--db", *db_, "--out", out});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.err, HasSubstr("exported " + std::to_string(events_) +
                               " event(s) of 1 episode(s)"));
  std::ifstream in(out);
  EventLines lines = ReadEventLines(in, out);
  EXPECT_TRUE(lines.errors.empty());
  ASSERT_EQ(static_cast<int>(lines.events.size()), events_);
  EXPECT_EQ(lines.events.front().event.event_id(), "demo-0001");
  EXPECT_TRUE(std::any_of(
      lines.events.begin(), lines.events.end(),
      [](const NumberedEvent& e) { return e.event.has_prompt_feedback(); }));
  // Health data: readable by its owner only.
  auto perms = std::filesystem::status(out).permissions();
  EXPECT_EQ(perms & (std::filesystem::perms::group_all |
                     std::filesystem::perms::others_all),
            std::filesystem::perms::none);
}

TEST_F(ExportTest, ReplayOfTheDatabaseShowsTheFeedbackClinicianGave) {
  const Result r = RunCtl({"replay", *db_});
  ASSERT_EQ(r.code, kExitOk) << r.err << r.out;
  EXPECT_THAT(r.out, HasSubstr("attune.rupture/check_rupture (attune.rupture, "
                               "dismissed)"));
  // Same as replaying the exported JSON lines.
  const std::string out = TempPath("plain2.jsonl");
  ASSERT_EQ(RunCtl({"export", "--db", *db_, "--out", out}).code, kExitOk);
  const Result from_file = RunCtl({"replay", out});
  ASSERT_EQ(from_file.code, kExitOk) << from_file.err;
  EXPECT_EQ(EpisodeBlock(from_file.out), EpisodeBlock(r.out));
  EXPECT_FALSE(EpisodeBlock(r.out).empty());
}

TEST_F(ExportTest, DeidentifiedLogHasNoIdentifiersNorDatesAndReplaysTheSame) {
  const std::string out = TempPath("deid.jsonl");
  const Result r =
      RunCtl({"export", "--db", *db_, "--deidentify", "--out", out});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.err, HasSubstr("de-identified"));
  const std::string text = ReadAll(out);
  for (const char* secret :
       {"demo-client-1", "demo-clinician-1", "demo-episode-1", "demo-0",
        "demo-feedback", "2026-09-01", "2026-08-25"}) {
    EXPECT_THAT(text, Not(HasSubstr(secret))) << secret;
  }
  const Result plain = RunCtl({"replay", *db_});
  const Result deid = RunCtl({"replay", out});
  ASSERT_EQ(deid.code, kExitOk) << deid.err << deid.out;
  EXPECT_EQ(EpisodeBlock(deid.out), EpisodeBlock(plain.out));
  EXPECT_THAT(deid.out, HasSubstr("0 rejected"));
  EXPECT_THAT(deid.out, HasSubstr("dismissed"));
}

TEST_F(ExportTest, MissingOrWrongDatabaseIsAUsageErrorAndCreatesNothing) {
  Result r = RunCtl({"export"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--db: is required"));
  const std::string missing = TempPath("missing.db");
  r = RunCtl({"export", "--db", missing});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("no such database file"));
  EXPECT_FALSE(std::filesystem::exists(missing));
  r = RunCtl({"export", "--db", kDemo});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("is not an attuned SQLite database"));
}

TEST(DeidentifierTest, PseudonymsAreStablePerKeyAndKindAndHideTheId) {
  Deidentifier a("key-a", absl::Hours(24 * 7 * 60));
  Deidentifier b("key-b", absl::Hours(24 * 7 * 60));
  EXPECT_EQ(a.Pseudonym("client", "c-1"), a.Pseudonym("client", "c-1"));
  EXPECT_NE(a.Pseudonym("client", "c-1"), a.Pseudonym("client", "c-2"));
  EXPECT_NE(a.Pseudonym("client", "c-1"), a.Pseudonym("episode", "c-1"));
  EXPECT_NE(a.Pseudonym("client", "c-1"), b.Pseudonym("client", "c-1"));
  EXPECT_THAT(a.Pseudonym("client", "c-1"), Not(HasSubstr("c-1")));
}

TEST(DeidentifierTest, TimesMoveByWholeWeeksKeepingWeekdayAndIntervals) {
  absl::StatusOr<Deidentifier> d = Deidentifier::Create();
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_GE(d->shift(), absl::Hours(24 * 7 * 52));
  EXPECT_EQ(absl::ToInt64Hours(d->shift()) % (24 * 7), 0);
  v1::SessionEvent e;
  e.set_event_id("e-1");
  e.mutable_episode()->set_client_id("c");
  e.mutable_episode()->set_clinician_id("k");
  e.mutable_episode()->set_episode_id("ep");
  e.mutable_occurred_at()->set_seconds(1'790'000'000);
  auto* held = e.mutable_session_held();
  held->mutable_start()->set_seconds(1'790'000'000);
  held->mutable_end()->set_seconds(1'790'003'000);
  ASSERT_TRUE(d->Apply(
                   "t",
                   [](const std::string&) {
                     return absl::StatusOr<std::optional<v1::Prompt>>(
                         std::nullopt);
                   },
                   e)
                  .ok());
  EXPECT_EQ(held->end().seconds() - held->start().seconds(), 3000);
  EXPECT_EQ(1'790'000'000 - e.occurred_at().seconds(),
            absl::ToInt64Seconds(d->shift()));
  EXPECT_NE(e.episode().client_id(), "c");
  EXPECT_NE(e.event_id(), "e-1");
}

TEST_F(ExportTest, OutFileIsMadeOwnerOnlyAndSymlinksAreRefused) {
  const std::string existing = TempPath("existing.jsonl");
  std::ofstream(existing) << "old\n";
  std::filesystem::permissions(existing, std::filesystem::perms(0644));
  Result r = RunCtl({"export", "--db", *db_, "--out", existing});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(
      std::filesystem::status(existing).permissions() &
          std::filesystem::perms::all,
      std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_THAT(ReadAll(existing), Not(HasSubstr("old\n")));

  const std::string target = TempPath("target.txt");
  std::ofstream(target) << "keep\n";
  const std::string link = TempPath("link.jsonl");
  std::filesystem::remove(link);
  std::filesystem::create_symlink(target, link);
  r = RunCtl({"export", "--db", *db_, "--out", link});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--out: "));
  EXPECT_EQ(ReadAll(target), "keep\n");
}

v1::SessionEvent At(const std::string& episode, const std::string& id,
                    int64_t seconds) {
  v1::SessionEvent e;
  e.set_event_id(id);
  e.mutable_episode()->set_episode_id(episode);
  e.mutable_occurred_at()->set_seconds(seconds);
  return e;
}

// A key file as `attunectl keys generate` writes it: one "<id> <base64>"
// line, mode 0600.
std::string WriteKeyFile(const std::string& name, const std::string& id) {
  const std::string path = TempPath(name);
  std::filesystem::remove(path);
  absl::StatusOr<std::string> line = security::KeyRing::GenerateKeyLine(id);
  EXPECT_TRUE(line.ok()) << line.status();
  std::ofstream(path) << *line << "\n";
  std::filesystem::permissions(path, std::filesystem::perms::owner_read |
                                         std::filesystem::perms::owner_write);
  return path;
}

// The demo clinic in a database sealed with storage keys, as an attuned
// with store.key_file writes it; and the same clinic in plaintext to compare.
class SealedExportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    keys_ = new std::string(WriteKeyFile("storage.keys", "k1"));
    auto ring = security::KeyRing::FromFile(*keys_);
    ASSERT_TRUE(ring.ok()) << ring.status();
    sealed_ = new std::string(TempPath("sealed.db"));
    plain_ = new std::string(TempPath("plain.db"));
    int events = 0;
    StoreDemoClinic(*sealed_, *ring, &events);
    StoreDemoClinic(*plain_, nullptr, &events);
  }

  static std::string* keys_;
  static std::string* sealed_;
  static std::string* plain_;
};
std::string* SealedExportTest::keys_ = nullptr;
std::string* SealedExportTest::sealed_ = nullptr;
std::string* SealedExportTest::plain_ = nullptr;

TEST_F(SealedExportTest, KeyFileReadsTheSameEventsAsAPlaintextStore) {
  const Result plain = RunCtl({"export", "--db", *plain_});
  ASSERT_EQ(plain.code, kExitOk) << plain.err;
  const Result sealed =
      RunCtl({"export", "--db", *sealed_, "--key-file", *keys_});
  ASSERT_EQ(sealed.code, kExitOk) << sealed.err;
  EXPECT_FALSE(sealed.out.empty());
  EXPECT_EQ(sealed.out, plain.out);
  // The variable is the fallback for --key-file.
  const Result env = RunCtl({"export", "--db", *sealed_},
                            /*env_storage_keys=*/ReadAll(*keys_));
  ASSERT_EQ(env.code, kExitOk) << env.err;
  EXPECT_EQ(env.out, plain.out);
}

TEST_F(SealedExportTest, ReplayOfASealedDatabaseWithItsKeyFile) {
  const Result plain = RunCtl({"replay", *plain_});
  ASSERT_EQ(plain.code, kExitOk) << plain.err;
  const Result sealed = RunCtl({"replay", *sealed_, "--key-file", *keys_});
  ASSERT_EQ(sealed.code, kExitOk) << sealed.err << sealed.out;
  EXPECT_FALSE(EpisodeBlock(sealed.out).empty());
  EXPECT_EQ(EpisodeBlock(sealed.out), EpisodeBlock(plain.out));
  EXPECT_THAT(sealed.out, HasSubstr("dismissed"));
}

TEST_F(SealedExportTest, WithoutKeysOrWithWrongOnesNothingIsRead) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"export", "--db", *sealed_},
        std::vector<std::string>{"replay", *sealed_}}) {
    const Result r = RunCtl(args);
    EXPECT_EQ(r.code, kExitUsage) << args[0];
    EXPECT_THAT(r.err, HasSubstr("is sealed with storage keys"));
    EXPECT_THAT(r.err, HasSubstr("--key-file"));
    EXPECT_TRUE(r.out.empty());
  }
  // Other key material under the id that sealed the database.
  const std::string wrong = WriteKeyFile("wrong.keys", "k1");
  Result r = RunCtl({"export", "--db", *sealed_, "--key-file", wrong});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("storage key 'k1'"));
  EXPECT_TRUE(r.out.empty());
  // A key file attuned would refuse is refused here too, naming the flag.
  std::filesystem::permissions(wrong, std::filesystem::perms::group_read,
                               std::filesystem::perm_options::add);
  r = RunCtl({"export", "--db", *sealed_, "--key-file", wrong});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--key-file: " + wrong + ": readable by group"));
  r = RunCtl({"export", "--db", *sealed_, "--key-file", TempPath("none")});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("no such key file"));
}

TEST_F(SealedExportTest, KeysNeverSealAPlaintextDatabaseInPlace) {
  const Result r = RunCtl({"export", "--db", *plain_, "--key-file", *keys_});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_FALSE(r.out.empty());
  // Still plaintext: a store without keys opens it (a sealed one refuses).
  store::SqliteStoreOptions options;
  options.path = *plain_;
  auto reopened = store::OpenSqliteStore(options);
  EXPECT_TRUE(reopened.ok()) << reopened.status();
}

TEST(InterleaveByTimeTest, EpisodesInterleaveByTimeEachKeepingItsOrder) {
  // "b" sorts after "a" but happened first; a2 arrived after a1 though it
  // is dated earlier (a late measure) and must stay after it.
  std::vector<v1::SessionEvent> in = {At("b", "b1", 10), At("b", "b2", 40),
                                      At("a", "a1", 20), At("a", "a2", 15),
                                      At("a", "a3", 30)};
  std::vector<std::string> ids;
  for (const v1::SessionEvent& e : InterleaveByTime(in)) {
    ids.push_back(e.event_id());
  }
  EXPECT_THAT(ids, ::testing::ElementsAre("b1", "a1", "a2", "a3", "b2"));
}

TEST(DeidentifierTest, FeedbackOnAClinicianPromptNamesItsPseudonymousTwin) {
  Deidentifier d("key", absl::Hours(24 * 7 * 100));
  const absl::CivilDay day(2026, 9, 1);
  const absl::Time day_start = absl::FromCivil(day, absl::UTCTimeZone());
  v1::Prompt p;
  p.set_kind("attune.clinician_load/heavy_day");
  p.set_scope(v1::PROMPT_SCOPE_CLINICIAN);
  p.mutable_episode()->set_clinician_id("dr-who");
  p.mutable_episode()->set_episode_id("ep-9");
  p.set_id(engine::MakePromptId(
      "default", engine::ClinicianPromptScope("dr-who", day), p.kind(), 1));
  p.mutable_expires_at()->set_seconds(
      absl::ToUnixSeconds(day_start + absl::Hours(48)));
  v1::SessionEvent e = At("ep-9", "fb-1", absl::ToUnixSeconds(day_start));
  e.mutable_episode()->set_clinician_id("dr-who");
  e.mutable_episode()->set_client_id("c");
  e.mutable_prompt_feedback()->set_prompt_id(p.id());
  ASSERT_TRUE(d.Apply(
                   "default",
                   [&p](const std::string& id)
                       -> absl::StatusOr<std::optional<v1::Prompt>> {
                     if (id == p.id()) return p;
                     return std::nullopt;
                   },
                   e)
                  .ok());
  // What the engine will compute for the shifted, pseudonymised event.
  const absl::CivilDay shifted = day - 7 * 100;
  EXPECT_EQ(
      e.prompt_feedback().prompt_id(),
      engine::MakePromptId("default",
                           engine::ClinicianPromptScope(
                               d.Pseudonym("clinician", "dr-who"), shifted),
                           p.kind(), 1));
}

}  // namespace
}  // namespace attune::ctl
