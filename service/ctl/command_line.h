// Command-line grammar of attunectl: `attunectl [global flags] <command>
// [arguments] [flags]`.
//
//   CommandLineSpec spec = AttunectlSpec();
//   absl::StatusOr<CommandLine> line = ParseCommandLine(args, spec);
//
// Flags are `--name value`, `--name=value` or, for switches, `--name`.
// Global flags may stand before or after the command; `--` ends the flags.
// `--help`, `-h` and `attunectl help <command>` ask for help. Errors are one
// line and name the offending flag or argument. Pure: no I/O.
#ifndef ATTUNE_SERVICE_CTL_COMMAND_LINE_H_
#define ATTUNE_SERVICE_CTL_COMMAND_LINE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace attune::ctl {

// One flag a command accepts.
struct FlagSpec {
  // Without the leading dashes, e.g. "batch".
  std::string name;
  // Placeholder for the value in help text, e.g. "N"; empty for a switch.
  std::string value_name;
  std::string help;
};

// One subcommand: its arguments, flags and help text.
struct CommandSpec {
  std::string name;
  // Positional arguments as shown in usage, e.g. "<file.jsonl|->".
  std::string arguments;
  // One line for the command overview.
  std::string summary;
  // Paragraphs shown by `attunectl <command> --help`, including examples.
  std::string description;
  std::vector<FlagSpec> flags;
  // Names of the positional arguments, in order, for error messages.
  std::vector<std::string> argument_names;
  // How many of them may be omitted from the end.
  int optional_arguments = 0;
};

struct CommandLineSpec {
  std::string program;
  std::vector<FlagSpec> global_flags;
  std::vector<CommandSpec> commands;

  const CommandSpec* FindCommand(const std::string& name) const;
};

struct CommandLine {
  // Empty when no command was given (then `help` is true or it is an error).
  std::string command;
  std::vector<std::string> arguments;
  // Flag name (no dashes) -> value; switches map to "true".
  std::map<std::string, std::string> flags;
  bool help = false;

  bool Has(const std::string& flag) const { return flags.count(flag) > 0; }
  // The flag's value, or `fallback` when it was not given.
  std::string Get(const std::string& flag,
                  const std::string& fallback = "") const;
};

// Parses `args` (without the program name). INVALID_ARGUMENT with a one-line
// message naming the flag or argument on any mistake. Argument counts are not
// checked when help was asked for.
absl::StatusOr<CommandLine> ParseCommandLine(
    const std::vector<std::string>& args, const CommandLineSpec& spec);

// `attunectl --help`: usage, the commands and the global flags.
std::string OverviewHelp(const CommandLineSpec& spec);

// `attunectl <command> --help`: usage, description, flags and examples.
std::string CommandHelp(const CommandLineSpec& spec,
                        const CommandSpec& command);

}  // namespace attune::ctl

#endif  // ATTUNE_SERVICE_CTL_COMMAND_LINE_H_
