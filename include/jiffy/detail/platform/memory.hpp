// jiffy/detail/platform/memory.hpp — address space for fiber stacks.
//
// Rules:
//  * Stacks are reserved, not committed: a parked fiber costs only the pages
//    it touched (MAP_NORESERVE).
//  * A guard below each stack faults like PROT_NONE. The preferred guard is
//    MADV_GUARD_INSTALL (Linux 6.13+), which does not split the mapping;
//    protect_none() costs a VMA per stack (detail/stack.hpp budgets them).
//  * Windows: VirtualAlloc(MEM_RESERVE) and commit on demand, PAGE_GUARD or
//    PAGE_NOACCESS guards, DiscardVirtualMemory for discard_pages.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <sys/mman.h>
#include <unistd.h>

namespace jiffy::detail {

#ifndef MADV_GUARD_INSTALL
inline constexpr int madv_guard_install = 102;
#else
inline constexpr int madv_guard_install = MADV_GUARD_INSTALL;
#endif

inline std::size_t page_size() noexcept {
  static const std::size_t p = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return p;
}

// Reserves `bytes` of read-write stack memory; nullptr if the kernel refuses.
inline void* reserve_stack_memory(std::size_t bytes) noexcept {
  void* p =
      ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

// Maps `bytes` of ordinary read-write memory, outside the program's heap;
// nullptr if the kernel refuses.
inline void* map_memory(std::size_t bytes) noexcept {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

inline void release_memory(void* p, std::size_t bytes) noexcept { ::munmap(p, bytes); }

// Gives the pages back to the kernel; they read as zero when touched again.
// Guards survive it.
inline void discard_pages(void* p, std::size_t bytes) noexcept { ::madvise(p, bytes, MADV_DONTNEED); }

// A guard region that does not split the mapping (Linux 6.13+).
inline bool install_light_guard(void* p, std::size_t bytes) noexcept {
  return ::madvise(p, bytes, madv_guard_install) == 0;
}

// A PROT_NONE guard: one more VMA.
inline bool protect_none(void* p, std::size_t bytes) noexcept { return ::mprotect(p, bytes, PROT_NONE) == 0; }

// Whether reading `addr` faults, found out without taking a fault: the
// kernel answers EFAULT when write(2) cannot read its buffer. Used once, to
// check that MADV_GUARD_INSTALL did install a guard (an emulator such as
// qemu-user accepts advice it does not know and ignores it).
inline bool reading_faults(const void* addr) noexcept {
  int fds[2];
  if (::pipe(fds) != 0) return false;
  errno = 0;
  bool faults = ::write(fds[1], addr, 1) < 0 && errno == EFAULT;
  ::close(fds[0]);
  ::close(fds[1]);
  return faults;
}

// How many mappings the process may have (vm.max_map_count).
inline long max_memory_mappings() noexcept {
  long max_maps = 65530;
  if (std::FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r")) {
    if (std::fscanf(f, "%ld", &max_maps) != 1) max_maps = 65530;
    std::fclose(f);
  }
  return max_maps;
}

}  // namespace jiffy::detail
