// jiffy/detail/platform/image.hpp — the program's loaded code: which
// address ranges hold whose machine code, and the executable's symbols.
//
// Rules:
//  * Used by the safe-point table (detail/safe_points.hpp) when the first
//    runtime starts or a user registers a module; never from a signal
//    handler.
//  * dl_iterate_phdr holds the loader's lock while it calls back: callers
//    raise the preempt count around these calls.
//  * Windows: EnumProcessModules / GetModuleInformation for the ranges, the
//    PE export table or DbgHelp for symbols.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace jiffy::detail {

struct code_segment {
  std::uintptr_t begin = 0, end = 0;
};

// The executable segments of the loaded object that contains `address`, or
// of the main program when `address` is null. Returns how many (at most
// `max`) were written to out, 0 if no object contains the address.
inline int code_segments_of_module(const void* address, code_segment* out, int max) noexcept {
  struct search {
    std::uintptr_t target;
    bool main_program;
    code_segment* out;
    int max;
    int n = 0;
  } s{reinterpret_cast<std::uintptr_t>(address), address == nullptr, out, max};
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* arg) -> int {
        auto* s = static_cast<search*>(arg);
        code_segment segs[16];
        int n = 0;
        bool contains = false;
        for (int i = 0; i < info->dlpi_phnum && n < 16; ++i) {
          const auto& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD) continue;
          std::uintptr_t b = info->dlpi_addr + ph.p_vaddr, e = b + ph.p_memsz;
          if (s->target >= b && s->target < e) contains = true;
          if (ph.p_flags & PF_X) segs[n++] = code_segment{b, e};
        }
        // dl_iterate_phdr reports the main program first.
        if (s->main_program || contains) {
          for (int i = 0; i < n && i < s->max; ++i) s->out[s->n++] = segs[i];
          return 1;
        }
        return 0;
      },
      &s);
  return s.n;
}

// The executable's load address (its bias, for a position-independent one).
inline std::uintptr_t executable_load_bias() noexcept {
  std::uintptr_t bias = 0;
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* arg) -> int {
        *static_cast<std::uintptr_t*>(arg) = info->dlpi_addr;
        return 1;  // the first entry is the executable
      },
      &bias);
  return bias;
}

// Calls fn(name, begin, end) for every function symbol in the executable's
// symbol table (link-time addresses: add executable_load_bias()). Does
// nothing if the file cannot be read or has no symbol table.
template <class Fn>
void for_each_executable_function(Fn&& fn) noexcept {
  int fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st {};
  void* map = ::fstat(fd, &st) == 0
                  ? ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0)
                  : MAP_FAILED;
  ::close(fd);
  if (map == MAP_FAILED) return;
  const auto* base = static_cast<const unsigned char*>(map);
  const auto* eh = reinterpret_cast<const ElfW(Ehdr)*>(base);
  if (std::memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_shoff) {
    const auto* sh = reinterpret_cast<const ElfW(Shdr)*>(base + eh->e_shoff);
    for (unsigned i = 0; i < eh->e_shnum; ++i) {
      if (sh[i].sh_type != SHT_SYMTAB) continue;
      const auto* syms = reinterpret_cast<const ElfW(Sym)*>(base + sh[i].sh_offset);
      const char* names = reinterpret_cast<const char*>(base + sh[sh[i].sh_link].sh_offset);
      for (std::size_t k = 0; k < sh[i].sh_size / sizeof(ElfW(Sym)); ++k) {
        if (ELF64_ST_TYPE(syms[k].st_info) != STT_FUNC || syms[k].st_value == 0) continue;
        fn(names + syms[k].st_name, static_cast<std::uintptr_t>(syms[k].st_value),
           static_cast<std::uintptr_t>(syms[k].st_value + syms[k].st_size));
      }
    }
  }
  ::munmap(map, static_cast<std::size_t>(st.st_size));
}

}  // namespace jiffy::detail
