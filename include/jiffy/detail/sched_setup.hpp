// jiffy/detail/sched_setup.hpp — giving a fiber its scheduling class: at
// spawn (fiber_options) and from the fiber itself (this_fiber::set_scheduler,
// set_nice).
//
// Rules:
//  * Bad values at spawn are programming errors: the program stops with a
//    message naming the caller, the field and the value. The this_fiber
//    setters report them as std::errc::invalid_argument and change nothing.
//  * A fiber's sched_params are written before it is first runnable (spawn)
//    or by the fiber itself inside the runtime section (the preemption
//    handler reads them on the same thread), and its worker's published
//    running_sched is updated with them.
//  * A fiber that lowers its own rank below waiting work gives way at once;
//    one that raises it needs nothing (it is already running).
#pragma once

#include <jiffy/detail/cpu_local.hpp>
#include <jiffy/detail/diag.hpp>
#include <jiffy/detail/fiber.hpp>
#include <jiffy/detail/preempt_count.hpp>
#include <jiffy/detail/runtime_core.hpp>
#include <jiffy/detail/sched_class.hpp>
#include <jiffy/detail/switch.hpp>
#include <jiffy/detail/wake.hpp>
#include <jiffy/sched.hpp>

#include <climits>
#include <system_error>

namespace jiffy::detail {

inline constexpr int keep_nice = INT_MIN;

// `index` as a pin for start_on, once it names one of rt's workers; a
// missing worker stops the program with a message naming `caller`.
[[nodiscard]] inline int pinned_worker(const runtime_core* rt, unsigned index, const char* caller) noexcept {
  if (index < rt->workers.size()) return static_cast<int>(index);
  message m;
  fatal(m.text("jiffy: ")
            .text(caller)
            .text(": worker ")
            .number(index)
            .text(" does not exist (the runtime has ")
            .number(rt->workers.size())
            .text(")"));
}

inline void check_fiber_options(const fiber_options& o, const char* caller) noexcept {
  sched_error e = check_sched(o.policy, o.priority, o.nice);
  if (!e.field) return;
  message m;
  m.text("jiffy: ").text(caller).text(": fiber_options::").text(e.field).text(" ").text(e.why);
  m.text(" (got ").signed_number(e.value);
  if (e.field[0] != 'p' || e.field[1] != 'o') m.text(" with policy ").text(sched_policy_name(o.policy));
  fatal(m.text(")"));
}

// Before f is first runnable.
inline void apply_fiber_options(fiber_control* f, const fiber_options& o) noexcept {
  f->sched = sched_params::of(o.policy, o.priority, o.nice);
  f->name = o.name;
}

inline std::error_code set_current_sched(sched_policy policy, int priority, int nice) noexcept {
  cpu_local* cpu = this_cpu();
  fiber_control* f = cpu->current;
  if (!f) return std::make_error_code(std::errc::operation_not_permitted);
  if (nice == keep_nice) nice = is_fair(policy) ? f->sched.nice : 0;
  if (check_sched(policy, priority, nice).field) return std::make_error_code(std::errc::invalid_argument);
  runtime_enter(cpu);
  unsigned before = f->rank();
  f->sched = sched_params::of(policy, priority, nice);
  unsigned after = f->rank();
  worker* w = cpu->w;
  w->running_sched.store(pack_running(after, policy, f->sched.weight), std::memory_order_relaxed);
  runtime_exit(cpu);
  if (after < before && !in_atomic(this_cpu())) yield_fiber();  // to anything of the new rank or above
  return {};
}

}  // namespace jiffy::detail
