/*
 * attune/plugin_json.h — a tiny read-only JSON scanner for plugins (C99,
 * header-only, no allocation). Optional: use any JSON library you like.
 *
 * What it is for: picking a few fields out of the JSON the host passes in
 * (module configuration, the triggering SessionEvent, the history). Those
 * texts come from protobuf's JSON printer or from the operator's config, so
 * they are small and well-formed; the scanner is still safe on malformed or
 * truncated input (it never reads outside [data, data + size) and reports
 * an error instead).
 *
 * Limits, on purpose:
 *  - Keys are compared byte for byte with the JSON text, escapes NOT
 *    decoded: a key written as "\u0069tem" does not match "item". Proto3
 *    JSON field names never contain escapes.
 *  - attune_json_string() returns the raw bytes between the quotes; it
 *    fails (returns 0) when they contain a backslash escape, rather than
 *    returning something half-decoded.
 *  - Numbers must follow JSON's number grammar (no "01", "1.", ".5",
 *    "inf" or hex) and are converted with strtod() (at most 63
 *    characters), so the C locale's decimal point is assumed. A quoted
 *    number ("2", "NaN") is accepted, as proto3 JSON allows.
 *  - Duplicate keys: the first one wins.
 *  - Brackets are counted, not matched by type, when a value is skipped.
 *
 * Example:
 *   attune_str measure, items, item;
 *   double score;
 *   if (attune_json_member(trigger, "measureRecorded", &measure) == 1 &&
 *       attune_json_member(measure, "items", &items) == 1 &&
 *       attune_json_element(items, 8, &item) == 1 &&
 *       attune_json_number(item, &score)) { ... }
 */
#ifndef ATTUNE_PLUGIN_JSON_H_
#define ATTUNE_PLUGIN_JSON_H_

#include <stdlib.h>
#include <string.h>

#include "attune/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Iterates over the members of one JSON object or the elements of one
 * array. Initialise with attune_json_object_begin / attune_json_array_begin.
 */
typedef struct attune_json_iter {
  const char* p;
  const char* end;
  int first;
} attune_json_iter;

static inline const char* attune_json_skip_ws_(const char* p, const char* end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
    ++p;
  }
  return p;
}

/* Returns the position just after the string starting at p (*p == '"'), or
 * NULL when it is not terminated. */
static inline const char* attune_json_skip_string_(const char* p,
                                                   const char* end) {
  for (++p; p < end; ++p) {
    if (*p == '\\') {
      ++p;
    } else if (*p == '"') {
      return p + 1;
    }
  }
  return NULL;
}

/* Returns the position just after the value starting at p (whitespace
 * already skipped), or NULL when the text is malformed. */
static inline const char* attune_json_skip_value_(const char* p,
                                                  const char* end) {
  if (p >= end) return NULL;
  if (*p == '"') return attune_json_skip_string_(p, end);
  if (*p == '{' || *p == '[') {
    size_t depth = 0;
    while (p < end) {
      if (*p == '"') {
        p = attune_json_skip_string_(p, end);
        if (p == NULL) return NULL;
        continue;
      }
      if (*p == '{' || *p == '[') {
        ++depth;
      } else if (*p == '}' || *p == ']') {
        if (--depth == 0) return p + 1;
      }
      ++p;
    }
    return NULL;
  }
  /* number, true, false, null */
  {
    const char* start = p;
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' &&
           *p != '\t' && *p != '\n' && *p != '\r' && *p != '"' && *p != '{' &&
           *p != '[' && *p != ':') {
      ++p;
    }
    return p == start ? NULL : p;
  }
}

static inline int attune_json_begin_(attune_str text, char open,
                                     attune_json_iter* it) {
  const char* end = text.data + text.size;
  const char* p;
  if (text.data == NULL) return 0;
  p = attune_json_skip_ws_(text.data, end);
  if (p >= end || *p != open) return 0;
  it->p = p + 1;
  it->end = end;
  it->first = 1;
  return 1;
}

/* Starts iterating over `object`. Returns 1, or 0 when it is not an object.
 */
static inline int attune_json_object_begin(attune_str object,
                                           attune_json_iter* it) {
  return attune_json_begin_(object, '{', it);
}

/* Starts iterating over `array`. Returns 1, or 0 when it is not an array. */
static inline int attune_json_array_begin(attune_str array,
                                          attune_json_iter* it) {
  return attune_json_begin_(array, '[', it);
}

/* Moves to the next member: *key gets the raw key (without quotes), *value
 * the value's text. Returns 1 for a member, 0 at the end, -1 when the text is
 * malformed. */
static inline int attune_json_object_next(attune_json_iter* it, attune_str* key,
                                          attune_str* value) {
  const char* p = attune_json_skip_ws_(it->p, it->end);
  const char* key_end;
  const char* value_end;
  if (p >= it->end) return -1;
  if (*p == '}') {
    it->p = p + 1;
    return 0;
  }
  if (!it->first) {
    if (*p != ',') return -1;
    p = attune_json_skip_ws_(p + 1, it->end);
  }
  if (p >= it->end || *p != '"') return -1;
  key_end = attune_json_skip_string_(p, it->end);
  if (key_end == NULL) return -1;
  key->data = p + 1;
  key->size = (size_t)(key_end - p - 2);
  p = attune_json_skip_ws_(key_end, it->end);
  if (p >= it->end || *p != ':') return -1;
  p = attune_json_skip_ws_(p + 1, it->end);
  value_end = attune_json_skip_value_(p, it->end);
  if (value_end == NULL) return -1;
  value->data = p;
  value->size = (size_t)(value_end - p);
  it->p = value_end;
  it->first = 0;
  return 1;
}

/* Moves to the next element of an array. Returns 1, 0 at the end, -1 when
 * the text is malformed. */
static inline int attune_json_array_next(attune_json_iter* it,
                                         attune_str* value) {
  const char* p = attune_json_skip_ws_(it->p, it->end);
  const char* value_end;
  if (p >= it->end) return -1;
  if (*p == ']') {
    it->p = p + 1;
    return 0;
  }
  if (!it->first) {
    if (*p != ',') return -1;
    p = attune_json_skip_ws_(p + 1, it->end);
  }
  value_end = attune_json_skip_value_(p, it->end);
  if (value_end == NULL) return -1;
  value->data = p;
  value->size = (size_t)(value_end - p);
  it->p = value_end;
  it->first = 0;
  return 1;
}

/* True when the raw bytes `s` equal the NUL-terminated `literal`. */
static inline int attune_json_str_eq(attune_str s, const char* literal) {
  size_t n = strlen(literal);
  return s.size == n && (n == 0 || memcmp(s.data, literal, n) == 0);
}

/* Finds the member `key` of `object` (top level only). Returns 1 and sets
 * *value, 0 when absent, -1 when `object` is not a well-formed object. */
static inline int attune_json_member(attune_str object, const char* key,
                                     attune_str* value) {
  attune_json_iter it;
  attune_str k, v;
  int rc;
  if (!attune_json_object_begin(object, &it)) return -1;
  while ((rc = attune_json_object_next(&it, &k, &v)) == 1) {
    if (attune_json_str_eq(k, key)) {
      *value = v;
      return 1;
    }
  }
  return rc;
}

/* Finds element `index` (0-based) of `array`. Returns 1 and sets *value, 0
 * when the array is shorter, -1 when it is not a well-formed array. */
static inline int attune_json_element(attune_str array, size_t index,
                                      attune_str* value) {
  attune_json_iter it;
  attune_str v;
  int rc;
  size_t i = 0;
  if (!attune_json_array_begin(array, &it)) return -1;
  while ((rc = attune_json_array_next(&it, &v)) == 1) {
    if (i++ == index) {
      *value = v;
      return 1;
    }
  }
  return rc;
}

/* If `value` is a JSON string without escapes, sets *content to the bytes
 * between the quotes and returns 1; otherwise returns 0. */
static inline int attune_json_string(attune_str value, attune_str* content) {
  size_t i;
  if (value.size < 2 || value.data[0] != '"' ||
      value.data[value.size - 1] != '"') {
    return 0;
  }
  for (i = 1; i + 1 < value.size; ++i) {
    if (value.data[i] == '\\') return 0;
  }
  content->data = value.data + 1;
  content->size = value.size - 2;
  return 1;
}

/* True when the NUL-terminated `s` is a JSON number (RFC 8259 section 6):
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static inline int attune_json_is_number_text_(const char* s) {
  if (*s == '-') ++s;
  if (*s == '0') {
    ++s;
  } else if (*s >= '1' && *s <= '9') {
    while (*s >= '0' && *s <= '9') ++s;
  } else {
    return 0;
  }
  if (*s == '.') {
    ++s;
    if (!(*s >= '0' && *s <= '9')) return 0;
    while (*s >= '0' && *s <= '9') ++s;
  }
  if (*s == 'e' || *s == 'E') {
    ++s;
    if (*s == '+' || *s == '-') ++s;
    if (!(*s >= '0' && *s <= '9')) return 0;
    while (*s >= '0' && *s <= '9') ++s;
  }
  return *s == '\0';
}

/* If `value` is a JSON number (or a quoted number, as proto3 JSON allows),
 * sets *out and returns 1; otherwise returns 0. */
static inline int attune_json_number(attune_str value, double* out) {
  char buf[64];
  char* parse_end;
  attune_str text = value;
  double d;
  if (attune_json_string(value, &text) == 0 &&
      (value.size == 0 || value.data[0] == '"')) {
    return 0;
  }
  if (text.size == 0 || text.size >= sizeof buf) return 0;
  memcpy(buf, text.data, text.size);
  buf[text.size] = '\0';
  /* strtod also takes hex, leading blanks, "inf", "-nan", "01" and "1.":
   * JSON allows none of them. */
  if (!attune_json_is_number_text_(buf) &&
      !(text.data != value.data &&
        (strcmp(buf, "NaN") == 0 || strcmp(buf, "Infinity") == 0 ||
         strcmp(buf, "-Infinity") == 0))) {
    return 0;
  }
  d = strtod(buf, &parse_end);
  if (parse_end != buf + text.size) return 0;
  *out = d;
  return 1;
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ATTUNE_PLUGIN_JSON_H_ */
