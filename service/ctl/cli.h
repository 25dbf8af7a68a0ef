// attunectl's entry point: parses the command line, opens the channel and
// runs one subcommand.
//
//   int code = RunCli(args, CliIo{&std::cin, &std::cout, &std::cerr,
//                                 getenv("ATTUNE_SERVER")});
//
// Kept free of process globals (environment, real streams) so tests drive it
// like a user, against a fake server on 127.0.0.1:0.
#ifndef ATTUNE_SERVICE_CTL_CLI_H_
#define ATTUNE_SERVICE_CTL_CLI_H_

#include <istream>
#include <ostream>
#include <string>
#include <vector>

#include "service/ctl/command_line.h"

namespace attune::ctl {

inline constexpr char kDefaultServer[] = "127.0.0.1:50051";
inline constexpr char kDefaultTimeout[] = "10s";

struct CliIo {
  std::istream* in;
  std::ostream* out;
  std::ostream* err;
  // Value of ATTUNE_SERVER, or empty: the server when --server is absent.
  std::string env_server;
  // Value of ATTUNE_STORAGE_KEYS, or empty: the storage keys of the commands
  // that read a database file (export, replay, audit) when --key-file is
  // absent.
  std::string env_storage_keys = "";
};

// The commands, flags and help texts of attunectl.
const CommandLineSpec& AttunectlSpec();

// Runs attunectl with `args` (without the program name) and returns the
// process exit code (see commands.h).
int RunCli(const std::vector<std::string>& args, const CliIo& io);

}  // namespace attune::ctl

#endif  // ATTUNE_SERVICE_CTL_CLI_H_
