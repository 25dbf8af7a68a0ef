// Fuzz target: the plugin side of the JSON boundary, attune/plugin_json.h,
// the header-only scanner plugins use to read the host's JSON (module
// configuration, trigger event, history).
//
// The header promises never to read outside [data, data + size) and to
// report malformed or truncated text instead. The input (an exactly sized
// buffer, so ASan sees any overread) is walked as a plugin would: every
// object member and array element, recursively, through the iterators and
// through attune_json_member / attune_json_element, with every value also
// read by attune_json_string and attune_json_number. Invariants:
//  - every returned slice lies inside the input;
//  - attune_json_member finds the first member of that key that iteration
//    yields, and attune_json_element the index-th element;
//  - attune_json_string returns exactly the bytes between the quotes, and
//    only when they hold no backslash;
//  - attune_json_number accepts exactly the JSON number grammar (RFC 8259),
//    quoted or not, plus the quoted "NaN", "Infinity", "-Infinity" of
//    proto3 JSON, up to its documented 63-character limit.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "attune/plugin_json.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

// Deeper values are still scanned (skipped over) by the header; the walk
// just stops descending, to bound this harness's own recursion.
constexpr int kMaxDepth = 32;

struct Input {
  const char* begin;
  const char* end;
};

void CheckInside(const Input& in, attune_str s) {
  FUZZ_CHECK(s.data != nullptr && s.data >= in.begin && s.data <= in.end &&
                 s.size <= static_cast<size_t>(in.end - s.data),
             "a returned slice lies inside the input");
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// RFC 8259 section 6: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool IsJsonNumber(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  if (i < n && s[i] == '-') ++i;
  if (i >= n) return false;
  if (s[i] == '0') {
    ++i;
  } else if (s[i] >= '1' && s[i] <= '9') {
    while (i < n && IsDigit(s[i])) ++i;
  } else {
    return false;
  }
  if (i < n && s[i] == '.') {
    ++i;
    if (i >= n || !IsDigit(s[i])) return false;
    while (i < n && IsDigit(s[i])) ++i;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (i >= n || !IsDigit(s[i])) return false;
    while (i < n && IsDigit(s[i])) ++i;
  }
  return i == n;
}

void CheckScalars(const Input& in, attune_str value) {
  const std::string_view text(value.data, value.size);
  const bool quoted =
      text.size() >= 2 && text.front() == '"' && text.back() == '"';
  const std::string_view inner =
      quoted ? text.substr(1, text.size() - 2) : std::string_view();

  attune_str content{nullptr, 0};
  const int is_string = attune_json_string(value, &content);
  FUZZ_CHECK(is_string == (quoted && inner.find('\\') == inner.npos),
             "attune_json_string accepts exactly escape-free strings");
  if (is_string) {
    CheckInside(in, content);
    FUZZ_CHECK(content.data == value.data + 1 && content.size == value.size - 2,
               "attune_json_string returns the bytes between the quotes");
  }

  double number = 0;
  const int is_number = attune_json_number(value, &number);
  const std::string_view digits = is_string ? inner : text;
  const bool expected =
      digits.size() < 64 && (is_string || !quoted) &&
      (IsJsonNumber(digits) ||
       (is_string &&
        (digits == "NaN" || digits == "Infinity" || digits == "-Infinity")));
  FUZZ_CHECK(is_number == (expected ? 1 : 0),
             "attune_json_number accepts exactly JSON numbers");
}

void Walk(const Input& in, attune_str value, int depth);

void WalkObject(const Input& in, attune_str value, int depth) {
  attune_json_iter it;
  if (!attune_json_object_begin(value, &it)) return;
  attune_str key, member;
  int rc;
  size_t count = 0;
  // A key to look up that the fuzzer may well put in the object too.
  static constexpr char kProbe[] = "probe";
  bool probe_seen = false;
  while ((rc = attune_json_object_next(&it, &key, &member)) == 1) {
    CheckInside(in, key);
    CheckInside(in, member);
    probe_seen = probe_seen || attune_json_str_eq(key, kProbe);
    // The first member with this key is what attune_json_member returns
    // (checked for the first few; the lookup is linear).
    if (count++ < 8 && key.size < 64) {
      char name[64];
      std::memcpy(name, key.data, key.size);
      name[key.size] = '\0';
      if (std::strlen(name) == key.size) {
        attune_str found;
        FUZZ_CHECK(attune_json_member(value, name, &found) == 1,
                   "a key seen while iterating is found by member");
        CheckInside(in, found);
        attune_json_iter again;
        attune_str k, v;
        attune_json_object_begin(value, &again);
        while (attune_json_object_next(&again, &k, &v) == 1 &&
               !attune_json_str_eq(k, name)) {
        }
        FUZZ_CHECK(found.data == v.data && found.size == v.size,
                   "member returns the first member with that key");
      }
    }
    Walk(in, member, depth + 1);
  }
  FUZZ_CHECK(rc == 0 || rc == -1, "object_next returns 1, 0 or -1");
  attune_str ignored;
  const int probe = attune_json_member(value, kProbe, &ignored);
  FUZZ_CHECK(probe == (probe_seen ? 1 : rc),
             "member: 1 when present, else 0 in a well-formed object or -1");
}

void WalkArray(const Input& in, attune_str value, int depth) {
  attune_json_iter it;
  if (!attune_json_array_begin(value, &it)) return;
  attune_str element;
  int rc;
  size_t index = 0;
  while ((rc = attune_json_array_next(&it, &element)) == 1) {
    CheckInside(in, element);
    if (index < 8) {
      attune_str found;
      FUZZ_CHECK(attune_json_element(value, index, &found) == 1 &&
                     found.data == element.data && found.size == element.size,
                 "element(i) is the i-th element iteration yields");
    }
    ++index;
    Walk(in, element, depth + 1);
  }
  FUZZ_CHECK(rc == 0 || rc == -1, "array_next returns 1, 0 or -1");
  attune_str ignored;
  FUZZ_CHECK(attune_json_element(value, index, &ignored) == rc,
             "one past the last element: 0 when well-formed, else -1");
}

void Walk(const Input& in, attune_str value, int depth) {
  CheckInside(in, value);
  CheckScalars(in, value);
  if (depth >= kMaxDepth) return;
  WalkObject(in, value, depth);
  WalkArray(in, value, depth);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    // A NULL text with size 0 is what a host passes for "no JSON".
    attune_str none{nullptr, 0}, out;
    attune_json_iter it;
    double number;
    FUZZ_CHECK(!attune_json_object_begin(none, &it) &&
                   !attune_json_array_begin(none, &it) &&
                   attune_json_member(none, "a", &out) == -1 &&
                   attune_json_element(none, 0, &out) == -1 &&
                   !attune_json_string(none, &out) &&
                   !attune_json_number(none, &number),
               "a NULL text is nothing");
    return 0;
  }
  const char* text = reinterpret_cast<const char*>(data);
  const Input in{text, text + size};
  Walk(in, attune_str{text, size}, 0);
  return 0;
}
