#include "service/ctl/prompt_table.h"

#include <algorithm>
#include <cstddef>

#include "absl/strings/str_cat.h"
#include "service/ctl/flag_values.h"

namespace attune::ctl {
namespace {

// One line per cell: a summary is meant to be one line, but make sure.
std::string OneLine(std::string text) {
  std::replace_if(
      text.begin(), text.end(),
      [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
  return text;
}

}  // namespace

std::string FormatPromptTable(const std::vector<v1::Prompt>& prompts) {
  if (prompts.empty()) return "no prompts\n";
  bool many_episodes = false;
  for (const v1::Prompt& prompt : prompts) {
    if (prompt.episode().episode_id() !=
        prompts.front().episode().episode_id()) {
      many_episodes = true;
    }
  }
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"ID", "SEVERITY", "STATUS", "KIND",
                                     "SUMMARY"};
  if (many_episodes) header.insert(header.begin() + 1, "EPISODE");
  rows.push_back(header);
  for (const v1::Prompt& prompt : prompts) {
    std::vector<std::string> row = {
        OneLine(prompt.id()), ShortSeverityName(prompt.severity()),
        ShortStatusName(prompt.status()), OneLine(prompt.kind()),
        OneLine(prompt.summary())};
    if (many_episodes) {
      row.insert(row.begin() + 1, OneLine(prompt.episode().episode_id()));
    }
    rows.push_back(std::move(row));
  }
  std::vector<std::size_t> widths(header.size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  std::string out;
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (i + 1 == row.size()) {
        absl::StrAppend(&out, row[i], "\n");
      } else {
        absl::StrAppend(&out, row[i],
                        std::string(widths[i] - row[i].size() + 2, ' '));
      }
    }
  }
  return out;
}

}  // namespace attune::ctl
