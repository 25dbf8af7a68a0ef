// Scratch directories for tests, removed when the test process exits.
//
//   const std::string dir = attune::testing::ScratchDir("replay");
//
// Tests write databases, key files and logs; left behind they pile up in
// /tmp run after run (and hold sealed test data). Every directory made here
// is removed with its contents at exit, pass or fail, unless
// ATTUNE_KEEP_TEST_DIRS=1 asks to keep them for a post-mortem. The parent is
// ::testing::TempDir() (TEST_TMPDIR, which tests/run.sh points at a scratch
// directory of its own).
//
// Thread-safe. Header-only so that every test binary can use it without a
// library.
#ifndef ATTUNE_TESTS_COMMON_SCRATCH_H_
#define ATTUNE_TESTS_COMMON_SCRATCH_H_

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace attune::testing {
namespace scratch_internal {

struct Registry {
  std::mutex mu;
  std::vector<std::string> dirs;
};

inline Registry& Dirs() {
  // Never destroyed: the exit handler runs after static destructors may
  // have started.
  static Registry* registry = new Registry();
  return *registry;
}

inline void RemoveAll() {
  const char* keep = std::getenv("ATTUNE_KEEP_TEST_DIRS");
  if (keep != nullptr && *keep != '\0' && std::string(keep) != "0") return;
  Registry& registry = Dirs();
  std::lock_guard<std::mutex> lock(registry.mu);
  for (const std::string& dir : registry.dirs) {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
}

}  // namespace scratch_internal

// A new, unique, empty directory "<TempDir>attune-<name>-XXXXXX" (mode
// 0700), removed at exit. Fails the current test and returns "" when it
// cannot be made.
inline std::string ScratchDir(const std::string& name) {
  std::string path = ::testing::TempDir() + "attune-" + name + "-XXXXXX";
  if (mkdtemp(path.data()) == nullptr) {
    ADD_FAILURE() << "cannot make a scratch directory under "
                  << ::testing::TempDir();
    return std::string();
  }
  scratch_internal::Registry& registry = scratch_internal::Dirs();
  std::lock_guard<std::mutex> lock(registry.mu);
  if (registry.dirs.empty()) std::atexit(scratch_internal::RemoveAll);
  registry.dirs.push_back(path);
  return path;
}

}  // namespace attune::testing

#endif  // ATTUNE_TESTS_COMMON_SCRATCH_H_
