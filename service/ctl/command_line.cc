#include "service/ctl/command_line.h"

#include <algorithm>
#include <cstddef>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace attune::ctl {
namespace {

const FlagSpec* FindFlag(const std::vector<FlagSpec>& flags,
                         const std::string& name) {
  for (const FlagSpec& flag : flags) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

std::string HelpHint(const CommandLineSpec& spec, const CommandSpec* command) {
  if (command == nullptr) return absl::StrCat("see ", spec.program, " --help");
  return absl::StrCat("see ", spec.program, " ", command->name, " --help");
}

absl::Status UsageError(const CommandLineSpec& spec, const CommandSpec* command,
                        const std::string& message) {
  return absl::InvalidArgumentError(
      absl::StrCat(command == nullptr ? "" : command->name + ": ", message,
                   " (", HelpHint(spec, command), ")"));
}

void AppendFlagHelp(const std::vector<FlagSpec>& flags, std::string* out) {
  std::size_t width = 0;
  std::vector<std::string> left;
  for (const FlagSpec& flag : flags) {
    left.push_back(flag.value_name.empty()
                       ? absl::StrCat("--", flag.name)
                       : absl::StrCat("--", flag.name, " ", flag.value_name));
    width = std::max(width, left.back().size());
  }
  const std::string indent(width + 4, ' ');
  for (std::size_t i = 0; i < flags.size(); ++i) {
    absl::StrAppend(
        out, "  ", left[i], std::string(width - left[i].size() + 2, ' '),
        absl::StrReplaceAll(flags[i].help, {{"\n", "\n" + indent}}), "\n");
  }
}

}  // namespace

const CommandSpec* CommandLineSpec::FindCommand(const std::string& name) const {
  for (const CommandSpec& command : commands) {
    if (command.name == name) return &command;
  }
  return nullptr;
}

std::string CommandLine::Get(const std::string& flag,
                             const std::string& fallback) const {
  auto it = flags.find(flag);
  return it == flags.end() ? fallback : it->second;
}

absl::StatusOr<CommandLine> ParseCommandLine(
    const std::vector<std::string>& args, const CommandLineSpec& spec) {
  CommandLine line;
  const CommandSpec* command = nullptr;
  bool flags_ended = false;
  bool help_command = false;

  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!flags_ended && arg == "--") {
      flags_ended = true;
      continue;
    }
    if (!flags_ended && (arg == "-h" || arg == "--help")) {
      line.help = true;
      continue;
    }
    if (!flags_ended && absl::StartsWith(arg, "--")) {
      std::string name = arg.substr(2);
      std::string value;
      bool has_inline_value = false;
      if (std::size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
        has_inline_value = true;
      }
      const FlagSpec* flag = FindFlag(spec.global_flags, name);
      if (flag == nullptr && command != nullptr) {
        flag = FindFlag(command->flags, name);
      }
      if (flag == nullptr) {
        if (command == nullptr && !help_command) {
          for (const CommandSpec& other : spec.commands) {
            if (FindFlag(other.flags, name) != nullptr) {
              return UsageError(
                  spec, nullptr,
                  absl::StrCat("--", name,
                               " must follow the command it "
                               "belongs to, e.g. ",
                               spec.program, " ", other.name, " ... --", name));
            }
          }
        }
        return UsageError(spec, command, absl::StrCat("unknown flag --", name));
      }
      if (flag->value_name.empty()) {
        if (has_inline_value) {
          return UsageError(spec, command,
                            absl::StrCat("--", name, " takes no value"));
        }
        value = "true";
      } else if (!has_inline_value) {
        if (i + 1 >= args.size()) {
          return UsageError(
              spec, command,
              absl::StrCat("--", name, " needs a value ", flag->value_name));
        }
        value = args[++i];
      }
      if (!line.flags.emplace(name, value).second) {
        return UsageError(spec, command,
                          absl::StrCat("--", name, " is given more than once"));
      }
      continue;
    }
    if (!flags_ended && arg.size() > 1 && arg[0] == '-') {
      return UsageError(spec, command, absl::StrCat("unknown flag ", arg));
    }
    // A positional argument: the command name first.
    if (command == nullptr) {
      if (arg == "help" && !help_command) {
        help_command = true;
        line.help = true;
        continue;
      }
      command = spec.FindCommand(arg);
      if (command == nullptr) {
        return UsageError(spec, nullptr,
                          absl::StrCat("unknown command '", arg, "'"));
      }
      line.command = command->name;
      continue;
    }
    line.arguments.push_back(arg);
  }

  if (line.help) return line;
  if (command == nullptr) {
    return UsageError(spec, nullptr, "missing command");
  }
  const std::size_t max_args = command->argument_names.size();
  const std::size_t min_args = max_args - static_cast<std::size_t>(std::clamp(
                                              command->optional_arguments, 0,
                                              static_cast<int>(max_args)));
  if (line.arguments.size() < min_args) {
    return UsageError(
        spec, command,
        absl::StrCat("missing argument ",
                     command->argument_names[line.arguments.size()]));
  }
  if (line.arguments.size() > max_args) {
    return UsageError(
        spec, command,
        absl::StrCat("unexpected argument #", line.arguments.size(), " (takes ",
                     max_args == 0 ? "none" : command->arguments, ")"));
  }
  return line;
}

std::string OverviewHelp(const CommandLineSpec& spec) {
  std::string out = absl::StrCat("Usage: ", spec.program,
                                 " [global flags] <command> [arguments] "
                                 "[flags]\n\nCommands:\n");
  std::size_t width = 0;
  for (const CommandSpec& command : spec.commands) {
    width = std::max(width, command.name.size());
  }
  for (const CommandSpec& command : spec.commands) {
    absl::StrAppend(&out, "  ", command.name,
                    std::string(width - command.name.size() + 2, ' '),
                    command.summary, "\n");
  }
  absl::StrAppend(&out, "\nGlobal flags (before or after the command):\n");
  std::vector<FlagSpec> flags = spec.global_flags;
  flags.push_back({"help", "",
                   absl::StrCat("show help (also -h); '", spec.program,
                                " <command> --help' for one command")});
  AppendFlagHelp(flags, &out);
  return out;
}

std::string CommandHelp(const CommandLineSpec& spec,
                        const CommandSpec& command) {
  std::string out = absl::StrCat("Usage: ", spec.program, " ", command.name);
  if (!command.arguments.empty()) absl::StrAppend(&out, " ", command.arguments);
  absl::StrAppend(&out, command.flags.empty() ? "" : " [flags]", "\n\n",
                  command.summary, "\n");
  if (!command.description.empty()) {
    absl::StrAppend(&out, "\n", command.description);
    if (!absl::EndsWith(command.description, "\n")) absl::StrAppend(&out, "\n");
  }
  if (!command.flags.empty()) {
    absl::StrAppend(&out, "\nFlags:\n");
    AppendFlagHelp(command.flags, &out);
  }
  absl::StrAppend(&out, "\nGlobal flags:\n");
  AppendFlagHelp(spec.global_flags, &out);
  return out;
}

}  // namespace attune::ctl
