// jiffy/detail/stats.hpp — what runtime::stats() reports, and
// runtime::reset_stats().
//
// Rules:
//  * The counters live where they are bumped: per worker (worker_counters,
//    run_delay_counters), in the monitor (monitor_state), in the runtime
//    (live). A snapshot sums them; nothing here writes them, so a snapshot
//    costs the workers nothing.
//  * reset_stats keeps the sums at that moment as a baseline, and later
//    snapshots subtract it: resetting in place would race with the owners'
//    plain load + store bumps. Snapshot values (stacks_mapped, ...) are not
//    counters and are not reset. The run-delay maxima are the exception,
//    cleared in place (detail/run_delay.hpp says what that may blur).
//  * stats_lock orders a snapshot against a reset, so no snapshot subtracts
//    a half-written baseline, and guards the scratch sums a snapshot adds up
//    in (15 KiB: too much for a small fiber stack). It is a plain mutex:
//    both are rare calls.
#pragma once

#include <jiffy/detail/run_delay.hpp>
#include <jiffy/detail/runtime_core.hpp>
#include <jiffy/options.hpp>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <mutex>

namespace jiffy::detail {

// The fields of runtime_stats that count events (what a reset zeroes).
inline constexpr std::uint64_t runtime_stats::*counter_fields[] = {
    &runtime_stats::fibers_spawned,
    &runtime_stats::fibers_finished,
    &runtime_stats::context_switches,
    &runtime_stats::yields,
    &runtime_stats::parks,
    &runtime_stats::steals,
    &runtime_stats::worker_sleeps,
    &runtime_stats::preemptions,
    &runtime_stats::voluntary_reschedules,
    &runtime_stats::deferred_preemptions,
    &runtime_stats::signals_sent,
    &runtime_stats::wakeup_preemptions,
    &runtime_stats::pi_boosts,
    &runtime_stats::rt_throttled,
    &runtime_stats::monitor_wakeups,
};

// Every worker's counters summed: since the start.
inline runtime_stats sum_counters(runtime_core* rt) noexcept {
  runtime_stats s;
  auto count = [&](const worker& w) {
    const worker_counters& c = w.counters;
    auto r = [](const std::atomic<std::uint64_t>& x) { return x.load(std::memory_order_relaxed); };
    s.fibers_spawned += r(c.spawned);
    s.fibers_finished += r(c.finished);
    s.context_switches += r(c.switches);
    s.yields += r(c.yields);
    s.parks += r(c.parks);
    s.steals += r(c.steals);
    s.worker_sleeps += r(c.sleeps);
    s.preemptions += r(c.preemptions);
    s.voluntary_reschedules += r(c.voluntary);
    s.deferred_preemptions += r(c.deferred);
    s.pi_boosts += r(c.pi_boosts);
  };
  for_each_worker(rt, count);
  s.fibers_spawned += rt->outside_spawns.load(std::memory_order_relaxed);
  s.signals_sent = rt->monitor.signals_sent.load(std::memory_order_relaxed);
  s.wakeup_preemptions = rt->monitor.wakeup_preemptions.load(std::memory_order_relaxed);
  s.rt_throttled = rt->monitor.rt_throttled.load(std::memory_order_relaxed);
  s.monitor_wakeups = rt->monitor.wakeups.load(std::memory_order_relaxed);
  s.stacks_mapped = rt->stacks.mapped_count();
  s.stacks_pooled_resident = rt->stacks.hot_count();
  return s;
}

// One class's figures from its summed histogram.
inline run_delay_stats summarise_run_delay(const std::uint64_t (&buckets)[run_delay_buckets], std::uint64_t total_ticks,
                                           std::uint64_t max_ticks, double ns_per_tick) noexcept {
  run_delay_stats d;
  for (std::uint64_t n : buckets) d.runs += n;
  if (d.runs == 0) return d;
  auto ns = [&](std::uint64_t ticks) { return static_cast<std::uint64_t>(std::llround(double(ticks) * ns_per_tick)); };
  // The q-quantile's bucket: the first whose running count reaches q of the
  // runs. Its last tick is an upper bound of the quantile, and so is the max.
  auto quantile = [&](double q) {
    auto rank = static_cast<std::uint64_t>(std::ceil(q * double(d.runs)));
    if (rank == 0) rank = 1;
    std::uint64_t seen = 0;
    unsigned b = 0;
    for (; b + 1 < run_delay_buckets; ++b)
      if ((seen += buckets[b]) >= rank) break;
    std::uint64_t last = run_delay_bucket_end(b) - 1;
    return ns(last < max_ticks ? last : max_ticks);
  };
  d.mean_ns = ns(total_ticks) / d.runs;
  d.p50_ns = quantile(0.50);
  d.p90_ns = quantile(0.90);
  d.p99_ns = quantile(0.99);
  d.p999_ns = quantile(0.999);
  d.max_ns = ns(max_ticks);
  return d;
}

// runtime::stats(): the sums since the start, less the last reset's.
inline runtime_stats collect_stats(runtime_core* rt) noexcept {
  double ns_per_tick = rt->clock_rate.ns_per_tick();
  std::lock_guard<std::mutex> lk(rt->stats_lock);
  runtime_stats s = sum_counters(rt);
  for (auto field : counter_fields) s.*field -= rt->stats_baseline.*field;
  run_delay_sums* sums = &rt->delay_scratch;  // ~15 KiB: not on a fiber's stack
  sums->clear();
  std::uint64_t max_ticks[sched_policy_count] = {};
  for_each_worker(rt, [&](const worker& w) {
    sums->add(w.delays);
    for (unsigned p = 0; p < sched_policy_count; ++p) {
      std::uint64_t m = w.delays.per_class[p].max_ticks.load(std::memory_order_relaxed);
      if (m > max_ticks[p]) max_ticks[p] = m;
    }
  });
  const run_delay_sums& base = rt->delay_baseline;
  for (unsigned p = 0; p < sched_policy_count; ++p) {
    for (unsigned b = 0; b < run_delay_buckets; ++b) sums->buckets[p][b] -= base.buckets[p][b];
    s.run_delay[p] =
        summarise_run_delay(sums->buckets[p], sums->total_ticks[p] - base.total_ticks[p], max_ticks[p], ns_per_tick);
  }
  return s;
}

// runtime::reset_stats(): later snapshots count from now.
inline void reset_stats(runtime_core* rt) noexcept {
  std::lock_guard<std::mutex> lk(rt->stats_lock);
  rt->stats_baseline = sum_counters(rt);
  run_delay_sums& base = rt->delay_baseline;
  base.clear();
  for_each_worker(rt, [&](worker& w) {
    base.add(w.delays);
    for (auto& h : w.delays.per_class) h.max_ticks.store(0, std::memory_order_relaxed);
  });
}

}  // namespace jiffy::detail
