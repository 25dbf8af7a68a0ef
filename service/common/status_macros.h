// Status propagation macros. Abseil 20220623 (Debian 12) has none of its own.
//
//   ATTUNE_RETURN_IF_ERROR(DoThing());
//   ATTUNE_ASSIGN_OR_RETURN(auto value, ComputeValue());
#ifndef ATTUNE_SERVICE_COMMON_STATUS_MACROS_H_
#define ATTUNE_SERVICE_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define ATTUNE_STATUS_CONCAT_INNER_(a, b) a##b
#define ATTUNE_STATUS_CONCAT_(a, b) ATTUNE_STATUS_CONCAT_INNER_(a, b)

#define ATTUNE_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::absl::Status attune_status_ = (expr);          \
    if (!attune_status_.ok()) return attune_status_; \
  } while (0)

#define ATTUNE_ASSIGN_OR_RETURN(lhs, expr) \
  ATTUNE_ASSIGN_OR_RETURN_IMPL_(           \
      ATTUNE_STATUS_CONCAT_(attune_statusor_, __LINE__), lhs, expr)

#define ATTUNE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return std::move(tmp).status();      \
  lhs = std::move(tmp).value()

#endif  // ATTUNE_SERVICE_COMMON_STATUS_MACROS_H_
