// example.safety_item_cpp — the safety_item example written with the C++
// helper (attune/plugin.hpp). Same rule and configuration as
// plugins/examples/safety_item_c:
//
//   {"instrument": "custom:acme.phq9", "item": 9, "min_score": 1}
//   {"instrument": "INSTRUMENT_CUSTOM", "name": "acme.phq9", "item": 9}
//
// When the triggering measureRecorded event is the configured custom
// instrument and its item at position `item` (1-based) scores at least
// `min_score` (default 1), raises a SEVERITY_CRITICAL prompt.
#include <cstdio>
#include <string>
#include <string_view>

#include "attune/plugin.hpp"
#include "attune/plugin_json.h"

namespace example {
namespace {

using attune::plugin::Input;
using attune::plugin::Output;
using attune::plugin::Status;

attune_str Str(std::string_view s) { return attune_str{s.data(), s.size()}; }
std::string_view View(attune_str s) { return std::string_view(s.data, s.size); }

// CustomInstrument.name: 1-64 of [a-z0-9._-] (event.proto). Also makes the
// name safe to put into prompt JSON unescaped.
bool ValidInstrumentName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

class SafetyItemModule final : public attune::plugin::Module {
 public:
  static constexpr const char* kId = "example.safety_item_cpp";
  static constexpr const char* kVersion = "1.0.0";

  Status Configure(std::string_view config_json) override {
    attune_json_iter it;
    attune_str key, value, text;
    std::string_view instrument, name;
    bool have_instrument = false, have_name = false, have_item = false;
    double number = 0;
    int rc;
    if (!attune_json_object_begin(Str(config_json), &it)) {
      return Status::InvalidArgument("configuration must be a JSON object");
    }
    while ((rc = attune_json_object_next(&it, &key, &value)) == 1) {
      std::string_view k = View(key);
      if (k == "instrument") {
        if (!attune_json_string(value, &text)) {
          return Status::InvalidArgument("instrument: must be a string");
        }
        instrument = View(text);
        have_instrument = true;
      } else if (k == "name") {
        if (!attune_json_string(value, &text)) {
          return Status::InvalidArgument("name: must be a string");
        }
        name = View(text);
        have_name = true;
      } else if (k == "item") {
        if (!attune_json_number(value, &number) || !(number >= 1) ||
            number > 100 || number != static_cast<int>(number)) {
          return Status::InvalidArgument(
              "item: must be an integer from 1 to 100");
        }
        item_ = static_cast<int>(number);
        have_item = true;
      } else if (k == "min_score") {
        if (!attune_json_number(value, &number) || number != number ||
            number > 1e300 || number < -1e300) {
          return Status::InvalidArgument("min_score: must be a number");
        }
        min_score_ = number;
      } else {
        return Status::InvalidArgument(
            "unknown field (expected instrument, name, item, min_score)");
      }
    }
    if (rc < 0) {
      return Status::InvalidArgument("configuration is not well-formed JSON");
    }
    if (!have_instrument) {
      return Status::InvalidArgument(
          "instrument: required, e.g. \"custom:acme.phq9\"");
    }
    constexpr std::string_view kCustomPrefix = "custom:";
    if (instrument.size() > kCustomPrefix.size() &&
        instrument.substr(0, kCustomPrefix.size()) == kCustomPrefix) {
      if (have_name) {
        return Status::InvalidArgument(
            "name: give the name either in instrument or here");
      }
      name = instrument.substr(kCustomPrefix.size());
    } else if (instrument == "INSTRUMENT_CUSTOM") {
      if (!have_name) {
        return Status::InvalidArgument("name: required with INSTRUMENT_CUSTOM");
      }
    } else {
      return Status::InvalidArgument(
          "instrument: must be \"custom:<name>\" or \"INSTRUMENT_CUSTOM\" "
          "with \"name\"");
    }
    if (!ValidInstrumentName(name)) {
      return Status::InvalidArgument("name: must be 1-64 of [a-z0-9._-]");
    }
    if (!have_item) {
      return Status::InvalidArgument("item: required (1-based position)");
    }
    instrument_name_ = std::string(name);
    return Status::Ok();
  }

  Status Evaluate(const Input& input, Output& out) const override {
    double score = 0, session = 0;
    if (!ItemScore(input.trigger_json(), score, session) ||
        !(score >= min_score_)) {
      return Status::Ok();
    }
    char detail[256];
    std::snprintf(detail, sizeof detail,
                  "Item %d of %s was scored %g at session %.0f (threshold "
                  "%g or more).",
                  item_, instrument_name_.c_str(), score, session, min_score_);
    char strength[32];
    std::snprintf(strength, sizeof strength, "%g", score);
    std::string prompt;
    prompt += "{\"kind\":\"";
    prompt += kId;
    prompt += "/risk_item_endorsed\",\"severity\":\"SEVERITY_CRITICAL\",";
    prompt +=
        "\"summary\":\"Risk item endorsed on the latest questionnaire: review "
        "safety today.\",";
    prompt += "\"detail\":\"";
    prompt += detail;
    prompt += "\",";
    prompt +=
        "\"actions\":[{\"id\":\"review_safety\",\"label\":\"Review safety "
        "with the client today\"},{\"id\":\"follow_safety_protocol\","
        "\"label\":\"Follow the clinic's safety protocol\"}],";
    prompt += "\"scope\":\"PROMPT_SCOPE_EPISODE\",\"priority\":100,";
    prompt += "\"strength\":";
    prompt += strength;
    prompt += "}";
    return out.EmitPrompt(prompt);
  }

 private:
  // True when `event` is a measureRecorded of the configured instrument with
  // a score at the configured position.
  bool ItemScore(std::string_view event, double& score, double& session) const {
    attune_str measure, value, text, items;
    if (attune_json_member(Str(event), "measureRecorded", &measure) != 1) {
      return false;
    }
    if (attune_json_member(measure, "instrument", &value) != 1 ||
        View(value) != "\"INSTRUMENT_CUSTOM\"") {
      return false;
    }
    attune_str custom;
    if (attune_json_member(measure, "custom", &custom) != 1 ||
        attune_json_member(custom, "name", &value) != 1 ||
        !attune_json_string(value, &text) || View(text) != instrument_name_) {
      return false;
    }
    if (attune_json_member(measure, "items", &items) != 1 ||
        attune_json_element(items, static_cast<size_t>(item_ - 1), &value) !=
            1 ||
        !attune_json_number(value, &score)) {
      return false;
    }
    session = 0;
    if (attune_json_member(measure, "sessionNumber", &value) == 1) {
      attune_json_number(value, &session);
    }
    return true;
  }

  std::string instrument_name_;
  int item_ = 0;
  double min_score_ = 1;
};

}  // namespace
}  // namespace example

ATTUNE_PLUGIN_DEFINE("example-safety-item-cpp", "1.0.0", "Attune examples",
                     example::SafetyItemModule);
