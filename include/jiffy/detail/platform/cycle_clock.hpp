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

// One instant read on both clocks: the counter is read on each side of the
// steady_clock read and the midpoint taken. A thread interrupted or
// descheduled between the reads would pair readings microseconds apart (on a
// 2 ms span, a 40 us gap is a 2% error in the rate), so the pair is read a
// few times and the one with the tightest bracket kept: its error is at most
// half that bracket, tens of nanoseconds when any try ran undisturbed.
struct clock_pair {
  std::uint64_t ticks = 0;
  std::int64_t ns = 0;

  static clock_pair read_now() noexcept {
    constexpr int tries = 5;
    clock_pair best;
    std::uint64_t best_width = ~std::uint64_t{0};
    for (int i = 0; i < tries; ++i) {
      std::uint64_t before = cycle_clock_now();
      std::int64_t ns = now_ns();
      std::uint64_t after = cycle_clock_now();
      std::uint64_t width = after - before;
      if (after < before || width >= best_width) continue;  // a backwards counter pairs nothing
      best_width = width;
      best = {before + width / 2, ns};
    }
    if (best_width == ~std::uint64_t{0}) best = {cycle_clock_now(), now_ns()};
    return best;
  }
};

// The counter's rate, from two clock_pairs: one at start(), one when asked.
struct tick_rate {
  clock_pair at_start;

  static tick_rate start() noexcept { return {clock_pair::read_now()}; }
  // Nanoseconds per tick, measured from start() until now; first waits
  // (spinning) until `min_span_ns` have passed since start(), so that the
  // pairs' residual error (tens of nanoseconds each) is a few parts per
  // 100,000 of the span.
  double ns_per_tick(std::int64_t min_span_ns = 2'000'000) const noexcept {
    while (now_ns() - at_start.ns < min_span_ns) {
    }
    clock_pair now = clock_pair::read_now();
    if (now.ticks <= at_start.ticks) return 1.0;  // a counter that does not count: treat ticks as nanoseconds
    return static_cast<double>(now.ns - at_start.ns) / static_cast<double>(now.ticks - at_start.ticks);
  }
};

}  // namespace jiffy::detail
