// jiffy/detail/context_x86_64.hpp — the context switch for x86-64 (System V).
//
// Rules:
//  * A context is a stack pointer. jump_context(to, data) pushes what the ABI
//    says a callee must preserve — rbx, rbp, r12–r15 — plus the FP control
//    state (MXCSR and the x87 control word, which the ABI also makes
//    callee-saved), stores nothing else, switches rsp to `to` and pops the
//    other side's registers. The side that resumes receives the stack pointer
//    of the side that left (`from`) and `data`; it, not the leaver, records
//    `from` — so a context is never published before it is fully saved.
//  * Caller-saved registers (including all vector registers) are dead at a
//    call, so a voluntary switch needs none of them. An asynchronous
//    preemption saves them elsewhere (the kernel's signal frame).
//  * The resumed side is entered with an indirect jump, not `ret`: a `ret`
//    after a stack switch never matches the return-stack predictor and
//    mispredicts on every switch (≈2× the cost here).
//  * MXCSR and the x87 control word are loaded only when their control bits
//    differ from the leaver's. Loading a different MXCSR costs ~50 ns here,
//    and two threads' MXCSR commonly differ only in the sticky exception
//    flags (bits 0–5), which the ABI does not preserve across calls anyway.
//  * A fresh context starts with the FP control state of the thread that
//    creates it, as a new thread inherits its creator's.
//  * No system call: ucontext's swapcontext makes one (sigprocmask) per switch.
//  * The code lives in a COMDAT section so that every translation unit can
//    include this header and the linker keeps one copy.
#pragma once

#include <jiffy/detail/context_api.hpp>

#include <cstdint>

#if defined(__x86_64__)

namespace jiffy::detail {

asm(R"(
  .pushsection .text.jiffy_jump_context_v1,"axG",@progbits,jiffy_jump_context_v1,comdat
  .globl jiffy_jump_context_v1
  .hidden jiffy_jump_context_v1
  .type jiffy_jump_context_v1,@function
  .p2align 4
jiffy_jump_context_v1:
  leaq -0x38(%rsp), %rsp
  stmxcsr (%rsp)
  fnstcw 0x4(%rsp)
  movq %r12, 0x8(%rsp)
  movq %r13, 0x10(%rsp)
  movq %r14, 0x18(%rsp)
  movq %r15, 0x20(%rsp)
  movq %rbx, 0x28(%rsp)
  movq %rbp, 0x30(%rsp)
  movl (%rsp), %r9d
  movzwl 0x4(%rsp), %r10d
  movq %rsp, %rax
  movq %rdi, %rsp
  movq 0x38(%rsp), %r8
  xorl (%rsp), %r9d
  testl $-64, %r9d
  jz 1f
  ldmxcsr (%rsp)
1:
  cmpw 0x4(%rsp), %r10w
  je 2f
  fldcw 0x4(%rsp)
2:
  movq 0x8(%rsp), %r12
  movq 0x10(%rsp), %r13
  movq 0x18(%rsp), %r14
  movq 0x20(%rsp), %r15
  movq 0x28(%rsp), %rbx
  movq 0x30(%rsp), %rbp
  leaq 0x40(%rsp), %rsp
  movq %rsi, %rdx
  movq %rax, %rdi
  jmp *%r8
  .size jiffy_jump_context_v1, .-jiffy_jump_context_v1
  .popsection

  .pushsection .text.jiffy_context_start_v1,"axG",@progbits,jiffy_context_start_v1,comdat
  .globl jiffy_context_start_v1
  .hidden jiffy_context_start_v1
  .type jiffy_context_start_v1,@function
  .p2align 4
jiffy_context_start_v1:
  .cfi_startproc
  .cfi_undefined rip
  callq *%r12
  ud2
  .cfi_endproc
  .size jiffy_context_start_v1, .-jiffy_context_start_v1
  .popsection
)");

// Lays out a fresh context below `stack_top` (16-byte aligned) so that the
// first jump into it calls entry(transfer) with rsp aligned as the ABI wants.
inline void* make_context(void* stack_top, context_entry entry) noexcept {
  auto top = reinterpret_cast<std::uintptr_t>(stack_top) & ~std::uintptr_t{15};
  auto* frame = reinterpret_cast<std::uint64_t*>(top) - 8;
  std::uint32_t mxcsr;
  std::uint16_t fcw;
  asm volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(mxcsr), "=m"(fcw));
  frame[0] = (mxcsr & ~0x3Fu) | (std::uint64_t{fcw} << 32);  // the creator's control state, no sticky flags
  frame[1] = reinterpret_cast<std::uint64_t>(entry);         // r12
  for (int i = 2; i < 7; ++i) frame[i] = 0;                  // r13, r14, r15, rbx, rbp
  frame[7] = reinterpret_cast<std::uint64_t>(&jiffy_context_start_v1);
  return frame;
}

}  // namespace jiffy::detail

#endif  // __x86_64__
