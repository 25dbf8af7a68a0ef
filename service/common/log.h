// A small structured logging shim (Abseil 20220623 has no absl/log).
//
//   ATTUNE_LOG(INFO) << "store opened" << LogField("journal", "wal");
//
// One line per message on stderr: time, level, message, key=value fields
// (LogFormat::kText), or one JSON object per line (LogFormat::kJson):
//   {"time":"2026-01-02T03:04:05.678Z","level":"INFO","msg":"store opened",
//    "src":"sqlite_store.cc:120","journal":"wal"}
// with every field value a JSON string. Lines about one call carry its
// request id as a field (LogField("request_id", ...); see
// service/ops/request_id.h): pass it explicitly, there is no per-thread
// context.
// Never pass client or clinician identifiers, dates of birth or free text:
// log counts, codes, module ids and Attune's own ids only.
//
// Threading: every function may be called from any thread; lines are
// written whole, one at a time. Set the format and sink at start-up.
#ifndef ATTUNE_SERVICE_COMMON_LOG_H_
#define ATTUNE_SERVICE_COMMON_LOG_H_

#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace attune {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Messages below this level are dropped. Default kInfo.
void SetMinLogLevel(LogLevel level);
LogLevel MinLogLevel();

// Where log lines go. Default stderr; tests may capture them.
using LogSink = void (*)(std::string_view line);
void SetLogSink(LogSink sink);

enum class LogFormat { kText = 0, kJson = 1 };
// Default kText.
void SetLogFormat(LogFormat format);
LogFormat GetLogFormat();

// `s` as a JSON string literal, quotes included: '"' and '\' escaped, control
// characters (U+0000-U+001F, U+007F) as \n, \t... or \u00XX, valid UTF-8 kept
// as is and each byte of invalid UTF-8 replaced by U+FFFD, so the result is
// always valid JSON (RFC 8259).
std::string JsonQuote(std::string_view s);

struct LogField {
  template <typename T>
  LogField(std::string_view k, const T& v) : key(k) {
    std::ostringstream os;
    os << v;
    value = os.str();
  }
  std::string key;
  std::string value;
};

class LogMessage {
 public:
  LogMessage(LogLevel level, const char* file, int line);
  ~LogMessage();
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;

  template <typename T>
  LogMessage& operator<<(const T& v) {
    message_ << v;
    return *this;
  }
  LogMessage& operator<<(const LogField& f);

 private:
  LogLevel level_;
  const char* file_;
  int line_;
  std::ostringstream message_;
  std::vector<LogField> fields_;
};

}  // namespace attune

#define ATTUNE_LOG_LEVEL_DEBUG ::attune::LogLevel::kDebug
#define ATTUNE_LOG_LEVEL_INFO ::attune::LogLevel::kInfo
#define ATTUNE_LOG_LEVEL_WARNING ::attune::LogLevel::kWarning
#define ATTUNE_LOG_LEVEL_ERROR ::attune::LogLevel::kError

#define ATTUNE_LOG(level)                                   \
  if (ATTUNE_LOG_LEVEL_##level < ::attune::MinLogLevel()) { \
  } else                                                    \
    ::attune::LogMessage(ATTUNE_LOG_LEVEL_##level, __FILE__, __LINE__)

#endif  // ATTUNE_SERVICE_COMMON_LOG_H_
