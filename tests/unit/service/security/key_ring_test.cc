// KeyRing: key file parsing and its refusals, per-tenant lookup hashes that
// survive rotation, AES-256-GCM sealing bound to tenant and context, and
// the audit MAC.
#include "service/security/key_ring.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace attune::security {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::string KeyLine(const std::string& id, char fill) {
  return absl::StrCat(id, " ", absl::Base64Escape(std::string(32, fill)));
}

std::shared_ptr<const KeyRing> Ring(const std::string& text) {
  auto ring = KeyRing::FromText(text, "test");
  EXPECT_TRUE(ring.ok()) << ring.status();
  return ring.ok() ? *ring : nullptr;
}

TEST(KeyRingTest, ParsesKeysActiveFirstSkippingCommentsAndBlankLines) {
  auto ring = Ring(absl::StrCat("# rotated 2026-11\n\n", KeyLine("k2", 'b'),
                                "\n  ", KeyLine("k1", 'a'), "  \n"));
  ASSERT_NE(ring, nullptr);
  EXPECT_EQ(ring->active_key_id(), "k2");
  EXPECT_THAT(ring->key_ids(), ElementsAre("k2", "k1"));
}

TEST(KeyRingTest, RefusesMalformedFilesNamingTheLineWithoutKeyMaterial) {
  const std::string short_key =
      absl::StrCat("k1 ", absl::Base64Escape(std::string(16, 'z')));
  struct Case {
    std::string text;
    std::string expected;
  } cases[] = {
      {"", "test: no keys"},
      {"# only a comment\n", "test: no keys"},
      {"k1\n", "test:1: expected"},
      {absl::StrCat("\n", KeyLine("bad/id", 'a')), "test:2: key id"},
      {absl::StrCat(KeyLine("k1", 'a'), "\n", KeyLine("k1", 'b')),
       "test:2: key id 'k1' appears twice"},
      {short_key, "test:1: key 'k1' is not base64 of exactly 32 bytes"},
      {"k1 not-base64-at-all!!", "test:1: key 'k1' is not base64"},
  };
  for (const Case& c : cases) {
    auto ring = KeyRing::FromText(c.text, "test");
    ASSERT_FALSE(ring.ok()) << c.text;
    EXPECT_EQ(ring.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(ring.status().message(), HasSubstr(c.expected));
    EXPECT_THAT(ring.status().message(),
                Not(HasSubstr(absl::Base64Escape(std::string(16, 'z')))));
  }
}

class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = absl::StrCat(
        ::testing::TempDir(), "/keys-", ::getpid(), "-",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override {
    ::unlink(path_.c_str());
    ::unlink((path_ + ".link").c_str());
  }
  void Write(const std::string& text, mode_t mode) {
    ::unlink(path_.c_str());
    std::ofstream(path_) << text;
    ASSERT_EQ(::chmod(path_.c_str(), mode), 0);
  }
  std::string path_;
};

TEST_F(KeyFileTest, ReadsAPrivateFile) {
  Write(KeyLine("k1", 'a') + "\n", 0600);
  auto ring = KeyRing::FromFile(path_);
  ASSERT_TRUE(ring.ok()) << ring.status();
  EXPECT_EQ((*ring)->active_key_id(), "k1");
}

TEST_F(KeyFileTest, RefusesAFileOthersCanRead) {
  Write(KeyLine("k1", 'a') + "\n", 0640);
  auto ring = KeyRing::FromFile(path_);
  EXPECT_EQ(ring.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(ring.status().message(), HasSubstr("chmod 600"));
}

TEST_F(KeyFileTest, RefusesASymlinkAndAMissingFile) {
  Write(KeyLine("k1", 'a') + "\n", 0600);
  ASSERT_EQ(::symlink(path_.c_str(), (path_ + ".link").c_str()), 0);
  EXPECT_EQ(KeyRing::FromFile(path_ + ".link").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(KeyRing::FromFile(path_ + ".missing").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(KeyRingTest, GeneratedLinesParseAndDiffer) {
  auto a = KeyRing::GenerateKeyLine("k1");
  auto b = KeyRing::GenerateKeyLine("k1");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_NE(Ring(*a), nullptr);
  EXPECT_EQ(KeyRing::GenerateKeyLine("no spaces").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KeyRingTest, LookupHashesAreStablePerTenantAndKindAndKey) {
  auto ring = Ring(KeyLine("k1", 'a'));
  const std::string h = ring->LookupHash("clinic-a", "client", "C-1001");
  EXPECT_EQ(h.size(), 64u);
  EXPECT_EQ(
      h, Ring(KeyLine("k1", 'a'))->LookupHash("clinic-a", "client", "C-1001"));
  EXPECT_NE(h, ring->LookupHash("clinic-b", "client", "C-1001"));
  EXPECT_NE(h, ring->LookupHash("clinic-a", "clinician", "C-1001"));
  EXPECT_NE(h, ring->LookupHash("clinic-a", "client", "C-1002"));
  EXPECT_NE(
      h, Ring(KeyLine("k1", 'b'))->LookupHash("clinic-a", "client", "C-1001"));
  EXPECT_THAT(h, Not(HasSubstr("1001")));
}

TEST(KeyRingTest, AfterRotationOldHashesAreStillAmongTheLookups) {
  auto old_ring = Ring(KeyLine("k1", 'a'));
  auto rotated =
      Ring(absl::StrCat(KeyLine("k2", 'b'), "\n", KeyLine("k1", 'a')));
  const std::string old_hash = old_ring->LookupHash("t", "clinician", "X");
  EXPECT_NE(rotated->LookupHash("t", "clinician", "X"), old_hash);
  EXPECT_THAT(
      rotated->LookupHashes("t", "clinician", "X"),
      ElementsAre(rotated->LookupHash("t", "clinician", "X"), old_hash));
}

TEST(KeyRingTest, SealOpensOnlyWithTheSameTenantContextAndKey) {
  auto ring = Ring(KeyLine("k1", 'a'));
  const std::string secret = "client C-1001 SRS 31";
  auto sealed = ring->Seal("clinic-a", "events/e-1", secret);
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  EXPECT_TRUE(KeyRing::LooksSealed(*sealed));
  EXPECT_THAT(*sealed, Not(HasSubstr("C-1001")));
  auto opened = ring->Open("clinic-a", "events/e-1", *sealed);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, secret);
  // Fresh nonce each time.
  EXPECT_NE(*sealed, *ring->Seal("clinic-a", "events/e-1", secret));

  EXPECT_EQ(ring->Open("clinic-b", "events/e-1", *sealed).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(ring->Open("clinic-a", "events/e-2", *sealed).status().code(),
            absl::StatusCode::kDataLoss);
  std::string tampered = *sealed;
  tampered[tampered.size() - 20] ^= 0x01;
  EXPECT_EQ(ring->Open("clinic-a", "events/e-1", tampered).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(ring->Open("clinic-a", "events/e-1", secret).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_FALSE(KeyRing::LooksSealed(secret));
}

TEST(KeyRingTest, OldKeyStillOpensNewKeySealsAndAMissingKeyIsNamed) {
  auto old_ring = Ring(KeyLine("k1", 'a'));
  auto rotated =
      Ring(absl::StrCat(KeyLine("k2", 'b'), "\n", KeyLine("k1", 'a')));
  auto new_only = Ring(KeyLine("k2", 'b'));
  auto old_value = old_ring->Seal("t", "c", "before rotation");
  auto new_value = rotated->Seal("t", "c", "after rotation");
  ASSERT_TRUE(old_value.ok() && new_value.ok());
  EXPECT_EQ(*rotated->Open("t", "c", *old_value), "before rotation");
  EXPECT_EQ(*new_only->Open("t", "c", *new_value), "after rotation");
  auto missing = new_only->Open("t", "c", *old_value);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(missing.status().message(), HasSubstr("'k1'"));
}

TEST(KeyRingTest, SameIdDifferentMaterialHasADifferentCheckValue) {
  auto a = Ring(KeyLine("k1", 'a'));
  auto b = Ring(KeyLine("k1", 'b'));
  EXPECT_EQ(*a->CheckValue("k1"), *Ring(KeyLine("k1", 'a'))->CheckValue("k1"));
  EXPECT_NE(*a->CheckValue("k1"), *b->CheckValue("k1"));
  EXPECT_EQ(a->CheckValue("k9").status().code(), absl::StatusCode::kNotFound);
}

TEST(KeyRingTest, AuditMacDependsOnKeyAndData) {
  auto ring = Ring(absl::StrCat(KeyLine("k2", 'b'), "\n", KeyLine("k1", 'a')));
  auto m1 = ring->AuditMac("k1", "row");
  ASSERT_TRUE(m1.ok());
  EXPECT_EQ(m1->size(), 32u);
  EXPECT_EQ(*m1, *ring->AuditMac("k1", "row"));
  EXPECT_NE(*m1, *ring->AuditMac("k2", "row"));
  EXPECT_NE(*m1, *ring->AuditMac("k1", "row2"));
  EXPECT_EQ(ring->AuditMac("k9", "row").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace attune::security
