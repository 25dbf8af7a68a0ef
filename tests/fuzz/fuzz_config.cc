// Fuzz target: an operator's configuration file, as attuned and attunectl
// load it (config_loader.h): ParseConfigText, then ValidateConfig on the
// file alone and on the file merged over the compiled-in defaults (what
// LoadEffectiveConfig validates).
//
// Invariants:
//  - nothing crashes, whatever the text;
//  - a parse error is INVALID_ARGUMENT "<source>:<line>:<column>: ..." or
//    "<source>: does not parse", a validation error INVALID_ARGUMENT;
//  - a configuration that parses prints as text format and parses back to
//    an equal message;
//  - a configuration that validates yields an InstrumentRegistry (the
//    server builds one from it next).
// ValidateConfig reads the TLS and JWKS files a configuration names. The
// fuzzer must not read whatever path it invents (/dev/zero never ends) and
// results must not depend on the machine, so every named file is swapped
// for a fixture written once to a temporary directory, or for a path that
// does not exist when the name contains "missing".
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "attune/v1/config.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/field_comparator.h"
#include "google/protobuf/util/message_differencer.h"
#include "service/config/config_loader.h"
#include "service/engine/instrument_registry.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_quiet_protobuf.h"

namespace {

using attune::v1::ServerConfig;

struct Fixtures {
  std::string dir;
  std::string cert;
  std::string key;
  std::string jwks;
  std::string missing;
};

std::string WriteFixture(const std::string& dir, const char* name,
                         const char* content) {
  const std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

const Fixtures& Files() {
  static const Fixtures* files = [] {
    std::string dir =
        (std::filesystem::temp_directory_path() / "attune-fuzz-config-XXXXXX")
            .string();
    FUZZ_CHECK(mkdtemp(dir.data()) != nullptr, "a fixture directory");
    auto* f = new Fixtures{dir,
                           WriteFixture(dir, "cert.pem",
                                        "-----BEGIN CERTIFICATE-----\nfixture\n"
                                        "-----END CERTIFICATE-----\n"),
                           WriteFixture(dir, "key.pem",
                                        "-----BEGIN PRIVATE KEY-----\nfixture\n"
                                        "-----END PRIVATE KEY-----\n"),
                           WriteFixture(dir, "jwks.json", "{\"keys\": []}\n"),
                           dir + "/missing"};
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(Files().dir, ignored);
    });
    return f;
  }();
  return *files;
}

void Swap(std::string* path, const std::string& fixture) {
  if (path->empty()) return;
  *path = absl::StrContains(*path, "missing") ? Files().missing : fixture;
}

ServerConfig WithFixtures(ServerConfig config) {
  if (config.has_tls()) {
    attune::v1::TlsConfig* tls = config.mutable_tls();
    Swap(tls->mutable_cert_file(), Files().cert);
    Swap(tls->mutable_key_file(), Files().key);
    Swap(tls->mutable_client_ca_file(), Files().cert);
  }
  if (config.has_auth()) {
    Swap(config.mutable_auth()->mutable_jwks_file(), Files().jwks);
  }
  return config;
}

const ServerConfig& Defaults() {
  static const ServerConfig* defaults = [] {
    absl::StatusOr<ServerConfig> config = attune::config::DefaultConfig();
    FUZZ_CHECK(config.ok(), "the built-in defaults parse");
    return new ServerConfig(*std::move(config));
  }();
  return *defaults;
}

void CheckValidated(const char* what, const ServerConfig& config) {
  const absl::Status status = attune::config::ValidateConfig(config);
  FUZZ_TRACE(what, status);
  if (!status.ok()) {
    FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument,
               "validation fails only with INVALID_ARGUMENT");
    return;
  }
  FUZZ_CHECK(attune::engine::InstrumentRegistry::Create(config.rules()).ok(),
             "a valid configuration's instruments make a registry");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<ServerConfig> parsed =
      attune::config::ParseConfigText(text, "fuzz.textproto");
  FUZZ_TRACE("parse", parsed.status());
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument,
               "a parse error is INVALID_ARGUMENT");
    FUZZ_CHECK(absl::StartsWith(parsed.status().message(), "fuzz.textproto:"),
               "a parse error names its source");
    return 0;
  }

  std::string printed;
  FUZZ_CHECK(google::protobuf::TextFormat::PrintToString(*parsed, &printed),
             "a parsed configuration prints");
  absl::StatusOr<ServerConfig> reparsed =
      attune::config::ParseConfigText(printed, "printed");
  FUZZ_CHECK(reparsed.ok(), "a printed configuration parses");
  google::protobuf::util::DefaultFieldComparator comparator;
  comparator.set_treat_nan_as_equal(true);
  google::protobuf::util::MessageDifferencer differencer;
  differencer.set_field_comparator(&comparator);
  FUZZ_CHECK(differencer.Compare(*parsed, *reparsed),
             "text format round trip is lossless");

  const ServerConfig file = WithFixtures(*std::move(parsed));
  CheckValidated("file", file);
  CheckValidated("merged", attune::config::MergeConfig(Defaults(), file));
  return 0;
}
