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
//  * The table is read by the signal handler without locks: an entry is
//    written in full before the count that publishes it (release/acquire).
//    Entries are never removed; forbidding a range that was allowed adds an
//    entry that wins.
#pragma once

#include <jiffy/detail/config.hpp>
#include <jiffy/detail/cpu_local.hpp>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <mutex>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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
    struct search {
      std::uintptr_t target;
      bool main_program;
      bool found = false;
      code_range segs[16];
      int nsegs = 0;
    } s;
    s.target = reinterpret_cast<std::uintptr_t>(address);
    s.main_program = address == nullptr;
    dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void* arg) -> int {
          auto* s = static_cast<search*>(arg);
          code_range segs[16];
          int n = 0;
          bool contains = false;
          for (int i = 0; i < info->dlpi_phnum && n < 16; ++i) {
            const auto& ph = info->dlpi_phdr[i];
            if (ph.p_type != PT_LOAD) continue;
            std::uintptr_t b = info->dlpi_addr + ph.p_vaddr, e = b + ph.p_memsz;
            if (s->target >= b && s->target < e) contains = true;
            if (ph.p_flags & PF_X) segs[n++] = code_range{b, e, true};
          }
          // dl_iterate_phdr reports the main program first.
          if (s->main_program || contains) {
            for (int i = 0; i < n; ++i) s->segs[i] = segs[i];
            s->nsegs = n;
            s->found = true;
            return 1;
          }
          return 0;
        },
        &s);
    if (!s.found) return false;
    for (int i = 0; i < s.nsegs; ++i) add(s.segs[i].begin, s.segs[i].end, preemptible);
    return true;
  }

  void ensure_defaults() noexcept {
    std::call_once(defaults_, [this] {
      add_module(nullptr, true);
      // Not the vDSO, although its clock reads take no locks: libraries call
      // it while holding theirs (a sanitizer allocator reads the clock under
      // its lock), and the interrupted PC cannot tell who called.
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
    int fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st {};
    void* map = ::fstat(fd, &st) == 0 ? ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0)
                                      : MAP_FAILED;
    ::close(fd);
    if (map == MAP_FAILED) return;
    const auto* base = static_cast<const unsigned char*>(map);
    const auto* eh = reinterpret_cast<const ElfW(Ehdr)*>(base);
    std::uintptr_t lo = ~std::uintptr_t{0}, hi = 0;
    code_range extra[64];
    unsigned n_extra = 0;
    if (std::memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_shoff) {
      const auto* sh = reinterpret_cast<const ElfW(Shdr)*>(base + eh->e_shoff);
      for (unsigned i = 0; i < eh->e_shnum; ++i) {
        if (sh[i].sh_type != SHT_SYMTAB) continue;
        const auto* syms = reinterpret_cast<const ElfW(Sym)*>(base + sh[i].sh_offset);
        const char* names = reinterpret_cast<const char*>(base + sh[sh[i].sh_link].sh_offset);
        for (std::size_t k = 0; k < sh[i].sh_size / sizeof(ElfW(Sym)); ++k) {
          if (ELF64_ST_TYPE(syms[k].st_info) != STT_FUNC || syms[k].st_value == 0) continue;
          const char* name = names + syms[k].st_name;
          // The runtime's replacements of the allocator (operator new and
          // delete, malloc and friends) may lie outside the span of its
          // prefixed symbols (TSan's C++ part does): forbid each by itself.
          if (is_allocator_symbol(name) && n_extra < 64) {
            extra[n_extra++] = code_range{syms[k].st_value, syms[k].st_value + syms[k].st_size, false};
            continue;
          }
          if (!is_sanitizer_symbol(name)) continue;
          if (syms[k].st_value < lo) lo = syms[k].st_value;
          if (syms[k].st_value + syms[k].st_size > hi) hi = syms[k].st_value + syms[k].st_size;
        }
      }
    }
    ::munmap(map, static_cast<std::size_t>(st.st_size));
    if (lo >= hi) return;
    for (unsigned i = 0; i < n_extra; ++i) add(bias_of_exe() + extra[i].begin, bias_of_exe() + extra[i].end, false);
    add(bias_of_exe() + lo, bias_of_exe() + hi, false);
  }

  static std::uintptr_t bias_of_exe() noexcept {
    std::uintptr_t bias = 0;  // the executable's load address (PIE)
    dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void* arg) -> int {
          *static_cast<std::uintptr_t*>(arg) = info->dlpi_addr;
          return 1;  // the first entry is the executable
        },
        &bias);
    return bias;
  }

  static bool is_allocator_symbol(const char* name) noexcept {
    static const char* const exact[] = {"malloc",   "free",          "calloc",  "realloc", "posix_memalign",
                                        "memalign", "aligned_alloc", "valloc",  "pvalloc", "malloc_usable_size"};
    for (const char* e : exact)
      if (std::strcmp(name, e) == 0) return true;
    static const char* const prefixes[] = {"_Znw", "_Zna", "_Zdl", "_Zda"};  // operator new/delete, all forms
    for (const char* p : prefixes)
      if (std::strncmp(name, p, 4) == 0) return true;
    return false;
  }

  static bool is_sanitizer_symbol(const char* name) noexcept {
    static const char* const prefixes[] = {"__asan",         "__lsan",          "__ubsan",         "__tsan",
                                           "__sanitizer",    "__interceptor_",  "___interceptor_", "__interception",
                                           "_ZN6__asan",     "_ZN6__lsan",      "_ZN7__ubsan",     "_ZN6__tsan",
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

}  // namespace jiffy::detail
