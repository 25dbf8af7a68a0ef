/*
 * attune/plugin.h — the stable C ABI for Attune rule-module plugins.
 *
 * A plugin is a shared library (.so) that exports exactly two functions:
 *
 *   const attune_plugin_manifest* attune_plugin_info(void);
 *       Read by the host BEFORE anything else runs. Must not allocate, start
 *       threads or touch global state: return a pointer to static storage.
 *
 *   attune_status attune_plugin_init(const attune_host_api* host,
 *                                    attune_registrar* registrar);
 *       Called once after the info block was accepted. Registers one or more
 *       rule modules with host->register_module(registrar, &def). `host`
 *       stays valid for the life of the process: keep it to call
 *       host->emit_prompt and the others later.
 *
 * Versioning. ATTUNE_PLUGIN_ABI_MAJOR changes only when something existing
 * changes meaning or layout; the host refuses a plugin built for another
 * major. ATTUNE_PLUGIN_ABI_MINOR grows when fields or host functions are
 * appended; the host refuses a plugin built for a newer minor than its own,
 * and accepts an older one (fields the plugin does not know are treated as
 * zero). Every shared struct starts with `struct_size`, set by whoever
 * fills the struct to sizeof() as that side compiled it, so either side can
 * tell which fields the other knows. Structs and the host function table
 * only ever grow at the end.
 *
 * Memory. Nothing is freed across the boundary. Inputs are borrowed
 * (pointer + length, valid only during the call, not NUL-terminated unless
 * stated). Outputs are copied by the host before the call returns, so the
 * plugin may pass pointers to its own stack or buffers.
 *
 * Data. No protobuf crosses the boundary: the episode history, the
 * triggering event and the module's configuration arrive as JSON (the
 * proto3 JSON mapping of attune.v1 messages, see each field), and prompts
 * go back as JSON (attune.v1.Prompt). No C++ exception may cross it either.
 *
 * Threading. attune_plugin_info, attune_plugin_init, create and destroy are
 * called from one thread, never concurrently. evaluate may be called from
 * several threads at once on the same module instance: keep per-call state
 * on the stack, or lock. Host functions are safe to call from any thread
 * during the call that received the pointer they operate on.
 *
 * Results are numbered like google.rpc.Code (absl::StatusCode, gRPC).
 */
#ifndef ATTUNE_PLUGIN_H_
#define ATTUNE_PLUGIN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATTUNE_PLUGIN_ABI_MAJOR 1
#define ATTUNE_PLUGIN_ABI_MINOR 0

#if defined(__GNUC__)
#define ATTUNE_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define ATTUNE_PLUGIN_EXPORT
#endif

/* Result codes, numbered as google.rpc.Code. */
typedef enum attune_status {
  ATTUNE_OK = 0,
  ATTUNE_CANCELLED = 1,
  ATTUNE_UNKNOWN = 2,
  ATTUNE_INVALID_ARGUMENT = 3,
  ATTUNE_DEADLINE_EXCEEDED = 4,
  ATTUNE_NOT_FOUND = 5,
  ATTUNE_ALREADY_EXISTS = 6,
  ATTUNE_PERMISSION_DENIED = 7,
  ATTUNE_RESOURCE_EXHAUSTED = 8,
  ATTUNE_FAILED_PRECONDITION = 9,
  ATTUNE_ABORTED = 10,
  ATTUNE_OUT_OF_RANGE = 11,
  ATTUNE_UNIMPLEMENTED = 12,
  ATTUNE_INTERNAL = 13,
  ATTUNE_UNAVAILABLE = 14,
  ATTUNE_DATA_LOSS = 15,
  ATTUNE_UNAUTHENTICATED = 16
} attune_status;

/* A borrowed byte string: `data` need not be NUL-terminated. */
typedef struct attune_str {
  const char* data;
  size_t size;
} attune_str;

/* Returned by attune_plugin_info(). Static storage, never freed. */
typedef struct attune_plugin_manifest {
  /* sizeof(attune_plugin_manifest) */
  uint32_t struct_size;
  /* ATTUNE_PLUGIN_ABI_MAJOR and _MINOR the plugin was built with */
  uint32_t abi_major;
  uint32_t abi_minor;
  /* NUL-terminated, e.g. "acme-safety", "1.2.0", "Acme Health" */
  const char* name;
  const char* version;
  const char* vendor;
} attune_plugin_manifest;

/* Opaque host objects. */
typedef struct attune_registrar attune_registrar;
typedef struct attune_eval_output attune_eval_output;

/* What one evaluation sees. All borrowed for the duration of evaluate. */
typedef struct attune_eval_input {
  uint32_t struct_size;
  /* {"episode": EpisodeRef, "events": [SessionEvent, ...]} in time order,
   * proto3 JSON (lowerCamel field names). */
  attune_str history_json;
  /* The SessionEvent that triggered this evaluation, proto3 JSON. */
  attune_str trigger_json;
} attune_eval_input;

/* One rule module. The plugin fills it and passes it to register_module;
 * the host copies it. */
typedef struct attune_module_def {
  uint32_t struct_size;
  /* Dotted, vendor first: "acme.safety_item". NUL-terminated; copied. */
  const char* id;
  /* Semantic version of the module's logic: "1.0.0". NUL-terminated. */
  const char* version;
  /* Builds one module instance from its configuration (a JSON object,
   * "{}" when none is given). On success sets *instance (any pointer the
   * plugin likes, passed back to evaluate/destroy) and returns ATTUNE_OK;
   * on bad configuration returns ATTUNE_INVALID_ARGUMENT and may call
   * host->set_error(error_sink, ...) to say which field is wrong. */
  attune_status (*create)(attune_str config_json, void** instance,
                          attune_eval_output* error_sink);
  /* Evaluates the rule for one episode. Emits zero or more prompts with
   * host->emit_prompt(out, json). Returns ATTUNE_OK, or an error (the host
   * skips the module for this event and counts the failure); a reason can
   * be given with host->set_error(out, ...). Must not block for long. */
  attune_status (*evaluate)(void* instance, const attune_eval_input* input,
                            attune_eval_output* out);
  /* Releases an instance. The host calls it only at exit: modules are
   * never unloaded while serving. May be NULL. */
  void (*destroy)(void* instance);
} attune_module_def;

/* Functions the host offers. Append-only: check struct_size before using a
 * member added after ABI 1.0. */
typedef struct attune_host_api {
  uint32_t struct_size;
  uint32_t abi_major; /* the host's ATTUNE_PLUGIN_ABI_MAJOR */
  uint32_t abi_minor; /* the host's ATTUNE_PLUGIN_ABI_MINOR */
  /* Registers a module (only during attune_plugin_init). The host copies
   * `def` and its strings. ATTUNE_ALREADY_EXISTS for a duplicate id,
   * ATTUNE_INVALID_ARGUMENT for a malformed definition. */
  attune_status (*register_module)(attune_registrar* registrar,
                                   const attune_module_def* def);
  /* Emits one prompt (only during evaluate): `prompt_json` is an
   * attune.v1.Prompt in proto3 JSON with at least kind (starting with the
   * module id and "/"), severity, summary (< 140 characters). The host
   * copies it and checks it; a malformed prompt makes the whole evaluation
   * count as a failure. Returns ATTUNE_OK, or ATTUNE_INVALID_ARGUMENT for a
   * prompt it refuses, ATTUNE_RESOURCE_EXHAUSTED past the host's limits. */
  attune_status (*emit_prompt)(attune_eval_output* out, attune_str prompt_json);
  /* Records a short reason for a failure (create or evaluate). Never put
   * client or clinician identifiers in it: it reaches the logs. */
  void (*set_error)(attune_eval_output* out, attune_str message);
  /* Logs a line at level 0 debug, 1 info, 2 warning, 3 error. Same rule: no
   * identifiers, no free text from events. */
  void (*log)(int level, attune_str message);
  /* Records why attune_plugin_init is about to fail (only during init); the
   * host reports it with the plugin's file name. Same rule: no identifiers. */
  void (*set_init_error)(attune_registrar* registrar, attune_str message);
} attune_host_api;

/* The two entry points every plugin defines and exports (the host looks
 * them up by these names). */
ATTUNE_PLUGIN_EXPORT const attune_plugin_manifest* attune_plugin_info(void);
ATTUNE_PLUGIN_EXPORT attune_status
attune_plugin_init(const attune_host_api* host, attune_registrar* registrar);

typedef const attune_plugin_manifest* (*attune_plugin_info_fn)(void);
typedef attune_status (*attune_plugin_init_fn)(const attune_host_api* host,
                                               attune_registrar* registrar);

#define ATTUNE_PLUGIN_INFO_SYMBOL "attune_plugin_info"
#define ATTUNE_PLUGIN_INIT_SYMBOL "attune_plugin_init"

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ATTUNE_PLUGIN_H_ */
