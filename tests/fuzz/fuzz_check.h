// FUZZ_CHECK: the invariants a fuzz target asserts beyond "does not crash".
// A broken invariant aborts, which libFuzzer reports as a crash (and saves
// the input) and which fails the ctest replay. The message names the rule
// only: inputs may look like client data, so they are never printed.
#ifndef ATTUNE_TESTS_FUZZ_FUZZ_CHECK_H_
#define ATTUNE_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <string>

// FUZZ_TRACE(what, status): with ATTUNE_FUZZ_TRACE=1 in the environment,
// prints which outcome an input reached (for choosing seeds and reading a
// reproducer); silent otherwise. It prints status codes and messages only,
// the ones the service itself returns or logs.
#define FUZZ_TRACE(what, status)                                          \
  do {                                                                    \
    static const bool fuzz_trace_on_ = [] {                               \
      const char* v = std::getenv("ATTUNE_FUZZ_TRACE");                   \
      return v != nullptr && v[0] == '1';                                 \
    }();                                                                  \
    if (fuzz_trace_on_) {                                                 \
      const std::string fuzz_trace_text_ = (status).ToString();           \
      std::fprintf(stderr, "  %s: %s\n", what, fuzz_trace_text_.c_str()); \
    }                                                                     \
  } while (0)

#define FUZZ_CHECK(cond, rule)                                                 \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n  (%s)\n", __FILE__, \
                   __LINE__, rule, #cond);                                     \
      std::abort();                                                            \
    }                                                                          \
  } while (0)

#endif  // ATTUNE_TESTS_FUZZ_FUZZ_CHECK_H_
