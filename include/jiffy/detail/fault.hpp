// jiffy/detail/fault.hpp — reporting a fiber's stack overflow.
//
// Rules:
//  * A fault inside the running fiber's guard region is reported as
//    "jiffy: fiber stack overflow (fiber N "name", stack of S bytes; ...)" and the
//    process aborts. The handler runs on the worker's alternate signal stack
//    (the fiber's own is exhausted), set up by each worker at start.
//  * Any other SIGSEGV goes to the handler installed before jiffy's
//    (chain_signal, shared with the preemption handler), or, if that was the
//    default, re-faults with the default disposition and kills the process
//    as it would have without jiffy.
//  * Installed by the first runtime, and again by any later runtime that
//    finds SIGSEGV back at its default disposition (the program reset it, or
//    this is a forked child whose parent's test harness did): a later
//    runtime's overflows are reported too. A handler the program installed
//    on top of ours is left in front; it may chain to ours. Everything the
//    handler calls is async-signal-safe.
#pragma once

#include <jiffy/detail/cpu_local.hpp>
#include <jiffy/detail/diag.hpp>
#include <jiffy/detail/fiber.hpp>
#include <jiffy/detail/platform/signals.hpp>

#include <csignal>
#include <mutex>

namespace jiffy::detail {

struct overflow_state {
  std::mutex mu;             // serialises installation
  bool installed = false;    // by this process, at least once
  signal_action previous{};  // what was there before ours: chained to
};
inline overflow_state& overflow() noexcept {
  static overflow_state s;
  return s;
}

inline void overflow_handler(int sig, signal_info* info, void* uc) noexcept {
  cpu_local* cpu = this_cpu();
  if (fiber_control* f = cpu->current) {
    auto* addr = static_cast<char*>(fault_address(info));
    const stack_span& s = f->stack;
    if (addr < s.base && addr >= s.base - s.guard_size) {
      message m;
      describe_fiber(m.text("jiffy: fiber stack overflow ("), f->id, f->name).text(", stack of ").number(s.size);
      fatal(m.text(" bytes; raise its fiber_options::stack_size, or runtime_options::stack_size for every fiber)"));
    }
  }
  // Not ours: hand it to whoever was there before, or die the default way.
  if (!chain_signal(overflow().previous, sig, info, uc)) restore_default_disposition(sig);
}

inline void install_overflow_handler() {
  overflow_state& s = overflow();
  std::lock_guard<std::mutex> lk(s.mu);
  if (s.installed && !signal_has_default_disposition(SIGSEGV)) return;
  // Reinstalling over the default: `previous` becomes that default, and our
  // handler cannot be running (nothing routes SIGSEGV to it), so rewriting
  // `previous` races with no reader.
  install_signal_handler(SIGSEGV, &overflow_handler, &s.previous, /*on_alternate_stack=*/true,
                         /*restart=*/false, /*nodefer=*/true);
  s.installed = true;
}

}  // namespace jiffy::detail
