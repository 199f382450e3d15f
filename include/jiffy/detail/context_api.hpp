// jiffy/detail/context_api.hpp — what every architecture's context switch
// provides (context_x86_64.hpp, context_aarch64.hpp implement it).
//
// Rules:
//  * A context is a stack pointer. jump_context(to, data) saves the caller's
//    callee-saved state on its own stack and resumes `to`; the side that
//    resumes receives the leaver's stack pointer (`from`) and `data`. The
//    resumed side, not the leaver, records `from`, so a context is never
//    published before it is fully saved.
//  * make_context(top, entry) lays out a fresh context below `top` whose first
//    resumption calls entry(transfer).
#pragma once

namespace jiffy::detail {

struct transfer {
  void* from;  // the stack pointer of the context that just left
  void* data;
};

using context_entry = void (*)(transfer) noexcept;

extern "C" transfer jiffy_jump_context_v1(void* to, void* data) noexcept;
extern "C" void jiffy_context_start_v1() noexcept;

// Always inlined: under TSan, a call boundary between __tsan_switch_to_fiber
// and the jump would record its entry on one fiber's shadow stack and its exit
// on the other's (what happens at -O0 without this).
[[gnu::always_inline]] inline transfer jump_context(void* to, void* data) noexcept {
  return jiffy_jump_context_v1(to, data);
}

}  // namespace jiffy::detail
