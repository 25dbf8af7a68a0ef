/*
 * example.safety_item_c — an Attune rule-module plugin in plain C99.
 *
 * Raises a critical prompt when the triggering event records a custom
 * questionnaire (e.g. a PHQ-9 the host declares as "acme.phq9") whose risk
 * item is endorsed: the score at position `item` (1-based) is at least
 * `min_score`. Configuration (a JSON object):
 *
 *   {"instrument": "custom:acme.phq9", "item": 9, "min_score": 1}
 *   {"instrument": "INSTRUMENT_CUSTOM", "name": "acme.phq9", "item": 9}
 *
 * `instrument` and `item` are required; `min_score` defaults to 1. Unknown
 * fields are refused, so a typo cannot silently turn the rule off.
 *
 * Copy this folder to start a plugin: rename the module id, the kind and
 * the info block, and replace evaluate's logic.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attune/plugin.h"
#include "attune/plugin_json.h"

#define MODULE_ID "example.safety_item_c"
#define MODULE_VERSION "1.0.0"
#define NAME_MAX_BYTES 64

/* The host table, kept from attune_plugin_init for emit_prompt/set_error. */
static const attune_host_api* g_host = NULL;

typedef struct safety_item_config {
  char instrument_name[NAME_MAX_BYTES + 1];
  int item;         /* 1-based */
  double min_score; /* inclusive */
} safety_item_config;

static void report(attune_eval_output* out, const char* message) {
  attune_str s;
  s.data = message;
  s.size = strlen(message);
  g_host->set_error(out, s);
}

/* CustomInstrument.name: 1-64 of [a-z0-9._-] (event.proto). Checking it
 * here also makes the name safe to copy into prompt JSON unescaped. */
static int valid_instrument_name(attune_str name) {
  size_t i;
  if (name.size == 0 || name.size > NAME_MAX_BYTES) return 0;
  for (i = 0; i < name.size; ++i) {
    char c = name.data[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-')) {
      return 0;
    }
  }
  return 1;
}

static attune_status invalid(attune_eval_output* sink, const char* message) {
  report(sink, message);
  return ATTUNE_INVALID_ARGUMENT;
}

static attune_status parse_config(attune_str json, safety_item_config* config,
                                  attune_eval_output* sink) {
  attune_json_iter it;
  attune_str key, value;
  attune_str instrument = {NULL, 0}, name = {NULL, 0};
  int have_item = 0, rc;
  double number;

  config->min_score = 1;
  if (!attune_json_object_begin(json, &it)) {
    return invalid(sink, "configuration must be a JSON object");
  }
  while ((rc = attune_json_object_next(&it, &key, &value)) == 1) {
    if (attune_json_str_eq(key, "instrument")) {
      if (!attune_json_string(value, &instrument)) {
        return invalid(sink, "instrument: must be a string");
      }
    } else if (attune_json_str_eq(key, "name")) {
      if (!attune_json_string(value, &name)) {
        return invalid(sink, "name: must be a string");
      }
    } else if (attune_json_str_eq(key, "item")) {
      if (!attune_json_number(value, &number) || !(number >= 1) ||
          number > 100 || number != (double)(int)number) {
        return invalid(sink, "item: must be an integer from 1 to 100");
      }
      config->item = (int)number;
      have_item = 1;
    } else if (attune_json_str_eq(key, "min_score")) {
      if (!attune_json_number(value, &number) || number != number ||
          number > 1e300 || number < -1e300) { /* NaN or infinite */
        return invalid(sink, "min_score: must be a number");
      }
      config->min_score = number;
    } else {
      return invalid(sink,
                     "unknown field (expected instrument, name, item, "
                     "min_score)");
    }
  }
  if (rc < 0) return invalid(sink, "configuration is not well-formed JSON");

  if (instrument.data == NULL) {
    return invalid(sink, "instrument: required, e.g. \"custom:acme.phq9\"");
  }
  if (instrument.size > 7 && memcmp(instrument.data, "custom:", 7) == 0) {
    if (name.data != NULL) {
      return invalid(sink, "name: give the name either in instrument or here");
    }
    name.data = instrument.data + 7;
    name.size = instrument.size - 7;
  } else if (attune_json_str_eq(instrument, "INSTRUMENT_CUSTOM")) {
    if (name.data == NULL) {
      return invalid(sink, "name: required with INSTRUMENT_CUSTOM");
    }
  } else {
    return invalid(sink,
                   "instrument: must be \"custom:<name>\" or "
                   "\"INSTRUMENT_CUSTOM\" with \"name\"");
  }
  if (!valid_instrument_name(name)) {
    return invalid(sink, "name: must be 1-64 of [a-z0-9._-]");
  }
  if (!have_item) return invalid(sink, "item: required (1-based position)");
  memcpy(config->instrument_name, name.data, name.size);
  config->instrument_name[name.size] = '\0';
  return ATTUNE_OK;
}

static attune_status create(attune_str config_json, void** instance,
                            attune_eval_output* error_sink) {
  safety_item_config parsed;
  safety_item_config* config;
  attune_status status;
  memset(&parsed, 0, sizeof parsed);
  status = parse_config(config_json, &parsed, error_sink);
  if (status != ATTUNE_OK) return status;
  config = (safety_item_config*)malloc(sizeof *config);
  if (config == NULL) return ATTUNE_RESOURCE_EXHAUSTED;
  *config = parsed;
  *instance = config;
  return ATTUNE_OK;
}

/* Reads the endorsed score from a measureRecorded event. Returns 1 and sets
 * *score and *session when the event is a measure of the configured
 * instrument with at least `item` items; 0 otherwise. */
static int item_score(const safety_item_config* config, attune_str event,
                      double* score, double* session) {
  attune_str measure, instrument, custom, name, items, value;
  if (attune_json_member(event, "measureRecorded", &measure) != 1) return 0;
  if (attune_json_member(measure, "instrument", &instrument) != 1 ||
      !attune_json_str_eq(instrument, "\"INSTRUMENT_CUSTOM\"")) {
    return 0;
  }
  if (attune_json_member(measure, "custom", &custom) != 1 ||
      attune_json_member(custom, "name", &value) != 1 ||
      !attune_json_string(value, &name) ||
      !attune_json_str_eq(name, config->instrument_name)) {
    return 0;
  }
  if (attune_json_member(measure, "items", &items) != 1 ||
      attune_json_element(items, (size_t)(config->item - 1), &value) != 1 ||
      !attune_json_number(value, score)) {
    return 0;
  }
  *session = 0;
  if (attune_json_member(measure, "sessionNumber", &value) == 1) {
    attune_json_number(value, session);
  }
  return 1;
}

static attune_status evaluate(void* instance, const attune_eval_input* input,
                              attune_eval_output* out) {
  const safety_item_config* config = (const safety_item_config*)instance;
  double score, session;
  char prompt[1024];
  int n;
  attune_str json;

  /* Only read fields the host's struct is long enough to have. */
  if (input->struct_size <
      offsetof(attune_eval_input, trigger_json) + sizeof(attune_str)) {
    report(out, "host passed no trigger_json");
    return ATTUNE_FAILED_PRECONDITION;
  }
  if (!item_score(config, input->trigger_json, &score, &session) ||
      !(score >= config->min_score)) {
    return ATTUNE_OK;
  }

  n = snprintf(
      prompt, sizeof prompt,
      "{\"kind\":\"" MODULE_ID
      "/risk_item_endorsed\","
      "\"severity\":\"SEVERITY_CRITICAL\","
      "\"summary\":\"Risk item endorsed on the latest questionnaire: review "
      "safety today.\","
      "\"detail\":\"Item %d of %s was scored %g at session %.0f (threshold "
      "%g or more).\","
      "\"actions\":["
      "{\"id\":\"review_safety\",\"label\":\"Review safety with the client "
      "today\"},"
      "{\"id\":\"follow_safety_protocol\",\"label\":\"Follow the clinic's "
      "safety protocol\"}],"
      "\"scope\":\"PROMPT_SCOPE_EPISODE\","
      "\"priority\":100,"
      "\"strength\":%g}",
      config->item, config->instrument_name, score, session, config->min_score,
      score);
  if (n < 0 || (size_t)n >= sizeof prompt) {
    report(out, "prompt did not fit its buffer");
    return ATTUNE_INTERNAL;
  }
  json.data = prompt;
  json.size = (size_t)n;
  return g_host->emit_prompt(out, json);
}

static void destroy(void* instance) { free(instance); }

static const attune_plugin_manifest kInfo = {sizeof(attune_plugin_manifest),
                                             ATTUNE_PLUGIN_ABI_MAJOR,
                                             ATTUNE_PLUGIN_ABI_MINOR,
                                             "example-safety-item-c",
                                             "1.0.0",
                                             "Attune examples"};

ATTUNE_PLUGIN_EXPORT const attune_plugin_manifest* attune_plugin_info(void) {
  return &kInfo;
}

ATTUNE_PLUGIN_EXPORT attune_status
attune_plugin_init(const attune_host_api* host, attune_registrar* registrar) {
  attune_module_def def;
  /* Every function used here is in ABI 1.0; a later plugin using a newer
   * host function would check struct_size covers it first. */
  if (host == NULL ||
      host->struct_size < offsetof(attune_host_api, log) + sizeof(host->log)) {
    return ATTUNE_FAILED_PRECONDITION;
  }
  if (host->abi_major != ATTUNE_PLUGIN_ABI_MAJOR) {
    /* The host table of another major cannot be trusted beyond its first
     * members: log, which every major keeps, is the safe way to explain. */
    static const char kMessage[] = "built for another plugin ABI major";
    attune_str message;
    message.data = kMessage;
    message.size = sizeof kMessage - 1;
    host->log(3, message);
    return ATTUNE_FAILED_PRECONDITION;
  }
  g_host = host;
  memset(&def, 0, sizeof def);
  def.struct_size = sizeof def;
  def.id = MODULE_ID;
  def.version = MODULE_VERSION;
  def.create = create;
  def.evaluate = evaluate;
  def.destroy = destroy;
  return host->register_module(registrar, &def);
}
