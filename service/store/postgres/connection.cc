#include "service/store/postgres/connection.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace attune::store::postgres {
namespace {

// Type OIDs of the parameters we send (pg_type.dat).
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kTextOid = 25;
constexpr Oid kBoolOid = 16;

// Binary format for parameters and results.
constexpr int kBinary = 1;

int64_t ReadBigEndian(const char* data, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    value = (value << 8) | static_cast<unsigned char>(data[i]);
  }
  // Sign-extend narrower integers.
  if (bytes < 8 && bytes > 0 && (value >> (8 * bytes - 1)) != 0) {
    value |= ~uint64_t{0} << (8 * bytes);
  }
  return static_cast<int64_t>(value);
}

bool IsUnavailableState(absl::string_view state) {
  return absl::StartsWith(state, "08") || absl::StartsWith(state, "53") ||
         state == "57P01" || state == "57P02" || state == "57P03" ||
         state == "57014";
}

}  // namespace

Params& Params::Text(absl::string_view value) {
  types_.push_back(kTextOid);
  values_.emplace_back(value);
  return *this;
}

Params& Params::Bytes(absl::string_view value) {
  types_.push_back(kByteaOid);
  values_.emplace_back(value);
  return *this;
}

Params& Params::Int(int64_t value) {
  types_.push_back(kInt8Oid);
  std::string bytes(8, '\0');
  const uint64_t v = static_cast<uint64_t>(value);
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<char>((v >> (8 * (7 - i))) & 0xff);
  }
  values_.push_back(std::move(bytes));
  return *this;
}

int Result::rows() const {
  return result_ == nullptr ? 0 : PQntuples(result_.get());
}

bool Result::IsNull(int row, int column) const {
  return PQgetisnull(result_.get(), row, column) != 0;
}

absl::string_view Result::Bytes(int row, int column) const {
  if (IsNull(row, column)) return {};
  return absl::string_view(PQgetvalue(result_.get(), row, column),
                           PQgetlength(result_.get(), row, column));
}

int64_t Result::Int(int row, int column) const {
  if (IsNull(row, column)) return 0;
  const char* data = PQgetvalue(result_.get(), row, column);
  const int length = PQgetlength(result_.get(), row, column);
  switch (PQftype(result_.get(), column)) {
    case kInt8Oid:
    case kInt4Oid:
    case kInt2Oid:
    case kBoolOid:
      return ReadBigEndian(data, std::min(length, 8));
    default:
      return 0;
  }
}

int64_t Result::affected() const {
  if (result_ == nullptr) return 0;
  const char* tuples = PQcmdTuples(result_.get());
  if (tuples == nullptr || *tuples == '\0') return 0;
  return std::strtoll(tuples, nullptr, 10);
}

absl::Status PgStatus(PGconn* conn, const PGresult* result,
                      absl::string_view context) {
  const char* state_field = result != nullptr
                                ? PQresultErrorField(result, PG_DIAG_SQLSTATE)
                                : nullptr;
  const absl::string_view state =
      state_field != nullptr ? state_field : absl::string_view();
  if (conn == nullptr || PQstatus(conn) == CONNECTION_BAD) {
    return absl::UnavailableError(
        absl::StrCat(context, ": postgres: connection to the server lost"));
  }
  std::string message = absl::StrCat(context, ": postgres: SQLSTATE ",
                                     state.empty() ? "unknown" : state);
  // Schema names only: the server's message text may quote values.
  if (result != nullptr) {
    const char* constraint =
        PQresultErrorField(result, PG_DIAG_CONSTRAINT_NAME);
    const char* table = PQresultErrorField(result, PG_DIAG_TABLE_NAME);
    if (constraint != nullptr) {
      absl::StrAppend(&message, " (constraint ", constraint, ")");
    } else if (table != nullptr) {
      absl::StrAppend(&message, " (table ", table, ")");
    }
  }
  if (IsUnavailableState(state)) return absl::UnavailableError(message);
  if (state == "23505") return absl::AlreadyExistsError(message);
  if (state == "40001" || state == "40P01") {
    return absl::AbortedError(message);
  }
  return absl::InternalError(message);
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(
    const std::string& dsn, absl::Duration connect_timeout) {
  // libpq counts whole seconds and treats values below 2 as 2.
  const std::string timeout =
      absl::StrCat(std::max<int64_t>(2, absl::ToInt64Seconds(connect_timeout)));
  // expand_dbname: the first "dbname" is the whole connection string; later
  // keywords override what it says.
  const char* keywords[] = {"dbname", "connect_timeout", nullptr};
  const char* values[] = {dsn.c_str(), timeout.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) {
    return absl::UnavailableError("postgres: cannot connect (out of memory)");
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    PQfinish(conn);
    return absl::UnavailableError(
        "postgres: cannot connect to the server (check that it runs and "
        "that the dsn's host, user, database and credentials are accepted)");
  }
  // Notices ("relation already exists, skipping") would go to stderr.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<Connection>(new Connection(conn));
}

Connection::~Connection() { PQfinish(conn_); }

int Connection::socket() const { return PQsocket(conn_); }

absl::StatusOr<std::vector<std::string>> Connection::ConsumeNotifications(
    absl::string_view channel) {
  // PQconsumeInput fails once the socket is closed; a FATAL message from
  // the server (pg_terminate_backend) leaves the status BAD after it.
  if (PQconsumeInput(conn_) == 0 || PQstatus(conn_) == CONNECTION_BAD) {
    return absl::UnavailableError(
        "listen: postgres: connection to the server lost");
  }
  std::vector<std::string> payloads;
  while (PGnotify* notify = PQnotifies(conn_)) {
    if (channel == notify->relname) payloads.emplace_back(notify->extra);
    PQfreemem(notify);
  }
  return payloads;
}

bool Connection::broken() const { return PQstatus(conn_) == CONNECTION_BAD; }

bool Connection::idle() const {
  return PQtransactionStatus(conn_) == PQTRANS_IDLE;
}

absl::StatusOr<Result> Connection::Query(const std::string& sql,
                                         const Params& params,
                                         absl::string_view context) {
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    const std::string name = absl::StrCat("attune_", prepared_.size() + 1);
    PGresult* prepared =
        PQprepare(conn_, name.c_str(), sql.c_str(),
                  static_cast<int>(params.size()), params.types_.data());
    if (prepared == nullptr || PQresultStatus(prepared) != PGRES_COMMAND_OK) {
      absl::Status error = PgStatus(conn_, prepared, context);
      PQclear(prepared);
      return error;
    }
    PQclear(prepared);
    it = prepared_.emplace(sql, name).first;
  }
  std::vector<const char*> values(params.size());
  std::vector<int> lengths(params.size());
  std::vector<int> formats(params.size(), kBinary);
  for (size_t i = 0; i < params.size(); ++i) {
    values[i] = params.values_[i].data();
    lengths[i] = static_cast<int>(params.values_[i].size());
  }
  PGresult* result =
      PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(params.size()),
                     values.data(), lengths.data(), formats.data(), kBinary);
  const ExecStatusType status =
      result != nullptr ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    absl::Status error = PgStatus(conn_, result, context);
    PQclear(result);
    return error;
  }
  return Result(result);
}

absl::StatusOr<std::string> Connection::Exec(const std::string& sql,
                                             absl::string_view context) {
  PGresult* result = PQexec(conn_, sql.c_str());
  const ExecStatusType status =
      result != nullptr ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    absl::Status error = PgStatus(conn_, result, context);
    PQclear(result);
    return error;
  }
  std::string tag = PQcmdStatus(result);
  PQclear(result);
  return tag;
}

}  // namespace attune::store::postgres
