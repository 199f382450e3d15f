// jiffy/detail/platform/cycle_clock.hpp — a tick counter cheap enough to
// read at every context switch, for measuring short intervals.
//
// Rules:
//  * cycle_clock_now() reads the CPU's own counter: the time-stamp counter
//    on x86-64 (RDTSC), the virtual count on AArch64 (CNTVCT_EL0), both
//    readable from user space without a system call. steady_clock costs
//    about twice as much on a VM (a vDSO call that reads the same counter
//    and scales it), and the switch pays it once per fiber run.
//  * Ticks are for differences only. Their rate is whatever the hardware
//    runs at; a tick_rate pairs two (ticks, steady_clock) readings to turn
//    tick differences into nanoseconds, more exactly the further apart the
//    readings are.
//  * Not serialising (no LFENCE/ISB): an interval measured between two
//    switches is microseconds long, so a few cycles of reordering around
//    the read do not matter, and a fence would cost more than the read.
//  * Readings taken on different CPUs are compared (a fiber woken on one
//    worker runs on another). Linux keeps the TSC synchronised where it is
//    "constant" and "nonstop", and CNTVCT_EL0 is one system-wide counter;
//    where they are not, a difference may come out slightly negative, and
//    callers clamp it to zero.
#pragma once

#include <jiffy/detail/time.hpp>

#include <cstdint>

namespace jiffy::detail {

inline std::uint64_t cycle_clock_now() noexcept {
#if defined(__x86_64__)
  return __builtin_ia32_rdtsc();
#elif defined(__aarch64__)
  std::uint64_t v;
  asm volatile("mrs %0, cntvct_el0" : "=r"(v));
  return v;
#else
  return static_cast<std::uint64_t>(now_ns());  // a port without a user-readable counter: nanoseconds are ticks
#endif
}

// The counter's rate, from two readings of it beside steady_clock.
struct tick_rate {
  std::uint64_t ticks0 = 0;
  std::int64_t ns0 = 0;

  static tick_rate start() noexcept { return {cycle_clock_now(), now_ns()}; }
  // Nanoseconds per tick, measured from start() until now; first waits
  // (spinning) until `min_span_ns` have passed since start(), so that the
  // ~30 ns a clock read takes is an error of a few parts per 100,000.
  double ns_per_tick(std::int64_t min_span_ns = 2'000'000) const noexcept {
    std::int64_t ns = now_ns();
    while (ns - ns0 < min_span_ns) ns = now_ns();
    std::uint64_t ticks = cycle_clock_now();
    if (ticks <= ticks0) return 1.0;  // a counter that does not count: treat ticks as nanoseconds
    return static_cast<double>(ns - ns0) / static_cast<double>(ticks - ticks0);
  }
};

}  // namespace jiffy::detail
