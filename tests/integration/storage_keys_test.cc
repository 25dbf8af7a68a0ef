// Storage keys as an operator uses them: a key file made by `attunectl keys
// generate`, attuned restarted on it, the key rotated, the database read by
// `attunectl export`, and attuned refusing to start with a wrong key or with
// no keys at all.
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/integration/attuned_process.h"
#include "tests/integration/episode_script.h"

namespace attune::testing {
namespace {

struct Output {
  int code;
  std::string out;  // stdout only
  std::string err;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs the real attunectl (no server needed by these commands).
Output Ctl(const std::string& dir, const std::string& args) {
  const std::string err_path = dir + "/attunectl.err";
  const std::string cmd = std::string(ATTUNE_BINARY_DIR) +
                          "/service/ctl/attunectl " + args + " 2>" + err_path;
  FILE* p = popen(cmd.c_str(), "r");
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  const int status = pclose(p);
  return {WEXITSTATUS(status), text, ReadFile(err_path)};
}

// The secret of each "<id> <base64>" line of a key file.
std::vector<std::string> Secrets(const std::string& key_file) {
  std::vector<std::string> secrets;
  for (absl::string_view line : absl::StrSplit(ReadFile(key_file), '\n')) {
    std::vector<std::string> parts = absl::StrSplit(line, ' ');
    if (parts.size() == 2) secrets.push_back(parts[1]);
  }
  return secrets;
}

// A course whose fifth session shows a rupture (one warning prompt).
std::vector<v1::SessionEvent> RuptureCourse(EpisodeScript& s) {
  std::vector<v1::SessionEvent> events;
  const double srs[] = {37, 38.5, 38, 39};
  for (int n = 1; n <= 4; ++n) {
    events.push_back(s.Held(n));
    events.push_back(s.Srs(n, srs[n - 1]));
    if (n == 2) events.push_back(s.Goals(2));
  }
  events.push_back(s.Held(5, /*challenging=*/true));
  events.push_back(s.Srs(5, 30));
  return events;
}

void SubmitAll(AttunedProcess& server,
               const std::vector<v1::SessionEvent>& events) {
  auto stub = server.stub();
  for (const v1::SessionEvent& e : events) {
    v1::SubmitEventRequest req;
    *req.mutable_event() = e;
    v1::SubmitEventResponse resp;
    grpc::Status status = stub->SubmitEvent(Context().get(), req, &resp);
    ASSERT_TRUE(status.ok()) << e.event_id() << ": " << status.error_message();
  }
}

// The ids of the episode's prompts, any status.
std::set<std::string> PromptIds(AttunedProcess& server,
                                const std::string& episode_id) {
  v1::ListPromptsRequest req;
  req.set_episode_id(episode_id);
  for (int status = v1::PromptStatus_MIN; status <= v1::PromptStatus_MAX;
       ++status) {
    if (v1::PromptStatus_IsValid(status) &&
        status != v1::PROMPT_STATUS_UNSPECIFIED) {
      req.add_statuses(static_cast<v1::PromptStatus>(status));
    }
  }
  v1::ListPromptsResponse resp;
  grpc::Status status = server.stub()->ListPrompts(Context().get(), req, &resp);
  EXPECT_TRUE(status.ok()) << status.error_message();
  std::set<std::string> ids;
  for (const v1::Prompt& p : resp.prompts()) ids.insert(p.id());
  return ids;
}

class StorageKeysTest : public ::testing::Test {
 protected:
  // attuned falls back to this variable; these tests decide it themselves.
  void SetUp() override { unsetenv("ATTUNE_STORAGE_KEYS"); }
  void TearDown() override { unsetenv("ATTUNE_STORAGE_KEYS"); }
};

TEST_F(StorageKeysTest, SealedStoreSurvivesRestartRotationAndExport) {
  const std::string dir = MakeTempDir("storage-keys");
  const std::string keys = dir + "/attuned.keys";
  Output generated = Ctl(dir, "keys generate --id k1 --out " + keys);
  ASSERT_EQ(generated.code, 0) << generated.err;
  EXPECT_EQ(generated.out, "k1\n");
  const std::vector<std::string> k1_secret = Secrets(keys);
  ASSERT_EQ(k1_secret.size(), 1u);
  EXPECT_EQ(generated.err.find(k1_secret[0]), std::string::npos);

  const std::string kClient = "CLIENT-KEYS-8841";
  const std::string kClinician = "CLINICIAN-KEYS-2207";
  EpisodeScript s(kClient, kClinician, "ep-keys");
  std::set<std::string> prompts;
  {
    AttunedProcess server(dir, {"--key_file", keys});
    ASSERT_TRUE(server.Start()) << server.Log();
    SubmitAll(server, RuptureCourse(s));
    prompts = PromptIds(server, "ep-keys");
    ASSERT_FALSE(prompts.empty());
    ASSERT_EQ(server.Stop(), 0);
    EXPECT_NE(server.Log().find("active_key=k1 keys=1"), std::string::npos)
        << server.Log();
  }
  // Sealed at rest: neither identifier is in the database or its WAL.
  const std::string raw =
      ReadFile(dir + "/attune.db") + ReadFile(dir + "/attune.db-wal");
  ASSERT_FALSE(raw.empty());
  EXPECT_EQ(raw.find(kClient), std::string::npos);
  EXPECT_EQ(raw.find(kClinician), std::string::npos);

  {  // Same key file: everything reads back.
    AttunedProcess server(dir, {"--key_file", keys});
    ASSERT_TRUE(server.Start()) << server.Log();
    EXPECT_EQ(PromptIds(server, "ep-keys"), prompts);
    ASSERT_EQ(server.Stop(), 0);
  }

  // Rotation: the new key writes, the old one still reads.
  Output rotated = Ctl(dir, "keys rotate --id k2 --file " + keys);
  ASSERT_EQ(rotated.code, 0) << rotated.err;
  EXPECT_EQ(rotated.out, "k2\n");
  const std::vector<std::string> both = Secrets(keys);
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[1], k1_secret[0]);
  {
    AttunedProcess server(dir, {"--key_file", keys});
    ASSERT_TRUE(server.Start()) << server.Log();
    EXPECT_NE(server.Log().find("active_key=k2 keys=2"), std::string::npos)
        << server.Log();
    EXPECT_EQ(PromptIds(server, "ep-keys"), prompts);
    SubmitAll(server, {s.Held(6), s.Srs(6, 39.2)});
    EXPECT_GT(PromptIds(server, "ep-keys").size(), prompts.size());
    ASSERT_EQ(server.Stop(), 0);
    for (const std::string& secret : both) {
      EXPECT_EQ(server.Log().find(secret), std::string::npos);
    }
  }

  // attunectl reads the sealed file with the key file, and only with it.
  const std::string db = dir + "/attune.db";
  Output exported = Ctl(dir, "export --db " + db + " --key-file " + keys);
  ASSERT_EQ(exported.code, 0) << exported.err;
  EXPECT_EQ(std::count(exported.out.begin(), exported.out.end(), '\n'),
            static_cast<long>(RuptureCourse(s).size() + 2));
  EXPECT_NE(exported.out.find(kClient), std::string::npos);
  Output refused = Ctl(dir, "export --db " + db);
  EXPECT_EQ(refused.code, 2);
  EXPECT_NE(refused.err.find("--key-file"), std::string::npos) << refused.err;
}

TEST_F(StorageKeysTest, WrongKeyUnderAKnownIdIsRefusedNamingTheId) {
  const std::string dir = MakeTempDir("wrong-key");
  const std::string keys = dir + "/attuned.keys";
  ASSERT_EQ(Ctl(dir, "keys generate --id k1 --out " + keys).code, 0);
  {
    AttunedProcess server(dir, {"--key_file", keys});
    ASSERT_TRUE(server.Start()) << server.Log();
    EpisodeScript s("client-wrong", "clin-wrong", "ep-wrong");
    SubmitAll(server, {s.Held(1), s.Srs(1, 37)});
    ASSERT_EQ(server.Stop(), 0);
  }
  const std::string wrong = dir + "/wrong.keys";
  ASSERT_EQ(Ctl(dir, "keys generate --id k1 --out " + wrong).code, 0);
  AttunedProcess server(dir, {"--key_file", wrong});
  EXPECT_FALSE(server.Start());
  EXPECT_EQ(server.Stop(), 1);
  EXPECT_NE(server.Log().find("storage key 'k1'"), std::string::npos)
      << server.Log();
  for (const std::string& secret : Secrets(wrong)) {
    EXPECT_EQ(server.Log().find(secret), std::string::npos);
  }

  // Without any key the sealed database is not opened either.
  std::ofstream(dir + "/plain.textproto")
      << "store { allow_plaintext: true }\n";
  AttunedProcess plain(dir,
                       {"--key_file=", "--config", dir + "/plain.textproto"});
  EXPECT_FALSE(plain.Start());
  EXPECT_EQ(plain.Stop(), 1);
  EXPECT_NE(plain.Log().find("this database is encrypted"), std::string::npos)
      << plain.Log();
}

TEST_F(StorageKeysTest, NoKeysRefusesToStartNamingTheField) {
  const std::string dir = MakeTempDir("no-keys");
  AttunedProcess server(dir, {"--key_file="});
  EXPECT_FALSE(server.Start());
  EXPECT_EQ(server.Stop(), 1);
  const std::string log = server.Log();
  EXPECT_NE(log.find("store.key_file: required"), std::string::npos) << log;
  EXPECT_NE(log.find("attunectl keys generate --out FILE"), std::string::npos);
  EXPECT_NE(log.find("store.allow_plaintext: true"), std::string::npos);
}

TEST_F(StorageKeysTest, KeysFromTheEnvironment) {
  const std::string dir = MakeTempDir("env-keys");
  const std::string keys = dir + "/env.keys";
  ASSERT_EQ(Ctl(dir, "keys generate --id envkey --out " + keys).code, 0);
  setenv("ATTUNE_STORAGE_KEYS", ReadFile(keys).c_str(), 1);
  AttunedProcess server(dir, {"--key_file="});
  ASSERT_TRUE(server.Start()) << server.Log();
  ASSERT_EQ(server.Stop(), 0);
  EXPECT_NE(server.Log().find("source=ATTUNE_STORAGE_KEYS active_key=envkey"),
            std::string::npos)
      << server.Log();
}

TEST_F(StorageKeysTest, AllowPlaintextStartsWithOneLoudWarning) {
  const std::string dir = MakeTempDir("plaintext");
  const std::string config = dir + "/attuned.textproto";
  std::ofstream(config) << "store { allow_plaintext: true }\n";
  AttunedProcess server(dir, {"--key_file=", "--config", config});
  ASSERT_TRUE(server.Start()) << server.Log();
  ASSERT_EQ(server.Stop(), 0);
  const std::string log = server.Log();
  const size_t first = log.find("PLAINTEXT STORAGE");
  ASSERT_NE(first, std::string::npos) << log;
  EXPECT_EQ(log.find("PLAINTEXT STORAGE", first + 1), std::string::npos);
}

}  // namespace
}  // namespace attune::testing
