#pragma once
// The engines of one pool and the queue that feeds them, shared by every JavaScript thread that
// uses the pool: the owner's (InferencePool.create) and each worker_thread that attached to it
// (pool.share() gives a token, InferencePool.attach(token) uses it). Requests from all threads
// meet in the one Scheduler, so they merge into the same dynamic batches; each finished request
// goes back to its own thread's Client.
//
// Ownership: the owner's thread decides. close() on the owner, or the owner's thread ending,
// closes the core for every thread: queued requests are rejected with CLOSED (each on its own
// thread), running forwards finish, the engine threads are joined exactly once and the replicas
// freed. The object itself is reference-counted (the owner, every attached pool, a close in
// progress), so no thread is left with a dangling pointer whatever order they go in.

#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/client.h"
#include "engine/engine.h"
#include "engine/forward_signature.h"
#include "engine/latency_window.h"
#include "engine/scheduler.h"

namespace torchpool {

class PoolCore : public CompletionSink {
 public:
  PoolCore(std::vector<std::unique_ptr<Engine>> engines, ForwardSignature signature,
           SchedulerOptions options, PaddingSpec padding = {});
  ~PoolCore() override;
  PoolCore(const PoolCore&) = delete;
  PoolCore& operator=(const PoolCore&) = delete;

  // --- JS threads -----------------------------------------------------------------------------
  void AddClient(const std::shared_ptr<Client>& client);
  // A detached client leaves stats().threads; its counters stay in the pool's totals.
  void RemoveClient(const Client* client);

  void Submit(std::vector<RequestPtr>& requests, std::vector<Status>* refusals) { scheduler_.Submit(requests, refusals); }
  RequestPtr Cancel(const Client* client, uint64_t id) { return scheduler_.Cancel(client, id); }
  // The queued requests of one thread, removed from the queue (its pool closes or its thread exits).
  std::vector<RequestPtr> TakeQueued(const Client* client) { return scheduler_.RemoveClient(client); }
  // Refuses new work (also new attachments) and sends every queued request back to its thread
  // with `status`.
  void CloseNow(const Status& status);
  // Refuses new work; engines run what is queued, then exit.
  void CloseWhenDrained();
  // Whether the owner closed it (or its thread exited).
  bool closed() const;

  // --- Any thread -----------------------------------------------------------------------------
  // Blocks until every engine thread has exited. Several threads may call it at once (a close
  // in progress and an environment teardown): each engine thread is joined once.
  void JoinEngines();
  // Joins, keeps the engines' final counters for stats() and frees the replicas.
  void ReleaseEngines();

  // CompletionSink, engine threads: each request to its own thread; health news to all.
  void Complete(RequestPtr request) override;
  void CompleteAll(std::vector<RequestPtr>& batch) override;
  void EngineUnhealthy(const Engine& engine, const Status& last_error) override;

  // --- Stats ----------------------------------------------------------------------------------
  std::vector<EngineStats> EngineStatsSnapshot() const;
  std::vector<ClientStats> ClientStatsSnapshot() const;
  // Totals over every client that ever attached (detached ones included).
  ClientStats Totals() const;
  void RecordLatency(const Request& request);
  Percentiles SummarizeLatency(int engine, int which) const;  // engine -1: the pool; which 0/1/2: queue/compute/total
  // Where a request's time went, stage by stage (pool-wide): queue, staging, launch, device,
  // collect, wake, settle (see kStageNames).
  static constexpr int kStages = 8;
  static const char* const kStageNames[kStages];
  Percentiles SummarizeStage(int stage) const;
  size_t engine_count() const { return engine_count_; }
  double uptime_ms() const;

  const ForwardSignature& signature() const { return signature_; }
  const Scheduler& scheduler() const { return scheduler_; }
  OpProfiler& profiler() { return profiler_; }
  // `padding`, as resolved at load (empty: none).
  const PaddingSpec& padding() const { return padding_; }

  // --- Sharing across worker_threads of this process --------------------------------------------
  // The token other threads attach with; the same one on every call. 0 once the core closed.
  static uint64_t Share(const std::shared_ptr<PoolCore>& core);
  // The core behind a token, or nullptr when it was closed (or never existed here).
  static std::shared_ptr<PoolCore> Find(uint64_t token);

 private:
  void Unshare();

  Scheduler scheduler_;
  OpProfiler profiler_;  // pool.profile(): what the engine threads run while it is on
  PaddingSpec padding_;
  ForwardSignature signature_;
  const size_t engine_count_;
  const Clock::time_point created_ = Clock::now();

  // join_mutex_ is held while joining (possibly for a whole forward); engines_mutex_ only while
  // the vector is read or swapped out, so stats() never waits for a forward.
  std::mutex join_mutex_;
  mutable std::mutex engines_mutex_;
  std::vector<std::unique_ptr<Engine>> engines_;
  std::vector<EngineStats> final_engine_stats_;

  mutable std::mutex clients_mutex_;
  std::vector<std::shared_ptr<Client>> clients_;
  ClientStats retired_;  // summed counters of detached clients

  mutable std::mutex latency_mutex_;
  LatencySet pool_latency_;
  std::vector<LatencySet> engine_latency_;
  LatencyWindow stages_[kStages];

  mutable std::mutex share_mutex_;
  uint64_t token_ = 0;
  bool closed_ = false;  // under share_mutex_
};

}  // namespace torchpool
