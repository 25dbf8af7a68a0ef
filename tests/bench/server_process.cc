#include "tests/bench/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace attune::bench {

ServerProcess::ServerProcess(std::string binary, std::vector<std::string> args,
                             std::string log_path)
    : binary_(std::move(binary)),
      args_(std::move(args)),
      log_path_(std::move(log_path)) {}

ServerProcess::~ServerProcess() { Stop(); }

absl::Status ServerProcess::Start() {
  int out[2];
  if (pipe(out) != 0) return absl::InternalError("pipe failed");
  std::vector<std::string> all = {binary_};
  all.insert(all.end(), args_.begin(), args_.end());
  // attuned's operations endpoint defaults to 127.0.0.1:9464: a free port
  // instead, so benches and tests running at once never clash.
  if (std::filesystem::path(binary_).filename() == "attuned" &&
      std::none_of(args_.begin(), args_.end(), [](const std::string& a) {
        return absl::StartsWith(a, "--ops_listen");
      })) {
    all.push_back("--ops_listen");
    all.push_back("127.0.0.1:0");
  }
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (log < 0) {
    close(out[0]);
    close(out[1]);
    return absl::UnavailableError(absl::StrCat("cannot write ", log_path_));
  }
  const pid_t parent = getpid();
  const absl::Time spawned = absl::Now();
  pid_ = fork();
  if (pid_ == 0) {
    // Only async-signal-safe calls until exec. The child gets SIGTERM when
    // the bench dies, so no server outlives an interrupted run.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    dup2(out[1], STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    close(out[0]);
    close(out[1]);
    close(log);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  close(log);
  if (pid_ < 0) {
    close(out[0]);
    pid_ = -1;
    return absl::UnavailableError(absl::StrCat("cannot run ", binary_));
  }
  FILE* f = fdopen(out[0], "r");
  char line[256] = {0};
  const bool got = fgets(line, sizeof line, f) != nullptr;
  startup_ = absl::Now() - spawned;
  // attuned writes its "attuned ops on" line in the same write as the
  // first, and nothing after: closing is safe (a later write would get
  // EPIPE, which the servers never do).
  fclose(f);
  std::string s(line);
  const auto colon = s.rfind(':');
  if (!got || !absl::StrContains(s, "serving on") ||
      colon == std::string::npos ||
      !absl::SimpleAtoi(absl::StripAsciiWhitespace(s.substr(colon + 1)),
                        &port_) ||
      port_ <= 0) {
    Stop();
    return absl::UnavailableError(
        absl::StrCat(binary_, " did not start; see ", log_path_));
  }
  return absl::OkStatus();
}

int ServerProcess::Stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string ServerProcess::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

absl::StatusOr<int64_t> ServerProcess::ReadStatusKb(const char* field) const {
  std::ifstream in(absl::StrCat("/proc/", pid_, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (!absl::StartsWith(line, field)) continue;
    std::string value(
        absl::StripAsciiWhitespace(line.substr(std::string(field).size())));
    if (absl::EndsWith(value, " kB")) value.resize(value.size() - 3);
    int64_t kb = 0;
    if (absl::SimpleAtoi(value, &kb)) return kb * 1024;
  }
  return absl::NotFoundError(
      absl::StrCat(field, " not in /proc/", pid_, "/status"));
}

absl::StatusOr<int64_t> ServerProcess::ResidentBytes() const {
  return ReadStatusKb("VmRSS:");
}

absl::StatusOr<int64_t> ServerProcess::PeakResidentBytes() const {
  return ReadStatusKb("VmHWM:");
}

absl::StatusOr<std::string> MakeTempDir(const std::string& name) {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp",
                                  "/", name, "-XXXXXX");
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot create ", tmpl));
  }
  return std::string(buf.data());
}

void RemoveTree(const std::string& path) {
  std::error_code ignored;
  std::filesystem::remove_all(path, ignored);
}

int64_t FilesSize(const std::string& dir, const std::string& prefix) {
  int64_t total = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (absl::StartsWith(entry.path().filename().string(), prefix)) {
      total += static_cast<int64_t>(entry.file_size(ec));
    }
  }
  return total;
}

}  // namespace attune::bench
