#include "service/store/common/page_token.h"

#include <algorithm>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace attune::store {
namespace {

constexpr absl::string_view kVersion = "p1";
constexpr absl::string_view kEventVersion = "e1";

// FNV-1a, 64 bit: stable everywhere, unlike absl::Hash.
class Fnv1a {
 public:
  void Add(absl::string_view bytes) {
    for (unsigned char c : bytes) {
      hash_ ^= c;
      hash_ *= 0x100000001b3ULL;
    }
  }
  // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
  void AddField(absl::string_view bytes) {
    Add(absl::StrCat(bytes.size(), ":"));
    Add(bytes);
  }
  uint64_t hash() const { return hash_; }

 private:
  uint64_t hash_ = 0xcbf29ce484222325ULL;
};

absl::Status Malformed(absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("page_token: ", why, "; pass next_page_token unchanged"));
}

}  // namespace

uint64_t PromptFilterHash(const PromptQuery& query) {
  std::vector<int> statuses(query.statuses.begin(), query.statuses.end());
  std::sort(statuses.begin(), statuses.end());
  statuses.erase(std::unique(statuses.begin(), statuses.end()), statuses.end());
  Fnv1a h;
  h.AddField(query.tenant);
  h.AddField(query.episode_id);
  h.AddField(query.clinician_id);
  for (int status : statuses) h.AddField(absl::StrCat(status));
  return h.hash();
}

std::string EncodePromptPageToken(const PromptPageToken& token) {
  return absl::WebSafeBase64Escape(absl::StrCat(
      kVersion, "|", absl::Hex(token.filter_hash), "|", token.priority, "|",
      token.updated_at_nanos, "|", token.prompt_id));
}

absl::StatusOr<PromptPageToken> DecodePromptPageToken(
    const std::string& encoded) {
  std::string raw;
  if (encoded.empty() || !absl::WebSafeBase64Unescape(encoded, &raw)) {
    return Malformed("not a token returned by ListPrompts");
  }
  std::vector<std::string> parts = absl::StrSplit(raw, absl::MaxSplits('|', 4));
  if (parts.size() != 5 || parts[0] != kVersion) {
    return Malformed("not a token returned by ListPrompts");
  }
  PromptPageToken token;
  if (!absl::SimpleHexAtoi(parts[1], &token.filter_hash) ||
      !absl::SimpleAtoi(parts[2], &token.priority) ||
      !absl::SimpleAtoi(parts[3], &token.updated_at_nanos) ||
      parts[4].empty()) {
    return Malformed("corrupt token");
  }
  token.prompt_id = std::move(parts[4]);
  return token;
}

uint64_t EventFilterHash(const std::string& tenant) {
  Fnv1a h;
  h.AddField("events");
  h.AddField(tenant);
  return h.hash();
}

std::string EncodeEventPageToken(const EventPageToken& token) {
  return absl::WebSafeBase64Escape(
      absl::StrCat(kEventVersion, "|", absl::Hex(token.filter_hash), "|",
                   token.seq, "|", token.episode_id));
}

absl::StatusOr<EventPageToken> DecodeEventPageToken(
    const std::string& encoded) {
  std::string raw;
  if (encoded.empty() || !absl::WebSafeBase64Unescape(encoded, &raw)) {
    return Malformed("not a token returned by ScanEvents");
  }
  // The episode id goes last: it may itself contain '|'.
  std::vector<std::string> parts = absl::StrSplit(raw, absl::MaxSplits('|', 3));
  if (parts.size() != 4 || parts[0] != kEventVersion) {
    return Malformed("not a token returned by ScanEvents");
  }
  EventPageToken token;
  if (!absl::SimpleHexAtoi(parts[1], &token.filter_hash) ||
      !absl::SimpleAtoi(parts[2], &token.seq) || token.seq < 1 ||
      parts[3].empty()) {
    return Malformed("corrupt token");
  }
  token.episode_id = std::move(parts[3]);
  return token;
}

}  // namespace attune::store
