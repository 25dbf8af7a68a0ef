// Remote rule modules: modules served out of process by a gRPC server that
// implements attune.v1.RuleModule (proto/attune/v1/rule_module.proto).
//
//   v1::RemoteModule config;  // address, deadline_ms, config_json, ...
//   ATTUNE_ASSIGN_OR_RETURN(std::vector<std::unique_ptr<RuleModule>> modules,
//                           LoadRemoteModules(config));
//
// Loading opens one plain-text channel to `address` (keep it on loopback or
// a Unix socket), waits up to connect_timeout_ms (default 2000) for it to
// connect, calls Describe with config_json and checks every descriptor
// (dotted id, vendor first; a MAJOR.MINOR.PATCH version; no id twice). Each
// described module becomes one RuleModule; all share the channel, which
// lives as long as the longest-lived of them. Every refusal is an error
// whose message starts with "remote module <address>: " and says why.
// Codes: UNAVAILABLE (no connection in time), FAILED_PRECONDITION (Describe
// failed, with its code named; a bad descriptor; no modules),
// ALREADY_EXISTS (an id described twice).
//
// Evaluate sends the episode, its events in clinical order, the trigger,
// the assessment so far and config_json, with a deadline of deadline_ms
// (default 200); a late answer is DEADLINE_EXCEEDED, any other failed call
// keeps its gRPC code. The prompts that come back pass the checks native
// plugin prompts pass (proposed_prompt.h); one malformed prompt, more than
// 32 prompts or a response over 1 MiB fails the evaluation. Error messages
// name the module and the rule, never prompt content.
//
// Circuit breaker, per module: after failure_threshold (default 3) failed
// evaluations in a row the module is open: Available() is false and the
// pipeline skips it without a call. Once retry_after_ms (default 5000) has
// passed, one evaluation probes the server (waiting up to the deadline for
// the channel to reconnect); success closes the breaker, failure opens it
// for another retry_after_ms. While the probe is in flight Available() is
// false for everyone else; an evaluation that slips past Available() just
// as another claims the probe fails with UNAVAILABLE without calling.
// Breaker state changes are logged with the module id and the status code.
//
// Thread safety: the modules' methods may be called from any number of
// threads at once.
#ifndef ATTUNE_SERVICE_ENGINE_REMOTE_MODULE_H_
#define ATTUNE_SERVICE_ENGINE_REMOTE_MODULE_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "attune/v1/config.pb.h"
#include "service/engine/rule_module.h"

namespace attune::engine {

// The modules the server at config.address() describes; see above. Blocks
// for up to connect_timeout_ms.
absl::StatusOr<std::vector<std::unique_ptr<RuleModule>>> LoadRemoteModules(
    const v1::RemoteModule& config);

}  // namespace attune::engine

#endif  // ATTUNE_SERVICE_ENGINE_REMOTE_MODULE_H_
