// Checks fillWhileBusy's two halves on any machine, GPU or not (test/native/fill-while-busy.test.ts
// builds and runs it): the scheduler's hold (Scheduler::SetHold / ReleaseHold, as CUDA engines
// drive it) and the estimate of when a device is free (BusyEstimate, fed known timestamps).
// Prints one JSON object of what it observed; the test asserts on it.
#include <cstdio>
#include <string>
#include <thread>

#include "engine/cuda/busy_estimate.h"
#include "engine/scheduler.h"

using namespace torchpool;
using namespace std::chrono;

namespace {

RequestPtr Make(const char* key = "k") {
  auto r = std::make_unique<Request>();
  r->batch_key = key;
  r->rows = 1;
  r->enqueued = Clock::now();
  return r;
}

// The JS thread submits a turn's requests together; these cases submit one at a time.
void SubmitOne(Scheduler& s, RequestPtr& request) {
  std::vector<RequestPtr> one;
  one.push_back(std::move(request));
  std::vector<Status> refusals;
  s.Submit(one, &refusals);
}

double MillisSince(Clock::time_point t) { return duration<double, std::milli>(Clock::now() - t).count(); }

SchedulerOptions Options() {
  SchedulerOptions o;
  o.max_batch_rows = 8;
  o.max_queue_delay = microseconds(0);  // without a hold, nothing waits
  return o;
}

std::string Json(const char* name, double ms, size_t batch, uint64_t held) {
  char text[160];
  std::snprintf(text, sizeof text, "\"%s\":{\"ms\":%.3f,\"batch\":%zu,\"held\":%llu}", name, ms, batch,
                static_cast<unsigned long long>(held));
  return text;
}

// One engine, one request queued, a hold of `hold`; `during` runs on another thread meanwhile.
template <typename During>
std::string Case(const char* name, milliseconds hold, During during) {
  Scheduler s;
  s.Configure(1, Options());
  RequestPtr first = Make();
  SubmitOne(s, first);
  s.SetHold(0, Clock::now() + hold);
  std::thread other([&] { during(s); });
  Work work;
  const Clock::time_point start = Clock::now();
  s.Take(0, &work);
  const double ms = MillisSince(start);
  other.join();
  return Json(name, ms, work.batch.size(), s.Lane(0).held);
}

std::string OtherEngineIdle() {
  // Two engines: engine 1 is busy (it took work) while engine 0 holds; when engine 1 comes back
  // for more and finds none (idle), engine 0 must stop holding and launch.
  Scheduler s;
  s.Configure(2, Options());
  RequestPtr a = Make("other");
  SubmitOne(s, a);
  Work busy;
  s.Take(1, &busy);  // engine 1 is now busy with what it took
  RequestPtr b = Make();
  SubmitOne(s, b);
  s.SetHold(0, Clock::now() + milliseconds(200));
  std::thread engine1([&] {
    std::this_thread::sleep_for(milliseconds(5));
    Work more;
    s.Take(1, &more);  // sleeps: nothing queued. Woken by the request submitted below.
  });
  Work work;
  const Clock::time_point start = Clock::now();
  s.Take(0, &work);
  const double ms = MillisSince(start);
  RequestPtr wake = Make();
  SubmitOne(s, wake);
  engine1.join();
  return Json("otherIdle", ms, work.batch.size() + busy.batch.size(), s.Lane(0).held);
}

std::string Estimate() {
  // Batches of 32 rows, 0.5 ms from take to launch, 3 ms each on the device, back to back.
  BusyEstimate e;
  const Clock::time_point t0 = Clock::now();
  auto at = [&](double ms) { return t0 + duration_cast<Clock::duration>(duration<double, std::milli>(ms)); };
  auto rel = [&](Clock::time_point t) { return t == Clock::time_point() ? -1.0 : duration<double, std::milli>(t - t0).count(); };
  const double unknown = rel(e.LaunchAt(1, at(0)));
  for (int i = 0; i < 3; ++i) {
    e.Launched(32, at(3.0 * i + 0.5));
    e.Completed(32, at(3.0 * i), at(3.0 * i + 0.5), at(3.0 * i + 3.5));
  }
  e.Launched(32, at(20.5));
  const double known = rel(e.LaunchAt(1, at(20.6)));          // 20.5 + 3 - 0.5
  const double idle = rel(e.LaunchAt(0, at(20.6)));           // nothing in flight: no hold
  const double late = rel(e.LaunchAt(1, at(23.5)));           // already past: no hold
  e.Launched(32, at(21.0));                                   // queued behind: 23.5 + 3 - 0.5
  const double queued = rel(e.LaunchAt(2, at(21.1)));
  e.Launched(16, at(21.5));                                   // never seen 16 rows: unknown
  const double unseen = rel(e.LaunchAt(3, at(21.6)));
  char text[256];
  std::snprintf(text, sizeof text,
                "\"estimate\":{\"unknown\":%.3f,\"known\":%.3f,\"idle\":%.3f,\"late\":%.3f,\"queued\":%.3f,\"unseen\":%.3f}",
                unknown, known, idle, late, queued, unseen);
  return text;
}

}  // namespace

int main() {
  const std::string held = Case("held", milliseconds(30), [](Scheduler& s) {
    std::this_thread::sleep_for(milliseconds(5));
    RequestPtr r = Make();
    SubmitOne(s, r);  // joins the held batch
  });
  const std::string released = Case("released", milliseconds(5000), [](Scheduler& s) {
    std::this_thread::sleep_for(milliseconds(5));
    s.ReleaseHold(0);  // the device went idle
  });
  const std::string full = Case("full", milliseconds(5000), [](Scheduler& s) {
    std::this_thread::sleep_for(milliseconds(5));
    for (int i = 0; i < 7; ++i) {
      RequestPtr r = Make();
      SubmitOne(s, r);
    }
  });
  const std::string none = Case("noHold", milliseconds(0), [](Scheduler&) {});
  // A member with a deadline 10 ms away ends a 5 s hold then (it must start before it).
  Scheduler timed;
  timed.Configure(1, Options());
  RequestPtr due = Make();
  due->deadline = Clock::now() + milliseconds(10);
  SubmitOne(timed, due);
  timed.SetHold(0, Clock::now() + milliseconds(5000));
  Work deadline_work;
  const Clock::time_point deadline_start = Clock::now();
  timed.Take(0, &deadline_work);
  const std::string deadline = Json("deadline", MillisSince(deadline_start), deadline_work.batch.size(), timed.Lane(0).held);
  std::printf("{%s,%s,%s,%s,%s,%s,%s}\n", held.c_str(), released.c_str(), full.c_str(), none.c_str(),
              deadline.c_str(), OtherEngineIdle().c_str(), Estimate().c_str());
  return 0;
}
