// jiffy/detail/fault.hpp — reporting a fiber's stack overflow.
//
// Rules:
//  * A fault inside the running fiber's guard region is reported as
//    "jiffy: fiber stack overflow (fiber N, stack of S bytes; ...)" and the
//    process aborts. The handler runs on the worker's alternate signal stack
//    (the fiber's own is exhausted), set up by each worker at start.
//  * Any other SIGSEGV goes to the handler installed before jiffy's
//    (chain_signal, shared with the preemption handler), or, if that was the
//    default, re-faults with the default disposition and kills the process
//    as it would have without jiffy.
//  * Installed once per process, by the first runtime; everything the
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
  signal_action previous{};
  std::once_flag installed;
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
      m.text("jiffy: fiber stack overflow (fiber ").number(f->id).text(", stack of ").number(s.size);
      fatal(m.text(" bytes; raise runtime_options::stack_size)"));
    }
  }
  // Not ours: hand it to whoever was there before, or die the default way.
  if (!chain_signal(overflow().previous, sig, info, uc)) restore_default_disposition(sig);
}

inline void install_overflow_handler() {
  std::call_once(overflow().installed, [] {
    install_signal_handler(SIGSEGV, &overflow_handler, &overflow().previous, /*on_alternate_stack=*/true,
                           /*restart=*/false, /*nodefer=*/true);
  });
}

}  // namespace jiffy::detail
