// jiffy/detail/platform/vdso.hpp — the kernel's vDSO: where its code is, its
// clock_gettime, and who called it from an interrupted frame.
//
// Rules:
//  * The vDSO is found once (vdso::get(), first called at runtime start, not
//    in a signal handler): its executable segment and its clock_gettime,
//    from its own ELF dynamic symbol table (DT_HASH, DT_SYMTAB, DT_STRTAB).
//    Anything missing leaves the field empty and the callers fall back to
//    libc.
//  * vdso_caller(ucontext) finds the return address out of the vDSO for a
//    PC inside it, from the frame-pointer chain — the kernel builds the vDSO
//    with frame pointers — and the instruction at the PC (at a function's
//    first instruction or its `ret`, the return address is at the stack
//    pointer instead). Every stack address it reads is checked to lie just
//    above the interrupted stack pointer. x86-64 only; elsewhere it answers 0
//    ("unknown"), which the callers treat as "not preemptible".
//  * Async-signal-safe: vdso_caller only reads memory.
#pragma once

#include <jiffy/detail/config.hpp>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <elf.h>
#include <link.h>
#include <sys/auxv.h>
#include <ucontext.h>

namespace jiffy::detail {

using vdso_clock_gettime_fn = int (*)(clockid_t, timespec*);

class vdso {
 public:
  static const vdso& get() noexcept {
    static const vdso v;  // initialised at runtime start (safe_point_table::ensure_defaults)
    return v;
  }
  std::uintptr_t text_begin() const noexcept { return text_begin_; }
  std::uintptr_t text_end() const noexcept { return text_end_; }
  bool contains(std::uintptr_t pc) const noexcept { return pc >= text_begin_ && pc < text_end_; }
  vdso_clock_gettime_fn clock_gettime() const noexcept { return clock_gettime_; }

 private:
  vdso() noexcept {
    auto base = static_cast<std::uintptr_t>(getauxval(AT_SYSINFO_EHDR));
    if (!base) return;
    const auto* eh = reinterpret_cast<const ElfW(Ehdr)*>(base);
    if (std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0) return;
    const auto* ph = reinterpret_cast<const ElfW(Phdr)*>(base + eh->e_phoff);
    std::uintptr_t bias = 0;
    bool have_bias = false;
    const ElfW(Dyn)* dyn = nullptr;
    for (int i = 0; i < eh->e_phnum; ++i) {
      if (ph[i].p_type == PT_LOAD && !have_bias) {
        bias = base + ph[i].p_offset - ph[i].p_vaddr;
        have_bias = true;
      }
      if (ph[i].p_type == PT_DYNAMIC) dyn = reinterpret_cast<const ElfW(Dyn)*>(base + ph[i].p_offset);
    }
    if (!have_bias) return;
    for (int i = 0; i < eh->e_phnum; ++i)
      if (ph[i].p_type == PT_LOAD && (ph[i].p_flags & PF_X)) {
        text_begin_ = bias + ph[i].p_vaddr;
        text_end_ = text_begin_ + ph[i].p_memsz;
      }
    if (!dyn) return;
    const ElfW(Sym)* symtab = nullptr;
    const char* strtab = nullptr;
    const ElfW(Word)* hash = nullptr;
    for (const ElfW(Dyn)* d = dyn; d->d_tag != DT_NULL; ++d) {
      if (d->d_tag == DT_SYMTAB) symtab = reinterpret_cast<const ElfW(Sym)*>(bias + d->d_un.d_ptr);
      if (d->d_tag == DT_STRTAB) strtab = reinterpret_cast<const char*>(bias + d->d_un.d_ptr);
      if (d->d_tag == DT_HASH) hash = reinterpret_cast<const ElfW(Word)*>(bias + d->d_un.d_ptr);
    }
    if (!symtab || !strtab || !hash) return;
#if defined(__x86_64__)
    const char* wanted = "__vdso_clock_gettime";
#else
    const char* wanted = "__kernel_clock_gettime";
#endif
    ElfW(Word) nsyms = hash[1];  // DT_HASH: nbucket, nchain; nchain = number of symbols
    for (ElfW(Word) i = 0; i < nsyms; ++i) {
      const ElfW(Sym)& s = symtab[i];
      if (ELF64_ST_TYPE(s.st_info) != STT_FUNC || s.st_shndx == SHN_UNDEF) continue;
      if (std::strcmp(strtab + s.st_name, wanted) == 0) {
        clock_gettime_ = reinterpret_cast<vdso_clock_gettime_fn>(bias + s.st_value);
        break;
      }
    }
  }

  std::uintptr_t text_begin_ = 0, text_end_ = 0;
  vdso_clock_gettime_fn clock_gettime_ = nullptr;
};

// For an interrupted PC inside the vDSO: the first return address outside
// it, or 0 if it cannot be told.
inline std::uintptr_t vdso_caller(const void* ucontext) noexcept {
#if defined(__x86_64__)
  const vdso& v = vdso::get();
  const auto* uc = static_cast<const ucontext_t*>(ucontext);
  auto pc = static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
  auto sp = static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
  auto fp = static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RBP]);
  if (!v.contains(pc)) return 0;
  // Frames of the vDSO's few small functions: a few hundred bytes at most.
  constexpr std::uintptr_t max_span = 64 * 1024;
  auto on_stack = [sp](std::uintptr_t a) { return a >= sp && a - sp < max_span && (a & 7) == 0; };
  auto word = [](std::uintptr_t a) { return *reinterpret_cast<const std::uintptr_t*>(a); };
  const auto* code = reinterpret_cast<const unsigned char*>(pc);
  std::uintptr_t ra;
  static constexpr unsigned char endbr64[] = {0xf3, 0x0f, 0x1e, 0xfa};
  static constexpr unsigned char mov_rsp_rbp[] = {0x48, 0x89, 0xe5};
  if (std::memcmp(code, endbr64, 4) == 0 || code[0] == 0x55 /* push %rbp */ || code[0] == 0xc3 /* ret */) {
    ra = word(sp);  // nothing pushed yet, or everything popped
  } else if (pc > v.text_begin() && code[-1] == 0x55 && std::memcmp(code, mov_rsp_rbp, 3) == 0) {
    ra = word(sp + 8);  // %rbp pushed, frame not yet set up
  } else {
    if (!on_stack(fp)) return 0;
    ra = word(fp + 8);
    for (int depth = 0; v.contains(ra) && depth < 4; ++depth) {  // a vDSO helper called by a vDSO function
      std::uintptr_t up = word(fp);
      if (!on_stack(up) || up <= fp) return 0;
      fp = up;
      ra = word(fp + 8);
    }
  }
  return v.contains(ra) ? 0 : ra;
#else
  (void)ucontext;
  return 0;
#endif
}

}  // namespace jiffy::detail
