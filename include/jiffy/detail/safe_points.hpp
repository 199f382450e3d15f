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
//  * The table is read by the signal handler without locks: an entry is
//    written in full before the count that publishes it (release/acquire).
//    Entries are never removed; forbidding a range that was allowed adds an
//    entry that wins.
#pragma once

#include <jiffy/detail/config.hpp>

#include <atomic>
#include <cstdint>
#include <link.h>
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
    std::lock_guard<std::mutex> lk(mu_);
    unsigned n = count_.load(std::memory_order_relaxed);
    if (n == capacity || begin >= end) return false;
    ranges_[n] = code_range{begin, end, preemptible};
    count_.store(n + 1, std::memory_order_release);  // publishes the entry to the handler
    return true;
  }

  // Registers the executable segments of the object (the main program when
  // `address` is null) that contains `address`. Returns false if none does.
  bool add_module(const void* address, bool preemptible) noexcept {
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
    std::call_once(defaults_, [this] { add_module(nullptr, true); });
  }

 private:
  std::mutex mu_;
  std::once_flag defaults_;
  std::atomic<unsigned> count_{0};
  code_range ranges_[capacity];
};

}  // namespace jiffy::detail
