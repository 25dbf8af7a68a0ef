// Runs attunectl in-process, as a user would from a shell, for the command
// tests that need no server (replay, export).
#ifndef ATTUNE_TESTS_UNIT_SERVICE_CTL_RUN_CTL_H_
#define ATTUNE_TESTS_UNIT_SERVICE_CTL_RUN_CTL_H_

#include <sstream>
#include <string>
#include <vector>

#include "service/ctl/cli.h"

namespace attune::ctl::testing {

struct CtlResult {
  int code;
  std::string out;
  std::string err;
};

// `args` without the program name; stdin is empty. `env_storage_keys`:
// what ATTUNE_STORAGE_KEYS would hold.
inline CtlResult RunCtl(const std::vector<std::string>& args,
                        const std::string& env_storage_keys = "") {
  std::istringstream in;
  std::ostringstream out;
  std::ostringstream err;
  const int code = RunCli(args, CliIo{&in, &out, &err, "", env_storage_keys});
  return {code, out.str(), err.str()};
}

}  // namespace attune::ctl::testing

#endif  // ATTUNE_TESTS_UNIT_SERVICE_CTL_RUN_CTL_H_
