#include "service/engine/native_plugin.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "attune/plugin.h"
#include "attune/v1/rule_module.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "service/common/log.h"
#include "service/common/status_macros.h"
#include "service/engine/proposed_prompt.h"

// The opaque host objects of plugin.h. A registrar lives for one
// attune_plugin_init call; an output for one create or evaluate call.
struct attune_registrar {
  attune::engine::NativePluginInfo* info = nullptr;
  std::vector<attune_module_def>* defs = nullptr;
  // The first registration error: the load fails with it even when the
  // plugin ignores the code register_module returned.
  absl::Status first_error;
  // Set by host->set_init_error: why init is failing, in the plugin's words.
  std::string init_error;
  bool open = false;
};

struct attune_eval_output {
  // plugin.h lets a plugin call emit_prompt and set_error from any thread
  // while evaluate runs.
  std::mutex mu;
  bool accepts_prompts = false;
  std::vector<std::string> prompts;
  std::string error;
  bool overflow = false;
};

namespace attune::engine {
namespace {

// Bounds on what a plugin can make the host copy.
constexpr std::size_t kMaxPrompts = 32;
constexpr std::size_t kMaxPromptJsonBytes = 64 * 1024;
constexpr std::size_t kMaxMessageBytes = 256;
constexpr std::size_t kMaxNameBytes = 128;

// Fields every ABI 1.x struct has, whatever its struct_size says beyond.
constexpr uint32_t kMinInfoSize = offsetof(attune_plugin_manifest, name);
constexpr uint32_t kMinModuleDefSize =
    offsetof(attune_module_def, evaluate) + sizeof(attune_module_def::evaluate);

// The ABI promises that attune_plugin_info, attune_plugin_init, create and
// destroy run on one thread, never concurrently. Loads happen at start-up
// and on reloads (from a worker thread), and a module instance is destroyed
// on whichever thread drops the last rule set that holds it; so every one of
// those calls is made on this one long-lived thread instead. It is never
// joined: plugins are never unloaded, and destroys still queued at exit
// need not run.
class PluginThread {
 public:
  static PluginThread& Get() {
    static PluginThread* const thread = new PluginThread();
    return *thread;
  }

  // Runs `fn` on the plugin thread and waits for it.
  void Run(const std::function<void()>& fn) {
    if (std::this_thread::get_id() == thread_.get_id()) {
      fn();  // already there (a load from within a load cannot happen today)
      return;
    }
    std::promise<void> done;
    Post([&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

  // Queues `fn` without waiting.
  void Post(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(fn));
    }
    cv_.notify_one();
  }

 private:
  PluginThread() : thread_([this] { Loop(); }) {}

  void Loop() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return !queue_.empty(); });
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      fn();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::thread thread_;
};

// What a plugin hands us as text, made fit for one log line or message.
std::string Printable(const char* data, std::size_t size, std::size_t max) {
  std::string out;
  if (data == nullptr) return out;
  size = std::min(size, max);
  out.reserve(size);
  for (std::size_t i = 0; i < size; ++i) {
    const unsigned char c = static_cast<unsigned char>(data[i]);
    out.push_back(c < 0x20 || c == 0x7f ? ' ' : static_cast<char>(c));
  }
  return out;
}

std::string CString(const char* s, std::size_t max) {
  if (s == nullptr) return "";
  return Printable(s, strnlen(s, max), max);
}

std::string CodeName(int code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// A code returned from C, possibly garbage.
absl::StatusCode ToCode(int code) {
  if (code < ATTUNE_OK || code > ATTUNE_UNAUTHENTICATED) {
    return absl::StatusCode::kUnknown;
  }
  return static_cast<absl::StatusCode>(code);
}

// Set while a plugin's init runs on this thread: an error-level log line is
// the reason for a failed init when the plugin did not call set_init_error.
thread_local std::string* init_reason = nullptr;
// What the current plugin call on this thread belongs to, for log lines.
thread_local const std::string* log_source = nullptr;

attune_status HostRegisterModule(attune_registrar* registrar,
                                 const attune_module_def* def) {
  if (registrar == nullptr || !registrar->open) {
    return ATTUNE_FAILED_PRECONDITION;
  }
  auto fail = [registrar](attune_status code, std::string why) {
    if (registrar->first_error.ok()) {
      registrar->first_error = absl::Status(
          code == ATTUNE_ALREADY_EXISTS ? absl::StatusCode::kAlreadyExists
                                        : absl::StatusCode::kFailedPrecondition,
          absl::StrCat("plugin ", registrar->info->path, ": ", why));
    }
    return code;
  };
  if (def == nullptr) {
    return fail(ATTUNE_INVALID_ARGUMENT, "register_module: NULL definition");
  }
  if (def->struct_size < kMinModuleDefSize) {
    return fail(ATTUNE_INVALID_ARGUMENT,
                absl::StrCat("register_module: definition struct_size ",
                             def->struct_size, " is smaller than ABI 1.0's ",
                             kMinModuleDefSize));
  }
  attune_module_def copy;
  std::memset(&copy, 0, sizeof copy);
  std::memcpy(&copy, def, std::min<std::size_t>(def->struct_size, sizeof copy));
  copy.struct_size = sizeof copy;
  const std::string id = CString(copy.id, kMaxNameBytes);
  if (!IsValidModuleId(id)) {
    return fail(ATTUNE_INVALID_ARGUMENT,
                absl::StrCat("module id '", id,
                             "' is not dotted, vendor first "
                             "([a-z0-9_]+(.[a-z0-9_]+)+)"));
  }
  const std::string version = CString(copy.version, kMaxNameBytes);
  if (!IsValidModuleVersion(version)) {
    return fail(ATTUNE_INVALID_ARGUMENT,
                absl::StrCat("module ", id, ": version '", version,
                             "' is not MAJOR.MINOR.PATCH"));
  }
  if (copy.create == nullptr || copy.evaluate == nullptr) {
    return fail(ATTUNE_INVALID_ARGUMENT,
                absl::StrCat("module ", id,
                             ": create and evaluate are "
                             "required"));
  }
  for (const NativePluginInfo::Module& m : registrar->info->modules) {
    if (m.id == id) {
      return fail(ATTUNE_ALREADY_EXISTS,
                  absl::StrCat("module ", id, " is registered twice"));
    }
  }
  registrar->info->modules.push_back({id, version});
  // The strings are the plugin's; the copies above are what we keep.
  copy.id = nullptr;
  copy.version = nullptr;
  registrar->defs->push_back(copy);
  return ATTUNE_OK;
}

attune_status HostEmitPrompt(attune_eval_output* out, attune_str json) {
  if (out == nullptr) return ATTUNE_INVALID_ARGUMENT;
  std::lock_guard<std::mutex> lock(out->mu);
  if (!out->accepts_prompts) return ATTUNE_FAILED_PRECONDITION;
  if (json.data == nullptr && json.size != 0) {
    out->overflow = true;
    return ATTUNE_INVALID_ARGUMENT;
  }
  if (out->prompts.size() >= kMaxPrompts || json.size > kMaxPromptJsonBytes) {
    out->overflow = true;
    return ATTUNE_RESOURCE_EXHAUSTED;
  }
  out->prompts.emplace_back(json.data == nullptr ? "" : json.data, json.size);
  return ATTUNE_OK;
}

void HostSetError(attune_eval_output* out, attune_str message) {
  if (out == nullptr) return;
  std::string text = Printable(message.data, message.size, kMaxMessageBytes);
  std::lock_guard<std::mutex> lock(out->mu);
  out->error = std::move(text);
}

void HostLog(int level, attune_str message) {
  const std::string text =
      Printable(message.data, message.size, kMaxMessageBytes);
  if (level >= 3 && init_reason != nullptr) *init_reason = text;
  const std::string source = log_source == nullptr ? "" : *log_source;
  switch (level <= 0 ? 0 : level) {
    case 0:
      ATTUNE_LOG(DEBUG) << "plugin: " << text << LogField("source", source);
      break;
    case 1:
      ATTUNE_LOG(INFO) << "plugin: " << text << LogField("source", source);
      break;
    case 2:
      ATTUNE_LOG(WARNING) << "plugin: " << text << LogField("source", source);
      break;
    default:
      ATTUNE_LOG(ERROR) << "plugin: " << text << LogField("source", source);
      break;
  }
}

void HostSetInitError(attune_registrar* registrar, attune_str message) {
  if (registrar == nullptr || !registrar->open) return;
  registrar->init_error =
      Printable(message.data, message.size, kMaxMessageBytes);
}

const attune_host_api kHostApi = {
    sizeof(attune_host_api),
    ATTUNE_PLUGIN_ABI_MAJOR,
    ATTUNE_PLUGIN_ABI_MINOR,
    HostRegisterModule,
    HostEmitPrompt,
    HostSetError,
    HostLog,
    HostSetInitError,
};

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message) {
  std::string json;
  if (const auto status =
          google::protobuf::util::MessageToJsonString(message, &json);
      !status.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot encode ", message.GetTypeName(), " as JSON"));
  }
  return json;
}

}  // namespace

absl::StatusOr<std::string> PluginHistoryJson(const EpisodeHistory& history) {
  // One encoding of a wrapper holding both: printed message by message,
  // protobuf's JSON printer spent most of its time setting up each call
  // (~0.9 ms per evaluation for a 20-session episode, twice what it takes
  // now). Only the wrapper's episode and events are set: the episode always
  // has an id and a history always holds its trigger, so the other fields
  // (and nothing else) are left out, as proto3 JSON leaves out defaults.
  v1::EvaluateRequest wrapper;
  *wrapper.mutable_episode() = history.episode();
  wrapper.mutable_events()->Reserve(static_cast<int>(history.events().size()));
  for (const v1::SessionEvent& event : history.events()) {
    *wrapper.add_events() = event;
  }
  return ToJson(wrapper);
}

namespace {

class NativeRuleModule final : public RuleModule {
 public:
  NativeRuleModule(std::string id, std::string version, std::string path,
                   attune_module_def def, void* instance)
      : id_(std::move(id)),
        version_(std::move(version)),
        path_(std::move(path)),
        def_(def),
        instance_(instance) {}
  ~NativeRuleModule() override {
    if (def_.destroy == nullptr) return;
    // No evaluate of this instance can still run: the last rule set holding
    // the module is gone.
    PluginThread::Get().Post(
        [destroy = def_.destroy, instance = instance_] { destroy(instance); });
  }

  std::string_view id() const override { return id_; }
  std::string_view version() const override { return version_; }
  bool Enabled(const v1::RulesConfig&) const override { return true; }
  ModuleSource source() const override { return ModuleSource::kNative; }
  std::string location() const override { return path_; }

  absl::Status Evaluate(const RuleInput& input,
                        RuleOutput& output) const override {
    absl::StatusOr<std::string> history = PluginHistoryJson(input.history);
    if (!history.ok()) return Failed(history.status());
    absl::StatusOr<std::string> trigger = ToJson(input.trigger);
    if (!trigger.ok()) return Failed(trigger.status());

    attune_eval_input in;
    std::memset(&in, 0, sizeof in);
    in.struct_size = sizeof in;
    in.history_json = {history->data(), history->size()};
    in.trigger_json = {trigger->data(), trigger->size()};
    attune_eval_output out;
    out.accepts_prompts = true;
    const std::string* previous_source = log_source;
    log_source = &id_;
    // Read as int: a plugin may return a value outside the enum.
    const int code = static_cast<int>(def_.evaluate(instance_, &in, &out));
    log_source = previous_source;
    {
      std::lock_guard<std::mutex> lock(out.mu);
      out.accepts_prompts = false;
    }

    if (code != ATTUNE_OK) {
      return absl::Status(
          ToCode(code),
          absl::StrCat("module ", id_, ": evaluate returned ", CodeName(code),
                       out.error.empty() ? "" : ": ", out.error));
    }
    if (out.overflow) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "module ", id_,
          ": emitted too many, too large or NULL prompts "
          "(limits: ",
          kMaxPrompts, " prompts of ", kMaxPromptJsonBytes, " bytes)"));
    }
    std::vector<ProposedPrompt> proposals;
    for (std::size_t i = 0; i < out.prompts.size(); ++i) {
      absl::StatusOr<ProposedPrompt> p = ParsePrompt(out.prompts[i], i + 1);
      if (!p.ok()) return p.status();
      proposals.push_back(*std::move(p));
    }
    for (ProposedPrompt& p : proposals) output.prompts.push_back(std::move(p));
    return absl::OkStatus();
  }

 private:
  absl::Status Failed(const absl::Status& status) const {
    return absl::Status(status.code(),
                        absl::StrCat("module ", id_, ": ", status.message()));
  }

  // Messages name the module and the rule, never the JSON: it may hold
  // identifiers.
  absl::StatusOr<ProposedPrompt> ParsePrompt(const std::string& json,
                                             std::size_t n) const {
    auto invalid = [&](const std::string& why) {
      return absl::InternalError(
          absl::StrCat("module ", id_, ": prompt ", n, ": ", why));
    };
    v1::Prompt prompt;
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    if (!google::protobuf::util::JsonStringToMessage(json, &prompt, options)
             .ok()) {
      return invalid("is not attune.v1.Prompt JSON");
    }
    return CheckProposedPrompt(id_, std::move(prompt), n);
  }

  std::string id_;
  std::string version_;
  std::string path_;
  attune_module_def def_;
  void* instance_;
};

absl::Status Refuse(absl::StatusCode code, const std::string& path,
                    const std::string& why) {
  return absl::Status(code, absl::StrCat("plugin ", path, ": ", why));
}

}  // namespace

bool IsValidModuleId(std::string_view id) {
  int parts = 0;
  std::size_t len = 0;
  for (char c : id) {
    if (c == '.') {
      if (len == 0) return false;
      ++parts;
      len = 0;
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
      ++len;
    } else {
      return false;
    }
  }
  return parts >= 1 && len > 0;
}

namespace {

// One instance of each module with `config`, appended to loaded.modules.
// Plugin thread only.
absl::Status CreateInstances(const std::string& path, const std::string& config,
                             const std::vector<attune_module_def>& defs,
                             LoadedNativePlugin& loaded) {
  for (std::size_t i = 0; i < defs.size(); ++i) {
    const std::string& id = loaded.info.modules[i].id;
    attune_eval_output sink;
    void* instance = nullptr;
    log_source = &path;
    const int code = static_cast<int>(
        defs[i].create({config.data(), config.size()}, &instance, &sink));
    log_source = nullptr;
    if (code != ATTUNE_OK) {
      return Refuse(
          code == ATTUNE_INVALID_ARGUMENT
              ? absl::StatusCode::kInvalidArgument
              : absl::StatusCode::kFailedPrecondition,
          path,
          absl::StrCat("module ", id, ": create failed with ", CodeName(code),
                       sink.error.empty() ? "" : ": ", sink.error));
    }
    loaded.modules.push_back(std::make_unique<NativeRuleModule>(
        id, loaded.info.modules[i].version, path, defs[i], instance));
  }
  return absl::OkStatus();
}

// What attune_plugin_init registered, per library. dlopen of a path already
// loaded returns the same handle: its init ran once and is not run again
// (the ABI promises one call); later loads create new instances from the
// same definitions. A failed init is remembered too. Plugin thread only.
struct InitializedLibrary {
  absl::Status status;
  NativePluginInfo info;
  std::vector<attune_module_def> defs;
};
std::map<void*, InitializedLibrary>& Libraries() {
  static auto* const libraries = new std::map<void*, InitializedLibrary>;
  return *libraries;
}

absl::StatusOr<LoadedNativePlugin> InitLibrary(const std::string& path,
                                               const std::string& config,
                                               void* handle,
                                               InitializedLibrary& library);

absl::StatusOr<LoadedNativePlugin> LoadOnPluginThread(
    const std::string& path, const std::string& config_json) {
  using absl::StatusCode;
  if (path.empty()) {
    return absl::InvalidArgumentError("plugin: the path is empty");
  }
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    const int err = errno;
    return Refuse(
        err == ENOENT ? StatusCode::kNotFound : StatusCode::kFailedPrecondition,
        path, std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    return Refuse(StatusCode::kFailedPrecondition, path,
                  "is not a regular file");
  }
  const std::string config = config_json.empty() ? "{}" : config_json;
  {
    google::protobuf::Struct object;
    if (!google::protobuf::util::JsonStringToMessage(config, &object).ok()) {
      return Refuse(StatusCode::kInvalidArgument, path,
                    "config_json: is not a JSON object");
    }
  }

  // A bare file name would make dlopen search the library path.
  const std::string open_path =
      path.find('/') == std::string::npos ? "./" + path : path;
  dlerror();
  void* handle = dlopen(open_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return Refuse(StatusCode::kFailedPrecondition, path,
                  absl::StrCat("cannot load as a shared object: ",
                               why == nullptr ? "unknown error" : why));
  }
  // Handles are never closed: code and static data of a plugin must
  // outlive every module, callback and log line that came from it.
  if (auto it = Libraries().find(handle); it != Libraries().end()) {
    if (!it->second.status.ok()) return it->second.status;
    LoadedNativePlugin loaded;
    loaded.info = it->second.info;
    loaded.info.path = path;
    ATTUNE_RETURN_IF_ERROR(
        CreateInstances(path, config, it->second.defs, loaded));
    return loaded;
  }
  InitializedLibrary& library = Libraries()[handle];
  absl::StatusOr<LoadedNativePlugin> loaded =
      InitLibrary(path, config, handle, library);
  if (!loaded.ok()) library.status = loaded.status();
  return loaded;
}

absl::StatusOr<LoadedNativePlugin> InitLibrary(const std::string& path,
                                               const std::string& config,
                                               void* handle,
                                               InitializedLibrary& library) {
  using absl::StatusCode;
  auto info_fn = reinterpret_cast<attune_plugin_info_fn>(
      dlsym(handle, ATTUNE_PLUGIN_INFO_SYMBOL));
  if (info_fn == nullptr) {
    return Refuse(StatusCode::kFailedPrecondition, path,
                  "does not export " ATTUNE_PLUGIN_INFO_SYMBOL
                  " (not an Attune plugin, or built without "
                  "ATTUNE_PLUGIN_EXPORT)");
  }
  auto init_fn = reinterpret_cast<attune_plugin_init_fn>(
      dlsym(handle, ATTUNE_PLUGIN_INIT_SYMBOL));
  if (init_fn == nullptr) {
    return Refuse(StatusCode::kFailedPrecondition, path,
                  "does not export " ATTUNE_PLUGIN_INIT_SYMBOL);
  }

  const attune_plugin_manifest* raw = info_fn();
  if (raw == nullptr) {
    return Refuse(StatusCode::kFailedPrecondition, path,
                  ATTUNE_PLUGIN_INFO_SYMBOL "() returned NULL");
  }
  if (raw->struct_size < kMinInfoSize) {
    return Refuse(StatusCode::kFailedPrecondition, path,
                  absl::StrCat("info block struct_size ", raw->struct_size,
                               " is too small (at least ", kMinInfoSize, ")"));
  }
  attune_plugin_manifest info_block;
  std::memset(&info_block, 0, sizeof info_block);
  std::memcpy(&info_block, raw,
              std::min<std::size_t>(raw->struct_size, sizeof info_block));
  const std::string plugin_abi =
      absl::StrCat(info_block.abi_major, ".", info_block.abi_minor);
  const std::string host_abi =
      absl::StrCat(ATTUNE_PLUGIN_ABI_MAJOR, ".", ATTUNE_PLUGIN_ABI_MINOR);
  if (info_block.abi_major != ATTUNE_PLUGIN_ABI_MAJOR) {
    return Refuse(StatusCode::kFailedPrecondition, path,
                  absl::StrCat("built for plugin ABI ", plugin_abi,
                               "; this host speaks ABI ", host_abi,
                               " (the major version must match)"));
  }
  if (info_block.abi_minor > ATTUNE_PLUGIN_ABI_MINOR) {
    return Refuse(StatusCode::kFailedPrecondition, path,
                  absl::StrCat("built for plugin ABI ", plugin_abi,
                               ", newer than this host's ABI ", host_abi,
                               ": upgrade attuned or rebuild the plugin "
                               "against an older SDK"));
  }

  LoadedNativePlugin loaded;
  NativePluginInfo& info = loaded.info;
  info.path = path;
  info.name = CString(info_block.name, kMaxNameBytes);
  info.version = CString(info_block.version, kMaxNameBytes);
  info.vendor = CString(info_block.vendor, kMaxNameBytes);
  info.abi_major = info_block.abi_major;
  info.abi_minor = info_block.abi_minor;

  std::vector<attune_module_def> defs;
  attune_registrar registrar;
  registrar.info = &info;
  registrar.defs = &defs;
  registrar.open = true;
  std::string reason;
  init_reason = &reason;
  log_source = &info.path;
  const int init_code = static_cast<int>(init_fn(&kHostApi, &registrar));
  init_reason = nullptr;
  log_source = nullptr;
  registrar.open = false;
  // A registration error explains an init failure better than its code.
  if (!registrar.first_error.ok()) return registrar.first_error;
  if (init_code != ATTUNE_OK) {
    if (!registrar.init_error.empty()) reason = registrar.init_error;
    return Refuse(
        StatusCode::kFailedPrecondition, path,
        absl::StrCat(ATTUNE_PLUGIN_INIT_SYMBOL " failed with ",
                     CodeName(init_code), reason.empty() ? "" : ": ", reason));
  }
  if (defs.empty()) {
    return Refuse(StatusCode::kFailedPrecondition, path,
                  "registered no rule modules");
  }

  library.info = info;
  library.defs = defs;
  // A module refusing this configuration is not a failed init: the next
  // load may bring a configuration it accepts.
  ATTUNE_RETURN_IF_ERROR(CreateInstances(path, config, defs, loaded));
  return loaded;
}

}  // namespace

absl::StatusOr<LoadedNativePlugin> LoadNativePluginWithInfo(
    const std::string& path, const std::string& config_json) {
  absl::StatusOr<LoadedNativePlugin> out;
  PluginThread::Get().Run([&] { out = LoadOnPluginThread(path, config_json); });
  return out;
}

void DrainPluginThread() {
  PluginThread::Get().Run([] {});
}

absl::StatusOr<std::vector<std::unique_ptr<RuleModule>>> LoadNativePlugin(
    const std::string& path, const std::string& config_json) {
  absl::StatusOr<LoadedNativePlugin> loaded =
      LoadNativePluginWithInfo(path, config_json);
  if (!loaded.ok()) return loaded.status();
  return std::move(loaded->modules);
}

}  // namespace attune::engine
