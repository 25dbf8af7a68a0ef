// attunectl plugin check: loads a native plugin in this process, as attuned
// would, prints what it declares and, given events, what it prompts.
//
// No server is involved. Events are validated and folded per episode with
// the built-in default configuration; after each event every module of the
// plugin runs over its episode's history so far, with that event as the
// trigger.
//
// Output stays line-oriented for scripts: the info block as 'key: value'
// lines, then one 'prompt: line <N> <module id> <prompt JSON>' per prompt and
// a final 'summary: ...' line. An event is named by its line number in the
// events file only: event and episode ids are identifiers and stay out of
// the output (the prompt JSON carries none: no episode is attached here).
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "service/config/config_loader.h"
#include "service/ctl/commands.h"
#include "service/ctl/json_lines.h"
#include "service/engine/event_validator.h"
#include "service/engine/instrument_registry.h"
#include "service/engine/native_plugin.h"

namespace attune::ctl {
namespace {

constexpr std::size_t kMaxParseErrorsShown = 20;

int Check(const CommandEnv& env, const std::string& file) {
  absl::StatusOr<engine::LoadedNativePlugin> loaded =
      engine::LoadNativePluginWithInfo(file, env.line.Get("config", "{}"));
  if (!loaded.ok()) {
    env.err << "attunectl: plugin check: "
            << DescribeError(static_cast<int>(loaded.status().code()),
                             std::string(loaded.status().message()))
            << "\n";
    return kExitFailed;
  }
  const engine::NativePluginInfo& info = loaded->info;
  env.out << "file: " << info.path << "\n"
          << "name: " << info.name << "\n"
          << "version: " << info.version << "\n"
          << "vendor: " << info.vendor << "\n"
          << "abi: " << info.abi_major << "." << info.abi_minor << "\n";
  for (const engine::NativePluginInfo::Module& m : info.modules) {
    env.out << "module: " << m.id << " " << m.version << "\n";
  }
  if (!env.line.Has("events")) return kExitOk;

  const std::string events_path = env.line.Get("events");
  std::ifstream in(events_path);
  if (!in) {
    return ReportUsageError(
        env, absl::NotFoundError(events_path + ": cannot be read"));
  }
  EventLines lines = ReadEventLines(in, events_path);
  if (!lines.errors.empty()) {
    for (std::size_t i = 0; i < lines.errors.size() && i < kMaxParseErrorsShown;
         ++i) {
      env.err << lines.errors[i] << "\n";
    }
    return ReportUsageError(
        env, absl::InvalidArgumentError(events_path + ": malformed lines"));
  }

  absl::StatusOr<v1::ServerConfig> config = config::DefaultConfig();
  if (!config.ok()) return ReportUsageError(env, config.status());
  absl::StatusOr<engine::InstrumentRegistry> registry =
      engine::InstrumentRegistry::Create(config->rules());
  if (!registry.ok()) return ReportUsageError(env, registry.status());
  // Recorded courses are checked as of whenever they happened.
  const engine::ValidationLimits limits{
      absl::InfiniteFuture(), absl::ZeroDuration(),
      absl::Hours(24) * config->rules().budget().max_snooze_days()};

  std::map<std::string, std::vector<v1::SessionEvent>> episodes;
  int failures = 0;
  int prompts = 0;
  for (const NumberedEvent& e : lines.events) {
    if (absl::Status valid = engine::ValidateEvent(e.event, *registry, limits);
        !valid.ok()) {
      env.err << events_path << ":" << e.line << ": " << valid.message()
              << "\n";
      ++failures;
      continue;
    }
    std::vector<v1::SessionEvent>& events =
        episodes[e.event.episode().episode_id()];
    events.push_back(e.event);
    const engine::EpisodeHistory history =
        engine::EpisodeHistory::Fold(events, *registry);
    const engine::ClinicianDay day;
    for (const auto& module : loaded->modules) {
      engine::RuleOutput output;
      v1::Assessment assessment;
      output.assessment = &assessment;
      absl::Status status = module->Evaluate(
          engine::RuleInput{history, e.event, config->rules(), day}, output);
      if (!status.ok()) {
        env.err << events_path << ":" << e.line << ": "
                << DescribeError(static_cast<int>(status.code()),
                                 std::string(status.message()))
                << "\n";
        ++failures;
        continue;
      }
      for (engine::ProposedPrompt& p : output.prompts) {
        p.prompt.set_module_id(std::string(module->id()));
        p.prompt.set_module_version(std::string(module->version()));
        p.prompt.set_strength(p.strength);
        // Rendered first so that a failure leaves no half-written line.
        std::ostringstream json;
        if (absl::Status printed = WriteJson(p.prompt, /*pretty=*/false, json);
            !printed.ok()) {
          env.err << events_path << ":" << e.line << ": " << printed.message()
                  << "\n";
          ++failures;
          continue;
        }
        env.out << "prompt: line " << e.line << " " << module->id() << " "
                << json.str();  // WriteJson ends the line
        ++prompts;
      }
    }
  }
  // Always the last line, so that a run without prompts still says what it
  // looked at.
  env.out << "summary: " << lines.events.size() << " events, " << prompts
          << " prompts, " << failures << " failures\n";
  if (failures > 0) {
    env.err << "attunectl: plugin check: " << failures
            << " evaluation(s) or event(s) failed\n";
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace

int RunPlugin(const CommandEnv& env) {
  const std::string& action = env.line.arguments.at(0);
  if (action != "check") {
    return ReportUsageError(
        env, absl::InvalidArgumentError("unknown action '" + action +
                                        "' (expected: check)"));
  }
  return Check(env, env.line.arguments.at(1));
}

}  // namespace attune::ctl
