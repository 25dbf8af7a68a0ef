// A host function table for tests of plugins: records registered modules,
// emitted prompts and error messages, without the engine.
#ifndef ATTUNE_TESTS_UNIT_PLUGINS_SDK_FAKE_HOST_H_
#define ATTUNE_TESTS_UNIT_PLUGINS_SDK_FAKE_HOST_H_

#include <string>
#include <string_view>
#include <vector>

#include "attune/plugin.h"

// The opaque host objects of plugin.h, defined the way this fake needs.
struct attune_registrar {
  std::vector<attune_module_def> modules;
  std::vector<std::string> ids;  // owned copies of modules[i].id
  // Refuse registrations with this status (ATTUNE_OK = accept).
  attune_status refuse_with = ATTUNE_OK;
  // What the plugin passed to set_init_error.
  std::string init_error;
};

struct attune_eval_output {
  std::vector<std::string> prompts;
  std::string error;
  bool has_error = false;
};

namespace attune::testing {

// The table; every function is safe to call repeatedly. log lines go to
// LogLines().
const attune_host_api* FakeHost();
std::vector<std::string>& LogLines();

// A module instance made through a registered definition.
struct Instance {
  const attune_module_def* def = nullptr;
  void* handle = nullptr;
};

// Calls def.create with `config`; on failure returns the code and fills
// `error`.
attune_status Create(const attune_module_def& def, std::string_view config,
                     Instance& instance, std::string* error);

// Calls evaluate with the given history and trigger.
attune_status Evaluate(const Instance& instance, std::string_view history,
                       std::string_view trigger, attune_eval_output& out);

}  // namespace attune::testing

#endif  // ATTUNE_TESTS_UNIT_PLUGINS_SDK_FAKE_HOST_H_
