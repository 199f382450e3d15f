// jiffy/detail/run_delay.hpp — run delay: how long a fiber waited runnable
// before it ran, kept per scheduling class in fixed histograms (the
// kernel's schedstat run_delay).
//
// Rules:
//  * On unless runtime_options::measure_run_delay is false (then nothing
//    here runs: one branch per switch and per wake-up).
//  * A fiber becomes runnable when it is spawned or woken
//    (make_runnable_locked, detail/run_queue.hpp) or when it leaves the CPU
//    still runnable (yield, preemption: switch_to, detail/switch.hpp); that
//    moment, in cycle_clock ticks, is its `runnable_since`. It stops waiting
//    when a switch picks it; the switch reads the clock once for both ends
//    (the leaver's runnable_since and the arriver's delay).
//  * Each worker counts the runs it starts in its own histograms, written
//    only by its thread (load + store, no locked instruction) and read by
//    stats() from any thread (relaxed: a snapshot taken while fibers run is
//    approximate, like every other counter).
//  * The histogram has 8 buckets per power of two of ticks (exact below 8
//    ticks; up to 2^48 ticks, about a day, with longer waits in the last
//    bucket), so a percentile read from it is the upper edge of its bucket:
//    never under the true value, at most 1/8 over. The mean and the maximum
//    are exact.
//  * Reset without writing the workers' counters: reset_stats keeps the sums
//    at that moment as a baseline that later snapshots subtract
//    (detail/stats.hpp). Only the maxima are cleared in place; a delay that
//    ends while the reset runs may count in the maximum on either side.
#pragma once

#include <jiffy/detail/single_writer.hpp>
#include <jiffy/sched.hpp>

#include <atomic>
#include <cstdint>

namespace jiffy::detail {

inline constexpr unsigned run_delay_sub_bits = 3;  // 8 buckets per power of two
inline constexpr unsigned run_delay_subs = 1u << run_delay_sub_bits;
inline constexpr unsigned run_delay_max_log2 = 48;  // waits of 2^48 ticks and more share the last bucket
inline constexpr unsigned run_delay_buckets =
    run_delay_subs + (run_delay_max_log2 - run_delay_sub_bits) * run_delay_subs;

// The bucket of a wait of `ticks`: with `shift` the bits below the top four
// (none under 8 ticks), the top four bits (8..15, or the value itself under
// 8) plus 8 per shift — so buckets 0..7 are exact and each power of two
// above has 8. Branch-free: it runs on every switch.
constexpr unsigned run_delay_bucket(std::uint64_t ticks) noexcept {
  unsigned log2 = 63u - static_cast<unsigned>(__builtin_clzll(ticks | run_delay_subs));  // >= run_delay_sub_bits
  unsigned shift = log2 - run_delay_sub_bits;
  auto b = static_cast<std::uint64_t>(shift) * run_delay_subs + (ticks >> shift);
  return static_cast<unsigned>(b < run_delay_buckets ? b : run_delay_buckets - 1);
}

// The first wait, in ticks, past bucket `b` (its upper edge, exclusive).
constexpr std::uint64_t run_delay_bucket_end(unsigned b) noexcept {
  if (b < run_delay_subs) return b + 1;
  unsigned shift = (b - run_delay_subs) / run_delay_subs;
  std::uint64_t sub = (b - run_delay_subs) % run_delay_subs;
  return (run_delay_subs + sub + 1) << shift;
}

static_assert(run_delay_bucket(0) == 0 && run_delay_bucket(7) == 7 && run_delay_bucket(8) == 8);
static_assert(run_delay_bucket(15) == 15 && run_delay_bucket(16) == 16 && run_delay_bucket(17) == 16);
static_assert(run_delay_bucket(18) == 17 && run_delay_bucket(31) == 23 && run_delay_bucket(32) == 24);
static_assert(run_delay_bucket((std::uint64_t{1} << run_delay_max_log2) - 1) == run_delay_buckets - 1);
static_assert(run_delay_bucket(std::uint64_t{1} << run_delay_max_log2) == run_delay_buckets - 1);
static_assert(run_delay_bucket(~std::uint64_t{0}) == run_delay_buckets - 1);
static_assert(run_delay_bucket_end(run_delay_bucket(1000)) > 1000 &&
              run_delay_bucket_end(run_delay_bucket(1000) - 1) <= 1000);

// One class's waits: a histogram, their sum and the longest.
struct run_delay_histogram {
  std::atomic<std::uint64_t> buckets[run_delay_buckets] = {};
  std::atomic<std::uint64_t> total_ticks{0};
  std::atomic<std::uint64_t> max_ticks{0};
};

// A worker's run delays, per scheduling class (indexed by sched_policy).
struct run_delay_counters {
  run_delay_histogram per_class[sched_policy_count];

  // A fiber of class `p` starts to run after waiting `ticks`. Owner only.
  // Always inlined into the switch (GCC otherwise calls it out of line).
  [[gnu::always_inline]] void record(sched_policy p, std::uint64_t ticks) noexcept {
    run_delay_histogram& h = per_class[static_cast<unsigned>(p)];
    single_writer_add(h.buckets[run_delay_bucket(ticks)], 1);
    single_writer_add(h.total_ticks, ticks);
    if (ticks > h.max_ticks.load(std::memory_order_relaxed)) h.max_ticks.store(ticks, std::memory_order_relaxed);
  }
};

// The wait from `since` to `now` (ticks), read on two CPUs perhaps: a
// slightly negative difference is a clock skew, counted as no wait.
constexpr std::uint64_t run_delay_between(std::uint64_t since, std::uint64_t now) noexcept {
  auto d = static_cast<std::int64_t>(now - since);
  return d > 0 ? static_cast<std::uint64_t>(d) : 0;
}

// Sums of every worker's histograms (plain numbers: a snapshot, or the
// baseline reset_stats keeps).
struct run_delay_sums {
  std::uint64_t buckets[sched_policy_count][run_delay_buckets] = {};
  std::uint64_t total_ticks[sched_policy_count] = {};

  void clear() noexcept {
    for (auto& per_class : buckets)
      for (std::uint64_t& n : per_class) n = 0;
    for (std::uint64_t& t : total_ticks) t = 0;
  }
  void add(const run_delay_counters& c) noexcept {
    for (unsigned p = 0; p < sched_policy_count; ++p) {
      const run_delay_histogram& h = c.per_class[p];
      for (unsigned b = 0; b < run_delay_buckets; ++b) buckets[p][b] += h.buckets[b].load(std::memory_order_relaxed);
      total_ticks[p] += h.total_ticks.load(std::memory_order_relaxed);
    }
  }
};

}  // namespace jiffy::detail
