// jiffy/detail/fiber.hpp — the fiber control block.
//
// Rules:
//  * The control block lives at the top of the fiber's own stack, with the
//    callable just below it (detail/spawn.hpp): one allocation per fiber,
//    none when the worker's stack cache has one.
//  * Two references keep it: the handle's and the running fiber's
//    (detail/retire.hpp). The last one returns the stack.
//  * `home` is the last worker the fiber ran on; a fiber that must stay home
//    (pinned, inside migrate_disable(), or preempted by signal) is queued
//    only there (detail/run_queue.hpp).
//  * A fiber's name is fiber_options::name (the caller keeps it alive) or a
//    copy made by this_fiber::set_name into `name_buf`; unnamed, it is
//    "fiber-<id>". Diagnostics name a fiber as `fiber N "name"`
//    (describe_fiber), or `fiber N` when it has none of its own.
//  * `sp` and the saved counts are written by the switch (detail/switch.hpp)
//    while the fiber is off every queue, and read after it is dequeued: the
//    queue's own release/acquire orders them.
//  * Every live fiber is on a list of its runtime's (detail/live_fibers.hpp),
//    and a parked one says what it waits for (`parked`): what a debugger
//    shows (tools/jiffy-gdb.py).
#pragma once

#include <jiffy/detail/diag.hpp>
#include <jiffy/detail/mcs_nodes.hpp>
#include <jiffy/detail/queues.hpp>
#include <jiffy/detail/raw_spinlock.hpp>
#include <jiffy/detail/sched_class.hpp>
#include <jiffy/detail/sanitizers.hpp>
#include <jiffy/detail/stack.hpp>
#include <jiffy/detail/time.hpp>
#include <jiffy/detail/waiter.hpp>

#include <atomic>
#include <cstdint>

namespace jiffy::detail {

struct runtime_core;
struct worker;
struct live_fiber_list;

// What a parked fiber waits for, for debuggers only (tools/jiffy-gdb.py):
// written by the fiber itself just before it parks, `what` cleared when it
// resumes (block_waiter, detail/wait.hpp); nothing in the runtime reads it.
struct park_record {
  const char* what = nullptr;           // "mutex", "condition_variable", "join", "sleep", ...; null: not parked
  const void* object = nullptr;         // the object waited on (for "join", the fiber_control joined)
  const waiter* wait = nullptr;         // its waiter: claimed (state != pending) means woken, not yet running
  std::int64_t until = no_deadline_ns;  // its deadline (now_ns() time base)
};

struct fiber_control {
  void* sp = nullptr;  // saved context while switched out
  // When it last became runnable, in cycle_clock ticks (detail/run_delay.hpp):
  // written before it is queued, read by the switch that picks it (beside
  // `sp`, in the cache line that switch loads anyway).
  std::uint64_t runnable_since = 0;
  runtime_core* rt = nullptr;
  worker* home = nullptr;  // last worker it ran on (its only worker if pinned)
  std::uint64_t id = 0;
  stack_span stack;
  unsigned saved_preempt = 0;  // user part of preempt_count while switched out
  unsigned saved_migrate = 0;  // migrate_disable nesting while switched out
  bool pinned = false;
  bool main_only = false;        // spawned by spawn_main (pinned to the main worker); set at creation, never changed
  bool async_preempted = false;  // switched out by the preemption signal: must resume on `home`
  // In the global queue because a full ring spilled it, not because it was
  // spawned or woken there: not served first after a preemption (pick_next).
  bool spilled = false;
  // Scheduling class (detail/sched_class.hpp). `sched` is written by the
  // fiber itself or before it first runs; `boost_rank` by priority
  // inheritance under the lock of the mutex it holds; `queued_rank` under
  // the class queue's lock.
  sched_params sched;
  std::atomic<std::uint8_t> boost_rank{0};
  std::uint8_t queued_rank = rank_not_queued;
  const char* name = nullptr;                       // null: none of its own ("fiber-<id>")
  static constexpr std::size_t name_capacity = 32;  // set_name keeps up to 31 bytes
  char name_buf[name_capacity] = {};
  // The jiffy::mutex it is waiting to lock (priority inheritance), under
  // pi_lock: while a chain walk holds pi_lock the fiber cannot leave that
  // mutex's lock(), so the mutex stays alive (detail/priority_inheritance.hpp).
  raw_spinlock pi_lock;
  void* pi_blocked_on = nullptr;
  fiber_control* next = nullptr;  // run-queue link
  sanitizer_context san;
  std::atomic<int> refs{2};  // one for the handle, one for running
  raw_spinlock join_lock;
  bool done = false;  // guarded by join_lock
  wait_list<waiter> joiners;
  mcs_block* mcs = nullptr;  // queue nodes of holder_preemptible::mcs_spinlock waits, enrolled on first use
  void (*run)(fiber_control*) noexcept = nullptr;  // calls and destroys the callable
  void* callable = nullptr;
  // The registry of live fibers (detail/live_fibers.hpp): `live_list` and
  // `live_slot` (its slot there, if it has one) set once at creation, the
  // links guarded by the list's lock.
  live_fiber_list* live_list = nullptr;
  std::atomic<fiber_control*>* live_slot = nullptr;
  fiber_control* live_next = nullptr;
  fiber_control* live_prev = nullptr;
  park_record parked;

  bool must_stay_home() const noexcept { return pinned || saved_migrate != 0 || async_preempted; }
  bool may_run_on(const worker* w) const noexcept { return !must_stay_home() || home == w; }
  // Who runs first: the class's rank, raised by an inheritance boost.
  unsigned rank() const noexcept {
    unsigned b = boost_rank.load(std::memory_order_relaxed);
    unsigned r = sched.rank;
    return b > r ? b : r;
  }
};

// How every diagnostic names a fiber: `fiber N "name"`, or `fiber N`.
// Async-signal-safe (the overflow report calls it).
inline message& describe_fiber(message& m, std::uint64_t id, const char* name) noexcept {
  m.text("fiber ").number(id);
  if (name) m.text(" \"").text(name).text("\"");
  return m;
}

// What the arriving side of a switch does for the side that left.
struct post_action {
  enum kind_t : std::uint8_t { none, requeue, retire, call } kind = none;
  void (*fn)(void*) noexcept = nullptr;
  void* arg = nullptr;
};

// Fiber ids: process-unique, never 0 (0 means "no fiber"). Workers take
// them fiber_id_block at a time (detail/spawn.hpp), so ids are unique but
// not in spawn order, and spawning does not write a line every worker shares.
inline std::atomic<std::uint64_t> next_fiber_id{1};
inline constexpr std::uint64_t fiber_id_block = 1024;

}  // namespace jiffy::detail
