// jiffy/detail/platform/signals.hpp — signals: installing and chaining
// handlers, aiming one at a thread, and reading the interrupted context.
//
// Rules:
//  * jiffy installs two handlers: SIGSEGV (stack-overflow report, on an
//    alternate stack) and the preemption signal (on the fiber's own stack).
//    Both keep the handler that was installed before theirs and hand it
//    every signal that is not theirs (chain_signal) — one helper for both.
//  * Everything a handler calls here is async-signal-safe.
//  * Windows has no signals: preemption there suspends the worker's thread
//    (SuspendThread / GetThreadContext / SetThreadContext), and a stack
//    overflow is a structured exception (docs/design.md).
#pragma once

#include <jiffy/detail/config.hpp>

#include <csignal>
#include <cstddef>
#include <cstdint>
#include <pthread.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <ucontext.h>
#include <unistd.h>

namespace jiffy::detail {

using signal_info = siginfo_t;
using signal_action = struct sigaction;
using signal_handler_fn = void (*)(int, signal_info*, void*);

// Installs `handler` for `sig`, keeping the previous disposition in
// *previous. `on_alternate_stack`: run on the thread's sigaltstack (for a
// fault caused by a full stack). `restart`: interrupted restartable system
// calls resume (SA_RESTART). The handler may nest (SA_NODEFER) only when
// asked.
inline void install_signal_handler(int sig, signal_handler_fn handler, signal_action* previous, bool on_alternate_stack,
                                   bool restart, bool nodefer) noexcept {
  signal_action sa{};
  sa.sa_sigaction = handler;
  sa.sa_flags =
      SA_SIGINFO | (on_alternate_stack ? SA_ONSTACK : 0) | (restart ? SA_RESTART : 0) | (nodefer ? SA_NODEFER : 0);
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, previous);
}

// Whether `handler` is the one installed for `sig` now (the program may have
// replaced it since).
inline bool signal_handler_installed(int sig, signal_handler_fn handler) noexcept {
  signal_action current{};
  sigaction(sig, nullptr, &current);
  return (current.sa_flags & SA_SIGINFO) && current.sa_sigaction == handler;
}

// Whether sig's disposition is SIG_DFL (nobody handles it).
inline bool signal_has_default_disposition(int sig) noexcept {
  signal_action current{};
  sigaction(sig, nullptr, &current);
  return !(current.sa_flags & SA_SIGINFO) && current.sa_handler == SIG_DFL;
}

// Hands a signal that is not ours to the handler installed before ours.
// Returns false when that was SIG_DFL or SIG_IGN (nothing to call): the
// caller decides what the default means for its signal.
inline bool chain_signal(const signal_action& previous, int sig, signal_info* info, void* uc) noexcept {
  if (previous.sa_flags & SA_SIGINFO) {
    if (!previous.sa_sigaction) return false;
    previous.sa_sigaction(sig, info, uc);
    return true;
  }
  if (previous.sa_handler == SIG_DFL || previous.sa_handler == SIG_IGN || !previous.sa_handler) return false;
  previous.sa_handler(sig);
  return true;
}

// Restores the default disposition: returning from a fault handler then
// re-executes the fault, which kills the process the default way.
inline void restore_default_disposition(int sig) noexcept { signal(sig, SIG_DFL); }

inline void unblock_signal(int sig) noexcept {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

inline pid_t current_process_id() noexcept { return ::getpid(); }

// Queues `sig` to thread `tid` of process `pid` with `value` attached
// (si_code SI_QUEUE). Returns whether the kernel accepted it.
inline bool send_thread_signal(pid_t pid, pid_t tid, int sig, void* value) noexcept {
  signal_info info{};
  info.si_signo = sig;
  info.si_code = SI_QUEUE;
  info.si_pid = pid;
  info.si_uid = ::getuid();
  info.si_value.sival_ptr = value;
  return ::syscall(SYS_rt_tgsigqueueinfo, pid, tid, sig, &info) == 0;
}

// The value a send_thread_signal() from process `pid` attached; nullptr for
// a signal that was not queued by that process.
inline void* queued_signal_value(const signal_info* info, pid_t pid) noexcept {
  if (!info || info->si_code != SI_QUEUE || info->si_pid != pid) return nullptr;
  return info->si_value.sival_ptr;
}

inline void* fault_address(const signal_info* info) noexcept { return info->si_addr; }

// The interrupted instruction's address, from a handler's context argument.
inline std::uintptr_t interrupted_pc(const void* ucontext) noexcept {
  const auto* uc = static_cast<const ucontext_t*>(ucontext);
#if defined(__x86_64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.pc);
#endif
}

// The smallest signal frame the kernel may push (several KiB with AVX-512
// state), at least 2 KiB. Read from the auxiliary vector once (a walk of
// it costs ~145 instructions, and every spawn with a stack size asks);
// not for signal handlers (the first call initialises a static).
inline std::size_t min_signal_frame_size() noexcept {
  static const std::size_t size = [] {
    std::size_t sigframe = getauxval(AT_MINSIGSTKSZ);
    return sigframe < 2048 ? std::size_t{2048} : sigframe;
  }();
  return size;
}

inline constexpr int signal_count = NSIG;  // signal numbers are 1 .. signal_count - 1
inline bool valid_signal_number(int sig) noexcept { return sig > 0 && sig < signal_count; }
inline bool is_fault_or_unblockable_signal(int sig) noexcept {
  return sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL ||
         sig == SIGABRT;
}

// Gives the calling thread an alternate signal stack (freed when the thread
// exits), unless it has one already: the overflow handler needs a stack of
// its own, since the fiber's is the one that ran out.
inline void ensure_alternate_signal_stack() noexcept {
  stack_t old{};
  if (sigaltstack(nullptr, &old) == 0 && !(old.ss_flags & SS_DISABLE)) return;  // someone set one already
  static thread_local struct altstack {
    void* mem = nullptr;
    std::size_t size = 0;
    ~altstack() {
      if (mem) {
        stack_t off{};
        off.ss_flags = SS_DISABLE;
        sigaltstack(&off, nullptr);
        ::munmap(mem, size);
      }
    }
  } alt;
  alt.size = 64 * 1024;
  alt.mem = ::mmap(nullptr, alt.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (alt.mem == MAP_FAILED) {
    alt.mem = nullptr;
    return;
  }
  stack_t st{};
  st.ss_sp = alt.mem;
  st.ss_size = alt.size;
  sigaltstack(&st, nullptr);
}

}  // namespace jiffy::detail
