// The two encodings JOSE (RFC 7515/7517) is built from: unpadded base64url
// and JSON objects. Both are strict and pure, so token and key-set parsing on
// top of them can be fuzzed as functions of bytes.
#ifndef ATTUNE_SERVICE_AUTH_JOSE_ENCODING_H_
#define ATTUNE_SERVICE_AUTH_JOSE_ENCODING_H_

#include <optional>
#include <string>
#include <string_view>

#include "google/protobuf/struct.pb.h"

namespace attune::auth {

// Decodes base64url without padding (RFC 7515 §2). Refuses padding, any
// character outside [A-Za-z0-9_-] (whitespace included), an impossible length
// and non-canonical input (unused trailing bits set), so every byte string
// has exactly one accepted encoding. nullopt on any of those.
std::optional<std::string> Base64UrlDecode(std::string_view in);

// Parses `json` as a single JSON object. Duplicate member names are refused
// (RFC 7519 §4 allows rejecting them). Numbers come back as doubles. The
// protobuf parser is lenient about single quotes and trailing commas; nothing
// here depends on that. nullopt on anything else; the parser's own message is
// deliberately dropped because it quotes the input.
std::optional<google::protobuf::Struct> ParseJsonObject(std::string_view json);

}  // namespace attune::auth

#endif  // ATTUNE_SERVICE_AUTH_JOSE_ENCODING_H_
