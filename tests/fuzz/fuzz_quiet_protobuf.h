// Protobuf logs each refused input (e.g. invalid UTF-8 in a string field)
// at ERROR, and a fuzzer makes millions of them. Including this header
// discards protobuf's log output from program start; the targets check
// refusals through return values instead.
#ifndef ATTUNE_TESTS_FUZZ_FUZZ_QUIET_PROTOBUF_H_
#define ATTUNE_TESTS_FUZZ_FUZZ_QUIET_PROTOBUF_H_

#include "google/protobuf/stubs/logging.h"

namespace attune_fuzz {

inline const bool kProtobufLogsDiscarded = [] {
  google::protobuf::SetLogHandler(nullptr);
  return true;
}();

}  // namespace attune_fuzz

#endif  // ATTUNE_TESTS_FUZZ_FUZZ_QUIET_PROTOBUF_H_
