// attunectl watch: stream PromptUpdates as JSON lines until --count updates
// arrived, the user presses Ctrl-C, or the server ends the stream.
//
// No deadline: a watch is meant to stay open. Ctrl-C (SIGINT) or SIGTERM
// cancels the call, so the server sees a clean cancellation, and the command
// exits 0; a second Ctrl-C kills the process as usual.
#include <semaphore.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <thread>

#include "attune/v1/alliance_service.grpc.pb.h"
#include "service/ctl/commands.h"
#include "service/ctl/flag_values.h"
#include "service/ctl/json_lines.h"

namespace attune::ctl {
namespace {

// Posted by the signal handler (sem_post is async-signal-safe) and by the
// canceller's destructor.
sem_t g_wake;
volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void OnInterrupt(int) {
  g_interrupted = 1;
  sem_post(&g_wake);
}

// While alive, turns SIGINT and SIGTERM into context->TryCancel(). A
// helper thread waits on the semaphore because TryCancel is not
// async-signal-safe.
class CancelOnInterrupt {
 public:
  explicit CancelOnInterrupt(grpc::ClientContext* context) {
    g_interrupted = 0;
    sem_init(&g_wake, /*pshared=*/0, /*value=*/0);
    struct sigaction action = {};
    action.sa_handler = OnInterrupt;
    sigemptyset(&action.sa_mask);
    // The first signal cancels; the next one gets the default action.
    action.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
    thread_ = std::thread([this, context] {
      while (sem_wait(&g_wake) != 0 && errno == EINTR) {
      }
      if (!done_.load()) context->TryCancel();
    });
  }
  ~CancelOnInterrupt() {
    done_.store(true);
    sem_post(&g_wake);
    thread_.join();
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
    sem_destroy(&g_wake);
  }
  CancelOnInterrupt(const CancelOnInterrupt&) = delete;
  CancelOnInterrupt& operator=(const CancelOnInterrupt&) = delete;

  bool interrupted() const { return g_interrupted != 0; }

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
  struct sigaction old_int_ = {};
  struct sigaction old_term_ = {};
};

}  // namespace

int RunWatch(const CommandEnv& env) {
  v1::WatchPromptsRequest request;
  if (absl::Status chosen =
          EpisodeOrClinician(env.line, request.mutable_episode_id(),
                             request.mutable_clinician_id());
      !chosen.ok()) {
    return ReportUsageError(env, chosen);
  }
  int count = 0;  // 0 = until interrupted
  if (env.line.Has("count")) {
    absl::StatusOr<int> parsed =
        ParseIntInRange("--count", env.line.Get("count"), 1, 1000000000);
    if (!parsed.ok()) return ReportUsageError(env, parsed.status());
    count = *parsed;
  }

  auto stub = v1::AllianceService::NewStub(env.channel);
  grpc::ClientContext context;  // no deadline: see the file comment
  int received = 0;
  bool stopped_by_us = false;  // --count reached or output failed
  bool print_failed = false;
  grpc::Status status;
  {
    CancelOnInterrupt canceller(&context);
    std::unique_ptr<grpc::ClientReader<v1::PromptUpdate>> reader =
        stub->WatchPrompts(&context, request);
    v1::PromptUpdate update;
    while (reader->Read(&update)) {
      if (absl::Status printed = WriteJson(update, /*pretty=*/false, env.out);
          !printed.ok()) {
        env.err << "attunectl: watch: " << printed.message() << "\n";
        print_failed = true;
      }
      env.out.flush();
      if (print_failed || (count > 0 && ++received >= count)) {
        stopped_by_us = true;
        context.TryCancel();
        // Finish only after Read has reported the end of the stream.
        while (reader->Read(&update)) {
        }
        break;
      }
    }
    status = reader->Finish();
    stopped_by_us = stopped_by_us || canceller.interrupted();
  }
  if (print_failed) return kExitFailed;
  if (status.ok()) {
    env.err << "attunectl: watch: the server ended the stream\n";
    return kExitOk;
  }
  if (stopped_by_us && status.error_code() == grpc::StatusCode::CANCELLED) {
    return kExitOk;
  }
  return ReportRpcError(env, status);
}

}  // namespace attune::ctl
