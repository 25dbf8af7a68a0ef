// AttunedProcess: runs the real `attuned` binary on 127.0.0.1:0 with its own
// SQLite file, for integration tests over real gRPC.
//
// Storage keys: unless `extra_args` has a --key_file argument, attuned gets
// `<dir>/storage.keys`, generated (mode 0600, one key "test") the first time
// the directory is used, so every test stores sealed data as a production
// attuned does and a restart on the same directory reads it back. A test
// that wants a plaintext store passes "--key_file=" and a configuration
// with store { allow_plaintext: true }.
//
// Operations endpoint: unless `extra_args` has an --ops_listen argument,
// attuned gets --ops_listen 127.0.0.1:0, so parallel tests never share a
// port; ops_port() is the port it reports (0 when it serves none).
#ifndef ATTUNE_TESTS_INTEGRATION_ATTUNED_PROCESS_H_
#define ATTUNE_TESTS_INTEGRATION_ATTUNED_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "attune/v1/alliance_service.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace attune::testing {

class AttunedProcess {
 public:
  // `dir` holds the database, the storage key file and the captured log;
  // reuse it to restart on the same data.
  explicit AttunedProcess(std::string dir,
                          std::vector<std::string> extra_args = {});
  ~AttunedProcess();

  // Starts attuned and waits until it prints its port. False on failure.
  bool Start();
  // SIGTERM, then wait. Returns the exit status (0 = clean).
  int Stop();
  // Sends `signal` (e.g. SIGHUP) to the running attuned. False when it is not
  // running.
  bool Signal(int signal);
  // Waits for attuned to exit (after Signal(SIGTERM)) and returns its exit
  // status as Stop does. Close every channel to it first (see Stop).
  int Wait();

  int port() const { return port_; }
  // The operations endpoint's port (/metrics, /livez, /readyz); 0 when none.
  int ops_port() const { return ops_port_; }
  std::string address() const;
  std::shared_ptr<grpc::Channel> channel();
  std::unique_ptr<v1::AllianceService::Stub> stub();
  // Everything attuned wrote to stderr so far.
  std::string Log() const;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::vector<std::string> extra_args_;
  pid_t pid_ = -1;
  int port_ = 0;
  int ops_port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
};

// The key file AttunedProcess gives attuned for `dir`, created when missing
// (one fresh key with id "test").
std::string StorageKeyFile(const std::string& dir);

// A unique new directory under the test temp dir, removed with everything in
// it when the test process exits (unless ATTUNE_KEEP_TEST_DIRS=1).
std::string MakeTempDir(const std::string& name);

// A client context with a 10 s deadline.
std::unique_ptr<grpc::ClientContext> Context();

}  // namespace attune::testing

#endif  // ATTUNE_TESTS_INTEGRATION_ATTUNED_PROCESS_H_
