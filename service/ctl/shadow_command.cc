// attunectl shadow compare: RuleAdmin.CompareShadow, a shadow-mode module's
// would-be prompts next to the live ones, as a table (default) or JSON.
//
// The table never prints identifiers unless --show-ids is given: episodes
// are "episode 1, 2, ..." in the order the server lists them (by id), so
// the output can be pasted into a ticket. JSON is the response as the
// server sent it (episode ids and prompts' episode references included).
#include <algorithm>
#include <iomanip>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "attune/v1/rule_admin.grpc.pb.h"
#include "service/ctl/commands.h"
#include "service/ctl/flag_values.h"
#include "service/ctl/json_lines.h"

namespace attune::ctl {
namespace {

constexpr int kMaxEpisodes = 1000;

// "4,6" for prompts raised at sessions 4 and 6; "-" for none.
std::string Sessions(
    const google::protobuf::RepeatedPtrField<v1::Prompt>& prompts) {
  if (prompts.empty()) return "-";
  std::vector<std::string> sessions;
  for (const v1::Prompt& p : prompts) {
    sessions.push_back(absl::StrCat(p.raised_at_session()));
  }
  return absl::StrJoin(sessions, ",");
}

// Shadow prompts of the episode raised at a session where a live prompt
// was raised too (ShadowSummary.shadow_agreeing, for one episode).
int Agreeing(const v1::EpisodeComparison& episode) {
  std::set<int> live;
  for (const v1::Prompt& p : episode.live_prompts()) {
    live.insert(p.raised_at_session());
  }
  int n = 0;
  for (const v1::Prompt& p : episode.shadow_prompts()) {
    n += live.count(p.raised_at_session()) > 0 ? 1 : 0;
  }
  return n;
}

// "warning 3, info 1", most frequent first.
std::string BySeverity(const v1::ShadowSummary& summary) {
  std::vector<std::pair<int64_t, std::string>> counts;
  for (const auto& [name, count] : summary.shadow_by_severity()) {
    v1::Severity severity = v1::SEVERITY_UNSPECIFIED;
    counts.emplace_back(count, v1::Severity_Parse(name, &severity)
                                   ? ShortSeverityName(severity)
                                   : name);
  }
  std::sort(counts.begin(), counts.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<std::string> parts;
  for (const auto& [count, name] : counts) {
    parts.push_back(absl::StrCat(name, " ", count));
  }
  return parts.empty() ? "-" : absl::StrJoin(parts, ", ");
}

void PrintTable(const CommandEnv& env, const v1::CompareShadowRequest& request,
                const v1::CompareShadowResponse& response, bool show_ids) {
  const v1::ShadowSummary& s = response.summary();
  std::ostream& out = env.out;
  out << "shadow module   " << request.shadow_module_id() << "\n"
      << "compared with   "
      << (request.live_module_id().empty()
              ? "every live prompt of the same episodes"
              : request.live_module_id())
      << "\n"
      << "episodes        " << s.episodes_with_shadow()
      << " with shadow prompts, " << s.episodes_with_live()
      << " with live prompts, " << s.episodes_with_both() << " with both\n"
      << "shadow prompts  " << s.shadow_prompts() << " (" << s.shadow_agreeing()
      << " raised at a session where a live prompt was raised too)\n"
      << "live prompts    " << s.live_prompts() << "\n"
      << "by severity     " << BySeverity(s) << "\n";
  if (response.episodes().empty()) {
    out << "\nno episode has a prompt of either side\n";
    return;
  }

  std::vector<std::string> names;
  size_t width = std::string("EPISODE").size();
  for (int i = 0; i < response.episodes_size(); ++i) {
    names.push_back(show_ids ? response.episodes(i).episode_id()
                             : absl::StrCat("episode ", i + 1));
    width = std::max(width, names.back().size());
  }
  width += 2;
  out << "\n"
      << std::left << std::setw(static_cast<int>(width)) << "EPISODE"
      << std::right << std::setw(6) << "SHADOW" << std::setw(6) << "LIVE"
      << std::setw(10) << "AGREEING"
      << "  " << std::left << std::setw(19) << "SHADOW AT SESSION"
      << "LIVE AT SESSION\n";
  for (int i = 0; i < response.episodes_size(); ++i) {
    const v1::EpisodeComparison& e = response.episodes(i);
    out << std::left << std::setw(static_cast<int>(width)) << names[i]
        << std::right << std::setw(6) << e.shadow_prompts_size() << std::setw(6)
        << e.live_prompts_size() << std::setw(10) << Agreeing(e) << "  "
        << std::left << std::setw(19) << Sessions(e.shadow_prompts())
        << Sessions(e.live_prompts()) << "\n";
  }
  const int64_t total = s.episodes_with_shadow() + s.episodes_with_live() -
                        s.episodes_with_both();
  if (total > response.episodes_size()) {
    out << "(" << response.episodes_size() << " of " << total
        << " episodes listed; --max-episodes lists up to " << kMaxEpisodes
        << ")\n";
  }
}

int Compare(const CommandEnv& env) {
  const std::string format = env.line.Get("format", "table");
  if (format != "json" && format != "table") {
    return ReportUsageError(
        env, absl::InvalidArgumentError("--format must be json or table"));
  }
  if (env.line.Get("module").empty()) {
    return ReportUsageError(
        env, absl::InvalidArgumentError(
                 "--module is required: the id of the module in shadow mode"));
  }
  if (env.line.Has("against") && env.line.Get("against").empty()) {
    return ReportUsageError(
        env, absl::InvalidArgumentError("--against must not be empty"));
  }
  v1::CompareShadowRequest request;
  request.set_shadow_module_id(env.line.Get("module"));
  request.set_live_module_id(env.line.Get("against"));
  if (env.line.Has("max-episodes")) {
    absl::StatusOr<int> max = ParseIntInRange(
        "--max-episodes", env.line.Get("max-episodes"), 1, kMaxEpisodes);
    if (!max.ok()) return ReportUsageError(env, max.status());
    request.set_max_episodes(*max);
  }

  auto stub = v1::RuleAdmin::NewStub(env.channel);
  grpc::ClientContext context;
  SetDeadline(env, &context);
  v1::CompareShadowResponse response;
  const grpc::Status status = stub->CompareShadow(&context, request, &response);
  if (!status.ok()) return ReportRpcError(env, status);
  if (format == "json") {
    if (absl::Status printed = WriteJson(response, /*pretty=*/false, env.out);
        !printed.ok()) {
      env.err << "attunectl: shadow: " << printed.message() << "\n";
      return kExitFailed;
    }
    return kExitOk;
  }
  PrintTable(env, request, response, env.line.Has("show-ids"));
  return kExitOk;
}

}  // namespace

int RunShadow(const CommandEnv& env) {
  const std::string& action = env.line.arguments.at(0);
  if (action != "compare") {
    return ReportUsageError(
        env, absl::InvalidArgumentError("unknown action '" + action +
                                        "' (expected: compare)"));
  }
  return Compare(env);
}

}  // namespace attune::ctl
