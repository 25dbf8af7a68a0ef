#include "service/config/config_loader.h"

#include <cerrno>
#include <cstdio>
#include <map>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "service/common/status_macros.h"
#include "service/config/embedded_defaults.h"
#include "service/engine/instrument_registry.h"

namespace attune::config {
namespace {

constexpr absl::string_view kDefaultsSource = "defaults.textproto (built in)";

// Keeps the first error: later ones are usually consequences of it.
class FirstErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (!first_.empty()) return;
    // The tokenizer counts from 0; editors count from 1.
    first_ = line < 0 ? message
                      : absl::StrCat(line + 1, ":", column + 1, ": ", message);
  }
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(
      std::fopen(path.c_str(), "rb"), &std::fclose);
  if (file == nullptr) {
    int error = errno;
    if (error == ENOENT) {
      return absl::NotFoundError(absl::StrCat(path, ": config file not found"));
    }
    return absl::ErrnoToStatus(error,
                               absl::StrCat(path, ": cannot open config file"));
  }
  std::string text;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file.get())) > 0) {
    text.append(buffer, n);
  }
  if (std::ferror(file.get())) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat(path, ": cannot read config file"));
  }
  return text;
}

std::string InstrumentKey(const v1::InstrumentDefinition& def) {
  return engine::InstrumentRegistry::KeyOf(def.instrument(), def.custom_name());
}

// Each overlay definition replaces the first base definition of the same
// instrument, or is appended. A second overlay definition of one instrument
// is appended too, so that ValidateConfig reports the duplicate.
void MergeInstruments(
    const google::protobuf::RepeatedPtrField<v1::InstrumentDefinition>& overlay,
    google::protobuf::RepeatedPtrField<v1::InstrumentDefinition>* merged) {
  std::map<std::string, int> replaceable;
  for (int i = merged->size() - 1; i >= 0; --i) {
    replaceable[InstrumentKey(merged->Get(i))] = i;
  }
  for (const v1::InstrumentDefinition& def : overlay) {
    auto it = replaceable.find(InstrumentKey(def));
    if (it == replaceable.end()) {
      *merged->Add() = def;
    } else {
      *merged->Mutable(it->second) = def;
      replaceable.erase(it);
    }
  }
}

absl::Status Prefixed(absl::string_view prefix, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat(prefix, ": ", status.message()));
}

}  // namespace

absl::string_view DefaultConfigText() { return internal::kDefaultConfigText; }

absl::StatusOr<v1::ServerConfig> DefaultConfig() {
  return ParseConfigText(DefaultConfigText(), kDefaultsSource);
}

absl::StatusOr<v1::ServerConfig> ParseConfigText(absl::string_view text,
                                                 absl::string_view source) {
  FirstErrorCollector errors;
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  parser.AllowUnknownField(false);
  parser.AllowUnknownExtension(false);
  v1::ServerConfig config;
  if (!parser.ParseFromString(std::string(text), &config)) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ":",
                     errors.first().empty() ? std::string(" does not parse")
                                            : errors.first()));
  }
  return config;
}

absl::StatusOr<v1::ServerConfig> LoadConfigFile(const std::string& path) {
  ATTUNE_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseConfigText(text, path);
}

v1::ServerConfig MergeConfig(const v1::ServerConfig& base,
                             const v1::ServerConfig& overlay) {
  v1::ServerConfig merged = base;
  if (!overlay.has_rules()) {
    merged.MergeFrom(overlay);
    return merged;
  }
  v1::ServerConfig fields = overlay;
  fields.mutable_rules()->clear_instruments();
  fields.mutable_rules()->clear_alliance_preference();
  merged.MergeFrom(fields);
  v1::RulesConfig* rules = merged.mutable_rules();
  MergeInstruments(overlay.rules().instruments(), rules->mutable_instruments());
  if (!overlay.rules().alliance_preference().empty()) {
    *rules->mutable_alliance_preference() =
        overlay.rules().alliance_preference();
  }
  return merged;
}

absl::StatusOr<v1::ServerConfig> LoadEffectiveConfig(
    const std::string& path_or_empty) {
  ATTUNE_ASSIGN_OR_RETURN(v1::ServerConfig config, DefaultConfig());
  if (!path_or_empty.empty()) {
    ATTUNE_ASSIGN_OR_RETURN(v1::ServerConfig file,
                            LoadConfigFile(path_or_empty));
    config = MergeConfig(config, file);
  }
  absl::Status valid = ValidateConfig(config);
  if (!valid.ok()) {
    return Prefixed(path_or_empty.empty() ? kDefaultsSource
                                          : absl::string_view(path_or_empty),
                    valid);
  }
  return config;
}

}  // namespace attune::config
