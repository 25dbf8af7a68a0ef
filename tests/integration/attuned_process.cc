#include "tests/integration/attuned_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "service/security/key_ring.h"
#include "tests/common/scratch.h"

extern char** environ;

namespace attune::testing {

std::string MakeTempDir(const std::string& name) { return ScratchDir(name); }

std::string StorageKeyFile(const std::string& dir) {
  const std::string path = dir + "/storage.keys";
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return path;  // already there: a restart on the same data
  auto line = security::KeyRing::GenerateKeyLine("test");
  EXPECT_TRUE(line.ok()) << line.status();
  const std::string text = line.ok() ? *line + "\n" : std::string();
  EXPECT_EQ(write(fd, text.data(), text.size()),
            static_cast<ssize_t>(text.size()));
  close(fd);
  return path;
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(10));
  return ctx;
}

AttunedProcess::AttunedProcess(std::string dir,
                               std::vector<std::string> extra_args)
    : dir_(std::move(dir)), extra_args_(std::move(extra_args)) {}

AttunedProcess::~AttunedProcess() {
  if (pid_ > 0) Stop();
}

bool AttunedProcess::Start() {
  int out[2];
  if (pipe(out) != 0) return false;
  std::string binary = std::string(ATTUNE_BINARY_DIR) + "/service/main/attuned";
  std::string log = dir_ + "/attuned.log";
  std::vector<std::string> args = {binary, "--listen", "127.0.0.1:0", "--db",
                                   dir_ + "/attune.db"};
  bool has_key_file = false;
  bool has_ops_listen = false;
  for (const std::string& arg : extra_args_) {
    has_key_file = has_key_file || arg.rfind("--key_file", 0) == 0;
    has_ops_listen = has_ops_listen || arg.rfind("--ops_listen", 0) == 0;
  }
  if (!has_key_file) {
    args.push_back("--key_file");
    args.push_back(StorageKeyFile(dir_));
  }
  if (!has_ops_listen) {
    args.push_back("--ops_listen");
    args.push_back("127.0.0.1:0");
  }
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  int rc = posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(),
                       environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    pid_ = -1;
    return false;
  }
  // attuned prints "attuned serving on HOST:PORT" once it is ready, and
  // "attuned ops on HOST:PORT" in the same write when it serves the
  // operations endpoint: after the first line, the second is either in
  // stdio's buffer already or not coming.
  FILE* f = fdopen(out[0], "r");
  char line[256] = {0};
  bool ok = fgets(line, sizeof line, f) != nullptr;
  std::string s(line);
  ops_port_ = 0;
  if (ok) {
    fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
    char ops_line[256] = {0};
    if (fgets(ops_line, sizeof ops_line, f) != nullptr) {
      std::string o(ops_line);
      auto ops_colon = o.rfind(':');
      if (o.rfind("attuned ops on ", 0) == 0 &&
          ops_colon != std::string::npos) {
        ops_port_ = std::atoi(o.c_str() + ops_colon + 1);
      }
    }
  }
  fclose(f);
  auto colon = s.rfind(':');
  if (!ok || colon == std::string::npos) return false;
  port_ = std::atoi(s.c_str() + colon + 1);
  channel_ = grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
  return port_ > 0;
}

int AttunedProcess::Stop() {
  if (pid_ <= 0) return -1;
  // Close our connection first: gRPC's graceful shutdown otherwise waits for
  // the idle client connection to go away (about 5 s).
  channel_.reset();
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  channel_.reset();
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int AttunedProcess::Wait() {
  if (pid_ <= 0) return -1;
  channel_.reset();
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool AttunedProcess::Signal(int signal) {
  return pid_ > 0 && kill(pid_, signal) == 0;
}

std::string AttunedProcess::address() const {
  return "127.0.0.1:" + std::to_string(port_);
}

std::shared_ptr<grpc::Channel> AttunedProcess::channel() { return channel_; }

std::unique_ptr<v1::AllianceService::Stub> AttunedProcess::stub() {
  return v1::AllianceService::NewStub(channel_);
}

std::string AttunedProcess::Log() const {
  std::ifstream in(dir_ + "/attuned.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace attune::testing
