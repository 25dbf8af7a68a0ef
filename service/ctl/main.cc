// attunectl: the command-line client of attuned. See service/ctl/README.md
// or `attunectl --help`.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "service/common/log.h"
#include "service/ctl/cli.h"

int main(int argc, char** argv) {
  // Commands that run engine code in-process (replay, plugin check) should
  // not print the engine's routine INFO lines between their results.
  attune::SetMinLogLevel(attune::LogLevel::kWarning);
  std::vector<std::string> args(argv + 1, argv + argc);
  const char* env_server = std::getenv("ATTUNE_SERVER");
  const char* env_keys = std::getenv("ATTUNE_STORAGE_KEYS");
  return attune::ctl::RunCli(
      args, attune::ctl::CliIo{&std::cin, &std::cout, &std::cerr,
                               env_server == nullptr ? "" : env_server,
                               env_keys == nullptr ? "" : env_keys});
}
