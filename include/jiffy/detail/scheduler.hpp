// jiffy/detail/scheduler.hpp — workers, fibers, and how they meet.
//
// The rules of this file, before the code:
//
// Who runs where.  A runtime owns N workers, one OS thread each. A worker
// runs fibers from, in order of preference: its own queues, the runtime's
// global queue (every 61st pick it looks there first, so the global queue
// cannot starve), other workers' rings (stealing half), and expired timers of
// any worker. Only when all are empty does it park its thread on a futex; a
// parked worker uses no CPU.
//
// Queues.  Each worker has a stealable ring (fibers free to migrate), a
// private FIFO for fibers that must run on this worker (pinned at spawn, or
// inside migrate_disable()), and an inbox through which other threads hand it
// such fibers. A new fiber goes to its spawner's ring and may wake an idle
// worker to share the work. A fiber woken by a fiber (a mutex hand-off, a
// notify, a join) goes to the waker's `runnext` slot and runs as soon as the
// waker stops: it is likely to touch what the waker just wrote, and a
// hand-off between two fibers then costs two switches on one worker, not a
// futex wake of another. Thieves leave `runnext` alone unless it sits there
// for a few microseconds, and after 16 picks in a row from `runnext` a worker
// serves its queues first, so two fibers handing off to each other cannot
// starve the rest. Made runnable by a plain thread, a fiber goes to the
// global queue.
//
// How a switch happens.  A context switch is a jump between stacks
// (context_*.hpp). The side that leaves describes what must happen once it
// is off its stack — re-queue it (yield), release the wait-list lock it
// parked under, arm its timer, or retire it (it finished) — and the side that
// arrives does it (finish_switch). Until then no other thread can see the
// leaver as runnable: that is the whole of the synchronisation between
// "I park" and "someone wakes me on another worker".
//
// Preempt count across a switch.  Switches happen only inside the runtime,
// with the runtime part of preempt_count raised by exactly one (plus one per
// raw_spinlock the post-switch action will release). The arriving side
// inherits that and drops it when it returns to its caller. The user part
// (preempt_disable nesting, normally 0 at a switch) and the migrate_disable
// count are saved in the leaving fiber and restored on arrival: they travel
// with the fiber.
//
// Thread-locals.  After a jump returns, the code may be on another OS thread.
// Nothing computed from this_cpu() before the jump is used after it.
#pragma once

#include <jiffy/detail/config.hpp>
#include <jiffy/detail/context.hpp>
#include <jiffy/detail/cpu_local.hpp>
#include <jiffy/detail/diag.hpp>
#include <jiffy/detail/futex.hpp>
#include <jiffy/detail/mcs_nodes.hpp>
#include <jiffy/detail/queues.hpp>
#include <jiffy/detail/raw_spinlock.hpp>
#include <jiffy/detail/sanitizers.hpp>
#include <jiffy/detail/stack.hpp>
#include <jiffy/detail/timer_heap.hpp>
#include <jiffy/options.hpp>
#include <jiffy/preempt.hpp>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <latch>
#include <memory>
#include <mutex>
#include <new>
#include <pthread.h>
#include <sys/syscall.h>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace jiffy::detail {

struct runtime_core;
struct worker;
struct fiber_control;

// Someone (a fiber or a plain thread) waiting for an event. Lives on the
// waiter's stack for the duration of the wait.
struct waiter {
  fiber_control* fiber = nullptr;  // set when a fiber waits; a plain thread futex-waits on `state`
  // pending -> notified (a notifier claimed it) -> delivered (threads only:
  //   the notifier is done with this waiter, which may now return);
  // pending -> timed_out (its deadline claimed it).
  // Exactly one party moves it away from pending, by CAS, and that party
  // makes the waiter run.
  std::atomic<std::uint32_t> state{0};
  waiter* wnext = nullptr;
  waiter* wprev = nullptr;
  bool linked = false;
  timer_entry timer;
  worker* timer_owner = nullptr;
};

enum : std::uint32_t { wait_pending = 0, wait_notified = 1, wait_timed_out = 2, wait_delivered = 3 };

struct fiber_control {
  void* sp = nullptr;  // saved context while switched out
  runtime_core* rt = nullptr;
  worker* home = nullptr;  // last worker it ran on (its only worker if pinned)
  std::uint64_t id = 0;
  stack_span stack;
  unsigned saved_preempt = 0;  // user part of preempt_count while switched out
  unsigned saved_migrate = 0;  // migrate_disable nesting while switched out
  bool pinned = false;
  bool async_preempted = false;  // switched out by the preemption signal: must resume on `home`
  // In the global queue because a full ring spilled it, not because it was
  // spawned or woken there: not served first after a preemption (pick_next).
  bool spilled = false;
  fiber_control* next = nullptr;  // run-queue link
  sanitizer_context san;
  std::atomic<int> refs{2};  // one for the handle, one for running
  raw_spinlock join_lock;
  bool done = false;  // guarded by join_lock
  wait_list<waiter> joiners;
  mcs_block* mcs = nullptr;  // queue nodes of holder_preemptible::mcs_spinlock waits, enrolled on first use
  void (*run)(fiber_control*) noexcept = nullptr;  // calls and destroys the callable
  void* callable = nullptr;

  bool must_stay_home() const noexcept { return pinned || saved_migrate != 0 || async_preempted; }
};

// What the arriving side of a switch does for the side that left.
struct post_action {
  enum kind_t : std::uint8_t { none, requeue, retire, call } kind = none;
  void (*fn)(void*) noexcept = nullptr;
  void* arg = nullptr;
};

struct worker_counters {
  // Written only by the owning worker (load+store, no locked RMW); read by
  // stats() from any thread, hence atomic.
  std::atomic<std::uint64_t> finished{0}, switches{0}, yields{0}, parks{0}, steals{0}, sleeps{0},
      preemptions{0}, voluntary{0}, deferred{0};
  static void bump(std::atomic<std::uint64_t>& c) noexcept {
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
};

// What the preemption monitor last saw of a worker (monitor thread only).
struct monitor_view {
  bool queued = false;  // work was waiting in runnext or the ring at the last look
  std::uint64_t slice = 0;
  std::int64_t since = 0, signalled_at = 0, cpu_at_look = 0, look = 0;
  std::int64_t slice_cpu = 0;  // the thread's CPU time when the slice was first seen
  std::int64_t stuck_cpu = -1, stuck_since = 0;  // deadlock watch (preemption.hpp: report_if_stuck)
  bool stuck_reported = false;
};

struct worker {
  runtime_core* rt = nullptr;
  unsigned index = 0;
  std::thread thread;
  cpu_local* cpu = nullptr;  // this worker's thread state, for remote need_resched
  pid_t tid = 0;             // for the preemption signal
  clockid_t cpu_clock{};     // the thread's CPU-time clock, read by the monitor
  int stat_fd = -1;          // /proc/thread-self/stat, read by the monitor

  // Bumped at every switch; bit 0 says whether a fiber runs. Written by the
  // worker, read by the monitor (relaxed: a stale read only delays a decision
  // by one tick).
  std::atomic<std::uint64_t> slice{0};
  // The slice the monitor's latest need_resched was meant for. The monitor
  // cannot set the flag and check the slice in one step, so a fiber that
  // has just started may glimpse a flag meant for the slice before it; the
  // preemption point checks this before switching (preempt_schedule_impl).
  std::atomic<std::uint64_t> resched_slice{0};
  monitor_view monitor;
  // Fibers preempted by signal and not yet resumed (they can resume only
  // here). Written by this worker's thread, read by the monitor.
  std::atomic<std::uint32_t> preempted_waiting{0};

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

  void* sched_sp = nullptr;  // the worker's own thread context while a fiber runs
  sanitizer_context san;
  fiber_control* prev = nullptr;  // who left, for finish_switch
  post_action pending;
  unsigned pick_tick = 0;
  bool prefer_home = false;
  std::uint64_t rng = 0;

  // Idle parking.
  std::atomic<std::uint32_t> sleep_word{0};
  std::atomic<bool> polling{false};  // asleep in epoll_wait rather than on sleep_word
  std::atomic<std::int64_t> sleep_deadline{0};  // when a sleeping worker will wake by itself
  bool in_idle_list = false;  // guarded by runtime_core::idle_lock
  bool spinning = false;      // woken to look for work and not yet found any

  // Recently freed stacks, reused without the pool's lock. Touched only by
  // this worker's thread, inside the runtime section.
  static constexpr unsigned stack_cache_size = 16;
  stack_span stack_cache[stack_cache_size];
  unsigned stack_cached = 0;

  worker_counters counters;
};

struct runtime_core {
  runtime_options options;
  stack_pool stacks;
  std::vector<std::unique_ptr<worker>> workers;

  raw_spinlock global_lock;
  intrusive_fifo<fiber_control> global;  // guarded by global_lock
  std::atomic<std::size_t> global_size{0};

  std::mutex idle_lock;  // OS-level: held only by threads that are about to sleep anyway
  std::vector<worker*> idle;
  std::atomic<int> sleepers{0};
  std::atomic<int> spinning{0};
  std::atomic<bool> stopping{false};

  std::atomic<std::uint64_t> live{0};  // fibers spawned and not yet retired
  std::mutex drain_lock;
  std::condition_variable drained;
  std::atomic<std::uint64_t> refs{1};  // the runtime object, plus one per fiber stack
  std::atomic<std::uint64_t> signals_sent{0};

  // The netpoller (detail/netpoll.hpp).
  int epfd = -1, wakefd = -1;
  std::atomic<bool> poll_busy{false};          // someone is inside epoll_wait
  std::atomic<std::int64_t> last_poll{0};      // when the last poll returned

  std::thread monitor;  // preemption monitor (detail/preemption.hpp)
  std::atomic<bool> monitor_stop{false};
  std::atomic<bool> monitor_idle{false};
  std::atomic<std::uint32_t> monitor_word{0};

  explicit runtime_core(const runtime_options& o) : options(o), stacks(o.stack_size) {}

  void add_ref() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }
  void drop_ref() noexcept {
    // acq_rel: the last owner must see every write made through other refs.
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
};

inline std::atomic<std::uint64_t> next_fiber_id{1};

// ---------------------------------------------------------------------------
// Waking idle workers.

// Caller holds rt->idle_lock and w is in the idle list.
inline void remove_from_idle_locked(runtime_core* rt, worker* w) noexcept {
  for (std::size_t i = 0; i < rt->idle.size(); ++i)
    if (rt->idle[i] == w) {
      rt->idle[i] = rt->idle.back();
      rt->idle.pop_back();
      break;
    }
  w->in_idle_list = false;
  rt->sleepers.fetch_sub(1, std::memory_order_seq_cst);
}

inline void netpoll_wake(runtime_core* rt) noexcept;                       // detail/netpoll.hpp
inline bool netpoll_block(worker* w, std::int64_t deadline) noexcept;     // detail/netpoll.hpp
inline void netpoll_if_stale(runtime_core* rt, std::int64_t stale_ns) noexcept;

inline void wake_worker_locked(runtime_core* rt, worker* w) noexcept {
  remove_from_idle_locked(rt, w);
  // The woken worker finds the work through the queues' own acquire loads;
  // this store only ends its sleep. A handshake with netpoll_block's store
  // of `polling` and load of sleep_word: either the poller sees this store,
  // or we see it polling and wake the poll.
  w->sleep_word.store(1, std::memory_order_relaxed);
  store_load_barrier();
  if (w->polling.load(std::memory_order_relaxed)) netpoll_wake(rt);
  futex_wake(&w->sleep_word);
}

inline void wake_one_idle(runtime_core* rt) noexcept {
  std::lock_guard<std::mutex> lk(rt->idle_lock);
  if (rt->idle.empty()) return;
  worker* w = rt->idle.back();
  w->spinning = true;
  rt->spinning.fetch_add(1, std::memory_order_seq_cst);
  wake_worker_locked(rt, w);
}

// Called after making work available to any worker. The barrier pairs with
// the one in worker_idle(): either the sleeper's re-check sees our work
// or we see it in the idle list.
inline void wake_idle_if_needed(runtime_core* rt) noexcept {
  store_load_barrier();
  if (rt->sleepers.load(std::memory_order_seq_cst) > 0 && rt->spinning.load(std::memory_order_seq_cst) == 0)
    wake_one_idle(rt);
}

// Wakes a specific worker (it has work only it may run).
inline void wake_worker(runtime_core* rt, worker* w) noexcept {
  store_load_barrier();
  if (rt->sleepers.load(std::memory_order_seq_cst) == 0) return;
  std::lock_guard<std::mutex> lk(rt->idle_lock);
  if (w->in_idle_list) wake_worker_locked(rt, w);
}

// ---------------------------------------------------------------------------
// Queues.

inline void global_push(runtime_core* rt, fiber_control* f) noexcept {
  f->spilled = false;
  rt->global_lock.lock();
  rt->global.push_back(f);
  rt->global_size.store(rt->global.size(), std::memory_order_relaxed);
  rt->global_lock.unlock();
}

// The global queue's first fiber; with `only_new_work`, only if it was
// spawned or woken there (not spilled from a ring): new work, which goes
// first after a preemption.
inline fiber_control* global_pop(runtime_core* rt, bool only_new_work = false) noexcept {
  if (rt->global_size.load(std::memory_order_relaxed) == 0) return nullptr;
  rt->global_lock.lock();
  fiber_control* f = rt->global.front();
  if (f && !(only_new_work && f->spilled))
    rt->global.pop_front();
  else
    f = nullptr;
  rt->global_size.store(rt->global.size(), std::memory_order_relaxed);
  rt->global_lock.unlock();
  return f;
}

// Owner: push to the ring, spilling half of it to the global queue if full.
inline void ring_push(worker* w, fiber_control* f) noexcept {
  if (w->ring.push(f)) return;
  runtime_core* rt = w->rt;
  intrusive_fifo<fiber_control> spill;
  w->ring.take_half([&](fiber_control* x) {
    x->spilled = true;
    spill.push_back(x);
  });
  f->spilled = true;
  spill.push_back(f);
  rt->global_lock.lock();
  rt->global.splice_back(spill);
  rt->global_size.store(rt->global.size(), std::memory_order_relaxed);
  rt->global_lock.unlock();
}

inline void home_push(worker* w, fiber_control* f) noexcept {
  w->home_queue.push_back(f);
  w->home_size.store(static_cast<std::uint32_t>(w->home_queue.size()), std::memory_order_relaxed);
}

inline fiber_control* home_pop(worker* w) noexcept {
  fiber_control* f = w->home_queue.pop_front();
  if (f) w->home_size.store(static_cast<std::uint32_t>(w->home_queue.size()), std::memory_order_relaxed);
  return f;
}

inline void inbox_drain(worker* w) noexcept {
  if (!w->inbox_nonempty.load(std::memory_order_acquire)) return;
  w->inbox_lock.lock();
  w->home_queue.splice_back(w->inbox);
  w->inbox_nonempty.store(false, std::memory_order_relaxed);
  w->inbox_lock.unlock();
  w->home_size.store(static_cast<std::uint32_t>(w->home_queue.size()), std::memory_order_relaxed);
}

enum class ready_reason { spawned, woken };

// Makes a parked or new fiber runnable. Callable from any thread.
inline void make_runnable_locked(fiber_control* f, ready_reason why) noexcept;

// Runs inside the runtime section: a preemption halfway through a queue
// operation would leave the queue to the next fiber half-updated.
inline void make_runnable(fiber_control* f, ready_reason why = ready_reason::woken) noexcept {
  cpu_local* cpu = this_cpu();
  runtime_enter(cpu);
  make_runnable_locked(f, why);
  runtime_exit(cpu);
}

inline void make_runnable_locked(fiber_control* f, ready_reason why) noexcept {
  worker* w = this_cpu()->w;
  runtime_core* rt = f->rt;
  if (f->must_stay_home()) {
    worker* home = f->home;
    if (w == home) {
      home_push(home, f);
    } else {
      home->inbox_lock.lock();
      home->inbox.push_back(f);
      home->inbox_nonempty.store(true, std::memory_order_release);
      home->inbox_lock.unlock();
      wake_worker(rt, home);
    }
    return;
  }
  if (w && w->rt == rt) {
    if (why == ready_reason::woken) {
      // acq_rel: a thief that takes it must see its saved context.
      fiber_control* displaced = w->runnext.exchange(f, std::memory_order_acq_rel);
      if (!displaced) return;  // this worker runs it as soon as the waker stops
      f = displaced;
    }
    ring_push(w, f);
  } else {
    global_push(rt, f);
  }
  wake_idle_if_needed(rt);
}

// Expired timers of `owner`, fired from the current thread's worker.
// Fibers whose timers expire in one pass run in deadline order: the first
// takes runnext (a lone timer wake-up runs next, like any wake-up), the rest
// queue behind it in the ring in the order they expired. (Giving each
// runnext in turn would run them last-first: each displaces the one before.)
inline void run_timers(worker* owner, std::int64_t now) noexcept {
  fiber_control* due[32];
  int n = 0;
  bool first = true;
  auto release_due = [&] {
    for (int i = 0; i < n; ++i) {
      make_runnable(due[i], first ? ready_reason::woken : ready_reason::spawned);
      first = false;
    }
    n = 0;
  };
  owner->timers.expire(now, [&](timer_entry* e) {
    waiter* wt = reinterpret_cast<waiter*>(reinterpret_cast<char*>(e) - offsetof(waiter, timer));
    std::uint32_t expected = wait_pending;
    fiber_control* f = wt->fiber;
    // acq_rel: the woken side reads what the arming side wrote, and claims
    // the wake-up against a racing notifier.
    if (wt->state.compare_exchange_strong(expected, wait_timed_out, std::memory_order_acq_rel)) {
      if (n == 32) release_due();
      due[n++] = f;
    }
  });
  release_due();
}

inline fiber_control* pick_local(worker* w) noexcept {
  // Alternate between the two local queues when both have work, so neither
  // starves the other.
  inbox_drain(w);
  fiber_control* f;
  if (w->prefer_home) {
    f = home_pop(w);
    if (!f) f = w->ring.pop();
  } else {
    f = w->ring.pop();
    if (!f) f = home_pop(w);
  }
  w->prefer_home = !w->prefer_home;
  return f;
}

// The next fiber for worker w from its own queues, the global queue and its
// timers; never steals. Runs on w's thread.
inline fiber_control* take_runnext(worker* w) noexcept {
  if (!w->runnext.load(std::memory_order_relaxed)) return nullptr;
  return w->runnext.exchange(nullptr, std::memory_order_acq_rel);
}

inline fiber_control* pick_in_usual_order(worker* w, runtime_core* rt, bool may_poll) noexcept;

// How many global-queue fibers a worker runs, at most, before its own
// queues after a preemption (the same bound as a runnext streak).
inline constexpr unsigned preempted_global_picks = 16;

// A slice ends by preemption: the next picks look at new global work first
// (see pick_next), unless the preempted fiber was itself such a pick — then
// the budget is not refilled, or the queue could be served first forever.
inline void serve_global_first_after_preemption(worker* w) noexcept {
  if (!w->took_global_first) w->global_first = preempted_global_picks;
}

// `may_poll` is false on the park path: a parking fiber holds the lock of
// what it waits on until after the switch, and a poll could need that very
// lock (a descriptor's).
inline fiber_control* pick_next(worker* w, bool may_poll = true) noexcept {
  runtime_core* rt = w->rt;
  if (w->timers.earliest() != no_deadline) run_timers(w, now_ns());
  // After a preemption, new work in the global queue before the worker's
  // own queues: the monitor preempts a worker because work waits, and work
  // the netpoller readies waits in the global queue. Served last, it would
  // get one turn per preemption before the preempted fiber resumed with a
  // fresh quantum. Only new work (spawned or woken), not fibers a full ring
  // spilled there, which are this worker's own backlog: served first, they
  // would starve its pinned and preempted fibers, which can run nowhere
  // else. And bounded: after preempted_global_picks such picks in a row the
  // worker's own queues get a turn whatever the global queue holds.
  if (w->global_first > 0) {
    if (fiber_control* f = global_pop(rt, /*only_new_work=*/true)) {
      --w->global_first;
      w->took_global_first = true;
      return f;
    }
    w->global_first = 0;
  }
  fiber_control* f = pick_in_usual_order(w, rt, may_poll);
  if (f) w->took_global_first = false;
  return f;
}

inline fiber_control* pick_in_usual_order(worker* w, runtime_core* rt, bool may_poll) noexcept {
  if (++w->pick_tick % 61 == 0) {
    if (may_poll) netpoll_if_stale(rt, 1000000);  // every worker busy: someone must still look at the network
    if (fiber_control* f = global_pop(rt)) return f;
  }
  if (w->runnext_streak < 16) {
    if (fiber_control* f = take_runnext(w)) {
      ++w->runnext_streak;
      return f;
    }
  }
  w->runnext_streak = 0;
  if (fiber_control* f = pick_local(w)) return f;
  if (fiber_control* f = global_pop(rt)) return f;
  return take_runnext(w);
}

// A thief takes another worker's runnext only if it is still there after a
// few microseconds: a fiber just handed a lock or a notification is about to
// run where it is, and stealing it would turn a local hand-off into a
// cross-core one.
inline fiber_control* steal_runnext(worker* victim) noexcept {
  fiber_control* f = victim->runnext.load(std::memory_order_acquire);
  if (!f) return nullptr;
  std::int64_t until = now_ns() + 3000;
  while (now_ns() < until) {
    if (victim->runnext.load(std::memory_order_relaxed) != f) return nullptr;
    cpu_relax();
  }
  if (victim->runnext.compare_exchange_strong(f, nullptr, std::memory_order_acq_rel)) return f;
  return nullptr;
}

inline std::uint64_t next_random(worker* w) noexcept {
  w->rng ^= w->rng << 13;
  w->rng ^= w->rng >> 7;
  w->rng ^= w->rng << 17;
  return w->rng;
}

// pick_next, then stealing and other workers' timers. For the idle loop.
inline fiber_control* find_work(worker* w) noexcept {
  if (fiber_control* f = pick_next(w)) return f;
  runtime_core* rt = w->rt;
  std::size_t n = rt->workers.size();
  if (n > 1) {
    std::size_t start = next_random(w) % n;
    for (std::size_t i = 0; i < n; ++i) {
      worker* v = rt->workers[(start + i) % n].get();
      if (v == w) continue;
      if (fiber_control* f = w->ring.steal_half_from(v->ring)) {
        worker_counters::bump(w->counters.steals);
        return f;
      }
    }
    std::int64_t now = now_ns();
    for (auto& v : rt->workers)
      if (v.get() != w && v->timers.earliest() <= now) run_timers(v.get(), now);
    if (fiber_control* f = pick_next(w)) return f;
    for (std::size_t i = 0; i < n; ++i) {
      worker* v = rt->workers[(start + i) % n].get();
      if (v == w) continue;
      if (fiber_control* f = steal_runnext(v)) {
        worker_counters::bump(w->counters.steals);
        return f;
      }
    }
  }
  return nullptr;
}

// ---------------------------------------------------------------------------
// Switching.

inline void fiber_retire(fiber_control* f) noexcept;
inline void wake_all_and_unlock(wait_list<waiter>& list, raw_spinlock& lock) noexcept;

// Always inlined, with switch_to: an out-of-line call around the jump would
// end in a `ret` that the return-stack predictor misses on every switch.
[[gnu::always_inline]] inline void finish_switch(transfer t) noexcept {
  cpu_local* cpu = this_cpu();
  worker* w = cpu->w;
  fiber_control* me = cpu->current;
  sanitizer_after_switch(me ? me->san : w->san);
  fiber_control* prev = w->prev;
  if (prev)
    prev->sp = t.from;
  else
    w->sched_sp = t.from;
  if (me) {
    me->home = w;
    cpu->preempt_count |= me->saved_preempt;
    cpu->migrate_disable = me->saved_migrate;
  }
  post_action act = w->pending;
  w->pending = post_action{};
  switch (act.kind) {
    case post_action::none:
      break;
    case post_action::requeue:
      if (prev->must_stay_home())
        home_push(w, prev);
      else
        ring_push(w, prev);
      break;
    case post_action::retire:
      fiber_retire(prev);
      break;
    case post_action::call:
      act.fn(act.arg);
      break;
  }
}

// Leaves the current context (a fiber, or the worker's own loop when
// cpu->current is null) for `next` (a fiber, or the worker's loop when null).
// Returns when the current context is resumed, possibly on another thread.
[[gnu::always_inline]] inline void switch_to(fiber_control* next, post_action act) noexcept {
  cpu_local* cpu = this_cpu();
  worker* w = cpu->w;
  fiber_control* self = cpu->current;
  if (self) {
    self->saved_preempt = cpu->preempt_count & preempt_user_mask;
    self->saved_migrate = cpu->migrate_disable;
    if (!self->stack.canary_intact()) {
      message m;
      fatal(m.text("jiffy: fiber stack overflow (fiber ").number(self->id).text(", detected by canary)"));
    }
  }
  cpu->preempt_count &= ~preempt_user_mask;
  cpu->migrate_disable = 0;
  cpu->need_resched.store(0, std::memory_order_relaxed);  // a new slice starts
  std::uint64_t slice = w->slice.load(std::memory_order_relaxed);
  w->slice.store((((slice >> 1) + 1) << 1) | (next ? 1 : 0), std::memory_order_relaxed);
  if (!self) {
    // Leaving the idle loop: if the monitor sleeps, wake it to watch us. The
    // barrier pairs with the monitor's (it sets monitor_idle, then reads
    // every slice): either it sees our odd slice or we see it idle.
    store_load_barrier();
    if (w->rt->monitor_idle.load(std::memory_order_relaxed)) {
      w->rt->monitor_word.store(1, std::memory_order_relaxed);
      futex_wake(&w->rt->monitor_word);
    }
  }
  w->prev = self;
  w->pending = act;
  cpu->current = next;
  worker_counters::bump(w->counters.switches);
  sanitizer_before_switch(self ? self->san : w->san, next ? next->san : w->san, act.kind == post_action::retire);
  transfer t = jump_context(next ? next->sp : w->sched_sp, nullptr);
  finish_switch(t);
}

// The current fiber gives up the CPU without becoming runnable; `act` (run
// on the next context) is what makes it wakeable. Call inside runtime_enter.
inline void park_current(post_action act) noexcept {
  worker* w = this_cpu()->w;
  worker_counters::bump(w->counters.parks);
  switch_to(pick_next(w, /*may_poll=*/false), act);
}

// this_fiber::yield() for runtime code: lets others on this worker run.
inline void yield_fiber() noexcept {
  cpu_local* cpu = this_cpu();
  runtime_enter(cpu);
  worker* w = cpu->w;
  cpu->need_resched.store(0, std::memory_order_relaxed);
  if (fiber_control* next = pick_next(w)) {
    worker_counters::bump(w->counters.yields);
    switch_to(next, post_action{post_action::requeue});
  }
  runtime_exit(this_cpu());
}

// Where preempt_enable()/cond_resched() land when need_resched() is set.
inline void preempt_schedule_impl() noexcept {
  cpu_local* cpu = this_cpu();
  if (!cpu->current || cpu->preempt_count != 0) return;
  worker* w = cpu->w;
  // Pairs with the monitor's release store of need_resched, which our caller
  // read: resched_slice is then at least as new as that flag.
  std::atomic_thread_fence(std::memory_order_acquire);
  bool meant_for_this_slice =
      w->resched_slice.load(std::memory_order_relaxed) == w->slice.load(std::memory_order_relaxed);
  cpu->need_resched.store(0, std::memory_order_relaxed);
  // A flag meant for the previous fiber, seen before the monitor took it
  // back: switching now would cut a slice that has barely begun (a fiber
  // resumed from an asynchronous preemption right before a cond_resched()
  // would hand the worker straight back without running). If the monitor
  // meant this slice after all, it sets the flag again at its next look.
  if (!meant_for_this_slice) return;
  runtime_enter(cpu);
  serve_global_first_after_preemption(w);
  if (fiber_control* next = pick_next(w)) {
    worker_counters::bump(w->counters.voluntary);
    switch_to(next, post_action{post_action::requeue});
  }
  runtime_exit(this_cpu());
}

[[noreturn]] inline void fiber_entry(transfer t) noexcept {
  finish_switch(t);
  cpu_local* cpu = this_cpu();
  fiber_control* self = cpu->current;
  runtime_exit(cpu);

  self->run(self);
  // In the fiber's own context, not the retiring post-switch action (which
  // may run inside a signal handler, where freeing is off limits).
  mcs_registry::get().leave(std::exchange(self->mcs, nullptr));

  cpu = this_cpu();
  unsigned left = cpu->preempt_count & preempt_user_mask;
  if (left || cpu->migrate_disable) {
    if constexpr (debug_checks) {
      message m;
      m.text("jiffy: BUG: fiber ").number(self->id).text(" exited with preempt_count ").number(left);
      m.text(" and migrate_disable ").number(cpu->migrate_disable).write_line();
    }
    cpu->preempt_count &= ~preempt_user_mask;  // the kernel's do_exit does the same fix-up
    cpu->migrate_disable = 0;
  }
  runtime_enter(cpu);

  // Wake joiners. A joiner may drop the handle's reference right away; the
  // running reference keeps the stack until fiber_retire.
  worker* w = this_cpu()->w;
  // Counted before joiners wake, so a joiner's stats() already includes it.
  worker_counters::bump(w->counters.finished);
  self->join_lock.lock();
  self->done = true;
  wake_all_and_unlock(self->joiners, self->join_lock);
  w = this_cpu()->w;  // waking can't switch, but keep the rule: re-read after any call that might
  switch_to(pick_next(w), post_action{post_action::retire});
  __builtin_unreachable();
}

inline void release_stack(runtime_core* rt, const stack_span& s) noexcept {
  cpu_local* cpu = this_cpu();
  runtime_enter(cpu);  // the worker's cache must not be shared with a preempting fiber
  worker* w = cpu->w;
  if (w && w->rt == rt && w->stack_cached < worker::stack_cache_size)
    w->stack_cache[w->stack_cached++] = s;
  else
    rt->stacks.release(s);
  runtime_exit(cpu);
}

inline bool allocate_stack(runtime_core* rt, stack_span& s) noexcept {
  cpu_local* cpu = this_cpu();
  runtime_enter(cpu);
  worker* w = cpu->w;
  bool ok = true;
  if (w && w->rt == rt && w->stack_cached)
    s = w->stack_cache[--w->stack_cached];
  else
    ok = rt->stacks.allocate(s);
  runtime_exit(cpu);
  return ok;
}

inline void release_fiber_ref(fiber_control* f) noexcept {
  // acq_rel: whoever frees the stack must see all writes to the control block.
  if (f->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  runtime_core* rt = f->rt;
  stack_span s = f->stack;  // the control block lives on this stack
  release_stack(rt, s);
  rt->drop_ref();
}

// Runs on the context that follows a finished fiber.
inline void fiber_retire(fiber_control* f) noexcept {
  runtime_core* rt = f->rt;
  sanitizer_destroy_fiber(f->san);
  release_fiber_ref(f);
  // seq_cst, with stop_runtime's store of `stopping` and load of `live`: each
  // side writes one and reads the other, so either we see `stopping` or it
  // sees live == 0.
  if (rt->live.fetch_sub(1, std::memory_order_seq_cst) == 1 && rt->stopping.load(std::memory_order_seq_cst)) {
    std::lock_guard<std::mutex> lk(rt->drain_lock);
    rt->drained.notify_all();
  }
}

// ---------------------------------------------------------------------------
// Spawning.

template <class Fn>
fiber_control* create_fiber(runtime_core* rt, Fn&& fn, int pin_to) {
  using F = std::decay_t<Fn>;
  stack_span s;
  if (!allocate_stack(rt, s)) fatal("cannot allocate a fiber stack (mmap failed: out of memory or address space)");
  sanitizer_unpoison_stack(s.base, s.size);
  char* top = s.top();
  auto* f = reinterpret_cast<fiber_control*>(
      (reinterpret_cast<std::uintptr_t>(top) - sizeof(fiber_control)) & ~std::uintptr_t{cache_line - 1});
  char* callable_at = reinterpret_cast<char*>(
      (reinterpret_cast<std::uintptr_t>(f) - sizeof(F)) & ~std::uintptr_t{alignof(F) < 16 ? 15 : alignof(F) - 1});
  if (callable_at < s.base + s.size / 2) fatal("the function object passed to spawn() is larger than half the fiber stack");
  new (f) fiber_control();
  f->rt = rt;
  f->id = next_fiber_id.fetch_add(1, std::memory_order_relaxed);
  f->stack = s;
  f->callable = new (callable_at) F(std::forward<Fn>(fn));
  f->run = [](fiber_control* self) noexcept {
    F* c = static_cast<F*>(self->callable);
    (*c)();  // an exception escaping here meets noexcept: std::terminate, as std::thread does
    c->~F();
  };
  if (pin_to >= 0) {
    f->pinned = true;
    f->home = rt->workers[static_cast<std::size_t>(pin_to)].get();
  }
  f->sp = make_context(callable_at, &fiber_entry);
  sanitizer_create_fiber(f->san, s.base, s.size);
  rt->add_ref();
  rt->live.fetch_add(1, std::memory_order_relaxed);
  return f;
}

// ---------------------------------------------------------------------------
// Waiting, for fibers and plain threads alike.

inline void debug_might_sleep(const char* what) noexcept {
  if constexpr (debug_checks) {
    unsigned c = this_cpu()->preempt_count & preempt_user_mask;
    if (c) {
      message m;
      fatal(m.text("jiffy: BUG: scheduling while atomic: ").text(what).text(" called with preempt_count ").number(c));
    }
  }
}

struct park_request {
  raw_spinlock* lock;
  waiter* w;
  std::int64_t deadline;
};

inline void arm_timer_here(waiter* wt, std::int64_t deadline) noexcept {
  worker* w = this_cpu()->w;
  wt->timer.deadline = deadline;
  wt->timer_owner = w;
  w->timers.insert(&wt->timer);
  // An idle worker may sleep past this deadline (it computed its own before
  // this timer existed); wake it, so the timer fires on time even if this
  // worker is about to run a long fiber.
  runtime_core* rt = w->rt;
  // The barrier pairs with worker_idle's; a worker not yet in the idle
  // list will see this timer when it computes its deadline.
  store_load_barrier();
  if (rt->sleepers.load(std::memory_order_seq_cst) == 0) return;
  std::lock_guard<std::mutex> lk(rt->idle_lock);
  for (worker* v : rt->idle)
    if (v->sleep_deadline.load(std::memory_order_relaxed) > deadline) {
      wake_worker_locked(rt, v);
      return;
    }
}

inline void park_post(void* arg) noexcept {
  // Copy first: once the timer is armed, another worker may fire it, and the
  // parked fiber may run and return, taking *arg (on its stack) with it.
  park_request r = *static_cast<park_request*>(arg);
  if (r.deadline != no_deadline) arm_timer_here(r.w, r.deadline);
  if (r.lock) r.lock->unlock();
}

// Blocks the caller until `wt` is woken or `deadline` (now_ns() time base)
// passes. The caller holds `lock` (may be null when nothing else can see
// `wt`), having linked `wt` where a notifier will find it; the lock is
// released on return. Returns wait_notified or wait_timed_out; after a time-out
// the caller must unlink `wt` itself if it is still linked.
inline std::uint32_t block_waiter(waiter& wt, raw_spinlock* lock, std::int64_t deadline) noexcept {
  cpu_local* cpu = this_cpu();
  if (cpu->current) {
    wt.fiber = cpu->current;
    park_request req{lock, &wt, deadline};
    runtime_enter(cpu);
    park_current(post_action{post_action::call, &park_post, &req});
    std::uint32_t s = wt.state.load(std::memory_order_acquire);
    if (s == wait_notified && wt.timer_owner) wt.timer_owner->timers.remove(&wt.timer);
    runtime_exit(this_cpu());
    return s;
  }
  // A plain thread sleeps on the waiter's own word. It returns only once the
  // notifier has marked it delivered (or its deadline claimed it): until
  // then the notifier may still be using the waiter.
  if (lock) lock->unlock();
  for (;;) {
    // acquire: pairs with the notifier's release, for what it wrote before.
    std::uint32_t s = wt.state.load(std::memory_order_acquire);
    if (s == wait_delivered) return wait_notified;
    if (s == wait_timed_out) return wait_timed_out;
    if (s == wait_notified) {
      futex_wait(&wt.state, wait_notified);  // claimed: delivery is a few instructions away
      continue;
    }
    futex_wait(&wt.state, wait_pending, deadline == no_deadline ? -1 : deadline);
    if (deadline != no_deadline && now_ns() >= deadline) {
      std::uint32_t expected = wait_pending;
      if (wt.state.compare_exchange_strong(expected, wait_timed_out, std::memory_order_acq_rel)) return wait_timed_out;
    }
  }
}

// Waking is two steps. claim_waiter() runs under the lock of the list the
// waiter was on (already unlinked): a waiter that timed out must take that
// lock to unlink itself, so it cannot return while a notifier looks at it.
// deliver() runs after the lock is released. A claimed fiber cannot run
// before deliver() makes it runnable, and a claimed thread does not return
// before deliver() marks it delivered, so the waiter is alive throughout;
// deliver()'s last touch of it is that mark (a futex wake may follow on its
// address, which is harmless even if the waiter has gone).
inline bool claim_waiter(waiter* wt) noexcept {
  std::uint32_t expected = wait_pending;
  // acq_rel: the woken side sees what the notifier wrote before; a racing
  // deadline loses.
  return wt->state.compare_exchange_strong(expected, wait_notified, std::memory_order_acq_rel);
}

inline void deliver(waiter* wt) noexcept {
  if (fiber_control* f = wt->fiber) {
    make_runnable(f);
  } else {
    wt->state.store(wait_delivered, std::memory_order_release);
    futex_wake(&wt->state);
  }
}

// Claims every waiter of `list` (guarded by `lock`, which the caller holds)
// in one go, releases the lock, then delivers them. Claiming all under one
// hold matters: a waiter that arrives after the event must not be woken by it.
inline void wake_all_and_unlock(wait_list<waiter>& list, raw_spinlock& lock) noexcept {
  waiter* head = nullptr;
  waiter** tail = &head;
  while (waiter* wt = list.pop_front())
    if (claim_waiter(wt)) {
      *tail = wt;
      tail = &wt->wnext;
    }
  *tail = nullptr;
  lock.unlock();
  while (head) {
    waiter* next = head->wnext;  // read before delivery: the waiter may be gone after it
    deliver(head);
    head = next;
  }
}

// Claims the first waiter that has not timed out; releases `lock`. Returns
// whether one was woken.
inline bool wake_one_and_unlock(wait_list<waiter>& list, raw_spinlock& lock) noexcept {
  waiter* claimed = nullptr;
  while (!claimed && !list.empty()) {
    waiter* wt = list.pop_front();
    if (claim_waiter(wt)) claimed = wt;
  }
  lock.unlock();
  if (claimed) deliver(claimed);
  return claimed != nullptr;
}

// Counts notifiers still using a primitive after the state change that lets
// its waiters return; the primitive's destructor waits for them. (A waiter
// that was just woken may legally destroy the mutex, condition variable or
// wait_group at once.)
class inflight_wakers {
 public:
  // relaxed: the release operation that follows (the state change) orders it.
  void enter() noexcept { n_.fetch_add(1, std::memory_order_relaxed); }
  void exit() noexcept { n_.fetch_sub(1, std::memory_order_release); }
  void drain() const noexcept {
    for (unsigned spins = 0; n_.load(std::memory_order_acquire) != 0; ++spins) {
      if (spins < 1000)
        cpu_relax();
      else
        ::sched_yield();
    }
  }

 private:
  std::atomic<std::uint32_t> n_{0};
};

// ---------------------------------------------------------------------------
// The worker loop, on the worker's own thread.

inline void worker_idle(worker* w) noexcept {
  runtime_core* rt = w->rt;
  {
    std::lock_guard<std::mutex> lk(rt->idle_lock);
    w->sleep_word.store(0, std::memory_order_relaxed);
    // Until the real deadline is known, claim "forever": a timer armed
    // meanwhile then wakes us rather than being missed.
    w->sleep_deadline.store(no_deadline, std::memory_order_relaxed);
    rt->idle.push_back(w);
    w->in_idle_list = true;
    rt->sleepers.fetch_add(1, std::memory_order_seq_cst);
  }
  store_load_barrier();
  bool work = w->inbox_nonempty.load(std::memory_order_acquire) || !w->ring.empty() ||
              rt->global_size.load(std::memory_order_relaxed) > 0 ||
              (rt->stopping.load(std::memory_order_seq_cst) && rt->live.load(std::memory_order_seq_cst) == 0);
  std::int64_t deadline = no_deadline;
  for (auto& v : rt->workers) {
    if (v.get() != w && (!v->ring.empty() || v->runnext.load(std::memory_order_relaxed))) work = true;
    std::int64_t e = v->timers.earliest();
    if (e < deadline) deadline = e;
  }
  w->sleep_deadline.store(deadline, std::memory_order_relaxed);
  if (!work && deadline > now_ns()) {
    worker_counters::bump(w->counters.sleeps);
    // One idle worker sleeps in the netpoller, the others on their futex.
    if (!netpoll_block(w, deadline)) futex_wait(&w->sleep_word, 0, deadline == no_deadline ? -1 : deadline);
  }
  std::lock_guard<std::mutex> lk(rt->idle_lock);
  if (w->in_idle_list) remove_from_idle_locked(rt, w);
}

inline void stop_spinning(worker* w, bool found) noexcept {
  if (!w->spinning) return;
  w->spinning = false;
  // The last spinner to find work wakes another: there may be more.
  if (w->rt->spinning.fetch_sub(1, std::memory_order_seq_cst) == 1 && found) wake_idle_if_needed(w->rt);
}

inline void install_overflow_handler();
inline void setup_worker_signal_stack();

inline void worker_main(worker* w, std::latch& ready) noexcept {
  cpu_local* cpu = this_cpu();
  cpu->w = w;
  cpu->current = nullptr;
  w->cpu = cpu;
  w->tid = static_cast<pid_t>(::syscall(SYS_gettid));
  pthread_getcpuclockid(pthread_self(), &w->cpu_clock);
  w->stat_fd = ::open("/proc/thread-self/stat", O_RDONLY | O_CLOEXEC);
  w->rng = 0x9e3779b97f4a7c15ull * (w->index + 1);
  sanitizer_init_thread(w->san);
  setup_worker_signal_stack();
  runtime_enter(cpu);
  ready.count_down();  // `ready` dies with start_runtime: no use after this
  runtime_core* rt = w->rt;
  for (;;) {
    fiber_control* f = find_work(w);
    stop_spinning(w, f != nullptr);
    if (f) {
      switch_to(f, post_action{});
      continue;
    }
    if (rt->stopping.load(std::memory_order_acquire) && rt->live.load(std::memory_order_acquire) == 0) break;
    worker_idle(w);
  }
  runtime_exit(this_cpu());
  cpu = this_cpu();
  cpu->w = nullptr;
}

inline void worker_release_resources(worker* w) noexcept {
  if (w->stat_fd >= 0) ::close(w->stat_fd);
  w->stat_fd = -1;
}

// ---------------------------------------------------------------------------
// Stack overflow reporting.

struct overflow_state {
  struct sigaction previous {};
  std::once_flag installed;
};
inline overflow_state& overflow() noexcept {
  static overflow_state s;
  return s;
}

inline void overflow_handler(int sig, siginfo_t* info, void* uc) noexcept {
  cpu_local* cpu = this_cpu();
  if (fiber_control* f = cpu->current) {
    auto* addr = static_cast<char*>(info->si_addr);
    const stack_span& s = f->stack;
    if (addr < s.base && addr >= s.base - s.guard_size) {
      message m;
      m.text("jiffy: fiber stack overflow (fiber ").number(f->id).text(", stack of ").number(s.size);
      fatal(m.text(" bytes; raise runtime_options::stack_size)"));
    }
  }
  // Not ours: hand it to whoever was there before, or die the default way.
  const struct sigaction& prev = overflow().previous;
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction) return prev.sa_sigaction(sig, info, uc);
  } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
    return prev.sa_handler(sig);
  }
  signal(sig, SIG_DFL);  // returning re-executes the fault, which now kills us
}

inline void install_overflow_handler() {
  std::call_once(overflow().installed, [] {
    struct sigaction sa {};
    sa.sa_sigaction = &overflow_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &overflow().previous);
  });
}

// The handler needs a stack of its own: the fiber's is the one that ran out.
inline void setup_worker_signal_stack() {
  stack_t old{};
  if (sigaltstack(nullptr, &old) == 0 && !(old.ss_flags & SS_DISABLE)) return;  // someone set one already
  static thread_local struct altstack {
    void* mem = nullptr;
    std::size_t size = 0;
    ~altstack() {
      if (mem) {
        stack_t off{};
        off.ss_flags = SS_DISABLE;
        sigaltstack(&off, nullptr);
        ::munmap(mem, size);
      }
    }
  } alt;
  alt.size = 64 * 1024;
  alt.mem = ::mmap(nullptr, alt.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (alt.mem == MAP_FAILED) {
    alt.mem = nullptr;
    return;
  }
  stack_t st{};
  st.ss_sp = alt.mem;
  st.ss_size = alt.size;
  sigaltstack(&st, nullptr);
}

}  // namespace jiffy::detail

// The netpoller defines the netpoll_* hooks declared above; it needs all of
// this file, so it comes last.
#include <jiffy/detail/netpoll.hpp>
