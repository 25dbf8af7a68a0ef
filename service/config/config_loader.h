// Server configuration: compiled-in defaults, the operator's file merged over
// them, and validation of the result.
//
//   ATTUNE_ASSIGN_OR_RETURN(v1::ServerConfig config,
//                           config::LoadEffectiveConfig(flag_path));
//
// The defaults are service/config/defaults.textproto, embedded at build
// time. An operator's file is the text format of attune.v1.ServerConfig;
// unknown fields are errors, and parse errors name the file, line and column.
// Validation errors name the field by its path from the ServerConfig root,
// e.g. "rules.phase.established_window: must be 1-1000".
#ifndef ATTUNE_SERVICE_CONFIG_CONFIG_LOADER_H_
#define ATTUNE_SERVICE_CONFIG_CONFIG_LOADER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "attune/v1/config.pb.h"

namespace attune::config {

// The text of the compiled-in defaults.textproto.
absl::string_view DefaultConfigText();

// The compiled-in defaults, parsed. Fails only if the embedded text does not
// parse (a build defect; the tests catch it).
absl::StatusOr<v1::ServerConfig> DefaultConfig();

// Parses `text` as a text-format ServerConfig. `source` names it in errors:
// INVALID_ARGUMENT "<source>:<line>:<column>: <what>" (1-based).
absl::StatusOr<v1::ServerConfig> ParseConfigText(absl::string_view text,
                                                 absl::string_view source);

// Reads and parses the file at `path`. NOT_FOUND when it does not exist;
// other read failures map from errno; parse errors as ParseConfigText. Every
// message names the path.
absl::StatusOr<v1::ServerConfig> LoadConfigFile(const std::string& path);

// `overlay` over `base`, field by field (protobuf MergeFrom: a field set in
// overlay wins, including an explicit false or 0), except for two lists:
// an instrument listed in overlay replaces base's definition of the same
// instrument (others are kept, new ones appended), and a non-empty
// rules.alliance_preference replaces base's list.
v1::ServerConfig MergeConfig(const v1::ServerConfig& base,
                             const v1::ServerConfig& overlay);

// OK when every field is usable: addresses and paths set, sizes positive,
// module thresholds in range, instruments well-defined (as
// engine::InstrumentRegistry::Create checks them) and listed once.
// INVALID_ARGUMENT "<field path>: <rule>" for the first field that is not.
absl::Status ValidateConfig(const v1::ServerConfig& config);

// DefaultConfig() with the file at `path_or_empty` merged over it (none when
// empty), validated. Errors caused by the file's content are prefixed with
// "<path>: ".
absl::StatusOr<v1::ServerConfig> LoadEffectiveConfig(
    const std::string& path_or_empty);

}  // namespace attune::config

#endif  // ATTUNE_SERVICE_CONFIG_CONFIG_LOADER_H_
