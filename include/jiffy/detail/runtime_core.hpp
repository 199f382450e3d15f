// jiffy/detail/runtime_core.hpp — a runtime's state and its workers' state.
//
// Rules:
//  * A runtime_core is created by start_runtime (detail/lifecycle.hpp) and
//    freed by its last reference: the runtime object holds one and every
//    fiber stack one, so handles that outlive the runtime stay valid.
//  * Each group of fields says which file owns it; that file is the only one
//    that writes it (others may read where the owner documents it). The
//    netpoller's and the monitor's state are types of their own, defined by
//    their owners (detail/netpoll.hpp, detail/preemption/state.hpp).
//  * Fields written by one thread and read by others are atomics, with the
//    order each access needs commented where it is made.
#pragma once

#include <jiffy/cache_padded.hpp>
#include <jiffy/detail/cpu_local.hpp>
#include <jiffy/detail/fiber.hpp>
#include <jiffy/detail/heap.hpp>
#include <jiffy/detail/live_fibers.hpp>
#include <jiffy/detail/netpoll.hpp>
#include <jiffy/detail/platform/cycle_clock.hpp>
#include <jiffy/detail/platform/thread.hpp>
#include <jiffy/detail/preemption/state.hpp>
#include <jiffy/detail/queues.hpp>
#include <jiffy/detail/raw_spinlock.hpp>
#include <jiffy/detail/run_delay.hpp>
#include <jiffy/detail/sched_class.hpp>
#include <jiffy/detail/single_writer.hpp>
#include <jiffy/detail/stack_classes.hpp>
#include <jiffy/detail/timer_heap.hpp>
#include <jiffy/detail/tracer.hpp>
#include <jiffy/options.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace jiffy::detail {

struct worker_counters {
  // Written only by the owning worker (load+store, no locked RMW); read by
  // stats() from any thread, hence atomic.
  std::atomic<std::uint64_t> spawned{0}, finished{0}, switches{0}, yields{0}, parks{0}, steals{0}, sleeps{0},
      preemptions{0}, voluntary{0}, deferred{0}, pi_boosts{0};
  [[gnu::always_inline]] static void bump(std::atomic<std::uint64_t>& c) noexcept { single_writer_add(c, 1); }
};

struct worker {
  runtime_core* rt = nullptr;
  unsigned index = 0;
  bool tracing = false;              // rt->trace.on, copied where the switch looks (detail/trace_points.hpp)
  bool measuring_run_delay = false;  // options.measure_run_delay, likewise (detail/run_delay.hpp)
  // The main worker (detail/main_thread.hpp): no thread of its own; run by
  // the thread in serve_main, which with `main_helps` also runs other fibers.
  bool serves_main = false;
  bool main_helps = false;               // written by the serving thread only
  std::atomic<bool> main_asleep{false};  // its serving thread sleeps on sleep_word
  thread_handle thread{};                // started and joined by detail/lifecycle.hpp
  cpu_local* cpu = nullptr;              // this worker's thread state, for remote need_resched
  os_thread_view os;                     // its thread as the monitor sees it (tid for the signal, CPU clock, state)

  // Preemption (detail/preemption.hpp).

  // Bumped at every switch; bit 0 says whether a fiber runs. Written by the
  // worker, read by the monitor (relaxed: a stale read only delays a decision
  // by one tick).
  std::atomic<std::uint64_t> slice{0};
  // When the latest switch was, in cycle_clock ticks, if this worker
  // measures run delay (it reads the clock at each switch for that). The
  // monitor times a slice from it rather than from when it first saw the
  // slice, which may be a look later. Written by the worker, read relaxed.
  std::atomic<std::uint64_t> switched_at{0};
  // The slice the monitor's latest need_resched was meant for. The monitor
  // cannot set the flag and check the slice in one step, so a fiber that
  // has just started may glimpse a flag meant for the slice before it; the
  // preemption point checks this before switching (preempt_schedule_impl).
  std::atomic<std::uint64_t> resched_slice{0};
  // The slice a waker last asked to end for a more urgent fiber (wake-up
  // preemption), so a tracer can tell that from a quantum's end. Written
  // before the need_resched store that publishes it (release).
  std::atomic<std::uint64_t> wakeup_resched_slice{0};
  // When a waker last asked this worker to switch and signalled it
  // (preemption/request.hpp): the monitor's retry counts from there.
  std::atomic<std::int64_t> resched_signalled_at{0};
  monitor_view monitor;
  // Fibers preempted by signal and not yet resumed (they can resume only
  // here). Written by this worker's thread, read by the monitor.
  std::atomic<std::uint32_t> preempted_waiting{0};
  // The running fiber's id (0 in the scheduler loop), for the monitor's
  // reports. Written by this worker at each switch, read relaxed.
  std::atomic<std::uint64_t> running_fiber{0};
  std::atomic<const char*> running_name{nullptr};  // and its own name, if it has one
  // What it runs: pack_running(rank, policy, weight) (detail/sched_class.hpp),
  // 0 in the scheduler loop. Written by this worker at each switch, read
  // relaxed by wakers choosing whom to preempt and by the monitor.
  std::atomic<std::uint64_t> running_sched{0};
  // Its real-time fibers have used up rt_runtime in this rt_period: it picks
  // none until the period ends. Written by the monitor, read by this worker.
  std::atomic<bool> rt_throttled{false};

  // Run queues (detail/run_queue.hpp, detail/pick.hpp).
  run_ring<fiber_control> ring;
  std::atomic<fiber_control*> runnext{nullptr};  // owner sets; owner or a patient thief takes
  unsigned runnext_streak = 0;
  // Picks left that look at the global queue first: set when a slice ends by
  // preemption (see pick_next), but not refilled by preempting a fiber that
  // such a pick chose (took_global_first), or the queue could be served
  // first forever.
  unsigned global_first = 0;
  bool took_global_first = false;
  intrusive_fifo<fiber_control> home_queue;  // only this worker touches it
  std::atomic<std::uint32_t> home_size{0};   // its length, for the monitor
  raw_spinlock inbox_lock;
  intrusive_fifo<fiber_control> inbox;  // guarded by inbox_lock
  std::atomic<bool> inbox_nonempty{false};
  timer_heap timers;

  // The switch (detail/switch.hpp).
  void* sched_sp = nullptr;  // the worker's own thread context while a fiber runs
  sanitizer_context san;
  fiber_control* prev = nullptr;           // who left, for finish_switch
  post_action pending;                     // what the arriving side does (finish_switch); set by every switch_to
  unsigned picks_until_global_check = 61;  // pick.hpp: a countdown, not a modulo on every pick
  bool prefer_home = false;
  std::uint64_t rng = 0;

  // Idle parking (detail/idle.hpp).
  std::atomic<std::uint32_t> sleep_word{0};
  std::atomic<bool> polling{false};             // asleep in the netpoller rather than on sleep_word
  std::atomic<std::int64_t> sleep_deadline{0};  // when a sleeping worker will wake by itself
  bool in_idle_list = false;                    // guarded by runtime_core::idle_lock
  bool spinning = false;                        // woken to look for work and not yet found any

  // Recently freed stacks, reused without the pool's lock. Touched only by
  // this worker's thread, inside the runtime section.
  static constexpr unsigned stack_cache_size = 16;
  stack_span stack_cache[stack_cache_size];
  unsigned stack_cached = 0;

  // The live fibers spawned on this worker (detail/live_fibers.hpp).
  live_fiber_list live_fibers;
  // This worker's part of the runtime's fiber counts (detail/retire.hpp,
  // "Counting without a shared line"): fibers that retired here, and runtime
  // references taken minus dropped here. Written only by this worker's
  // thread inside the runtime section; read by whoever sums them.
  std::atomic<std::uint64_t> retired{0};
  std::atomic<std::int64_t> refs_delta{0};
  // Fiber ids this worker hands out, taken from next_fiber_id a block at a
  // time (detail/spawn.hpp). Touched only by this worker's thread, inside
  // the runtime section.
  std::uint64_t ids_next = 0, ids_end = 0;

  worker_counters counters;
  run_delay_counters delays;  // runs this worker started, by class (detail/run_delay.hpp)
};

// A worker owned by its runtime, in memory from runtime_options::allocator.
using worker_ptr = std::unique_ptr<worker, heap_deleter<worker>>;

// Made by start_runtime with heap_new over options.allocator, as is every
// container here (their memory is the allocator's too); freed by the last
// drop_ref. `options` is the first member: the containers' allocators point
// at options.allocator, so it outlives them.
struct runtime_core {
  runtime_options options;
  stack_pools stacks;  // the runtime's stack size and any other its fibers ask for
  std::vector<worker_ptr, hooks_allocator<worker_ptr>> workers{hooks_allocator<worker_ptr>(&options.allocator)};
  // Fibers spawned with spawn_main, and the thread that serves them (0:
  // none yet; detail/main_thread.hpp).
  worker_ptr main_worker;
  std::atomic<long> main_thread{0};
  std::atomic<std::uint64_t> main_live{0};  // main fibers spawned and not yet retired

  // The global run queue (detail/run_queue.hpp).
  raw_spinlock global_lock;
  intrusive_fifo<fiber_control> global;  // guarded by global_lock
  std::atomic<std::size_t> global_size{0};
  // Real-time and idle fibers (detail/sched_class.hpp; pushed by
  // detail/run_queue.hpp, taken by detail/pick.hpp).
  class_queue<fiber_control> classes;
  // The preemption model in force (runtime::set_preempt_mode may change it;
  // options.preempt keeps the one the runtime started with).
  std::atomic<preempt_mode> mode;

  // Idle workers (detail/idle.hpp).
  std::mutex idle_lock;  // OS-level: held only by threads that are about to sleep anyway
  std::vector<worker*, hooks_allocator<worker*>> idle{
      hooks_allocator<worker*>(&options.allocator)};  // capacity: every worker
  std::atomic<int> sleepers{0};
  std::atomic<int> spinning{0};
  std::atomic<bool> stopping{false};

  // Fibers spawned by threads that are not this runtime's workers (a
  // worker counts its own in worker_counters::spawned; detail/spawn.hpp).
  std::atomic<std::uint64_t> outside_spawns{0};
  // The live fibers spawned from outside its workers (the others are on
  // their spawning worker's list; detail/live_fibers.hpp).
  live_fiber_list spawned_outside;
  // The process's list of live runtimes (detail/live_runtimes.hpp), guarded
  // by its mutex.
  runtime_core* live_next = nullptr;
  runtime_core* live_prev = nullptr;
  // Threads outside this runtime's workers inside make_runnable for one of
  // its fibers (detail/run_queue.hpp: foreign_waker_scope); stopping waits
  // for them to leave.
  std::atomic<std::uint32_t> foreign_wakers{0};
  std::mutex drain_lock;
  std::condition_variable drained;
  // The runtime's references (detail/retire.hpp, "Counting without a
  // shared line"): the runtime object's, plus one per fiber stack taken or
  // released off its workers, plus refs_unfolded until stop_runtime adds in
  // the workers' refs_delta. Padded: threads outside the runtime update it.
  static constexpr std::int64_t refs_unfolded = std::int64_t{1} << 62;
  cache_padded<std::atomic<std::int64_t>> refs{1 + refs_unfolded};
  // Fibers that retired off this runtime's workers (none do today: a fiber
  // retires on the worker that ran it last; counted should one ever).
  std::atomic<std::uint64_t> retired_outside{0};

  netpoller poller;       // owned by detail/netpoll.hpp
  monitor_state monitor;  // owned by detail/preemption.hpp
  tracer trace;           // owned by detail/trace_points.hpp; set up by detail/lifecycle.hpp

  // What runtime::stats() reports (detail/stats.hpp).
  tick_rate clock_rate = tick_rate::start();  // run delays are measured in cycle_clock ticks
  std::mutex stats_lock;
  runtime_stats stats_baseline;   // guarded by stats_lock: the sums at the last reset_stats
  run_delay_sums delay_baseline;  // guarded by stats_lock
  run_delay_sums delay_scratch;   // guarded by stats_lock

  explicit runtime_core(const runtime_options& o) : options(o), stacks(o.stack_size), mode(o.preempt) {}

  // A reference taken or dropped off the runtime's workers (the workers
  // count theirs in worker::refs_delta).
  void add_ref() noexcept { refs->fetch_add(1, std::memory_order_relaxed); }
  void drop_ref() noexcept { drop_refs(1); }
  void drop_refs(std::int64_t n) noexcept {
    // acq_rel: the last owner must see every write made through other refs.
    if (refs->fetch_sub(n, std::memory_order_acq_rel) == n) heap_delete(options.allocator, this);
  }
};

// Calls f(worker&) for every worker, the main worker (the program's own
// thread, while it serves main fibers) included.
template <class F>
void for_each_worker(runtime_core* rt, F f) {
  for (auto& w : rt->workers) f(*w);
  f(*rt->main_worker);
}

// The runtime of the calling fiber or worker; nullptr on a plain thread.
inline runtime_core* current_runtime_core() noexcept {
  worker* w = this_cpu()->w;
  return w ? w->rt : nullptr;
}

}  // namespace jiffy::detail
