// Native plugins: rule modules in a shared library that speaks the C ABI of
// plugins/sdk/include/attune/plugin.h.
//
//   ATTUNE_ASSIGN_OR_RETURN(
//       std::vector<std::unique_ptr<RuleModule>> modules,
//       LoadNativePlugin("/opt/acme/libacme_safety.so", R"({"level": 2})"));
//
// Loading dlopens the file (RTLD_NOW | RTLD_LOCAL), reads and checks the info
// block (ABI major equal, minor not newer than the host's), runs
// attune_plugin_init, checks every registered module (dotted id, vendor
// first; a version; no duplicate ids) and builds one instance of each with
// create(config_json). Every refusal is an error whose message starts with
// "plugin <path>: " and says why. The library is never unloaded: its handle
// is kept for the life of the process, so modules stay valid whatever
// happens to the loader's results.
//
// Configuration: `config_json` must be a JSON object ("" means "{}"); the
// same object is passed to create() of every module of the plugin, which
// picks out what it needs (e.g. keyed by module id).
//
// The modules adapt plugin calls to RuleModule: the history and the trigger
// go in as proto3 JSON, prompts come back as attune.v1.Prompt JSON and are
// checked (kind "<module id>/...", severity, a summary of 1-139 bytes). A
// malformed prompt or an error code fails the evaluation; the pipeline skips
// and counts it. Error messages name the module, never JSON content.
//
// Threading: as the ABI promises, attune_plugin_info, attune_plugin_init,
// create and destroy all run on one dedicated thread, never concurrently,
// whichever thread loads (start-up, a reload) or drops the last rule set
// holding a module (destroy is queued there). attune_plugin_init runs once
// per library: loading a path again (a reload) reuses what it registered and
// only creates new instances; a failed init is remembered, and a library
// changed on disk needs a new path (dlopen returns the loaded copy).
//
// ABI 1.0 gives attune_plugin_init no error sink: the host takes the last
// message the plugin logged at level 3 (error) during init as the reason.
#ifndef ATTUNE_SERVICE_ENGINE_NATIVE_PLUGIN_H_
#define ATTUNE_SERVICE_ENGINE_NATIVE_PLUGIN_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "service/engine/rule_module.h"

namespace attune::engine {

// The history_json a native plugin receives (plugin.h): one JSON object,
// {"episode":{...},"events":[{...},...]}, proto3 JSON of the episode
// reference and of every event of the history in clinical order.
// INTERNAL when protobuf cannot encode a message.
absl::StatusOr<std::string> PluginHistoryJson(const EpisodeHistory& history);

// What a plugin says about itself, and what it registered.
struct NativePluginInfo {
  std::string path;
  // From the info block; empty when the plugin left them NULL.
  std::string name;
  std::string version;
  std::string vendor;
  uint32_t abi_major = 0;
  uint32_t abi_minor = 0;
  struct Module {
    std::string id;
    std::string version;
  };
  // In registration order (the order the modules run in).
  std::vector<Module> modules;
};

struct LoadedNativePlugin {
  NativePluginInfo info;
  std::vector<std::unique_ptr<RuleModule>> modules;
};

// Loads the plugin at `path` and builds its modules with `config_json`. See
// the file comment for what is checked. Codes: NOT_FOUND (no such file),
// FAILED_PRECONDITION (not loadable, missing symbol, bad info block, ABI
// mismatch, init failed, bad module definition), ALREADY_EXISTS (a module id
// registered twice), INVALID_ARGUMENT (config_json not an object, or a
// module's create() rejected it).
absl::StatusOr<LoadedNativePlugin> LoadNativePluginWithInfo(
    const std::string& path, const std::string& config_json);

// LoadNativePluginWithInfo, modules only.
absl::StatusOr<std::vector<std::unique_ptr<RuleModule>>> LoadNativePlugin(
    const std::string& path, const std::string& config_json);

// Waits until every plugin call queued so far (module destroys run
// asynchronously on the plugin thread) has run. For tests and orderly
// shutdown.
void DrainPluginThread();

// True when `id` is a module id: dotted, vendor first,
// [a-z0-9_]+(.[a-z0-9_]+)+.
bool IsValidModuleId(std::string_view id);

}  // namespace attune::engine

#endif  // ATTUNE_SERVICE_ENGINE_NATIVE_PLUGIN_H_
