#include "tests/bench/load.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "attune/v1/alliance_service.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace attune::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Stub = v1::AllianceService::Stub;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             Clock::now().time_since_epoch())
      .count();
}

// One call in flight. Owned by the worker from Make() until Complete().
class Call {
 public:
  virtual ~Call() = default;
  virtual void Start(Stub& stub, grpc::CompletionQueue& cq) = 0;

  grpc::ClientContext ctx;
  grpc::Status status;
  int64_t due_ns = 0;  // when it was due (open loop) or sent (closed loop)
};

template <typename Req, typename Resp>
class TypedCall : public Call {
 public:
  using Prepare = std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>> (
      Stub::*)(grpc::ClientContext*, const Req&, grpc::CompletionQueue*);
  explicit TypedCall(Prepare prepare) : prepare_(prepare) {}

  void Start(Stub& stub, grpc::CompletionQueue& cq) override {
    reader_ = (stub.*prepare_)(&ctx, req, &cq);
    reader_->StartCall();
    reader_->Finish(&resp, &status, this);
  }

  Req req;
  Resp resp;

 private:
  Prepare prepare_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>> reader_;
};

class SubmitEventCall
    : public TypedCall<v1::SubmitEventRequest, v1::SubmitEventResponse> {
 public:
  SubmitEventCall() : TypedCall(&Stub::PrepareAsyncSubmitEvent) {}
  EpisodeFeed::Lease lane;
};

class SubmitEventsCall
    : public TypedCall<v1::SubmitEventsRequest, v1::SubmitEventsResponse> {
 public:
  SubmitEventsCall() : TypedCall(&Stub::PrepareAsyncSubmitEvents) {}
  // Episodes whose prefix the batch carries, with `next` set to the end of
  // that prefix.
  std::vector<EpisodeFeed::Lease> leases;
};

class GetAssessmentCall
    : public TypedCall<v1::GetAssessmentRequest, v1::GetAssessmentResponse> {
 public:
  GetAssessmentCall() : TypedCall(&Stub::PrepareAsyncGetAssessment) {}
};

// What one worker measured.
struct Tally {
  int64_t calls = 0;
  int64_t events = 0;
  int64_t failed_calls = 0;
  int64_t rejected_events = 0;
  int64_t not_sent = 0;
  std::vector<int64_t> latencies_ns;
  std::string first_error;
};

class Worker {
 public:
  Worker(const LoadOptions& options, int index, int workers,
         std::shared_ptr<grpc::Channel> channel)
      : options_(options),
        index_(index),
        workers_(workers),
        channel_(std::move(channel)),
        stub_(v1::AllianceService::NewStub(channel_)),
        rng_state_(options.seed * 7919 + static_cast<uint64_t>(index)) {
    tally_.latencies_ns.reserve(1 << 16);
  }

  // Runs the closed loop with `slots` calls in flight, or the open loop at
  // `rate` calls/s (phase-shifted by this worker's index), between the
  // shared start and end times.
  void Run(int slots, double rate, int64_t start_ns, int64_t warm_ns,
           int64_t end_ns) {
    warm_ns_ = warm_ns;
    end_ns_ = end_ns;
    std::this_thread::sleep_until(
        Clock::time_point(std::chrono::nanoseconds(start_ns)));
    if (rate > 0) {
      RunOpen(slots, rate, start_ns);
    } else {
      RunClosed(slots);
    }
    // Lanes go back to the feed for the next run.
    for (EpisodeFeed::Lease& lane : free_lanes_) {
      options_.feed->Return(std::move(lane));
    }
    free_lanes_.clear();
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) {
    }
  }

  Tally& tally() { return tally_; }
  int64_t window_end_ns() const { return window_end_ns_; }

 private:
  void RunClosed(int slots) {
    // A worker short of its share of options_.min_calls keeps going past
    // the end (up to drain_limit) and counts what completes meanwhile.
    const int64_t min_calls = (options_.min_calls + workers_ - 1) / workers_;
    const int64_t hard_end =
        end_ns_ + absl::ToInt64Nanoseconds(options_.drain_limit);
    for (int i = 0; i < slots; ++i) Issue(NowNs());
    while (in_flight_ > 0) {
      void* tag = nullptr;
      bool ok = false;
      if (!cq_.Next(&tag, &ok)) break;
      const int64_t now = NowNs();
      const bool short_of_calls = tally_.calls < min_calls && now < hard_end;
      const bool counted =
          now >= warm_ns_ && (now <= end_ns_ || short_of_calls);
      Complete(static_cast<Call*>(tag), now, counted);
      if (counted) window_end_ns_ = std::max(window_end_ns_, now);
      if (now < end_ns_ || (tally_.calls < min_calls && now < hard_end)) {
        Issue(NowNs());
      }
    }
  }

  void RunOpen(int max_in_flight, double rate, int64_t start_ns) {
    const double interval_ns = 1e9 / rate;
    double next =
        static_cast<double>(start_ns) + interval_ns * index_ / workers_;
    const int64_t drain_end =
        end_ns_ + absl::ToInt64Nanoseconds(options_.drain_limit);
    while (true) {
      int64_t now = NowNs();
      while (next < end_ns_ && next <= now && in_flight_ < max_in_flight &&
             now < drain_end) {
        Issue(static_cast<int64_t>(next));
        next += interval_ns;
      }
      if ((next >= end_ns_ || now >= drain_end) && in_flight_ == 0) break;
      int64_t wake = now + 100'000'000;
      if (next < end_ns_ && in_flight_ < max_in_flight) {
        wake = std::min(wake, static_cast<int64_t>(next));
      }
      void* tag = nullptr;
      bool ok = false;
      const auto deadline =
          std::chrono::system_clock::now() +
          std::chrono::nanoseconds(std::max<int64_t>(0, wake - now));
      grpc::CompletionQueue::NextStatus s = cq_.AsyncNext(&tag, &ok, deadline);
      if (s == grpc::CompletionQueue::SHUTDOWN) break;
      if (s == grpc::CompletionQueue::GOT_EVENT) {
        auto* call = static_cast<Call*>(tag);
        const bool counted = call->due_ns >= warm_ns_ && call->due_ns < end_ns_;
        Complete(call, NowNs(), counted);
      }
    }
    // Due in the window but never sent (the drain limit ran out).
    while (next < end_ns_) {
      if (next >= warm_ns_) ++tally_.not_sent;
      next += interval_ns;
    }
  }

  uint64_t Random() {
    uint64_t z = (rng_state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  void Issue(int64_t due_ns) {
    std::unique_ptr<Call> call = Make();
    call->due_ns = due_ns;
    call->ctx.set_deadline(std::chrono::system_clock::now() +
                           absl::ToChronoMilliseconds(options_.call_deadline));
    call->Start(*stub_, cq_);
    ++in_flight_;
    call.release();  // owned by the completion queue until Complete()
  }

  std::unique_ptr<Call> Make() {
    switch (options_.rpc) {
      case Rpc::kSubmitEvent: {
        auto call = std::make_unique<SubmitEventCall>();
        if (free_lanes_.empty()) {
          call->lane = options_.feed->Take();
        } else {
          call->lane = std::move(free_lanes_.back());
          free_lanes_.pop_back();
        }
        *call->req.mutable_event() = call->lane.events[call->lane.next];
        return call;
      }
      case Rpc::kSubmitEvents: {
        auto call = std::make_unique<SubmitEventsCall>();
        call->req.set_results_only(true);
        const size_t max = static_cast<size_t>(options_.batch_events);
        while (static_cast<size_t>(call->req.events_size()) < max) {
          EpisodeFeed::Lease lease = options_.feed->TakeFresh();
          const size_t room = max - call->req.events_size();
          size_t prefix = std::max<size_t>(1, lease.events.size() / 2);
          if (prefix > room) {
            if (call->req.events_size() > 0) {
              options_.feed->Return(std::move(lease));  // unsent: next == 0
              break;
            }
            prefix = room;
          }
          for (size_t i = 0; i < prefix; ++i) {
            *call->req.add_events() = lease.events[i];
          }
          lease.next = prefix;
          call->leases.push_back(std::move(lease));
        }
        return call;
      }
      case Rpc::kGetAssessment: {
        auto call = std::make_unique<GetAssessmentCall>();
        const auto& episodes = options_.assessment_episodes;
        call->req.set_episode_id(options_.feed->workload().EpisodeId(
            episodes[Random() % episodes.size()]));
        return call;
      }
    }
    return nullptr;
  }

  void Fail(const std::string& error) {
    ++tally_.failed_calls;
    if (tally_.first_error.empty()) tally_.first_error = error;
  }

  void Complete(Call* raw, int64_t now_ns, bool counted) {
    std::unique_ptr<Call> call(raw);
    --in_flight_;
    const bool ok = call->status.ok();
    if (!ok) {
      Fail(absl::StrCat(call->status.error_code(), ": ",
                        call->status.error_message()));
    }
    int64_t events = 0;
    switch (options_.rpc) {
      case Rpc::kSubmitEvent: {
        auto* c = static_cast<SubmitEventCall*>(call.get());
        // A failed event is not retried: the next call sends the next one.
        c->lane.next++;
        if (c->lane.next >= c->lane.events.size()) {
          options_.feed->Return(std::move(c->lane));
        } else {
          free_lanes_.push_back(std::move(c->lane));
        }
        events = ok ? 1 : 0;
        break;
      }
      case Rpc::kSubmitEvents: {
        auto* c = static_cast<SubmitEventsCall*>(call.get());
        for (EpisodeFeed::Lease& lease : c->leases) {
          options_.feed->Return(std::move(lease));
        }
        if (ok) {
          events = c->req.events_size();
          if (c->resp.rejected() > 0) {
            tally_.rejected_events += c->resp.rejected();
            for (const v1::EventResult& r : c->resp.results()) {
              if (r.code() != 0 && tally_.first_error.empty()) {
                tally_.first_error = absl::StrCat("event rejected: ", r.code(),
                                                  ": ", r.message());
              }
            }
          }
        }
        break;
      }
      case Rpc::kGetAssessment:
        events = 0;
        break;
    }
    if (counted) {
      ++tally_.calls;
      tally_.events += events;
      tally_.latencies_ns.push_back(now_ns - call->due_ns);
    }
  }

  const LoadOptions& options_;
  const int index_;
  const int workers_;  // in this run
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Stub> stub_;
  grpc::CompletionQueue cq_;
  uint64_t rng_state_;
  int in_flight_ = 0;
  int64_t warm_ns_ = 0;
  int64_t end_ns_ = 0;
  int64_t window_end_ns_ = 0;  // the last counted completion (closed loop)
  std::vector<EpisodeFeed::Lease> free_lanes_;
  Tally tally_;
};

}  // namespace

const char* RpcName(Rpc rpc) {
  switch (rpc) {
    case Rpc::kSubmitEvent:
      return "SubmitEvent";
    case Rpc::kSubmitEvents:
      return "SubmitEvents";
    case Rpc::kGetAssessment:
      return "GetAssessment";
  }
  return "?";
}

LatencySummary Summarize(std::vector<int64_t> latencies_ns) {
  LatencySummary s;
  s.count = static_cast<int64_t>(latencies_ns.size());
  if (latencies_ns.empty()) return s;
  std::sort(latencies_ns.begin(), latencies_ns.end());
  auto at = [&](double q) {
    size_t rank = static_cast<size_t>(std::ceil(q * latencies_ns.size()));
    rank = std::clamp<size_t>(rank, 1, latencies_ns.size());
    return latencies_ns[rank - 1] / 1e6;
  };
  s.p50_ms = at(0.50);
  s.p90_ms = at(0.90);
  s.p99_ms = at(0.99);
  s.p999_ms = at(0.999);
  s.max_ms = latencies_ns.back() / 1e6;
  return s;
}

absl::StatusOr<LoadResult> RunLoad(const LoadOptions& options) {
  if (options.feed == nullptr) {
    return absl::InvalidArgumentError("feed: required");
  }
  if (options.rpc == Rpc::kGetAssessment &&
      options.assessment_episodes.empty()) {
    return absl::InvalidArgumentError(
        "assessment_episodes: GetAssessment needs episodes to read");
  }
  const int workers = std::max(
      1, options.rate > 0 ? options.workers
                          : std::min(options.workers, options.concurrency));
  std::vector<std::unique_ptr<Worker>> pool;
  for (int w = 0; w < workers; ++w) {
    grpc::ChannelArguments args;
    // A channel of its own per worker: without a local subchannel pool,
    // channels to the same address share one connection.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("attune.bench.worker", w);
    args.SetMaxReceiveMessageSize(64 << 20);
    args.SetMaxSendMessageSize(64 << 20);
    std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
        options.address, grpc::InsecureChannelCredentials(), args);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() +
                                   std::chrono::seconds(10))) {
      return absl::UnavailableError(
          absl::StrCat("cannot connect to ", options.address));
    }
    pool.push_back(
        std::make_unique<Worker>(options, w, workers, std::move(channel)));
  }

  absl::Duration duration = options.duration;
  if (options.rate > 0 && options.min_calls > 0) {
    // Enough time for min_calls to fall due.
    duration =
        std::max(duration, absl::Seconds(options.min_calls / options.rate));
  }
  const int64_t start = NowNs() + 20'000'000;
  const int64_t warm = start + absl::ToInt64Nanoseconds(options.warmup);
  const int64_t end = warm + absl::ToInt64Nanoseconds(duration);
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    int slots = options.concurrency / workers +
                (w < options.concurrency % workers ? 1 : 0);
    double rate = options.rate > 0 ? options.rate / workers : 0;
    threads.emplace_back([&pool, w, slots, rate, start, warm, end] {
      pool[w]->Run(slots, rate, start, warm, end);
    });
  }
  for (std::thread& t : threads) t.join();

  LoadResult result;
  std::vector<int64_t> latencies;
  for (auto& worker : pool) {
    Tally& t = worker->tally();
    result.calls += t.calls;
    result.events += t.events;
    result.failed_calls += t.failed_calls;
    result.rejected_events += t.rejected_events;
    result.not_sent += t.not_sent;
    if (result.first_error.empty()) result.first_error = t.first_error;
    latencies.insert(latencies.end(), t.latencies_ns.begin(),
                     t.latencies_ns.end());
  }
  int64_t window_end = end;
  if (options.rate == 0) {
    for (auto& worker : pool) {
      window_end = std::max(window_end, worker->window_end_ns());
    }
  }
  result.seconds = (window_end - warm) / 1e9;
  result.calls_per_second = result.calls / result.seconds;
  result.events_per_second = result.events / result.seconds;
  result.latency = Summarize(std::move(latencies));
  return result;
}

}  // namespace attune::bench
