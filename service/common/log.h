// A small structured logging shim (Abseil 20220623 has no absl/log).
//
//   ATTUNE_LOG(INFO) << "store opened" << LogField("journal", "wal");
//
// One line per message on stderr: time, level, message, key=value fields.
// Never pass client or clinician identifiers, dates of birth or free text:
// log counts, codes, module ids and Attune's own ids only.
#ifndef ATTUNE_SERVICE_COMMON_LOG_H_
#define ATTUNE_SERVICE_COMMON_LOG_H_

#include <sstream>
#include <string>
#include <string_view>

namespace attune {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Messages below this level are dropped. Default kInfo.
void SetMinLogLevel(LogLevel level);
LogLevel MinLogLevel();

// Where log lines go. Default stderr; tests may capture them.
using LogSink = void (*)(std::string_view line);
void SetLogSink(LogSink sink);

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
  std::string fields_;
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
