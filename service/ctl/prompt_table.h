// A compact human-readable table of prompts for `attunectl prompts
// --format table`:
//
//   ID      SEVERITY  STATUS  KIND                          SUMMARY
//   p-12    warning   active  attune.rupture/check_rupture  Check for ...
//
// An EPISODE column is added when the prompts belong to more than one
// episode (a clinician's caseload). Pure.
#ifndef ATTUNE_SERVICE_CTL_PROMPT_TABLE_H_
#define ATTUNE_SERVICE_CTL_PROMPT_TABLE_H_

#include <string>
#include <vector>

#include "attune/v1/prompt.pb.h"

namespace attune::ctl {

std::string FormatPromptTable(const std::vector<v1::Prompt>& prompts);

}  // namespace attune::ctl

#endif  // ATTUNE_SERVICE_CTL_PROMPT_TABLE_H_
