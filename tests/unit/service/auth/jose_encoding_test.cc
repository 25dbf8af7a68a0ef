#include "service/auth/jose_encoding.h"

#include "gtest/gtest.h"

namespace attune::auth {
namespace {

TEST(Base64UrlDecodeTest, DecodesUnpaddedBase64Url) {
  EXPECT_EQ(Base64UrlDecode(""), "");
  EXPECT_EQ(Base64UrlDecode("Zg"), "f");
  EXPECT_EQ(Base64UrlDecode("Zm8"), "fo");
  EXPECT_EQ(Base64UrlDecode("Zm9v"), "foo");
  EXPECT_EQ(Base64UrlDecode("-_8"), "\xfb\xff");
}

TEST(Base64UrlDecodeTest, RefusesPaddingWhitespaceAndOtherAlphabets) {
  for (const char* in :
       {"Zg==", "Zm8=", "Zm 9v", "Zm9v\n", "+/8", "Zm9v.", "Z", "Zm9vY"}) {
    EXPECT_EQ(Base64UrlDecode(in), std::nullopt) << in;
  }
}

TEST(Base64UrlDecodeTest, RefusesNonCanonicalTrailingBits) {
  // "Zh" and "Zg" would both decode to "f": only the canonical one is taken.
  EXPECT_EQ(Base64UrlDecode("Zh"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm9"), std::nullopt);
}

TEST(ParseJsonObjectTest, AcceptsObjectsOnly) {
  EXPECT_TRUE(ParseJsonObject(R"({"a":1,"b":["x"]})").has_value());
  for (const char* in : {"[1]", "1", "\"s\"", "null", "", "{", R"({"a":1} x)",
                         R"({"a":1,"a":2})"}) {
    EXPECT_EQ(ParseJsonObject(in), std::nullopt) << in;
  }
}

}  // namespace
}  // namespace attune::auth
