// pool.profile()'s GPU-kernel recording (engine/kernel_trace.cc) on any machine: that starting
// and stopping it is safe where libtorch records no GPU activity, that it says why nothing was
// recorded, and that a second trace in the same process is refused with a reason (Kineto keeps
// one). Prints JSON for test/native/profile-kernels.test.ts. The GPU half is test/gpu/profile.test.ts.
#include <ATen/ATen.h>

#include <iostream>
#include <string>

#include "engine/kernel_trace.h"

namespace {

std::string Quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c == '\n' ? ' ' : c;
  }
  return out + "\"";
}

}  // namespace

int main() {
  using torchpool::KernelTrace;
  std::string first_why, second_why, stop_why, again_why, unstarted_why;
  KernelTrace first;
  const bool first_started = first.Start(&first_why);
  KernelTrace second;
  const bool second_started = second.Start(&second_why);
  // Some work while recording: CPU operators only, so no GPU activity.
  at::Tensor x = at::rand({64, 64});
  for (int i = 0; i < 10; ++i) x = at::matmul(x, x).tanh();
  const size_t events = first.Stop(&stop_why).size();
  // The process's one trace is free again once stopped.
  KernelTrace again;
  const bool again_started = again.Start(&again_why);
  const size_t again_events = again.Stop(&again_why).size();
  KernelTrace unstarted;
  const size_t unstarted_events = unstarted.Stop(&unstarted_why).size();
  std::cout << "{\"firstStarted\":" << (first_started ? "true" : "false") << ",\"firstWhy\":" << Quoted(first_why)
            << ",\"secondStarted\":" << (second_started ? "true" : "false") << ",\"secondWhy\":" << Quoted(second_why)
            << ",\"events\":" << events << ",\"stopWhy\":" << Quoted(stop_why)
            << ",\"againStarted\":" << (again_started ? "true" : "false") << ",\"againEvents\":" << again_events
            << ",\"againWhy\":" << Quoted(again_why) << ",\"unstartedEvents\":" << unstarted_events
            << ",\"unstartedWhy\":" << Quoted(unstarted_why) << "}" << std::endl;
  return 0;
}
