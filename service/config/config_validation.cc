// ValidateConfig (declared in config_loader.h).
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "service/common/status_macros.h"
#include "service/config/config_loader.h"
#include "service/engine/instrument_registry.h"
#include "service/engine/tenant_rules.h"

namespace attune::config {
namespace {

// Session-count thresholds share the event validator's bound on session
// numbers: a threshold beyond it could never be reached.
constexpr int64_t kMaxSessions = 1000;
constexpr int64_t kNoMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMinutesPerDay = 24 * 60;

absl::Status Invalid(absl::string_view field, absl::string_view rule) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", rule));
}

// Collects the first failure of a chain of checks on one message's fields.
class FieldChecks {
 public:
  explicit FieldChecks(absl::string_view prefix) : prefix_(prefix) {}

  FieldChecks& Required(const std::string& value, absl::string_view name) {
    if (value.empty()) Fail(name, "is required");
    return *this;
  }
  FieldChecks& Range(int64_t value, int64_t lo, int64_t hi,
                     absl::string_view name) {
    if (value >= lo && value <= hi) return *this;
    Fail(name, hi == kNoMax ? absl::StrCat("must be >= ", lo)
                            : absl::StrCat("must be ", lo, "-", hi));
    return *this;
  }
  FieldChecks& Sessions(int64_t value, absl::string_view name) {
    return Range(value, 1, kMaxSessions, name);
  }
  FieldChecks& AtLeast(int64_t value, int64_t lo, absl::string_view name) {
    return Range(value, lo, kNoMax, name);
  }
  FieldChecks& Finite(double value, absl::string_view name) {
    if (!std::isfinite(value)) Fail(name, "must be a finite number");
    return *this;
  }
  FieldChecks& Positive(double value, absl::string_view name) {
    if (!(std::isfinite(value) && value > 0)) Fail(name, "must be > 0");
    return *this;
  }
  // lo < value <= hi.
  FieldChecks& AboveUpTo(double value, double lo, double hi,
                         absl::string_view name) {
    if (!(value > lo && value <= hi)) {
      Fail(name, absl::StrCat("must be in (", lo, ", ", hi, "]"));
    }
    return *this;
  }
  FieldChecks& Within(double value, double lo, double hi,
                      absl::string_view name) {
    if (!(value >= lo && value <= hi)) {
      Fail(name, absl::StrCat("must be within ", lo, "-", hi));
    }
    return *this;
  }
  absl::Status status() const { return status_; }

 private:
  void Fail(absl::string_view name, absl::string_view rule) {
    if (!status_.ok()) return;
    status_ = Invalid(
        prefix_.empty() ? std::string(name) : absl::StrCat(prefix_, ".", name),
        rule);
  }

  std::string prefix_;
  absl::Status status_;
};

std::string InstrumentPath(v1::Instrument instrument) {
  return absl::StrCat("rules.instruments[",
                      engine::InstrumentRegistry::KeyOf(instrument, ""), "]");
}

// What InstrumentRegistry::Create leaves unchecked.
absl::Status CheckInstrumentExtras(const v1::InstrumentDefinition& d) {
  const std::string where = InstrumentPath(d.instrument());
  if (d.construct() == v1::CONSTRUCT_UNSPECIFIED ||
      !v1::Construct_IsValid(d.construct())) {
    return Invalid(absl::StrCat(where, ".construct"), "is required");
  }
  FieldChecks checks(where);
  checks.Finite(d.total_min(), "total_min").Finite(d.total_max(), "total_max");
  if (d.item_count() > 0) {
    checks.Finite(d.item_min(), "item_min").Finite(d.item_max(), "item_max");
  }
  if (d.has_concern_below_total()) {
    checks.Within(d.concern_below_total(), d.total_min(), d.total_max(),
                  "concern_below_total");
  }
  if (d.has_reliable_drop()) {
    checks.AboveUpTo(d.reliable_drop(), 0, d.total_max() - d.total_min(),
                     "reliable_drop");
  }
  return checks.status();
}

absl::Status CheckInstruments(const v1::RulesConfig& rules) {
  ATTUNE_RETURN_IF_ERROR(engine::InstrumentRegistry::Create(rules).status());
  std::set<int> seen;
  for (const v1::InstrumentDefinition& def : rules.instruments()) {
    if (!seen.insert(def.instrument()).second) {
      return Invalid(InstrumentPath(def.instrument()),
                     "is listed more than once");
    }
    ATTUNE_RETURN_IF_ERROR(CheckInstrumentExtras(def));
  }
  return absl::OkStatus();
}

const v1::InstrumentDefinition* FindInstrument(const v1::RulesConfig& rules,
                                               v1::Instrument instrument) {
  for (const v1::InstrumentDefinition& def : rules.instruments()) {
    if (def.instrument() == instrument) return &def;
  }
  return nullptr;
}

absl::Status CheckAlliancePreference(const v1::RulesConfig& rules) {
  std::set<int> seen;
  for (int i = 0; i < rules.alliance_preference_size(); ++i) {
    const std::string where =
        absl::StrCat("rules.alliance_preference[", i, "]");
    v1::Instrument instrument = rules.alliance_preference(i);
    const v1::InstrumentDefinition* def = FindInstrument(rules, instrument);
    if (def == nullptr) {
      return Invalid(where, "has no definition in rules.instruments");
    }
    if (def->construct() != v1::CONSTRUCT_ALLIANCE) {
      return Invalid(where, "must be an alliance instrument");
    }
    if (!seen.insert(instrument).second) {
      return Invalid(where, "is listed more than once");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckServer(const v1::ServerConfig& c) {
  return FieldChecks("")
      .Required(c.listen_address(), "listen_address")
      .AtLeast(c.max_future_skew_seconds(), 0, "max_future_skew_seconds")
      .AtLeast(c.max_batch_events(), 1, "max_batch_events")
      .AtLeast(c.max_message_bytes(), 1, "max_message_bytes")
      .AtLeast(c.max_send_message_bytes(), 1, "max_send_message_bytes")
      .AtLeast(c.shutdown_grace_seconds(), 0, "shutdown_grace_seconds")
      .Range(c.shutdown_drain_seconds(), 0, 3600, "shutdown_drain_seconds")
      .status();
}

// The operations endpoint (OpsConfig): "host:port" with a numeric port, or
// empty for none; the address is not checked for loopback, as nothing on
// it is health data.
absl::Status CheckOps(const v1::OpsConfig& c) {
  const std::string& address = c.listen_address();
  if (!address.empty()) {
    const size_t colon = address.rfind(':');
    const std::string port =
        colon == std::string::npos ? "" : address.substr(colon + 1);
    const bool digits =
        !port.empty() && port.size() <= 5 &&
        port.find_first_not_of("0123456789") == std::string::npos;
    if (colon == 0 || !digits || std::stoi(port) > 65535) {
      return Invalid("ops.listen_address",
                     "must be host:port (port 0-65535; 0 picks a free one), "
                     "or empty to turn the endpoint off");
    }
  }
  if (!c.log_format().empty() && c.log_format() != "text" &&
      c.log_format() != "json") {
    return Invalid("ops.log_format", "must be \"text\" or \"json\"");
  }
  return absl::OkStatus();
}

// Whether keys are present at all (key_file, ATTUNE_STORAGE_KEYS or
// allow_plaintext) is decided at start-up by LoadStorageKeys
// (storage_keys.h): the environment is not part of the configuration.
absl::Status CheckStore(const v1::StoreConfig& c) {
  if (c.has_postgres_dsn()) {
    // The DSN may hold a password: errors name the field, never its value.
    if (c.postgres_dsn().empty()) {
      return Invalid("store.postgres_dsn",
                     "is empty; give a libpq connection string, or leave it "
                     "unset to use sqlite_path");
    }
    ATTUNE_RETURN_IF_ERROR(
        FieldChecks("store")
            .Range(c.postgres_pool_size(), 2, 256, "postgres_pool_size")
            .status());
  } else {
    ATTUNE_RETURN_IF_ERROR(
        FieldChecks("store").Required(c.sqlite_path(), "sqlite_path").status());
  }
  ATTUNE_RETURN_IF_ERROR(
      FieldChecks("store")
          .AtLeast(c.group_commit_max_batch(), 1, "group_commit_max_batch")
          .Range(c.episode_cache_mib(), 0, 65536, "episode_cache_mib")
          .status());
  if (c.has_key_file() && c.key_file().empty()) {
    return Invalid("store.key_file",
                   "is empty; name the key file, or leave it unset to use "
                   "ATTUNE_STORAGE_KEYS");
  }
  if (!c.key_file().empty() && c.key_file() == c.sqlite_path()) {
    return Invalid("store.key_file", "must not be the database file");
  }
  return absl::OkStatus();
}

absl::Status CheckPhaseAndRupture(const v1::RulesConfig& r) {
  const v1::PhaseConfig& p = r.phase();
  ATTUNE_RETURN_IF_ERROR(
      FieldChecks("rules.phase")
          .Sessions(p.goals_expected_by_session(), "goals_expected_by_session")
          .Sessions(p.established_expected_by_session(),
                    "established_expected_by_session")
          .Sessions(p.established_window(), "established_window")
          .Range(p.established_min_at_cutoff(), 1, p.established_window(),
                 "established_min_at_cutoff")
          .status());
  const v1::RuptureConfig& u = r.rupture();
  return FieldChecks("rules.rupture")
      .Positive(u.sd_multiplier(), "sd_multiplier")
      // A standard deviation needs at least two ratings.
      .Range(u.min_prior_ratings_for_sd(), 2, kMaxSessions,
             "min_prior_ratings_for_sd")
      .Sessions(u.decline_run(), "decline_run")
      .Positive(u.decline_total_in_reliable_drops(),
                "decline_total_in_reliable_drops")
      .Sessions(u.prompt_for_sessions(), "prompt_for_sessions")
      .status();
}

absl::Status CheckBordin(const v1::RulesConfig& r) {
  FieldChecks checks("rules.bordin");
  const v1::InstrumentDefinition* wai =
      FindInstrument(r, v1::INSTRUMENT_WAI_SR);
  if (wai == nullptr) {
    checks.Positive(r.bordin().low_item_mean(), "low_item_mean");
  } else {
    // A mean at item_min or below can never be undercut.
    checks.AboveUpTo(r.bordin().low_item_mean(), wai->item_min(),
                     wai->item_max(), "low_item_mean");
  }
  return checks.status();
}

absl::Status CheckOtherModules(const v1::RulesConfig& r) {
  ATTUNE_RETURN_IF_ERROR(
      FieldChecks("rules")
          .AboveUpTo(r.repair().return_fraction(), 0, 1,
                     "repair.return_fraction")
          .Sessions(r.dropout_risk().weak_early_by_session(),
                    "dropout_risk.weak_early_by_session")
          .Within(r.rater_discrepancy().min_gap_percent(), 0, 100,
                  "rater_discrepancy.min_gap_percent")
          .Sessions(r.feedback_adherence().held_sessions_without_measure(),
                    "feedback_adherence.held_sessions_without_measure")
          .status());
  ATTUNE_RETURN_IF_ERROR(CheckBordin(r));
  const v1::ClinicianLoadConfig& l = r.clinician_load();
  return FieldChecks("rules.clinician_load")
      .AtLeast(l.max_sessions_per_day(), 1, "max_sessions_per_day")
      .AtLeast(l.max_back_to_back(), 1, "max_back_to_back")
      .Range(l.back_to_back_gap_minutes(), 0, kMinutesPerDay,
             "back_to_back_gap_minutes")
      .AboveUpTo(l.max_day_span_hours(), 0, 24, "max_day_span_hours")
      .status();
}

// What can be checked without loading: the plugin itself is checked by
// engine::LoadNativePlugin at start-up.
absl::Status CheckPlugins(const v1::ServerConfig& c) {
  std::set<std::string> paths;
  for (int i = 0; i < c.plugins_size(); ++i) {
    const v1::NativePlugin& plugin = c.plugins(i);
    const std::string where = absl::StrCat("plugins[", i, "]");
    if (plugin.path().empty()) {
      return Invalid(absl::StrCat(where, ".path"), "is required");
    }
    if (!paths.insert(plugin.path()).second) {
      return Invalid(absl::StrCat(where, ".path"), "is listed more than once");
    }
    if (!plugin.config_json().empty()) {
      google::protobuf::Struct object;
      if (!google::protobuf::util::JsonStringToMessage(plugin.config_json(),
                                                       &object)
               .ok()) {
        return Invalid(absl::StrCat(where, ".config_json"),
                       "must be a JSON object");
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CheckBudget(const v1::AlertBudgetConfig& b) {
  return FieldChecks("rules.budget")
      .AtLeast(b.max_visible_per_episode(), 1, "max_visible_per_episode")
      .Range(b.dismiss_cooldown_sessions(), 0, kMaxSessions,
             "dismiss_cooldown_sessions")
      .AtLeast(b.prompt_ttl_days(), 1, "prompt_ttl_days")
      .AtLeast(b.max_snooze_days(), 1, "max_snooze_days")
      .status();
}

}  // namespace

namespace {

absl::Status CheckModulePolicies(const v1::RulesConfig& rules) {
  std::set<std::string> seen;
  for (int i = 0; i < rules.module_policies_size(); ++i) {
    const v1::ModulePolicy& p = rules.module_policies(i);
    const std::string where = absl::StrCat("rules.module_policies[", i, "]");
    if (p.module_id().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".module_id: is required"));
    }
    if (p.on_error() == v1::ModulePolicy::ON_ERROR_UNSPECIFIED) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ".on_error: is required (ON_ERROR_SKIP or ON_ERROR_FAIL)"));
    }
    if (!seen.insert(p.module_id()).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ".module_id: ", p.module_id(), " has more than one policy"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckModuleSettings(const v1::RulesConfig& rules) {
  for (int i = 0; i < rules.modules_size(); ++i) {
    if (rules.modules(i).module_id().empty()) {
      return Invalid(absl::StrCat("rules.modules[", i, "].module_id"),
                     "is required");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckRemoteModules(const v1::ServerConfig& c) {
  for (int i = 0; i < c.remote_modules_size(); ++i) {
    const v1::RemoteModule& m = c.remote_modules(i);
    const std::string where = absl::StrCat("remote_modules[", i, "]");
    FieldChecks checks(where);
    checks.Required(m.address(), "address");
    if (m.has_deadline_ms()) {
      checks.Range(m.deadline_ms(), 1, 60000, "deadline_ms");
    }
    if (m.has_failure_threshold()) {
      checks.Range(m.failure_threshold(), 1, 1000, "failure_threshold");
    }
    if (m.has_retry_after_ms()) {
      checks.Range(m.retry_after_ms(), 1, 3600000, "retry_after_ms");
    }
    if (m.has_connect_timeout_ms()) {
      checks.Range(m.connect_timeout_ms(), 1, 60000, "connect_timeout_ms");
    }
    ATTUNE_RETURN_IF_ERROR(checks.status());
    if (!m.config_json().empty()) {
      google::protobuf::Struct object;
      if (!google::protobuf::util::JsonStringToMessage(m.config_json(), &object)
               .ok()) {
        return Invalid(absl::StrCat(where, ".config_json"),
                       "must be a JSON object");
      }
    }
  }
  return absl::OkStatus();
}

// Everything about one RulesConfig; errors name fields from "rules.".
absl::Status CheckRules(const v1::RulesConfig& rules) {
  ATTUNE_RETURN_IF_ERROR(CheckInstruments(rules));
  ATTUNE_RETURN_IF_ERROR(CheckAlliancePreference(rules));
  ATTUNE_RETURN_IF_ERROR(CheckPhaseAndRupture(rules));
  ATTUNE_RETURN_IF_ERROR(CheckOtherModules(rules));
  ATTUNE_RETURN_IF_ERROR(CheckModulePolicies(rules));
  ATTUNE_RETURN_IF_ERROR(CheckModuleSettings(rules));
  return CheckBudget(rules.budget());
}

// A tenant's rules are checked as they will run: merged over the server's.
// Errors name the field under "tenants[i].rules.".
absl::Status CheckTenants(const v1::ServerConfig& c) {
  std::set<std::string> seen;
  for (int i = 0; i < c.tenants_size(); ++i) {
    const v1::TenantRules& t = c.tenants(i);
    const std::string where = absl::StrCat("tenants[", i, "]");
    if (t.tenant().empty()) {
      return Invalid(absl::StrCat(where, ".tenant"), "is required");
    }
    if (!seen.insert(t.tenant()).second) {
      return Invalid(absl::StrCat(where, ".tenant"),
                     "is listed more than once");
    }
    if (t.rules().instruments_size() > 0) {
      return Invalid(absl::StrCat(where, ".rules.instruments"),
                     "instruments are server-wide; set them in rules");
    }
    if (t.rules().alliance_preference_size() > 0) {
      return Invalid(absl::StrCat(where, ".rules.alliance_preference"),
                     "is server-wide; set it in rules");
    }
    // The tenant's own lists first, so an error names the tenant's entry
    // (after merging, positions would count the server's entries too).
    absl::Status valid = CheckModulePolicies(t.rules());
    if (valid.ok()) valid = CheckModuleSettings(t.rules());
    if (valid.ok()) {
      valid = CheckRules(engine::MergeTenantRules(c.rules(), t.rules()));
    }
    if (!valid.ok()) {
      return absl::Status(valid.code(),
                          absl::StrCat(where, ".", valid.message()));
    }
  }
  return absl::OkStatus();
}

// Security files are read at start-up: refuse a configuration whose files
// are missing, unreadable or plainly not what the field asks for, naming the
// field (never the file's content).
absl::Status CheckFile(absl::string_view field, const std::string& path,
                       absl::string_view marker, absl::string_view what) {
  // Key material is small; a device or a huge file is a mistake, and reading
  // it would hang or exhaust memory at start-up.
  constexpr std::uintmax_t kMaxSecurityFileBytes = 1 << 20;
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    return Invalid(field, absl::StrCat("cannot read ", path));
  }
  if (!std::filesystem::is_regular_file(path, error)) {
    return Invalid(field, absl::StrCat(path, " is not a regular file"));
  }
  if (std::filesystem::file_size(path, error) > kMaxSecurityFileBytes ||
      error) {
    return Invalid(field, absl::StrCat(path, " is larger than 1 MiB"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Invalid(field, absl::StrCat("cannot read ", path));
  std::string content((std::istreambuf_iterator<char>(in)),
                      std::istreambuf_iterator<char>());
  if (in.bad()) return Invalid(field, absl::StrCat("cannot read ", path));
  if (!marker.empty() && !absl::StrContains(content, marker)) {
    return Invalid(field, absl::StrCat(path, " is not ", what));
  }
  return absl::OkStatus();
}

absl::Status CheckTls(const v1::ServerConfig& c) {
  if (!c.has_tls()) return absl::OkStatus();
  const v1::TlsConfig& t = c.tls();
  ATTUNE_RETURN_IF_ERROR(FieldChecks("tls")
                             .Required(t.cert_file(), "cert_file")
                             .Required(t.key_file(), "key_file")
                             .status());
  ATTUNE_RETURN_IF_ERROR(CheckFile("tls.cert_file", t.cert_file(),
                                   "-----BEGIN CERTIFICATE-----",
                                   "a PEM certificate chain"));
  ATTUNE_RETURN_IF_ERROR(CheckFile("tls.key_file", t.key_file(),
                                   "PRIVATE KEY-----", "a PEM private key"));
  if (!t.client_ca_file().empty()) {
    ATTUNE_RETURN_IF_ERROR(CheckFile("tls.client_ca_file", t.client_ca_file(),
                                     "-----BEGIN CERTIFICATE-----",
                                     "PEM CA certificates"));
  }
  if (!v1::TlsConfig::CertificateTenant_IsValid(t.tenant_from_certificate())) {
    return Invalid("tls.tenant_from_certificate", "unknown value");
  }
  if (t.tenant_from_certificate() !=
          v1::TlsConfig::CERTIFICATE_TENANT_UNSPECIFIED &&
      t.client_ca_file().empty()) {
    return Invalid("tls.tenant_from_certificate",
                   "needs tls.client_ca_file (client certificates)");
  }
  return absl::OkStatus();
}

// The key set itself is parsed when the server starts (JwksFile::Open).
absl::Status CheckAuth(const v1::ServerConfig& c) {
  if (!c.has_auth()) return absl::OkStatus();
  const v1::AuthConfig& a = c.auth();
  FieldChecks checks("auth");
  checks.Required(a.jwks_file(), "jwks_file")
      .Required(a.audience(), "audience");
  if (a.has_max_clock_skew_seconds()) {
    checks.Range(a.max_clock_skew_seconds(), 0, 300, "max_clock_skew_seconds");
  }
  if (a.has_tenant_claim()) checks.Required(a.tenant_claim(), "tenant_claim");
  if (a.has_roles_claim()) checks.Required(a.roles_claim(), "roles_claim");
  ATTUNE_RETURN_IF_ERROR(checks.status());
  if (a.issuers_size() == 0) {
    return Invalid("auth.issuers", "at least one issuer is required");
  }
  for (int i = 0; i < a.issuers_size(); ++i) {
    if (a.issuers(i).empty()) {
      return Invalid(absl::StrCat("auth.issuers[", i, "]"), "is empty");
    }
  }
  return CheckFile("auth.jwks_file", a.jwks_file(), "", "");
}

// Connection limits become gRPC channel arguments in milliseconds (an int):
// every seconds value here stays below INT_MAX / 1000.
constexpr int64_t kMaxLimitSeconds = 1000000;  // about 11.5 days
constexpr double kMaxCallsPerSecond = 1000000;

// Only set fields are checked: the loader merges the defaults first, so an
// operator's file never leaves one unset.
absl::Status CheckLimits(const v1::ServerConfig& c) {
  if (!c.has_limits()) return absl::OkStatus();
  const v1::LimitsConfig& l = c.limits();
  FieldChecks checks("limits");
  if (l.has_max_concurrent_streams()) {
    checks.Range(l.max_concurrent_streams(), 1, 10000,
                 "max_concurrent_streams");
  }
  if (l.has_min_client_ping_interval_seconds()) {
    checks.Range(l.min_client_ping_interval_seconds(), 1, 86400,
                 "min_client_ping_interval_seconds");
  }
  // 0 would mean "no limit" to gRPC: enforcement off.
  if (l.has_max_ping_strikes()) {
    checks.Range(l.max_ping_strikes(), 1, 1000, "max_ping_strikes");
  }
  if (l.has_keepalive_time_seconds()) {
    checks.Range(l.keepalive_time_seconds(), 1, 86400,
                 "keepalive_time_seconds");
  }
  if (l.has_keepalive_timeout_seconds()) {
    checks.Range(l.keepalive_timeout_seconds(), 1, 3600,
                 "keepalive_timeout_seconds");
  }
  if (l.has_max_connection_age_seconds()) {
    checks.Range(l.max_connection_age_seconds(), 1, kMaxLimitSeconds,
                 "max_connection_age_seconds");
  }
  if (l.has_max_connection_age_grace_seconds()) {
    checks.Range(l.max_connection_age_grace_seconds(), 0, 86400,
                 "max_connection_age_grace_seconds");
  }
  if (l.has_max_connection_idle_seconds()) {
    checks.Range(l.max_connection_idle_seconds(), 1, kMaxLimitSeconds,
                 "max_connection_idle_seconds");
  }
  if (l.has_tenant_burst()) {
    checks.Range(l.tenant_burst(), 1, 1000000, "tenant_burst");
  }
  if (l.has_max_call_seconds()) {
    checks.Range(l.max_call_seconds(), 1, 3600, "max_call_seconds");
  }
  ATTUNE_RETURN_IF_ERROR(checks.status());
  const double rate = l.tenant_calls_per_second();
  if (!(std::isfinite(rate) && rate >= 0 && rate <= kMaxCallsPerSecond)) {
    return Invalid("limits.tenant_calls_per_second",
                   "must be 0-1000000 (0 turns the limit off)");
  }
  return absl::OkStatus();
}

// Up to a century: beyond it, the cutoff arithmetic is the only limit left.
constexpr int64_t kMaxRetentionDays = 36500;

absl::Status CheckRetention(const v1::ServerConfig& c) {
  if (!c.has_retention()) return absl::OkStatus();
  const v1::RetentionConfig& r = c.retention();
  if (r.episode_days() < 0 || r.episode_days() > kMaxRetentionDays) {
    return Invalid("retention.episode_days",
                   absl::StrCat("must be 0-", kMaxRetentionDays,
                                " (0 keeps episodes until erased)"));
  }
  if (r.has_sweep_interval_seconds()) {
    return FieldChecks("retention")
        .Range(r.sweep_interval_seconds(), 1, 86400, "sweep_interval_seconds")
        .status();
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateConfig(const v1::ServerConfig& config) {
  ATTUNE_RETURN_IF_ERROR(CheckServer(config));
  ATTUNE_RETURN_IF_ERROR(CheckOps(config.ops()));
  ATTUNE_RETURN_IF_ERROR(CheckStore(config.store()));
  ATTUNE_RETURN_IF_ERROR(CheckPlugins(config));
  ATTUNE_RETURN_IF_ERROR(CheckRemoteModules(config));
  ATTUNE_RETURN_IF_ERROR(CheckTls(config));
  ATTUNE_RETURN_IF_ERROR(CheckAuth(config));
  ATTUNE_RETURN_IF_ERROR(CheckLimits(config));
  ATTUNE_RETURN_IF_ERROR(CheckRetention(config));
  ATTUNE_RETURN_IF_ERROR(CheckRules(config.rules()));
  return CheckTenants(config);
}

}  // namespace attune::config
