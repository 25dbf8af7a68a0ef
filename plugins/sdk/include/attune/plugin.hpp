// attune/plugin.hpp — header-only C++17 helper for writing Attune plugins.
//
// Write each rule module as a class derived from attune::plugin::Module,
// then define the plugin's two exported entry points with one macro:
//
//   class SafetyItem final : public attune::plugin::Module {
//    public:
//     static constexpr const char* kId = "acme.safety_item";
//     static constexpr const char* kVersion = "1.0.0";
//     attune::plugin::Status Configure(std::string_view config_json) override;
//     attune::plugin::Status Evaluate(const attune::plugin::Input& input,
//                                     attune::plugin::Output& out)
//                                     const override;
//   };
//   ATTUNE_PLUGIN_DEFINE("acme-safety", "1.0.0", "Acme Health", SafetyItem);
//
// The helper owns the C boundary (attune/plugin.h): it checks the host's ABI
// major, registers every listed module, turns every C++ exception into an
// error code (std::exception -> ATTUNE_INTERNAL with what(), anything else
// -> ATTUNE_UNKNOWN) reported through host->set_error, and deletes instances
// in destroy. Depends on the C++17 standard library and plugin.h only: bring
// your own JSON library (or use the small C scanner in attune/plugin_json.h).
//
// Use ATTUNE_PLUGIN_DEFINE exactly once per plugin, at global scope, and
// build the plugin with hidden visibility (-fvisibility=hidden): only the two
// entry points need to be exported.
#ifndef ATTUNE_PLUGIN_HPP_
#define ATTUNE_PLUGIN_HPP_

#include <cstddef>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "attune/plugin.h"

namespace attune::plugin {

// The result of Configure/Evaluate: a code (numbered like google.rpc.Code)
// and, when it is not ATTUNE_OK, a short message for the host's logs. Never
// put client or clinician identifiers in a message.
class Status {
 public:
  Status() = default;
  Status(attune_status code, std::string message)
      : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string message) {
    return Status(ATTUNE_INVALID_ARGUMENT, std::move(message));
  }
  static Status FailedPrecondition(std::string message) {
    return Status(ATTUNE_FAILED_PRECONDITION, std::move(message));
  }
  static Status Internal(std::string message) {
    return Status(ATTUNE_INTERNAL, std::move(message));
  }

  bool ok() const { return code_ == ATTUNE_OK; }
  attune_status code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  attune_status code_ = ATTUNE_OK;
  std::string message_;
};

// What one evaluation sees: borrowed views, valid only during Evaluate.
class Input {
 public:
  explicit Input(const attune_eval_input* input) : input_(input) {}

  // {"episode": EpisodeRef, "events": [SessionEvent, ...]}, proto3 JSON.
  std::string_view history_json() const {
    return Has(offsetof(attune_eval_input, history_json))
               ? View(input_->history_json)
               : std::string_view();
  }
  // The SessionEvent that triggered this evaluation, proto3 JSON.
  std::string_view trigger_json() const {
    return Has(offsetof(attune_eval_input, trigger_json))
               ? View(input_->trigger_json)
               : std::string_view();
  }

 private:
  // A field is present only when the host's struct is long enough for it.
  bool Has(std::size_t offset) const {
    return input_ != nullptr &&
           input_->struct_size >= offset + sizeof(attune_str);
  }
  static std::string_view View(attune_str s) {
    return s.data == nullptr ? std::string_view()
                             : std::string_view(s.data, s.size);
  }

  const attune_eval_input* input_;
};

// Where one evaluation's prompts go.
class Output {
 public:
  Output(const attune_host_api* host, attune_eval_output* out)
      : host_(host), out_(out) {}

  // Emits one attune.v1.Prompt in proto3 JSON (kind "<module id>/<name>",
  // severity, summary under 140 characters, ...). The host copies it before
  // returning. Returns the host's verdict.
  Status EmitPrompt(std::string_view prompt_json) const {
    attune_status code = host_->emit_prompt(
        out_, attune_str{prompt_json.data(), prompt_json.size()});
    if (code == ATTUNE_OK) return Status::Ok();
    return Status(code, "the host refused the prompt");
  }

 private:
  const attune_host_api* host_;
  attune_eval_output* out_;
};

// One rule module. A new instance is made (default-constructed, then
// Configure) for every configured use of the module; Evaluate may then run
// on several threads at once, which is why it is const: keep per-call state
// on the stack, or guard mutable members yourself.
class Module {
 public:
  virtual ~Module() = default;

  // Reads the module's configuration (a JSON object, "{}" when none was
  // given). Return Status::InvalidArgument("<field>: what is wrong") for bad
  // configuration: the host refuses to start and shows the message.
  virtual Status Configure(std::string_view config_json) = 0;

  // Evaluates the rule for one episode and emits zero or more prompts.
  virtual Status Evaluate(const Input& input, Output& out) const = 0;
};

namespace internal {

// The host table handed to attune_plugin_init (create() does not receive
// it). Hidden even in a plugin built with default visibility: an exported
// inline variable would be bound process-wide (STB_GNU_UNIQUE) and shared
// by every plugin using this header.
#if defined(__GNUC__)
#define ATTUNE_PLUGIN_HPP_HIDDEN_ __attribute__((visibility("hidden")))
#else
#define ATTUNE_PLUGIN_HPP_HIDDEN_
#endif
ATTUNE_PLUGIN_HPP_HIDDEN_ inline const attune_host_api* g_host = nullptr;

inline void SetError(attune_eval_output* out, const char* message) noexcept {
  if (g_host == nullptr || g_host->set_error == nullptr) return;
  std::size_t size = 0;
  while (message[size] != '\0') ++size;
  g_host->set_error(out, attune_str{message, size});
}

// Runs `body` and turns every exception into an error code.
template <class Body>
attune_status Guard(attune_eval_output* out, Body&& body) noexcept {
  try {
    return body();
  } catch (const std::exception& e) {
    SetError(out, e.what());
    return ATTUNE_INTERNAL;
  } catch (...) {
    SetError(out, "unknown exception (not derived from std::exception)");
    return ATTUNE_UNKNOWN;
  }
}

inline attune_status Report(attune_eval_output* out, const Status& status) {
  if (status.ok()) return ATTUNE_OK;
  if (!status.message().empty()) SetError(out, status.message().c_str());
  return status.code();
}

template <class M>
attune_status Create(attune_str config_json, void** instance,
                     attune_eval_output* error_sink) noexcept {
  return Guard(error_sink, [&]() -> attune_status {
    auto module = std::make_unique<M>();
    std::string_view config =
        config_json.data == nullptr
            ? std::string_view("{}")
            : std::string_view(config_json.data, config_json.size);
    Status status = module->Configure(config);
    if (!status.ok()) return Report(error_sink, status);
    *instance = static_cast<Module*>(module.release());
    return ATTUNE_OK;
  });
}

inline attune_status Evaluate(void* instance, const attune_eval_input* input,
                              attune_eval_output* out) noexcept {
  return Guard(out, [&]() -> attune_status {
    const Module* module = static_cast<const Module*>(instance);
    Input in(input);
    Output output(g_host, out);
    return Report(out, module->Evaluate(in, output));
  });
}

inline void Destroy(void* instance) noexcept {
  delete static_cast<Module*>(instance);
}

template <class M>
attune_status RegisterOne(const attune_host_api* host,
                          attune_registrar* registrar) {
  static_assert(std::is_base_of_v<Module, M>,
                "a module must derive from attune::plugin::Module");
  static_assert(std::is_default_constructible_v<M>,
                "a module must be default-constructible (configure it in "
                "Configure)");
  attune_module_def def{};
  def.struct_size = sizeof(attune_module_def);
  def.id = M::kId;
  def.version = M::kVersion;
  def.create = &Create<M>;
  def.evaluate = &Evaluate;
  def.destroy = &Destroy;
  return host->register_module(registrar, &def);
}

inline void HostLog(const attune_host_api* host, int level,
                    const char* message) noexcept {
  if (host == nullptr || host->log == nullptr) return;
  std::size_t size = 0;
  while (message[size] != '\0') ++size;
  host->log(level, attune_str{message, size});
}

// Why init fails: set_init_error where the host has it, else an error log.
inline void InitError(const attune_host_api* host, attune_registrar* registrar,
                      const char* message) {
  if (host->struct_size >= offsetof(attune_host_api, set_init_error) +
                               sizeof(host->set_init_error) &&
      host->set_init_error != nullptr) {
    host->set_init_error(registrar, attune_str{message, std::strlen(message)});
    return;
  }
  HostLog(host, 3, message);
}

}  // namespace internal

// Checks the host table and registers Modules... in order. Called by the
// attune_plugin_init that ATTUNE_PLUGIN_DEFINE writes; stops at the first
// module the host refuses and returns the host's code.
template <class... Modules>
attune_status RegisterModules(const attune_host_api* host,
                              attune_registrar* registrar) noexcept {
  if (host == nullptr ||
      host->struct_size < offsetof(attune_host_api, log) + sizeof(host->log)) {
    return ATTUNE_FAILED_PRECONDITION;
  }
  if (host->abi_major != ATTUNE_PLUGIN_ABI_MAJOR) {
    internal::InitError(host, registrar,
                        "plugin built for another ABI major version");
    return ATTUNE_FAILED_PRECONDITION;
  }
  internal::g_host = host;
  try {
    attune_status status = ATTUNE_OK;
    // Left to right, stopping at the first failure.
    (void)((status = internal::RegisterOne<Modules>(host, registrar),
            status == ATTUNE_OK) &&
           ...);
    return status;
  } catch (const std::exception& e) {
    internal::InitError(host, registrar, e.what());
    return ATTUNE_INTERNAL;
  } catch (...) {
    internal::InitError(host, registrar, "unknown exception while registering");
    return ATTUNE_UNKNOWN;
  }
}

// Logs one line through the host (0 debug, 1 info, 2 warning, 3 error). No
// identifiers, no free text from events. A no-op before attune_plugin_init.
inline void Log(int level, std::string_view message) {
  const attune_host_api* host = internal::g_host;
  if (host == nullptr || host->log == nullptr) return;
  host->log(level, attune_str{message.data(), message.size()});
}

}  // namespace attune::plugin

// Defines the plugin's two exported entry points: attune_plugin_info (with
// the given NUL-terminated name, version and vendor string literals) and
// attune_plugin_init (registers the listed module classes in order).
//
// The definitions sit in a namespace to keep the manifest's storage private;
// extern "C" makes them the very functions plugin.h declares.
#define ATTUNE_PLUGIN_DEFINE(name, version, vendor, ...)                    \
  namespace attune_plugin_entry_points {                                    \
  static const ::attune_plugin_manifest kAttunePluginInfo = {               \
      sizeof(::attune_plugin_manifest),                                     \
      ATTUNE_PLUGIN_ABI_MAJOR,                                              \
      ATTUNE_PLUGIN_ABI_MINOR,                                              \
      name,                                                                 \
      version,                                                              \
      vendor};                                                              \
  extern "C" ATTUNE_PLUGIN_EXPORT const ::attune_plugin_manifest*           \
  attune_plugin_info(void) {                                                \
    return &kAttunePluginInfo;                                              \
  }                                                                         \
  extern "C" ATTUNE_PLUGIN_EXPORT attune_status attune_plugin_init(         \
      const attune_host_api* host, attune_registrar* registrar) {           \
    return ::attune::plugin::RegisterModules<__VA_ARGS__>(host, registrar); \
  }                                                                         \
  }                                                                         \
  static_assert(true, "ATTUNE_PLUGIN_DEFINE needs a trailing semicolon")

#endif  // ATTUNE_PLUGIN_HPP_
