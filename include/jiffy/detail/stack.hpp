// jiffy/detail/stack.hpp — fiber stacks: mmap'd in slabs, guarded, pooled.
//
// Rules:
//  * Stacks are carved from slabs of many stacks, one mmap each, reserved
//    with MAP_NORESERVE: a parked fiber costs only the pages it touched.
//  * Below every stack lies a guard region. The preferred guard is
//    madvise(MADV_GUARD_INSTALL) (Linux 6.13+), which faults like PROT_NONE
//    but does not split the mapping: a slab stays one VMA, so a million
//    stacks fit under the default vm.max_map_count (65530). On older kernels
//    the guard is an mprotect(PROT_NONE) page, which costs one extra VMA per
//    stack, so it is used only while the process stays under a quarter of
//    vm.max_map_count; stacks beyond that carry a canary word at their lowest
//    address, checked each time the fiber switches out (weaker: it catches an
//    overflow after the fact, not at the faulting instruction). A one-line
//    notice says when that happens.
//  * A fault inside the running fiber's guard is reported as
//    "jiffy: fiber stack overflow (fiber N)" by a SIGSEGV handler running on
//    an alternate signal stack (the fiber's own stack is exhausted); any other
//    fault goes to the handler installed before ours, or to the default.
//  * Freed stacks go back to a pool, resident ("hot"), and are reused newest
//    first, so a program's bursts find as many warm stacks as the last burst
//    needed — no mmap, no page faults. A stack left unused for `decay_ns`
//    gives its pages back to the kernel (MADV_DONTNEED; guard markers survive
//    it), as allocators purge dirty pages by age: a burst does not leave its
//    peak RSS behind for long. The purge runs on the monitor thread
//    (decay(), off every fiber's path); release() only records when.
//  * The pool's own lists live in mapped memory (mapped_allocator), like the
//    stacks: neither taking a stack nor growing the pool touches the
//    program's heap (a game engine may forbid malloc inside a frame;
//    tests/allocation_test.cpp counts it).
//  * hot_ is ordered by release time, oldest first (pushes and pops are at
//    the back), so the stacks due for purging are a prefix of it.
#pragma once

#include <jiffy/detail/config.hpp>
#include <jiffy/detail/diag.hpp>
#include <jiffy/detail/sanitizers.hpp>
#include <jiffy/detail/time.hpp>

#include <jiffy/detail/platform/memory.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace jiffy::detail {

inline constexpr std::uint64_t stack_canary = 0x6a69666679ca4a11ull;

inline std::size_t round_up(std::size_t n, std::size_t to) noexcept { return (n + to - 1) / to * to; }

enum class guard_kind : std::uint8_t { madvise_guard, mprotect_guard, canary };

struct stack_span {
  char* base = nullptr;  // lowest usable address (the guard lies just below)
  std::size_t size = 0;  // usable bytes
  guard_kind guard = guard_kind::canary;
  std::size_t guard_size = 0;  // bytes of guard below base
  char* top() const noexcept { return base + size; }
  bool canary_intact() const noexcept {
    return guard != guard_kind::canary || *reinterpret_cast<const std::uint64_t*>(base) == stack_canary;
  }
};

// Shared by every runtime in the process: whether the kernel has guard
// regions, and how many mprotect guards we may still afford.
struct guard_budget {
  std::atomic<int> madvise_works{-1};  // -1 unknown, 0 no, 1 yes
  std::atomic<long> mprotect_left{-1};
  std::atomic<bool> warned{false};

  static guard_budget& get() noexcept {
    static guard_budget g;
    return g;
  }
  long initial_mprotect_budget() noexcept { return max_memory_mappings() / 4; }
  bool take_mprotect() noexcept {
    long left = mprotect_left.load(std::memory_order_relaxed);
    if (left < 0) {
      long init = initial_mprotect_budget();
      mprotect_left.compare_exchange_strong(left, init, std::memory_order_relaxed);
      left = mprotect_left.load(std::memory_order_relaxed);
    }
    while (left > 0)
      if (mprotect_left.compare_exchange_weak(left, left - 1, std::memory_order_relaxed)) return true;
    if (!warned.exchange(true, std::memory_order_relaxed))
      message()
          .text(
              "jiffy: note: no MADV_GUARD_INSTALL (Linux < 6.13) and the guard-page budget (vm.max_map_count/4) "
              "is spent; further fiber stacks use a canary check instead of a guard page")
          .write_line();
    return false;
  }
};

// A std allocator for the pool's lists whose memory is mapped, not taken
// from the heap. Used only when the pool grows, so a system call per
// allocation is nothing.
template <class T>
struct mapped_allocator {
  using value_type = T;
  mapped_allocator() = default;
  template <class U>
  mapped_allocator(const mapped_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) noexcept {
    std::size_t bytes = round_up(n * sizeof(T), page_size());
    void* p = map_memory(bytes);
    if (!p) {
      message m;
      fatal(m.text("jiffy: out of memory for the stack pool's lists (").number(bytes).text(" bytes)"));
    }
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t n) noexcept { release_memory(p, round_up(n * sizeof(T), page_size())); }
  friend bool operator==(const mapped_allocator&, const mapped_allocator&) noexcept { return true; }
};

class stack_pool {
 public:
  // `stack_size` is the usable size requested; `guard_size` the guard below.
  explicit stack_pool(std::size_t stack_size, std::size_t guard_size = 16 * 1024)
      : size_(round_up(stack_size < min_stack_size() ? min_stack_size() : stack_size, page_size())),
        guard_(round_up(guard_size, page_size())),
        stride_(size_ + guard_) {
    // Slabs of about 4 MiB, at least 4 stacks: big enough to amortise the
    // mmap, small enough that a runtime with a few fibers maps little.
    per_slab_ = (std::size_t{4} << 20) / stride_;
    if (per_slab_ < 4) per_slab_ = 4;
  }
  stack_pool(const stack_pool&) = delete;
  stack_pool& operator=(const stack_pool&) = delete;
  ~stack_pool() {
    // Clean shadow first: ASan does not clear it at munmap, and the next
    // mapping at these addresses (any mmap of the process) would inherit
    // the redzones of the last frames run here.
    for (auto& s : slabs_) {
      sanitizer_unpoison_stack(s.first, s.second);
      release_memory(s.first, s.second);
    }
  }

  static std::size_t min_stack_size() noexcept { return 16 * 1024; }
  std::size_t stack_size() const noexcept { return size_; }
  std::size_t guard_size() const noexcept { return guard_; }

  // Takes up to `want` (>= 1) stacks, under one hold of the lock (workers
  // refill their caches in batches: the lock is shared by every worker).
  // Returns how many; 0 only if the kernel refuses memory.
  std::size_t allocate(stack_span* out, std::size_t want) noexcept {
    std::lock_guard<std::mutex> lk(mu_);
    std::size_t n = 0;
    for (; n < want && !hot_.empty(); ++n) {  // the most recently freed: the warmest pages
      out[n] = hot_.back().stack;
      hot_.pop_back();
    }
    if (n == 0 && cold_.empty() && !grow()) return 0;
    for (; n < want && !cold_.empty(); ++n) {
      out[n] = cold_.back();
      cold_.pop_back();
    }
    return n;
  }
  bool allocate(stack_span& out) noexcept { return allocate(&out, 1) == 1; }

  // Gives back n stacks under one hold of the lock. Allocates nothing and
  // makes no system call but the clock's (every list has room for every
  // stack ever mapped): it may run in a post-switch action inside the
  // preemption signal handler.
  void release(const stack_span* in, std::size_t n) noexcept {
    std::int64_t now = now_ns();  // clock_gettime: async-signal-safe
    std::lock_guard<std::mutex> lk(mu_);
    for (std::size_t i = 0; i < n; ++i) hot_.push_back({in[i], now});
  }
  void release(const stack_span& s) noexcept { release(&s, 1); }

  // Off the fibers' path (the monitor): gives back the pages of every stack
  // unused for decay_ns. Returns when the next one will be due
  // (no_deadline_ns: none is pooled hot).
  std::int64_t decay(std::int64_t now) noexcept {
    {
      std::lock_guard<std::mutex> lk(mu_);
      std::size_t due = 0;
      while (due < hot_.size() && hot_[due].freed_at + decay_ns <= now) ++due;
      if (due == 0) return hot_.empty() ? no_deadline_ns : hot_.front().freed_at + decay_ns;
      for (std::size_t i = 0; i < due; ++i) purging_.push_back(hot_[i].stack);
      hot_.erase(hot_.begin(), hot_.begin() + static_cast<std::ptrdiff_t>(due));
    }
    // Outside the lock: each MADV_DONTNEED is a system call and, with other
    // threads running, a TLB shoot-down. purging_ is the monitor's alone
    // between the two locked sections (decay is not re-entered), and its
    // stacks are in no list allocate() takes from.
    for (const stack_span& t : purging_) {
      discard_pages(t.base, t.size);
      if (t.guard == guard_kind::canary) *reinterpret_cast<std::uint64_t*>(t.base) = stack_canary;
    }
    std::lock_guard<std::mutex> lk(mu_);
    for (const stack_span& t : purging_) cold_.push_back(t);
    purging_.clear();
    return hot_.empty() ? no_deadline_ns : hot_.front().freed_at + decay_ns;
  }

  // When decay() will next have work (no_deadline_ns: none pooled hot).
  std::int64_t next_decay() const noexcept {
    std::lock_guard<std::mutex> lk(mu_);
    return hot_.empty() ? no_deadline_ns : hot_.front().freed_at + decay_ns;
  }

  // Stacks pooled with their pages resident (those being purged included),
  // and mapped in all.
  std::size_t hot_count() const noexcept {
    std::lock_guard<std::mutex> lk(mu_);
    return hot_.size() + purging_.size();
  }
  std::size_t mapped_count() const noexcept {
    std::lock_guard<std::mutex> lk(mu_);
    return total_;
  }

  // How long a freed stack stays resident unused (jemalloc's dirty decay is
  // 10 s; a frame-driven program reuses its stacks within milliseconds).
  static constexpr std::int64_t decay_ns = 1000000000;

 private:
  bool grow() noexcept {
    std::size_t bytes = per_slab_ * stride_;
    void* p = reserve_stack_memory(bytes);
    if (!p) return false;
    slabs_.emplace_back(p, bytes);
    total_ += per_slab_;
    // Room for every stack in every list, so release() never allocates.
    hot_.reserve(total_);
    purging_.reserve(total_);
    cold_.reserve(total_);
    char* slab = static_cast<char*>(p);
    auto& budget = guard_budget::get();
    for (std::size_t i = per_slab_; i-- > 0;) {
      char* guard = slab + i * stride_;
      stack_span s{guard + guard_, size_, guard_kind::canary, guard_};
      int works = budget.madvise_works.load(std::memory_order_relaxed);
      if (works != 0) {
        bool ok = install_light_guard(guard, guard_);
        if (works < 0) {
          ok = ok && reading_faults(guard);
          budget.madvise_works.store(ok ? 1 : 0, std::memory_order_relaxed);
        }
        if (ok) s.guard = guard_kind::madvise_guard;
      }
      if (s.guard == guard_kind::canary && budget.take_mprotect() && protect_none(guard, guard_))
        s.guard = guard_kind::mprotect_guard;
      if (s.guard == guard_kind::canary) *reinterpret_cast<std::uint64_t*>(s.base) = stack_canary;
      cold_.push_back(s);
    }
    return true;
  }

  std::size_t size_, guard_, stride_, per_slab_;
  mutable std::mutex mu_;
  struct pooled {
    stack_span stack;
    std::int64_t freed_at;
  };
  template <class T>
  using list = std::vector<T, mapped_allocator<T>>;
  list<pooled> hot_;          // freed, pages resident; oldest first, reused newest first
  list<stack_span> purging_;  // giving their pages back (decay)
  list<stack_span> cold_;     // never used, or purged
  std::size_t total_ = 0;     // stacks mapped so far
  list<std::pair<void*, std::size_t>> slabs_;
};

}  // namespace jiffy::detail
