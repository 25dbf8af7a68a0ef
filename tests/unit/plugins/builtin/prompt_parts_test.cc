#include "plugins/builtin/common/prompt_parts.h"

#include <string>

#include "gtest/gtest.h"

namespace attune::builtin {
namespace {

TEST(PromptPartsTest, NumbersForProseHaveAtMostOneDecimal) {
  EXPECT_EQ(Num(36), "36");
  EXPECT_EQ(Num(37.5), "37.5");
  EXPECT_EQ(Num(0.2887), "0.3");
  EXPECT_EQ(Num(9.96), "10");
  EXPECT_EQ(Num(-0.01), "0");
  EXPECT_EQ(Pct(74.6), "75%");
}

TEST(PromptPartsTest, EvidenceValuesCarryNoFloatingPointNoise) {
  double drop = 37.9 - 31.0;  // 6.8999999999999986 in binary
  v1::Evidence e = ThresholdEvidence("srs_drop", drop, "drop>=", 4, 6, "");
  EXPECT_EQ(e.value(), 6.9);
  EXPECT_EQ(e.threshold(), 4);
  EXPECT_EQ(ValueEvidence("pct", 74.56789, 2, "").value(), 74.5679);
}

TEST(PromptPartsTest, ShortSummaryIsKept) {
  v1::Prompt prompt;
  SetSummary(prompt, "Check in with the client.");
  EXPECT_EQ(prompt.summary(), "Check in with the client.");
}

TEST(PromptPartsTest, LongSummaryIsCutAtAWordUnderTheCardLimit) {
  v1::Prompt prompt;
  std::string long_text;
  for (int i = 0; i < 40; ++i) long_text += "word ";
  SetSummary(prompt, long_text);
  EXPECT_LT(prompt.summary().size(), static_cast<size_t>(kMaxSummaryChars));
  EXPECT_EQ(prompt.summary().substr(prompt.summary().size() - 7), "word...");
}

TEST(PromptPartsTest, CutNeverSplitsAUtf8Character) {
  v1::Prompt prompt;
  std::string text(134, 'a');
  text += "\xC3\xBC\xC3\xBC\xC3\xBC\xC3\xBC";  // four u-umlauts, no spaces
  SetSummary(prompt, text);
  const std::string& s = prompt.summary();
  ASSERT_GE(s.size(), 4u);
  // The byte before "..." is not the lead byte of a cut sequence.
  unsigned char before = static_cast<unsigned char>(s[s.size() - 4]);
  EXPECT_NE(before & 0xE0, 0xC0);
}

TEST(PromptPartsTest, EvidenceCarriesThreshold) {
  v1::Evidence e = ThresholdEvidence("srs_total", 30, "<", 36, 4, "note");
  EXPECT_EQ(e.name(), "srs_total");
  EXPECT_TRUE(e.has_threshold());
  EXPECT_EQ(e.threshold(), 36);
  EXPECT_EQ(e.comparison(), "<");
  EXPECT_EQ(e.session_number(), 4);
  EXPECT_FALSE(ValueEvidence("x", 1, 0, "").has_threshold());
  EXPECT_EQ(TotalName("custom:acme.a4"), "custom:acme.a4_total");
}

}  // namespace
}  // namespace attune::builtin
