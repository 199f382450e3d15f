// bench/support/pinning.hpp — CPU pinning for the benchmarks (Linux).
//
// A benchmark pins a thread so the OS cannot move it between CPUs in the
// middle of a measurement (a migration costs a cold cache and, on a VM, may
// land on a vCPU that is being descheduled), or to put several threads on
// one CPU on purpose. Pinning can fail: a CPU outside the process's
// affinity mask (taskset, a container's cpuset), or offline. The benchmark
// then goes on unpinned, but says so on stderr, naming the CPU and the
// reason, because its figures may then be noisier than usual.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <pthread.h>
#include <sched.h>
#include <thread>
#include <vector>

namespace bench {

// The CPUs the calling thread may run on (its affinity mask), ascending;
// empty if the mask cannot be read.
inline std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

namespace detail {
// program_invocation_short_name (glibc): the program's name, so the
// message says which benchmark failed without every caller passing it.
inline bool pin_native(pthread_t thread, int cpu) {
  int err = EINVAL;
  if (cpu >= 0 && cpu < CPU_SETSIZE) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    err = pthread_setaffinity_np(thread, sizeof set, &set);
  }
  if (err == 0) return true;
  std::fprintf(stderr, "%s: cannot pin a thread to CPU %d: %s (running unpinned)\n", program_invocation_short_name, cpu,
               std::strerror(err));
  return false;
}
}  // namespace detail

// Pins the calling thread to `cpu`. false (after a message on stderr) if it
// could not.
inline bool pin_this_thread(int cpu) { return detail::pin_native(pthread_self(), cpu); }

// Pins a running std::thread to `cpu`, from any thread. false (after a
// message on stderr) if it could not.
inline bool pin_thread(std::thread& t, int cpu) { return detail::pin_native(t.native_handle(), cpu); }

}  // namespace bench
