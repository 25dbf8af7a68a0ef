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

// `args` without the program name; stdin is empty.
inline CtlResult RunCtl(const std::vector<std::string>& args) {
  std::istringstream in;
  std::ostringstream out;
  std::ostringstream err;
  const int code = RunCli(args, CliIo{&in, &out, &err, ""});
  return {code, out.str(), err.str()};
}

}  // namespace attune::ctl::testing

#endif  // ATTUNE_TESTS_UNIT_SERVICE_CTL_RUN_CTL_H_
