// attunectl keys generate / rotate: the key file attuned reads
// (store.key_file), made and rotated without ever printing a key, without
// overwriting a file or following a link, and without losing the old keys.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/ctl/commands.h"
#include "service/security/key_ring.h"
#include "tests/unit/service/ctl/run_ctl.h"

namespace attune::ctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using testing::RunCtl;

class KeysCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("attunectl_keys_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Path(const std::string& name) const {
    return (dir_ / name).string();
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  static mode_t Mode(const std::string& path) {
    struct stat st;
    EXPECT_EQ(::lstat(path.c_str(), &st), 0);
    return st.st_mode & 07777;
  }
  // The base64 secrets of a key file's lines, in order.
  static std::vector<std::string> Secrets(const std::string& text) {
    std::vector<std::string> secrets;
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      std::vector<std::string> parts = absl::StrSplit(line, ' ');
      if (parts.size() == 2 && line[0] != '#') secrets.push_back(parts[1]);
    }
    return secrets;
  }
  std::vector<std::string> Files() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  std::filesystem::path dir_;
};

TEST_F(KeysCommandTest, GenerateWritesOnePrivateKeyLineAndPrintsOnlyTheId) {
  const std::string path = Path("storage.keys");
  const testing::CtlResult r = RunCtl({"keys", "generate", "--out", path});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  // Default id: k + today's UTC date.
  EXPECT_THAT(r.out, MatchesRegex("k20[0-9]{6}\n"));
  const std::string id = r.out.substr(0, r.out.size() - 1);
  EXPECT_EQ(Mode(path), 0600u);
  const std::string text = Read(path);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);
  EXPECT_EQ(text.rfind(id + " ", 0), 0u);
  ASSERT_EQ(Secrets(text).size(), 1u);
  EXPECT_THAT(r.out + r.err, Not(HasSubstr(Secrets(text)[0])));
  // attuned accepts it as is.
  auto ring = security::KeyRing::FromFile(path);
  ASSERT_TRUE(ring.ok()) << ring.status();
  EXPECT_EQ((*ring)->active_key_id(), id);
}

TEST_F(KeysCommandTest, GenerateNeverOverwritesNorFollowsALink) {
  const std::string path = Path("storage.keys");
  ASSERT_EQ(RunCtl({"keys", "generate", "--id", "a", "--out", path}).code,
            kExitOk);
  const std::string before = Read(path);
  testing::CtlResult r =
      RunCtl({"keys", "generate", "--id", "b", "--out", path});
  EXPECT_EQ(r.code, kExitFailed);
  EXPECT_THAT(r.err, HasSubstr("already exists"));
  EXPECT_EQ(Read(path), before);

  // A link, dangling or not, is refused and nothing is created behind it.
  const std::string target = Path("target");
  const std::string link = Path("link.keys");
  std::filesystem::create_symlink(target, link);
  r = RunCtl({"keys", "generate", "--out", link});
  EXPECT_EQ(r.code, kExitFailed);
  EXPECT_THAT(r.err, HasSubstr("symbolic link"));
  EXPECT_FALSE(std::filesystem::exists(target));
}

TEST_F(KeysCommandTest, RotatePutsANewKeyFirstAndKeepsTheOldOnes) {
  const std::string path = Path("storage.keys");
  ASSERT_EQ(RunCtl({"keys", "generate", "--id", "k1", "--out", path}).code,
            kExitOk);
  // An operator's comment survives rotation.
  {
    std::ofstream append(path, std::ios::app);
    append << "# retired keys below\n";
  }
  const std::string before = Read(path);
  auto old_ring = security::KeyRing::FromFile(path);
  ASSERT_TRUE(old_ring.ok()) << old_ring.status();
  auto sealed = (*old_ring)->Seal("clinic-a", "events/e-1", "payload");
  ASSERT_TRUE(sealed.ok()) << sealed.status();

  const testing::CtlResult r =
      RunCtl({"keys", "rotate", "--file", path, "--id", "k2"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "k2\n");
  EXPECT_THAT(r.err, HasSubstr("k1"));
  EXPECT_EQ(Mode(path), 0600u);
  const std::string after = Read(path);
  // The new line first, the old text after it unchanged.
  ASSERT_EQ(after.find("k2 "), 0u);
  EXPECT_EQ(after.substr(after.find('\n') + 1), before);
  EXPECT_THAT(r.out + r.err, Not(HasSubstr(Secrets(after)[0])));
  // No temporary file is left beside it.
  EXPECT_THAT(Files(), ElementsAre("storage.keys"));

  auto ring = security::KeyRing::FromFile(path);
  ASSERT_TRUE(ring.ok()) << ring.status();
  EXPECT_EQ((*ring)->active_key_id(), "k2");
  EXPECT_THAT((*ring)->key_ids(), ElementsAre("k2", "k1"));
  // The old key still opens what it sealed; new values use the new key.
  auto opened = (*ring)->Open("clinic-a", "events/e-1", *sealed);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, "payload");
  auto resealed = (*ring)->Seal("clinic-a", "events/e-1", "payload");
  ASSERT_TRUE(resealed.ok());
  EXPECT_FALSE((*old_ring)->Open("clinic-a", "events/e-1", *resealed).ok());
}

TEST_F(KeysCommandTest, RotateRefusesAKnownIdAndAFileAttunedWouldRefuse) {
  const std::string path = Path("storage.keys");
  ASSERT_EQ(RunCtl({"keys", "generate", "--id", "k1", "--out", path}).code,
            kExitOk);
  const std::string before = Read(path);
  testing::CtlResult r =
      RunCtl({"keys", "rotate", "--file", path, "--id", "k1"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--id: key id 'k1' is already in"));
  EXPECT_EQ(Read(path), before);

  ::chmod(path.c_str(), 0640);
  r = RunCtl({"keys", "rotate", "--file", path, "--id", "k2"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--file: " + path + ": readable by group"));
  EXPECT_EQ(Read(path), before);

  ::chmod(path.c_str(), 0600);
  const std::string link = Path("link.keys");
  std::filesystem::create_symlink(path, link);
  r = RunCtl({"keys", "rotate", "--file", link, "--id", "k2"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("symbolic link"));
  EXPECT_EQ(Read(path), before);

  r = RunCtl({"keys", "rotate", "--file", Path("missing.keys")});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("no such key file"));
  EXPECT_FALSE(std::filesystem::exists(Path("missing.keys")));
}

TEST_F(KeysCommandTest, CommandLineMistakesNameTheFlag) {
  testing::CtlResult r = RunCtl({"keys", "generate"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--out: is required"));
  r = RunCtl({"keys", "rotate"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--file: is required"));
  r = RunCtl({"keys", "generate", "--out", Path("a"), "--id", "no spaces"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--id: 'no spaces' is not a key id"));
  EXPECT_FALSE(std::filesystem::exists(Path("a")));
  r = RunCtl({"keys", "generate", "--file", Path("a")});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--file: is for 'keys rotate'"));
  r = RunCtl({"keys", "shred", "--out", Path("a")});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("expected generate or rotate"));
}

}  // namespace
}  // namespace attune::ctl
