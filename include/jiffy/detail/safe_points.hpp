// jiffy/detail/safe_points.hpp — where an asynchronous preemption may land.
//
// Rules:
//  * A fiber may be switched out by the preemption signal only if the
//    interrupted instruction lies in code registered as preemptible and in
//    no range registered as not preemptible (forbidding wins).
//  * By default only the main executable's code is preemptible. libc,
//    libstdc++, the dynamic loader and every other shared object are not:
//    they take internal locks (malloc's arena lock, stdio's stream locks, the
//    loader's lock) with no preempt count to tell us, and a fiber switched out
//    while holding one would deadlock the next fiber on the same worker that
//    needs it — on a one-worker runtime, forever.
//  * jiffy's own code is inlined into the executable, so it is told apart by
//    the preempt count instead: every runtime path raises it.
//  * Sanitizer runtimes that Clang links into the executable are forbidden
//    too (found by symbol name), for the same reason as libc.
//  * The vDSO is judged by its caller (preemptible_at): its code takes no
//    lock and keeps no state across a call, so interrupting it is
//    interrupting the call site. The program's clock reads call it directly
//    (platform/clock_interposition.hpp), so a loop around
//    steady_clock::now() is preemptible there too. Where the caller cannot
//    be told (AArch64, a frame it cannot read) the vDSO is not preemptible.
//  * The table is read by the signal handler without locks: an entry is
//    written in full before the count that publishes it (release/acquire).
//    Entries are never removed; forbidding a range that was allowed adds an
//    entry that wins.
#pragma once

#include <jiffy/detail/config.hpp>
#include <jiffy/detail/preempt_count.hpp>

#include <jiffy/detail/platform/image.hpp>
#include <jiffy/detail/platform/signals.hpp>
#include <jiffy/detail/platform/vdso.hpp>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>

namespace jiffy::detail {

struct code_range {
  std::uintptr_t begin = 0, end = 0;
  bool preemptible = false;
};

class safe_point_table {
 public:
  static constexpr unsigned capacity = 256;

  static safe_point_table& get() noexcept {
    static safe_point_table t;
    return t;
  }

  // Async-signal-safe.
  bool allows(std::uintptr_t pc) const noexcept {
    unsigned n = count_.load(std::memory_order_acquire);
    bool allowed = false;
    for (unsigned i = 0; i < n; ++i) {
      const code_range& r = ranges_[i];
      if (pc >= r.begin && pc < r.end) {
        if (!r.preemptible) return false;
        allowed = true;
      }
    }
    return allowed;
  }

  bool add(std::uintptr_t begin, std::uintptr_t end, bool preemptible) noexcept {
    cpu_local* cpu = this_cpu();
    runtime_enter(cpu);  // never preempted holding mu_
    bool ok;
    {
      std::lock_guard<std::mutex> lk(mu_);
      unsigned n = count_.load(std::memory_order_relaxed);
      ok = n < capacity && begin < end;
      if (ok) {
        ranges_[n] = code_range{begin, end, preemptible};
        count_.store(n + 1, std::memory_order_release);  // publishes the entry to the handler
      }
    }
    runtime_exit(cpu);
    return ok;
  }

  // Registers the executable segments of the object (the main program when
  // `address` is null) that contains `address`. Returns false if none does.
  bool add_module(const void* address, bool preemptible) noexcept {
    // dl_iterate_phdr holds the loader's lock while it calls us back.
    cpu_local* cpu = this_cpu();
    runtime_enter(cpu);
    bool found = add_module_locked(address, preemptible);
    runtime_exit(cpu);
    return found;
  }

  bool add_module_locked(const void* address, bool preemptible) noexcept {
    code_segment segs[16];
    int n = code_segments_of_module(address, segs, 16);
    for (int i = 0; i < n; ++i) add(segs[i].begin, segs[i].end, preemptible);
    return n > 0;
  }

  void ensure_defaults() noexcept {
    std::call_once(defaults_, [this] {
      add_module(nullptr, true);
      // Not the vDSO as such, although its clock reads take no locks:
      // libraries call it while holding theirs (a sanitizer allocator reads
      // the clock under its lock). A vDSO PC is judged by its caller instead
      // (preemptible_at, below), found here once, outside any handler.
      (void)vdso::get();
#if JIFFY_ASAN || JIFFY_TSAN
      forbid_sanitizer_runtime();
#endif
    });
  }

  // Clang links the sanitizer runtimes into the executable itself, where the
  // rule above would make their code preemptible — their allocator and
  // interceptors take locks just as libc does. Their functions are found by
  // name in the executable's symbol table and the span they cover is
  // forbidden. (GCC links them as shared objects, already excluded.)
  void forbid_sanitizer_runtime() noexcept {
    std::uintptr_t lo = ~std::uintptr_t{0}, hi = 0;
    code_range extra[64];
    unsigned n_extra = 0;
    for_each_executable_function([&](const char* name, std::uintptr_t begin, std::uintptr_t end) {
      // The runtime's replacements of the allocator (operator new and
      // delete, malloc and friends) may lie outside the span of its
      // prefixed symbols (TSan's C++ part does): forbid each by itself.
      if (is_allocator_symbol(name)) {
        if (n_extra < 64) extra[n_extra++] = code_range{begin, end, false};
        return;
      }
      if (!is_sanitizer_symbol(name)) return;
      if (begin < lo) lo = begin;
      if (end > hi) hi = end;
    });
    if (lo >= hi) return;
    std::uintptr_t bias = executable_load_bias();
    for (unsigned i = 0; i < n_extra; ++i) add(bias + extra[i].begin, bias + extra[i].end, false);
    add(bias + lo, bias + hi, false);
  }

  static bool is_allocator_symbol(const char* name) noexcept {
    static const char* const exact[] = {"malloc",   "free",          "calloc", "realloc", "posix_memalign",
                                        "memalign", "aligned_alloc", "valloc", "pvalloc", "malloc_usable_size"};
    for (const char* e : exact)
      if (std::strcmp(name, e) == 0) return true;
    static const char* const prefixes[] = {"_Znw", "_Zna", "_Zdl", "_Zda"};  // operator new/delete, all forms
    for (const char* p : prefixes)
      if (std::strncmp(name, p, 4) == 0) return true;
    return false;
  }

  static bool is_sanitizer_symbol(const char* name) noexcept {
    static const char* const prefixes[] = {"__asan",           "__lsan",
                                           "__ubsan",          "__tsan",
                                           "__sanitizer",      "__interceptor_",
                                           "___interceptor_",  "__interception",
                                           "_ZN6__asan",       "_ZN6__lsan",
                                           "_ZN7__ubsan",      "_ZN6__tsan",
                                           "_ZN11__sanitizer", "_ZN14__interception"};
    for (const char* p : prefixes)
      if (std::strncmp(name, p, std::strlen(p)) == 0) return true;
    return false;
  }

 private:
  std::mutex mu_;
  std::once_flag defaults_;
  std::atomic<unsigned> count_{0};
  code_range ranges_[capacity];
};

// Whether the instruction a signal interrupted (its ucontext) is an
// async-safe point: allowed by the table, or in the vDSO called from an
// instruction the table allows.
inline bool preemptible_at(const void* ucontext) noexcept {
  const safe_point_table& t = safe_point_table::get();
  std::uintptr_t pc = interrupted_pc(ucontext);
  if (t.allows(pc)) return true;
  if (!vdso::get().contains(pc)) return false;
  std::uintptr_t caller = vdso_caller(ucontext);
  return caller != 0 && t.allows(caller);
}

}  // namespace jiffy::detail
