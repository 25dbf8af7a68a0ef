#include "service/common/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace attune {
namespace {

std::atomic<LogLevel> g_min_level{LogLevel::kInfo};

void StderrSink(std::string_view line) {
  std::fwrite(line.data(), 1, line.size(), stderr);
}

std::atomic<LogSink> g_sink{&StderrSink};
std::mutex g_write_mu;

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarning:
      return "WARNING";
    case LogLevel::kError:
      return "ERROR";
  }
  return "INFO";
}

}  // namespace

void SetMinLogLevel(LogLevel level) { g_min_level = level; }
LogLevel MinLogLevel() { return g_min_level; }
void SetLogSink(LogSink sink) { g_sink = sink ? sink : &StderrSink; }

LogMessage::LogMessage(LogLevel level, const char* file, int line)
    : level_(level), file_(file), line_(line) {}

LogMessage& LogMessage::operator<<(const LogField& f) {
  fields_ += " ";
  fields_ += f.key;
  fields_ += "=";
  fields_ += f.value;
  return *this;
}

LogMessage::~LogMessage() {
  std::string_view file(file_);
  if (auto slash = file.rfind('/'); slash != std::string_view::npos) {
    file.remove_prefix(slash + 1);
  }
  std::string line = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                                      absl::UTCTimeZone());
  line += " ";
  line += LevelName(level_);
  line += " ";
  line += file;
  line += ":";
  line += std::to_string(line_);
  line += "] ";
  line += message_.str();
  line += fields_;
  line += "\n";
  std::lock_guard<std::mutex> lock(g_write_mu);
  g_sink.load()(line);
}

}  // namespace attune
