// jiffy/detail/context_aarch64.hpp — the context switch for AArch64 (AAPCS64).
//
// Rules:
//  * Same contract as the x86-64 switch: a context is a stack pointer; the
//    leaver saves the callee-saved state on its own stack — x19–x28, the frame
//    pointer x29, the link register x30, the low halves d8–d15 of v8–v15, and
//    FPCR — and the side that resumes receives the leaver's stack pointer.
//  * FPCR is written only when it differs: on some cores an FPCR write
//    synchronises the pipeline, and the two sides almost always agree.
//  * COMDAT section: one copy per program however many units include it.
#pragma once

#include <jiffy/detail/context_api.hpp>

#include <cstdint>

#if defined(__aarch64__)

namespace jiffy::detail {

asm(R"(
  .pushsection .text.jiffy_jump_context_v1,"axG",@progbits,jiffy_jump_context_v1,comdat
  .globl jiffy_jump_context_v1
  .hidden jiffy_jump_context_v1
  .type jiffy_jump_context_v1,%function
  .p2align 4
jiffy_jump_context_v1:
  sub sp, sp, #176
  stp d8, d9, [sp, #0]
  stp d10, d11, [sp, #16]
  stp d12, d13, [sp, #32]
  stp d14, d15, [sp, #48]
  stp x19, x20, [sp, #64]
  stp x21, x22, [sp, #80]
  stp x23, x24, [sp, #96]
  stp x25, x26, [sp, #112]
  stp x27, x28, [sp, #128]
  stp x29, x30, [sp, #144]
  mrs x9, fpcr
  str x9, [sp, #160]
  mov x10, sp
  mov sp, x0
  ldr x11, [sp, #160]
  cmp x9, x11
  b.eq 1f
  msr fpcr, x11
1:
  ldp d8, d9, [sp, #0]
  ldp d10, d11, [sp, #16]
  ldp d12, d13, [sp, #32]
  ldp d14, d15, [sp, #48]
  ldp x19, x20, [sp, #64]
  ldp x21, x22, [sp, #80]
  ldp x23, x24, [sp, #96]
  ldp x25, x26, [sp, #112]
  ldp x27, x28, [sp, #128]
  ldp x29, x30, [sp, #144]
  add sp, sp, #176
  mov x0, x10
  ret
  .size jiffy_jump_context_v1, .-jiffy_jump_context_v1
  .popsection

  .pushsection .text.jiffy_context_start_v1,"axG",@progbits,jiffy_context_start_v1,comdat
  .globl jiffy_context_start_v1
  .hidden jiffy_context_start_v1
  .type jiffy_context_start_v1,%function
  .p2align 4
jiffy_context_start_v1:
  .cfi_startproc
  .cfi_undefined x30
  blr x19
  brk #0
  .cfi_endproc
  .size jiffy_context_start_v1, .-jiffy_context_start_v1
  .popsection
)");

inline void* make_context(void* stack_top, context_entry entry) noexcept {
  auto top = reinterpret_cast<std::uintptr_t>(stack_top) & ~std::uintptr_t{15};
  auto* frame = reinterpret_cast<std::uint64_t*>(top - 176);
  for (int i = 0; i < 22; ++i) frame[i] = 0;  // d8–d15, x19–x29
  std::uint64_t fpcr;
  asm volatile("mrs %0, fpcr" : "=r"(fpcr));
  frame[20] = fpcr;                                   // the creator's FP control state, as a new thread inherits it
  frame[8] = reinterpret_cast<std::uint64_t>(entry);  // x19
  frame[19] = reinterpret_cast<std::uint64_t>(&jiffy_context_start_v1);  // x30
  return frame;
}

}  // namespace jiffy::detail

#endif  // __aarch64__
