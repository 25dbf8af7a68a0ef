#include "fake_host.h"

namespace attune::testing {
namespace {

attune_status RegisterModule(attune_registrar* registrar,
                             const attune_module_def* def) {
  if (registrar->refuse_with != ATTUNE_OK) return registrar->refuse_with;
  if (def == nullptr || def->struct_size < sizeof(attune_module_def) ||
      def->id == nullptr || def->version == nullptr || def->create == nullptr ||
      def->evaluate == nullptr) {
    return ATTUNE_INVALID_ARGUMENT;
  }
  for (const std::string& id : registrar->ids) {
    if (id == def->id) return ATTUNE_ALREADY_EXISTS;
  }
  registrar->ids.emplace_back(def->id);
  registrar->modules.push_back(*def);
  registrar->modules.back().id = registrar->ids.back().c_str();
  // ids may reallocate: re-point every copy.
  for (size_t i = 0; i < registrar->ids.size(); ++i) {
    registrar->modules[i].id = registrar->ids[i].c_str();
  }
  return ATTUNE_OK;
}

attune_status EmitPrompt(attune_eval_output* out, attune_str prompt_json) {
  out->prompts.emplace_back(prompt_json.data, prompt_json.size);
  return ATTUNE_OK;
}

void SetError(attune_eval_output* out, attune_str message) {
  out->error.assign(message.data, message.size);
  out->has_error = true;
}

void Log(int level, attune_str message) {
  LogLines().push_back(std::to_string(level) + " " +
                       std::string(message.data, message.size));
}

void SetInitError(attune_registrar* registrar, attune_str message) {
  registrar->init_error.assign(message.data, message.size);
}

const attune_host_api kHost = {sizeof(attune_host_api),
                               ATTUNE_PLUGIN_ABI_MAJOR,
                               ATTUNE_PLUGIN_ABI_MINOR,
                               &RegisterModule,
                               &EmitPrompt,
                               &SetError,
                               &Log,
                               &SetInitError};

attune_str Str(std::string_view s) { return attune_str{s.data(), s.size()}; }

}  // namespace

const attune_host_api* FakeHost() { return &kHost; }

std::vector<std::string>& LogLines() {
  static std::vector<std::string> lines;
  return lines;
}

attune_status Create(const attune_module_def& def, std::string_view config,
                     Instance& instance, std::string* error) {
  attune_eval_output sink;
  instance.def = &def;
  instance.handle = nullptr;
  attune_status status = def.create(Str(config), &instance.handle, &sink);
  if (error != nullptr) *error = sink.error;
  return status;
}

attune_status Evaluate(const Instance& instance, std::string_view history,
                       std::string_view trigger, attune_eval_output& out) {
  attune_eval_input input{};
  input.struct_size = sizeof(attune_eval_input);
  input.history_json = Str(history);
  input.trigger_json = Str(trigger);
  return instance.def->evaluate(instance.handle, &input, &out);
}

}  // namespace attune::testing
