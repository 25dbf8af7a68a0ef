// attunectl: the command-line client of attuned. See service/ctl/README.md
// or `attunectl --help`.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "service/ctl/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const char* env_server = std::getenv("ATTUNE_SERVER");
  return attune::ctl::RunCli(
      args, attune::ctl::CliIo{&std::cin, &std::cout, &std::cerr,
                               env_server == nullptr ? "" : env_server});
}
