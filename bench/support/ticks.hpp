// bench/support/ticks.hpp — the benchmarks' cycle counter: reads of the
// CPU's time-stamp counter, fenced so that an interval measures the code
// between its two reads and nothing else.
//
//   std::uint64_t t0 = bench::ticks_start();
//   ...code to time...
//   std::uint64_t t1 = bench::ticks_stop();
//   double ns = bench::ticks_to_ns(static_cast<double>(t1 - t0));
//
// Why fences: both CPUs below execute out of order, and a bare counter read
// is not ordered with the instructions around it. Unfenced, the first read
// can happen after some of the timed code has started and the second
// before all of it has finished, so short intervals (a lock() call, one
// work unit) come out too short, or even negative against another read.
//
// x86-64: the TSC, which counts at a constant rate (reference cycles, not
// the core's current clock: constant_tsc on every CPU of the last 15 years).
//  * start: `lfence; rdtsc; lfence`. The first lfence waits until every
//    earlier instruction has completed, so none of them is counted; the
//    second keeps the timed code from starting before the read.
//  * stop: `lfence; rdtsc`. The lfence waits for the timed code to
//    complete; what comes after the stop is not timed, so it may overlap.
//  Not `rdtscp` for the stop, the usual recipe: not every x86-64 CPU, nor
//  every VM, offers it (this project's own 2-vCPU VM does not: the
//  instruction would raise SIGILL), and `lfence; rdtsc` orders the same
//  way. lfence is dispatch-serialising on Intel CPUs and on AMD ones since
//  the Spectre mitigations (the kernel sets it up, Zen 2 and later always).
// AArch64: the generic timer's virtual count, cntvct_el0, at cntfrq_el0 Hz
// (often 25 MHz to 1 GHz: coarser than a cycle). `isb` flushes the pipeline:
//  * start: `isb; mrs; isb`, for the same two reasons as on x86-64;
//  * stop: `isb; mrs`.
// Elsewhere: steady_clock in ns.
//
// A fence is not free (lfence costs 7-10 ns on the project's VM, about what
// rdtsc itself costs): a loop that reads the counter every iteration pays
// for its fences, which is why ticks_stop() has only the one it needs.
//
// Each fence and read is also a compiler barrier (volatile asm with a
// "memory" clobber): the compiler keeps them in order and moves no load or
// store of the timed code across them.
//
// The reads are inline code, not calls into the vDSO, so a jiffy fiber can
// be preempted anywhere around them (preempt_cost relies on it).
#pragma once

#include <chrono>
#include <cstdint>
#include <thread>

namespace bench {

namespace detail {

// lfence / isb: waits until every earlier instruction has completed before
// any later one starts.
inline void wait_for_earlier_instructions() noexcept {
#if defined(__x86_64__)
  asm volatile("lfence" : : : "memory");
#elif defined(__aarch64__)
  asm volatile("isb" : : : "memory");
#endif
}

// The counter itself, unordered with the code around it.
inline std::uint64_t read_counter() noexcept {
#if defined(__x86_64__)
  std::uint32_t lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
  return (std::uint64_t{hi} << 32) | lo;
#elif defined(__aarch64__)
  std::uint64_t t;
  asm volatile("mrs %0, cntvct_el0" : "=r"(t) : : "memory");
  return t;
#else
  return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
#endif
}

}  // namespace detail

// A tick read that starts an interval: no earlier instruction is counted
// in it and no later one starts before it.
inline std::uint64_t ticks_start() noexcept {
  detail::wait_for_earlier_instructions();
  const std::uint64_t t = detail::read_counter();
  detail::wait_for_earlier_instructions();
  return t;
}

// A tick read that ends an interval: every earlier instruction has
// completed before it.
inline std::uint64_t ticks_stop() noexcept {
  detail::wait_for_earlier_instructions();
  return detail::read_counter();
}

// What a tick is, for output headers.
inline const char* tick_source() noexcept {
#if defined(__x86_64__)
  return "rdtsc (x86-64 TSC: constant-rate reference cycles)";
#elif defined(__aarch64__)
  return "cntvct_el0 (AArch64 generic timer ticks)";
#else
  return "steady_clock (ns; no cycle counter read)";
#endif
}

namespace detail {
// AArch64 states the counter's frequency; the TSC's must be measured, here
// against steady_clock over 30 ms (good to a few parts per million).
inline double measure_ticks_per_ns() {
#if defined(__aarch64__)
  std::uint64_t hz;
  asm volatile("mrs %0, cntfrq_el0" : "=r"(hz));
  return static_cast<double>(hz) / 1e9;
#elif defined(__x86_64__)
  using clock = std::chrono::steady_clock;
  const clock::time_point c0 = clock::now();
  const std::uint64_t t0 = ticks_start();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const clock::time_point c1 = clock::now();
  const std::uint64_t t1 = ticks_stop();
  const double ns = std::chrono::duration<double, std::nano>(c1 - c0).count();
  return static_cast<double>(t1 - t0) / ns;
#else
  return 1.0;
#endif
}
}  // namespace detail

// Ticks per nanosecond, measured on first use (call it before timing
// anything, as it may sleep 30 ms).
inline double ticks_per_ns() {
  static const double v = detail::measure_ticks_per_ns();
  return v;
}

inline double ticks_to_ns(double ticks) { return ticks / ticks_per_ns(); }

}  // namespace bench
