// jiffy/sched.hpp — scheduling classes: who runs first on a worker.
//
// Rules:
//  * The classes and their order are the kernel's (sched(7)): real-time
//    fibers (`fifo`, `rr`; static priority 1-99, higher first) run before
//    fair ones (`normal`, `batch`; CPU shared by nice weight), which run
//    before `idle` fibers (only when nothing else on the worker can run).
//  * A fiber's class is set when it is spawned (fiber_options) and may be
//    changed by the fiber itself (this_fiber::set_scheduler, set_nice, in
//    runtime.hpp). The design is in detail/sched_class.hpp.
//  * fiber_options is an aggregate: spawn({.policy = jiffy::sched_policy::fifo,
//    .priority = 50}, f). Bad values passed to spawn stop the program with a
//    message naming the field and the value; the this_fiber setters return
//    std::errc::invalid_argument instead and change nothing.
#pragma once

#include <cstddef>

namespace jiffy {

// The kernel's SCHED_NORMAL, SCHED_BATCH, SCHED_IDLE, SCHED_FIFO, SCHED_RR.
enum class sched_policy {
  normal,  // fair share by nice weight; a woken fiber may preempt a running fair one
  batch,   // fair share, but never preempts on wake-up (throughput work)
  idle,    // runs only when nothing else on its worker is runnable
  fifo,    // real time: runs until it blocks, yields or a higher priority wakes
  rr,      // real time: like fifo, but round-robin with the quantum among equal priorities
};

// How many policies there are: arrays indexed by policy (runtime_stats::run_delay) have this many entries.
inline constexpr unsigned sched_policy_count = 5;

struct fiber_options {
  sched_policy policy = sched_policy::normal;
  int priority = 0;            // 1-99 for fifo and rr (higher runs first); 0 otherwise
  int nice = 0;                // -20..19 for normal and batch (the kernel's weights: each step ~1.25x); 0 otherwise
  const char* name = nullptr;  // for diagnostics; must outlive the fiber (a string literal, say)
  // Usable bytes of this fiber's own stack: 0 for the runtime's
  // (runtime_options::stack_size); otherwise 16 KiB (or a preemption signal
  // frame's need, if more) to 1 GiB, rounded up to a power of two —
  // runtime::stack_size_for() tells the size given. Stacks of each size are
  // pooled and guarded like the runtime's own.
  std::size_t stack_size = 0;
};

// The policy's name as the kernel spells it ("SCHED_FIFO", ...).
constexpr const char* sched_policy_name(sched_policy p) noexcept {
  switch (p) {
    case sched_policy::normal: return "SCHED_NORMAL";
    case sched_policy::batch: return "SCHED_BATCH";
    case sched_policy::idle: return "SCHED_IDLE";
    case sched_policy::fifo: return "SCHED_FIFO";
    case sched_policy::rr: return "SCHED_RR";
  }
  return "(not a sched_policy)";
}

}  // namespace jiffy
