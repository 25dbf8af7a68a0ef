// Fuzz target: JSON Web Key Sets (service/auth/jwks.h), the document an
// operator points attuned at and that is re-read when it changes.
//
// Invariants:
//  - nothing crashes, whatever the bytes (keys go through OpenSSL's
//    fromdata and public-key check);
//  - a refusal is INVALID_ARGUMENT (INTERNAL only for allocation failure);
//  - a key the set holds is found by its kid, has a key object, a size
//    that fits its type (RSA 2048-8192 bits, EC 256 or 384) and an "alg"
//    that is empty or fits its type; the empty kid is never found.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "service/auth/jwks.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_quiet_protobuf.h"

namespace {

namespace auth = attune::auth;

void CheckKey(const auth::JsonWebKey& key, std::string_view kid) {
  FUZZ_CHECK(key.kid == kid, "a key is found by its own kid");
  FUZZ_CHECK(key.pkey != nullptr, "a key holds an OpenSSL key");
  switch (key.type) {
    case auth::KeyType::kRsa:
      FUZZ_CHECK(key.bits >= 2048 && key.bits <= 8192,
                 "RSA keys are 2048-8192 bits");
      FUZZ_CHECK(key.alg.empty() || key.alg == "RS256" || key.alg == "RS384",
                 "an RSA key's alg is RS256 or RS384");
      break;
    case auth::KeyType::kEcP256:
      FUZZ_CHECK(key.bits == 256, "P-256 keys are 256 bits");
      FUZZ_CHECK(key.alg.empty() || key.alg == "ES256",
                 "a P-256 key's alg is ES256");
      break;
    case auth::KeyType::kEcP384:
      FUZZ_CHECK(key.bits == 384, "P-384 keys are 384 bits");
      FUZZ_CHECK(key.alg.empty() || key.alg == "ES384",
                 "a P-384 key's alg is ES384");
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<auth::JsonWebKeySet> set = auth::JsonWebKeySet::Parse(json);
  FUZZ_TRACE("parse", set.status());
  if (!set.ok()) {
    FUZZ_CHECK(set.status().code() == absl::StatusCode::kInvalidArgument ||
                   set.status().code() == absl::StatusCode::kInternal,
               "a refusal is INVALID_ARGUMENT");
    FUZZ_CHECK(!set.status().message().empty(), "a refusal says why");
    return 0;
  }
  FUZZ_CHECK(set->Find("") == nullptr, "the empty kid is never found");
  // Every quoted run of the text is a candidate kid: a kid written without
  // escapes is among them, so each key of such a set is looked up.
  std::set<std::string_view> found;
  size_t pos = 0;
  while ((pos = json.find('"', pos)) != json.npos) {
    const size_t close = json.find('"', pos + 1);
    if (close == json.npos) break;
    const std::string_view kid = json.substr(pos + 1, close - pos - 1);
    if (const auth::JsonWebKey* key = set->Find(kid)) {
      CheckKey(*key, kid);
      found.insert(kid);
    }
    pos = close + 1;
  }
  FUZZ_CHECK(found.size() <= set->size(), "Find finds only held keys");
  return 0;
}
