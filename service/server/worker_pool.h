// WorkerPool: a fixed set of threads that run blocking request work (waiting
// for a durable commit), so gRPC's callback threads never block.
#ifndef ATTUNE_SERVICE_SERVER_WORKER_POOL_H_
#define ATTUNE_SERVICE_SERVER_WORKER_POOL_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace attune::server {

class WorkerPool {
 public:
  explicit WorkerPool(int threads);
  // Runs every queued task, then joins.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Run(std::function<void()> task);

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace attune::server

#endif  // ATTUNE_SERVICE_SERVER_WORKER_POOL_H_
