#include "service/ctl/cli.h"

#include "absl/status/statusor.h"
#include "service/ctl/channel.h"
#include "service/ctl/commands.h"
#include "service/ctl/flag_values.h"

namespace attune::ctl {
namespace {

using CommandFn = int (*)(const CommandEnv&);

CommandLineSpec BuildSpec() {
  CommandLineSpec spec;
  spec.program = "attunectl";
  spec.global_flags = {
      {"server", "HOST:PORT",
       "attuned address (default: $ATTUNE_SERVER, else\n"
       "127.0.0.1:50051)"},
      {"timeout", "DURATION",
       "deadline of every call except watch, e.g. 500ms, 30s\n"
       "(default 10s)"},
      {"tls-ca", "FILE",
       "connect with TLS; verify attuned's certificate against\n"
       "these PEM CA certificates"},
      {"tls-cert", "FILE",
       "client certificate (PEM) for mutual TLS; needs --tls-key"},
      {"tls-key", "FILE", "private key (PEM) of --tls-cert"},
      {"token-file", "FILE",
       "send the bearer token (JWT) in FILE with every call;\n"
       "never printed. Plain text only to loopback"},
  };

  CommandSpec submit;
  submit.name = "submit";
  submit.arguments = "<file.jsonl|->";
  submit.argument_names = {"<file.jsonl|->"};
  submit.summary = "send the SessionEvents of a JSON-lines file (- = stdin)";
  submit.description =
      "Each non-blank line not starting with # is one attune.v1.SessionEvent\n"
      "in the proto3 JSON mapping. The whole file is parsed first: a line\n"
      "that does not parse is reported as FILE:LINE with the parser's message\n"
      "(never the line's content) and nothing is sent.\n"
      "\n"
      "stdout: one SubmitEventResponse JSON line per accepted event, in file\n"
      "order, with or without --batch. stderr: 'line N: CODE: message' per\n"
      "rejected event, then a summary. Exit 0 when every event was accepted,\n"
      "1 when any was rejected, 2 when the file is unreadable or malformed.\n"
      "\n"
      "Examples:\n"
      "  attunectl submit deploy/local/demo/episode-part1.jsonl\n"
      "  attunectl submit --batch 100 --keep-going backfill.jsonl\n"
      "  attunectl submit --shift-from 2026-11-10T00:00:00Z demo.jsonl\n"
      "  export-events | attunectl submit -\n";
  submit.flags = {
      {"batch", "N",
       "send N events per SubmitEvents call (1-1000) instead of\n"
       "one SubmitEvent each"},
      {"keep-going", "", "after a rejected event, send the rest anyway"},
      {"shift-from", "RFC3339",
       "move every timestamp in the file by (now - RFC3339), so a\n"
       "recorded course replays as recent history (demos, tests)"},
  };

  CommandSpec assessment;
  assessment.name = "assessment";
  assessment.arguments = "<episode_id>";
  assessment.argument_names = {"<episode_id>"};
  assessment.summary = "print an episode's current assessment (GetAssessment)";
  assessment.description =
      "Prints the GetAssessmentResponse as one JSON line.\n"
      "\n"
      "Examples:\n"
      "  attunectl assessment demo-episode-1 --pretty\n"
      "  attunectl assessment demo-episode-1 | jq .assessment.rupture\n";
  assessment.flags = {{"pretty", "", "indented, multi-line JSON"}};

  CommandSpec prompts;
  prompts.name = "prompts";
  prompts.summary =
      "list the prompts of an episode or a clinician's caseload (ListPrompts)";
  prompts.description =
      "Give exactly one of --episode and --clinician. Prints one Prompt JSON\n"
      "line per prompt, or a table with --format table. Without --all-pages\n"
      "only the first page is printed and the next page token goes to "
      "stderr.\n"
      "\n"
      "Examples:\n"
      "  attunectl prompts --episode demo-episode-1 --format table\n"
      "  attunectl prompts --clinician demo-clinician-1 --status all "
      "--all-pages\n"
      "  attunectl prompts --episode demo-episode-1 --status "
      "resolved,expired\n";
  prompts.flags = {
      {"episode", "ID", "prompts of this episode"},
      {"clinician", "ID", "prompts of this clinician's caseload"},
      {"status", "LIST",
       "comma-separated: active, acknowledged, dismissed, snoozed,\n"
       "resolved, expired, queued, or all (default: active,acknowledged)"},
      {"page-size", "N", "prompts per call, 1-500 (server default 100)"},
      {"page-token", "TOKEN", "continue from a previous page"},
      {"all-pages", "", "follow next_page_token to the end"},
      {"format", "json|table", "output format (default json)"},
  };

  CommandSpec watch;
  watch.name = "watch";
  watch.summary = "stream prompt updates as they happen (WatchPrompts)";
  watch.description =
      "Give exactly one of --episode and --clinician. Prints the currently\n"
      "visible prompts (\"initial\": true), then one PromptUpdate JSON line "
      "per\n"
      "change, flushed as it arrives. Runs without a deadline until --count\n"
      "updates arrived or Ctrl-C (exit 0).\n"
      "\n"
      "Examples:\n"
      "  attunectl watch --clinician demo-clinician-1\n"
      "  attunectl watch --episode demo-episode-1 --count 1\n";
  watch.flags = {
      {"episode", "ID", "updates of this episode"},
      {"clinician", "ID", "updates of this clinician's caseload"},
      {"count", "N", "stop after N updates (initial ones included)"},
  };

  CommandSpec feedback;
  feedback.name = "feedback";
  feedback.arguments = "<prompt_id> accept|dismiss|snooze";
  feedback.argument_names = {"<prompt_id>",
                             "<outcome> (accept|dismiss|snooze)"};
  feedback.summary =
      "record a clinician's reaction to a prompt (RecordPromptFeedback)";
  feedback.description =
      "accept: the prompt was useful (it becomes acknowledged). dismiss: not\n"
      "useful, optionally with --reason. snooze: remind later; needs --until.\n"
      "The feedback is an event: without --event-id a fresh id fb-<hex> is\n"
      "used. Prints the response (the updated prompt) as JSON.\n"
      "\n"
      "Examples:\n"
      "  attunectl feedback PROMPT_ID accept\n"
      "  attunectl feedback PROMPT_ID dismiss --reason already_addressed\n"
      "  attunectl feedback PROMPT_ID snooze --until 2026-12-01T09:00:00Z\n";
  feedback.flags = {
      {"reason", "WHY",
       "with dismiss: not_relevant, already_addressed, incorrect,\n"
       "too_many_prompts or other"},
      {"until", "TIME",
       "with snooze: RFC 3339 time, e.g. 2026-12-01T09:00:00Z"},
      {"event-id", "ID", "idempotency key; reuse it when retrying"},
      {"occurred-at", "TIME",
       "when the clinician reacted, RFC 3339 (default: the server's\n"
       "time); for backfills and replayed demos"},
      {"pretty", "", "indented, multi-line JSON"},
  };

  CommandSpec health;
  health.name = "health";
  health.summary = "check the server's health (grpc.health.v1 Check)";
  health.description =
      "Prints SERVING, NOT_SERVING, UNKNOWN or SERVICE_UNKNOWN. Exit 0 only\n"
      "for SERVING.\n"
      "\n"
      "Examples:\n"
      "  attunectl health\n"
      "  attunectl --server 10.0.0.5:50051 health --service "
      "attune.v1.AllianceService\n";
  health.flags = {
      {"service", "NAME", "a service name; default: the server as a whole"},
  };

  CommandSpec modules;
  modules.name = "modules";
  modules.arguments = "[reload]";
  modules.argument_names = {"<action> (reload)"};
  modules.optional_arguments = 1;
  modules.summary =
      "the rule modules, their health and feedback (ListModules); reload";
  modules.description =
      "Every rule module in run order: version, where it comes from\n"
      "(builtin, native, remote), enabled (yes, no, or shadow: runs but is\n"
      "never shown), its state (healthy, failing, circuit_open), evaluations\n"
      "and errors since the server started, and\n"
      "how clinicians answered its prompts (accepted / dismissed / snoozed)\n"
      "for this tenant.\n"
      "\n"
      "'modules reload' makes attuned re-read its configuration file and swap\n"
      "in the module set it describes (ReloadModules, as SIGHUP does) and\n"
      "prints 'generation: N', 'modules: N' and one 'restart_required: FIELD'\n"
      "line per setting that only takes effect on restart (JSON with\n"
      "--format json). A refused reload exits 1 with the server's message;\n"
      "the running set keeps serving.\n"
      "\n"
      "Examples:\n"
      "  attunectl modules --format table\n"
      "  attunectl modules | jq .modules[0]\n"
      "  attunectl modules reload\n";
  modules.flags = {
      {"format", "json|table",
       "one JSON message (default) or a table; reload: text\n(default) or "
       "json"},
  };

  CommandSpec plugin;
  plugin.name = "plugin";
  plugin.arguments = "check <file.so>";
  plugin.argument_names = {"<action> (check)", "<file.so>"};
  plugin.summary = "load a native rule-module plugin here and try it out";
  plugin.description =
      "Loads the plugin in this process exactly as attuned would (no server\n"
      "is contacted) and prints its info as 'key: value' lines: file, name,\n"
      "version, vendor, abi, and one 'module: <id> <version>' per module.\n"
      "With --events, folds the file's SessionEvents per episode with the\n"
      "built-in default configuration and, after each event, runs every\n"
      "module with that event as the trigger, printing each prompt as\n"
      "'prompt: line <L> <module id> <prompt JSON>' (L: the event's line in\n"
      "the file), then 'summary: N events, M prompts, K failures'.\n"
      "Exit 0 when the plugin loads and no evaluation failed, 1\n"
      "otherwise (with the loader's or the module's message), 2 for a bad\n"
      "command line or events file.\n"
      "\n"
      "Examples:\n"
      "  attunectl plugin check ./libacme_safety.so\n"
      "  attunectl plugin check ./libacme_safety.so --config '{\"level\": 2}' "
      "\\\n"
      "      --events deploy/local/demo/episode-part1.jsonl\n";
  plugin.flags = {
      {"config", "JSON",
       "the JSON object given to every module's create()\n(default {})"},
      {"events", "FILE.jsonl", "SessionEvents to run the modules over"},
  };

  CommandSpec replay;
  replay.name = "replay";
  replay.arguments = "<events.jsonl|attune.db>";
  replay.argument_names = {"<events.jsonl|attune.db>"};
  replay.summary = "backtest a module set over a recorded event log, offline";
  replay.description =
      "Runs the engine of attuned in this process (no server is contacted)\n"
      "on a temporary database, with the built-in modules, native plugins\n"
      "and remote modules of the configuration, submits the log's events in\n"
      "order (a JSON-lines file, or an attuned database file read in place\n"
      "as 'attunectl export' would) and\n"
      "reports per module: prompts raised, warnings, held sessions and the\n"
      "firing rate (share of held sessions for which a warning of the\n"
      "module was visible in the answer to any event about the session, its\n"
      "end-of-session ratings included); then per episode the prompts\n"
      "raised with their\n"
      "session and final status. Episodes are numbered #1, #2, ... in file\n"
      "order: no identifiers are printed. With --against, replays a second\n"
      "configuration too and lists the prompts (module, episode, kind) only\n"
      "one of them raises. Exit 0 when every event was accepted, 1 when any\n"
      "was rejected (listed by line) or the engine failed, 2 for a bad\n"
      "command line, configuration or events file.\n"
      "\n"
      "Examples:\n"
      "  attunectl replay deploy/local/demo/episode.jsonl\n"
      "  attunectl replay log.jsonl --config a.textproto --against "
      "b.textproto\n"
      "  attunectl replay log.jsonl --format json | jq .modules\n";
  replay.flags = {
      {"config", "FILE",
       "attuned configuration (text format) merged over the\n"
       "defaults (default: the defaults)"},
      {"against", "FILE", "a second configuration to compare with"},
      {"format", "text|json", "output format (default text)"},
      {"tenant", "NAME",
       "replay as this tenant, and read its events when the\nlog is a "
       "database file (default: default)"},
      {"key-file", "FILE",
       "storage keys of a sealed database file (default:\n"
       "$ATTUNE_STORAGE_KEYS)"},
  };

  CommandSpec exporter;
  exporter.name = "export";
  exporter.summary = "a tenant's events from a database file, as JSON lines";
  exporter.description =
      "Reads an attuned SQLite database directly (no server is contacted;\n"
      "safe while attuned runs: the file is never migrated, so its schema\n"
      "must be this version's) and writes every event of the tenant as one\n"
      "JSON line, in the order they happened (each episode's events in the\n"
      "order attuned received them, episodes interleaved by time): the\n"
      "input of 'attunectl submit --batch' (to move a clinic to another\n"
      "store) and of 'attunectl replay'. With --deidentify, client,\n"
      "clinician, episode and event ids become keyed hashes whose key is\n"
      "not kept, and every time moves back by a secret whole number of\n"
      "weeks; feedback still names the right prompts. A summary goes to\n"
      "stderr. Exit 0 on success, 1 when reading fails, 2 for a bad command\n"
      "line or a missing database.\n"
      "\n"
      "Examples:\n"
      "  attunectl export --db /var/lib/attune/attune.db --out clinic.jsonl\n"
      "  attunectl export --db attune.db --deidentify --out history.jsonl\n"
      "  attunectl replay history.jsonl --config candidate.textproto\n";
  exporter.flags = {
      {"db", "FILE", "the attuned database file (required)"},
      {"tenant", "NAME", "whose events (default: default)"},
      {"deidentify", "", "replace identifiers and shift dates"},
      {"out", "FILE", "write here (mode 0600) instead of stdout"},
      {"key-file", "FILE",
       "attuned's storage key file, to read a sealed database\n"
       "(default: $ATTUNE_STORAGE_KEYS)"},
  };

  CommandSpec importer;
  importer.name = "import";
  importer.arguments = "<events.jsonl|attune.db>";
  importer.argument_names = {"<events.jsonl|attune.db>"};
  importer.summary =
      "load a clinic's events into another store (SQLite -> PostgreSQL)";
  importer.description =
      "Moves a clinic between stores without a server: reads a tenant's\n"
      "events (an 'attunectl export' log or an attuned database file read\n"
      "in place) and submits them in the order they happened through the\n"
      "engine of attuned, in this process, into the target store, which\n"
      "derives the same assessments and prompts (feedback included) as the\n"
      "source did under the same configuration. The target is a SQLite\n"
      "file or a PostgreSQL connection string (postgresql://... or\n"
      "host=... dbname=...; the password from PGPASSFILE or PGPASSWORD);\n"
      "it is migrated first. Events already in the target are answered\n"
      "from it (import is safe to run again). Storage keys: --key-file or\n"
      "$ATTUNE_STORAGE_KEYS seal the target (and open a sealed source);\n"
      "a target without keys needs --allow-plaintext. Prints counts only.\n"
      "Stop the attuned serving the target first, or import into a new\n"
      "database: the engine here does not share attuned's episode locks.\n"
      "Exit 0 when every event was stored, 1 when any was rejected (listed\n"
      "by line) or the target failed, 2 for a bad command line or input.\n"
      "\n"
      "Examples:\n"
      "  attunectl import /var/lib/attune/attune.db \\\n"
      "    --to 'host=db.internal dbname=attune user=attune'\n"
      "  attunectl export --db attune.db --out clinic.jsonl\n"
      "  attunectl import clinic.jsonl --to postgresql://attune@db/attune\n";
  importer.flags = {
      {"to", "TARGET",
       "SQLite file or PostgreSQL connection string\n(required)"},
      {"config", "FILE",
       "attuned configuration (text format) whose rules\nderive the "
       "prompts (default: the defaults)"},
      {"tenant", "NAME",
       "the tenant the events belong to, and whose events\nto read from a "
       "database file (default: default)"},
      {"key-file", "FILE",
       "storage keys for the target and a sealed source\n(default: "
       "$ATTUNE_STORAGE_KEYS)"},
      {"allow-plaintext", "", "store in a target without storage keys"},
  };

  CommandSpec keys;
  keys.name = "keys";
  keys.arguments = "generate|rotate";
  keys.argument_names = {"<action> (generate|rotate)"};
  keys.summary = "create or rotate attuned's storage key file (store.key_file)";
  keys.description =
      "attuned stores client and clinician identifiers as keyed hashes and\n"
      "every stored message encrypted, with the keys of store.key_file: one\n"
      "'<id> <base64 of 32 random bytes>' line per key, the first one active.\n"
      "Only the key id is printed (stdout); never the key.\n"
      "\n"
      "'keys generate --out FILE' creates FILE (mode 0600) with one new key.\n"
      "It never overwrites a file and never writes through a symbolic link.\n"
      "\n"
      "'keys rotate --file FILE' puts a new key first in FILE and keeps the\n"
      "old ones after it, replacing the file atomically (owner and mode\n"
      "kept): after a restart attuned writes with the new key and still reads\n"
      "what the old ones sealed. Keep the old keys as long as data written\n"
      "with them may be read. Refused when the id is already in the file.\n"
      "\n"
      "The default id is k<UTC date>, e.g. k20260115; rotating twice on one\n"
      "day needs --id. Exit 0 on success, 1 when the file cannot be written,\n"
      "2 for a bad command line or an unusable key file.\n"
      "\n"
      "Examples:\n"
      "  attunectl keys generate --out /etc/attune/storage.keys\n"
      "  attunectl keys rotate --file /etc/attune/storage.keys\n"
      "  attunectl keys rotate --file /etc/attune/storage.keys --id k2027a\n";
  keys.flags = {
      {"out", "FILE", "generate: the new key file (must not exist)"},
      {"file", "FILE", "rotate: the key file to add a key to"},
      {"id", "ID",
       "the new key's id, 1-32 characters of A-Z a-z 0-9 _ . -\n"
       "(default k<yyyymmdd>, today in UTC)"},
  };

  CommandSpec audit;
  audit.name = "audit";
  audit.arguments = "verify";
  audit.argument_names = {"<action> (verify)"};
  audit.summary = "check a database file's audit log for edits and deletions";
  audit.description =
      "attuned records every call on health data (who, tenant, action,\n"
      "object pseudonym, time, outcome) in an append-only audit log whose\n"
      "rows are hash-chained (keyed with the storage keys when there are\n"
      "some). 'audit verify' reads the database file directly (no server is\n"
      "contacted; safe while attuned runs, the file is never changed) and\n"
      "walks the whole chain: an edited, reordered, forged or deleted row\n"
      "breaks it. Rows deleted from the end leave a shorter valid chain: pass\n"
      "a head attuned logged earlier ('audit head ... head=SEQ:HASH', at\n"
      "start, every few minutes and at shutdown) with --expect-head to catch\n"
      "that too.\n"
      "\n"
      "stdout: 'rows: N' (rows checked), 'head: SEQ:HASH' (the last row, or\n"
      "the last intact one) and 'intact: yes|no'. Exit 0 when intact, 1 with\n"
      "the first problem on stderr (e.g. 'seq 17: hash does not match the\n"
      "row', 'seq 18 missing: 17 is followed by 19'), 2 for a bad command\n"
      "line or a file that is not an attuned database.\n"
      "\n"
      "Examples:\n"
      "  attunectl audit verify --db /var/lib/attune/attune.db \\\n"
      "      --key-file /etc/attune/storage.keys\n"
      "  attunectl audit verify --db attune.db --expect-head 1742:9f86d0...\n";
  audit.flags = {
      {"db", "FILE", "the attuned database file (required)"},
      {"key-file", "FILE",
       "attuned's storage key file, needed when the rows are\n"
       "keyed (default: $ATTUNE_STORAGE_KEYS)"},
      {"expect-head", "SEQ:HASH",
       "a head attuned logged earlier: the chain must reach it"},
  };

  CommandSpec shadow;
  shadow.name = "shadow";
  shadow.arguments = "compare";
  shadow.argument_names = {"<action> (compare)"};
  shadow.summary =
      "a shadow-mode module's would-be prompts vs the live ones "
      "(CompareShadow)";
  shadow.description =
      "A module in shadow mode (RulesConfig.modules, shadow: true) runs and\n"
      "records its prompts but never shows them. 'shadow compare' lists,\n"
      "for this tenant, the episodes where it or the live side prompted:\n"
      "how many prompts each side raised, at which sessions, and how many\n"
      "shadow prompts came at a session where the live side prompted too;\n"
      "above them a summary of all episodes. The live side is --against's\n"
      "prompts, or without it every live prompt of the shadow module's\n"
      "episodes. The table numbers episodes 'episode 1, 2, ...' and prints\n"
      "no identifier unless --show-ids is given; --format json prints the\n"
      "CompareShadowResponse (with episode ids and prompts).\n"
      "\n"
      "Examples:\n"
      "  attunectl shadow compare --module acme.rupture_v2 --against "
      "attune.rupture\n"
      "  attunectl shadow compare --module attune.rupture --format json\n";
  shadow.flags = {
      {"module", "ID", "the module in shadow mode (required)"},
      {"against", "ID",
       "the live module to compare with (default: every live\nprompt of "
       "the same episodes)"},
      {"max-episodes", "N",
       "episodes listed, 1-1000 (default 100); the summary\ncovers all"},
      {"format", "table|json", "output format (default table)"},
      {"show-ids", "", "table: episode ids instead of episode numbers"},
  };

  CommandSpec data;
  data.name = "data";
  data.arguments = "erase-client";
  data.argument_names = {"<action> (erase-client)"};
  data.summary =
      "erase a client's records from attuned (DataAdmin.EraseClient)";
  data.description =
      "'data erase-client --client-id ID' deletes everything attuned stores\n"
      "about the client in the caller's tenant: every episode whose events\n"
      "name the client, with its events, assessment, prompts, feedback and\n"
      "held sessions. It cannot be undone; the EHR remains the record, and\n"
      "an event for the client sent later starts a new episode state. The\n"
      "audit log keeps its rows, which hold pseudonyms only. Needs the admin\n"
      "role. Safe to repeat: an unknown or already erased client gives zero\n"
      "counts.\n"
      "\n"
      "stdout: 'episodes_erased: N', 'events_erased: N', 'prompts_erased: N'\n"
      "(JSON with --format json). The client id is never printed. Exit 0 on\n"
      "success, 1 when the call fails, 2 for a bad command line.\n"
      "\n"
      "Examples:\n"
      "  attunectl data erase-client --client-id C-10442\n"
      "  attunectl --token-file admin.jwt data erase-client --client-id X7\n";
  data.flags = {
      {"client-id", "ID", "the client, as sent in SessionEvent.client_id"},
      {"format", "text|json", "output format (default text)"},
  };

  spec.commands = {submit,   assessment, prompts, watch,  feedback,
                   health,   modules,    plugin,  replay, exporter,
                   importer, shadow,     keys,    audit,  data};
  return spec;
}

CommandFn FindRunner(const std::string& command) {
  if (command == "submit") return RunSubmit;
  if (command == "assessment") return RunAssessment;
  if (command == "prompts") return RunPrompts;
  if (command == "watch") return RunWatch;
  if (command == "feedback") return RunFeedback;
  if (command == "health") return RunHealth;
  if (command == "modules") return RunModules;
  if (command == "plugin") return RunPlugin;
  if (command == "replay") return RunReplay;
  if (command == "export") return RunExport;
  if (command == "import") return RunImport;
  if (command == "shadow") return RunShadow;
  if (command == "data") return RunData;
  if (command == "keys") return RunKeys;
  if (command == "audit") return RunAudit;
  return nullptr;
}

}  // namespace

const CommandLineSpec& AttunectlSpec() {
  static const CommandLineSpec* const spec = new CommandLineSpec(BuildSpec());
  return *spec;
}

int RunCli(const std::vector<std::string>& args, const CliIo& io) {
  const CommandLineSpec& spec = AttunectlSpec();
  absl::StatusOr<CommandLine> line = ParseCommandLine(args, spec);
  if (!line.ok()) {
    *io.err << "attunectl: " << line.status().message() << "\n";
    return kExitUsage;
  }
  if (line->help) {
    const CommandSpec* command = spec.FindCommand(line->command);
    *io.out << (command == nullptr ? OverviewHelp(spec)
                                   : CommandHelp(spec, *command));
    return kExitOk;
  }
  CommandFn run = FindRunner(line->command);
  if (run == nullptr) {  // the spec and this table disagree: a bug
    *io.err << "attunectl: " << line->command << ": not implemented\n";
    return kExitUsage;
  }

  if (line->Has("server") && line->Get("server").empty()) {
    *io.err << "attunectl: --server: must not be empty (host:port)\n";
    return kExitUsage;
  }
  std::string server = line->Get("server");
  if (server.empty()) server = io.env_server;
  if (server.empty()) server = kDefaultServer;
  absl::StatusOr<absl::Duration> timeout =
      ParseTimeout("--timeout", line->Get("timeout", kDefaultTimeout));
  if (!timeout.ok()) {
    *io.err << "attunectl: " << timeout.status().message() << "\n";
    return kExitUsage;
  }

  // Plain text to the loopback sidecar unless TLS flags say otherwise.
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      OpenChannel(*line, server);
  if (!channel.ok()) {
    *io.err << "attunectl: " << channel.status().message() << "\n";
    return kExitUsage;
  }
  CommandEnv env{
      *line,   *std::move(channel), server, *timeout, *io.in, *io.out,
      *io.err, io.env_storage_keys};
  return run(env);
}

}  // namespace attune::ctl
