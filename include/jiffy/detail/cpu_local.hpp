// jiffy/detail/cpu_local.hpp — the per-OS-thread state and the one way to reach it.
//
// Rules:
//  * A fiber can leave one OS thread at a switch and resume on another. A
//    compiler treats the address of a thread_local as constant within a
//    function and may keep it in a register across a call (GCC and Clang both
//    do, and on AArch64 they do it readily). A fiber that migrated while such
//    an address sat in a callee-saved register would then write another
//    thread's state. So the runtime never names its thread_local directly:
//    this_cpu() recomputes the address from the thread-pointer register in an
//    `asm volatile` with a memory clobber, which the compiler can neither
//    merge with an earlier read nor move across a call.
//  * The variable uses the initial-exec TLS model, so its offset from the
//    thread pointer is a link-time constant read from the GOT (relaxed to an
//    immediate in executables). It costs two loads, no call.
//  * preempt_count (its layout: detail/preempt_count.hpp) is only ever modified by its own thread (the preemption
//    signal handler runs on that thread too), so it is a plain integer;
//    compiler barriers (signal fences) order it against the code it protects.
//    need_resched is set from other threads, hence atomic.
#pragma once

#include <jiffy/detail/config.hpp>

#include <atomic>

namespace jiffy::detail {

struct worker;
struct fiber_control;

struct cpu_local {
  unsigned preempt_count;              // detail/preempt_count.hpp; 0 means preemptible
  std::atomic<unsigned> need_resched;  // set remotely: "switch at the next preemption point"
  worker* w;                           // the worker this thread runs, nullptr on a plain thread
  fiber_control* current;              // running fiber; nullptr on plain threads and in the scheduler loop
  unsigned migrate_disable;            // migrate_disable() nesting of whoever runs here
};

// The symbol name is fixed so the assembly below can name it; the inline
// definition gives one instance per thread for the whole program.
inline thread_local cpu_local cpu_local_instance asm("jiffy_cpu_local_v1")
    __attribute__((tls_model("initial-exec"), used)) = {};

inline cpu_local* this_cpu() noexcept {
  cpu_local* p;
#if defined(__x86_64__)
  asm volatile(
      "movq jiffy_cpu_local_v1@gottpoff(%%rip), %0\n\t"
      "addq %%fs:0, %0"
      : "=r"(p)
      :
      : "memory");
#elif defined(__aarch64__)
  asm volatile(
      "adrp %0, :gottprel:jiffy_cpu_local_v1\n\t"
      "ldr %0, [%0, #:gottprel_lo12:jiffy_cpu_local_v1]\n\t"
      "mrs x16, tpidr_el0\n\t"
      "add %0, %0, x16"
      : "=r"(p)
      :
      : "x16", "memory");
#endif
  return p;
}

}  // namespace jiffy::detail
