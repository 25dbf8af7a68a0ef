// ServerProcess: runs a server binary (attuned or attune-null-server) as a
// child process on 127.0.0.1:0 and reads its port from the one line it
// prints on stdout once it serves ("... serving on HOST:PORT").
//
//   ServerProcess p("/build/service/main/attuned",
//                   {"--listen", "127.0.0.1:0", "--db", dir + "/a.db"},
//                   dir + "/attuned.log");
//   absl::Status s = p.Start();   // p.startup() = spawn to that line
//   ... p.address(), p.ResidentBytes() ...
//   p.Stop();                     // SIGTERM, then wait
//
// Close every client channel to the server before Stop(): gRPC 1.51's
// graceful shutdown waits for idle client connections (about 5 s).
// Not thread-safe; the destructor stops a running child, and the child gets
// SIGTERM if the bench itself dies (PR_SET_PDEATHSIG; call Start() from a
// thread that lives as long as the child should, e.g. the main thread).
#ifndef ATTUNE_TESTS_BENCH_SERVER_PROCESS_H_
#define ATTUNE_TESTS_BENCH_SERVER_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace attune::bench {

class ServerProcess {
 public:
  ServerProcess(std::string binary, std::vector<std::string> args,
                std::string log_path);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Spawns the child and waits for its "serving on" line. UNAVAILABLE when
  // it exits first (its log names the reason).
  absl::Status Start();
  // SIGTERM and wait. Returns the exit status (0 = clean). Idempotent.
  int Stop();

  std::string address() const;
  pid_t pid() const { return pid_; }
  // From spawn to the "serving on" line.
  absl::Duration startup() const { return startup_; }
  // VmRSS and VmHWM (peak) of the child, from /proc.
  absl::StatusOr<int64_t> ResidentBytes() const;
  absl::StatusOr<int64_t> PeakResidentBytes() const;

 private:
  absl::StatusOr<int64_t> ReadStatusKb(const char* field) const;

  std::string binary_;
  std::vector<std::string> args_;
  std::string log_path_;
  pid_t pid_ = -1;
  int port_ = 0;
  absl::Duration startup_;
};

// A new directory under $TMPDIR (default /tmp): "<tmp>/<name>-XXXXXX".
absl::StatusOr<std::string> MakeTempDir(const std::string& name);
// Removes a directory tree (best effort).
void RemoveTree(const std::string& path);
// Total size of the files in `dir` whose name starts with `prefix`.
int64_t FilesSize(const std::string& dir, const std::string& prefix);

}  // namespace attune::bench

#endif  // ATTUNE_TESTS_BENCH_SERVER_PROCESS_H_
