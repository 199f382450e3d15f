// jiffy/detail/preempt_count.hpp — the preempt count's layout, named, and
// the few operations on it that the runtime and the public API share.
//
// Rules:
//  * The count is one word per OS thread (cpu_local::preempt_count) with two
//    fields, in the kernel's manner (include/linux/preempt.h):
//      bits  0..15  the user's preempt_disable() nesting   (preempt_user_mask)
//      bits 16..31  the runtime's own non-preemptible sections (runtime_offset
//                   each): scheduler code inlined into user functions, which
//                   an address check could not tell apart from user code.
//    The whole word is 0 exactly when the thread may be switched out.
//  * The user field travels with the fiber: a switch detaches it from the
//    thread (detach_user_preempt) and the arriving fiber attaches its own
//    (attach_user_preempt). The runtime field belongs to the thread and is
//    handed across the switch as described in detail/switch.hpp.
//  * Only the owning thread changes the word (the preemption signal runs on
//    that thread too), so it is a plain integer ordered by compiler barriers
//    (signal fences).
//  * preempt_schedule() is where a count that drops to 0 with need_resched
//    set lands; the runtime that exists installs it (preempt_schedule_hook),
//    and the test that a raised flag is meant for the running slice
//    (resched_is_current_hook), which the public need_resched() asks.
#pragma once

#include <jiffy/detail/cpu_local.hpp>
#include <jiffy/detail/diag.hpp>

#include <atomic>

namespace jiffy::detail {

inline constexpr unsigned preempt_user_bits = 16;
inline constexpr unsigned preempt_user_mask = (1u << preempt_user_bits) - 1;
inline constexpr unsigned runtime_offset = 1u << preempt_user_bits;
inline constexpr unsigned runtime_mask = ~preempt_user_mask;

// The user's preempt_disable() nesting within a count.
constexpr unsigned user_preempt_depth(unsigned count) noexcept { return count & preempt_user_mask; }
// Whether the runtime's own code is running (a runtime section is open).
constexpr bool in_runtime(unsigned count) noexcept { return (count & runtime_mask) != 0; }
// Whether the thread must not be switched out: the kernel's in_atomic().
inline bool in_atomic(const cpu_local* c) noexcept { return c->preempt_count != 0; }

// Takes the user field off the thread (for the fiber that leaves) and
// returns it.
inline unsigned detach_user_preempt(cpu_local* c) noexcept {
  unsigned user = user_preempt_depth(c->preempt_count);
  c->preempt_count &= runtime_mask;
  return user;
}
// Gives the thread the arriving fiber's user field.
inline void attach_user_preempt(cpu_local* c, unsigned user) noexcept { c->preempt_count |= user; }

// The user field's raise and drop, shared by preempt_disable()/enable()
// (preempt.hpp) and the foreign-lock wrappers (platform/lock_interposition):
// the protected code stays between the two signal fences.
inline void raise_user_preempt(cpu_local* c) noexcept {
  ++c->preempt_count;
  std::atomic_signal_fence(std::memory_order_seq_cst);
}
// Returns whether the count reached 0 with a reschedule pending (the caller
// then calls preempt_schedule(), or leaves it for the next preemption point).
inline bool drop_user_preempt(cpu_local* c) noexcept {
  std::atomic_signal_fence(std::memory_order_seq_cst);
  // relaxed: need_resched is a hint from the timer; the switch itself
  // synchronises through the run queues.
  return --c->preempt_count == 0 && c->need_resched.load(std::memory_order_relaxed);
}

// Brackets the runtime's own code: while raised, neither the preemption
// signal nor a nested preemption point switches this thread.
inline void runtime_enter(cpu_local* c) noexcept {
  c->preempt_count += runtime_offset;
  std::atomic_signal_fence(std::memory_order_seq_cst);
}
inline void runtime_exit(cpu_local* c) noexcept {
  std::atomic_signal_fence(std::memory_order_seq_cst);
  c->preempt_count -= runtime_offset;
}

// Set by the first runtime; a count can only reach need_resched while a
// runtime exists, so a null hook is never called.
using preempt_schedule_fn = void (*)() noexcept;
inline std::atomic<preempt_schedule_fn> preempt_schedule_hook{nullptr};

[[gnu::noinline, gnu::cold]] inline void preempt_schedule() noexcept {
  // relaxed: every runtime stores the same function.
  if (preempt_schedule_fn f = preempt_schedule_hook.load(std::memory_order_relaxed)) f();
}

// Whether a raised need_resched is meant for what runs on this thread now:
// a request made for the slice before, landing just after the switch, is
// not (preemption/voluntary.hpp). Installed with preempt_schedule_hook;
// without a runtime the flag is never raised, and a raised one counts.
using resched_is_current_fn = bool (*)(cpu_local*) noexcept;
inline std::atomic<resched_is_current_fn> resched_is_current_hook{nullptr};

[[gnu::noinline, gnu::cold]] inline bool resched_is_current(cpu_local* c) noexcept {
  // relaxed: every runtime stores the same function.
  resched_is_current_fn f = resched_is_current_hook.load(std::memory_order_relaxed);
  return !f || f(c);
}

[[gnu::noinline, gnu::cold, noreturn]] inline void preempt_underflow(const char* what) noexcept {
  message m;
  fatal(m.text("jiffy: BUG: ").text(what).text(" underflow: called more often than its disable"));
}

}  // namespace jiffy::detail
