#include "engine/pool_core.h"

#include <unordered_map>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace torchpool {
namespace {

// Tokens of shared cores in this process. Weak: a token never keeps a closed pool alive.
struct Registry {
  std::mutex mutex;
  std::unordered_map<uint64_t, std::weak_ptr<PoolCore>> cores;
  uint64_t next = 1;
};

Registry& SharedCores() {
  static Registry* registry = new Registry();  // never destroyed: worker threads may outlive statics
  return *registry;
}

void AddTo(ClientStats* sum, const ClientStats& s) {
  sum->submitted += s.submitted;
  sum->completed += s.completed;
  sum->failed += s.failed;
  sum->live += s.live;
}

}  // namespace

PoolCore::PoolCore(std::vector<std::unique_ptr<Engine>> engines, ForwardSignature signature,
                   SchedulerOptions options, PaddingSpec padding)
    : padding_(std::move(padding)),
      signature_(std::move(signature)),
      engine_count_(engines.size()),
      engines_(std::move(engines)),
      engine_latency_(engine_count_) {
  scheduler_.Configure(static_cast<int>(engine_count_), options);
  // CPU engines share the cores with the JS thread that turns their results around.
  for (auto& engine : engines_) {
    if (engine->config().device.is_cpu()) scheduler_.SplitForTurnaround(engine->config().index);
  }
  for (auto& engine : engines_) engine->Start(&scheduler_, this, &profiler_);
}

PoolCore::~PoolCore() {
  // Normally closed by its owner already; this covers a core whose every holder went away.
  CloseNow(Status(ErrorCode::kClosed, "the pool was closed"));
  ReleaseEngines();
}

void PoolCore::AddClient(const std::shared_ptr<Client>& client) {
  std::lock_guard<std::mutex> lock(clients_mutex_);
  clients_.push_back(client);
}

void PoolCore::RemoveClient(const Client* client) {
  std::lock_guard<std::mutex> lock(clients_mutex_);
  for (auto it = clients_.begin(); it != clients_.end(); ++it) {
    if (it->get() != client) continue;
    AddTo(&retired_, (*it)->Stats());
    clients_.erase(it);
    return;
  }
}

void PoolCore::CloseNow(const Status& status) {
  Unshare();
  for (RequestPtr& request : scheduler_.CloseNow()) {
    request->status = status;
    request->finished = Clock::now();
    Complete(std::move(request));
  }
}

void PoolCore::CloseWhenDrained() {
  Unshare();
  scheduler_.CloseWhenDrained();
}

bool PoolCore::closed() const {
  std::lock_guard<std::mutex> lock(share_mutex_);
  return closed_;
}

void PoolCore::JoinEngines() {
  std::lock_guard<std::mutex> join(join_mutex_);
  for (auto& engine : engines_) engine->Join();
}

void PoolCore::ReleaseEngines() {
  std::vector<std::unique_ptr<Engine>> released;
  {
    std::lock_guard<std::mutex> join(join_mutex_);
    for (auto& engine : engines_) engine->Join();
    std::lock_guard<std::mutex> lock(engines_mutex_);
    if (engines_.empty()) return;
    for (const auto& engine : engines_) final_engine_stats_.push_back(engine->Stats());
    released.swap(engines_);
  }
  released.clear();  // frees the replicas (and a CUDA engine's streams, events, pinned blocks)
#ifdef __GLIBC__
  // Hand the freed model memory back to the system: without it, a server that reloads models
  // keeps their pages in glibc's arenas and its resident size creeps up.
  malloc_trim(0);
#endif
}

void PoolCore::Complete(RequestPtr request) {
  Client* client = request->client.get();
  if (client != nullptr) client->Complete(std::move(request));
  // A request without a client (warmup) is simply dropped.
}

void PoolCore::CompleteAll(std::vector<RequestPtr>& batch) {
  // Members of one client (the usual case: one JS thread) go over together, so that thread wakes
  // once and drains the whole batch, rather than waking on the first and draining it piecemeal.
  for (size_t begin = 0; begin < batch.size();) {
    Client* client = batch[begin]->client.get();
    size_t end = begin + 1;
    while (end < batch.size() && batch[end]->client.get() == client) ++end;
    if (client != nullptr) client->CompleteAll(batch.data() + begin, batch.data() + end);
    begin = end;
  }
  batch.clear();
}

void PoolCore::EngineUnhealthy(const Engine& engine, const Status& last_error) {
  EngineEvent event;
  event.engine = engine.config().index;
  event.device = engine.config().device.str();
  event.instance = engine.config().instance;
  event.status = last_error;
  std::lock_guard<std::mutex> lock(clients_mutex_);
  for (const auto& client : clients_) client->Notify(event);
}

std::vector<EngineStats> PoolCore::EngineStatsSnapshot() const {
  std::lock_guard<std::mutex> lock(engines_mutex_);
  if (engines_.empty()) return final_engine_stats_;
  std::vector<EngineStats> all;
  all.reserve(engines_.size());
  for (const auto& engine : engines_) all.push_back(engine->Stats());
  return all;
}

std::vector<ClientStats> PoolCore::ClientStatsSnapshot() const {
  std::lock_guard<std::mutex> lock(clients_mutex_);
  std::vector<ClientStats> all;
  for (const auto& client : clients_) all.push_back(client->Stats());
  return all;
}

ClientStats PoolCore::Totals() const {
  std::lock_guard<std::mutex> lock(clients_mutex_);
  ClientStats sum = retired_;
  for (const auto& client : clients_) AddTo(&sum, client->Stats());
  return sum;
}

const char* const PoolCore::kStageNames[PoolCore::kStages] = {"queueMs", "stagingMs", "launchMs", "deviceMs",
                                                               "collectMs", "wakeMs", "settleMs", "forwardMs"};

void PoolCore::RecordLatency(const Request& request) {
  if (request.engine < 0 || static_cast<size_t>(request.engine) >= engine_count_) return;
  auto ms = [](Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
  const Clock::time_point now = Clock::now();
  const double queue = ms(request.started - request.enqueued);
  const double compute = ms(request.finished - request.started);
  const double total = ms(now - request.enqueued);
  // A CPU engine has no staging or launch: its forward is all "device" time.
  const Clock::time_point unset{};
  const Clock::time_point staged = request.staged == unset ? request.started : request.staged;
  const Clock::time_point launched = request.launched == unset ? staged : request.launched;
  const Clock::time_point forwarded = request.forwarded == unset ? staged : request.forwarded;
  const Clock::time_point completed = request.completed == unset ? request.finished : request.completed;
  const Clock::time_point drained = request.drained == unset ? now : request.drained;
  const double stages[kStages] = {queue, ms(staged - request.started), ms(launched - staged), ms(completed - launched),
                                  ms(request.finished - completed), ms(drained - request.finished), ms(now - drained),
                                  ms(forwarded - staged)};
  std::lock_guard<std::mutex> lock(latency_mutex_);
  for (LatencySet* set : {&pool_latency_, &engine_latency_[request.engine]}) {
    set->queue.Add(queue);
    set->compute.Add(compute);
    set->total.Add(total);
  }
  for (int i = 0; i < kStages; ++i) stages_[i].Add(stages[i]);
}

Percentiles PoolCore::SummarizeStage(int stage) const {
  std::lock_guard<std::mutex> lock(latency_mutex_);
  return stages_[stage].Summarize();
}

Percentiles PoolCore::SummarizeLatency(int engine, int which) const {
  std::lock_guard<std::mutex> lock(latency_mutex_);
  const LatencySet& set = engine < 0 ? pool_latency_ : engine_latency_.at(engine);
  const LatencyWindow& window = which == 0 ? set.queue : which == 1 ? set.compute : set.total;
  return window.Summarize();
}

double PoolCore::uptime_ms() const {
  return std::chrono::duration<double, std::milli>(Clock::now() - created_).count();
}

uint64_t PoolCore::Share(const std::shared_ptr<PoolCore>& core) {
  std::lock_guard<std::mutex> lock(core->share_mutex_);
  if (core->closed_) return 0;
  if (core->token_ == 0) {
    Registry& registry = SharedCores();
    std::lock_guard<std::mutex> registry_lock(registry.mutex);
    core->token_ = registry.next++;
    registry.cores[core->token_] = core;
  }
  return core->token_;
}

std::shared_ptr<PoolCore> PoolCore::Find(uint64_t token) {
  Registry& registry = SharedCores();
  std::lock_guard<std::mutex> lock(registry.mutex);
  auto it = registry.cores.find(token);
  if (it == registry.cores.end()) return nullptr;
  std::shared_ptr<PoolCore> core = it->second.lock();
  if (!core) registry.cores.erase(it);
  return core;
}

void PoolCore::Unshare() {
  std::lock_guard<std::mutex> lock(share_mutex_);
  closed_ = true;
  if (token_ == 0) return;
  Registry& registry = SharedCores();
  std::lock_guard<std::mutex> registry_lock(registry.mutex);
  registry.cores.erase(token_);
}

}  // namespace torchpool
