// jiffy/detail/stack_classes.hpp — a runtime's stack pools: one for its own
// stack size, and one per other size its fibers ask for
// (fiber_options::stack_size).
//
// Rules:
//  * The runtime's size (runtime_options::stack_size) is the standard class:
//    workers cache its stacks (detail/retire.hpp). A fiber that asks for that
//    size, or for 0, gets one of them.
//  * Any other size is rounded up to a power of two (16 KiB up to 1 GiB):
//    one pool per power, so a program that uses a few sizes — a game engine's
//    small and large job stacks — has a few pools, whatever the exact numbers.
//    Those pools have no per-worker cache: a spawn or retirement takes the
//    pool's lock once. Their stacks are the same guarded, pooled, decaying
//    stacks (detail/stack.hpp).
//  * A pool is created the first time its size is asked for, under
//    `create_lock_`, and published by a release store of its pointer;
//    finders load it with acquire. Pools live as long as the runtime.
//  * A stack goes back to the pool of its own size: a class size is a power
//    of two different from the standard size, so the size names the pool.
#pragma once

#include <jiffy/detail/diag.hpp>
#include <jiffy/detail/stack.hpp>
#include <jiffy/detail/time.hpp>

#include <atomic>
#include <cstddef>
#include <mutex>
#include <optional>

namespace jiffy::detail {

class stack_pools {
 public:
  static constexpr unsigned min_class_log2 = 14;  // 16 KiB: stack_pool::min_stack_size()
  static constexpr unsigned max_class_log2 = 30;  // 1 GiB
  static constexpr std::size_t max_stack_size = std::size_t{1} << max_class_log2;

  explicit stack_pools(std::size_t standard_size) : standard_(standard_size) {}
  stack_pools(const stack_pools&) = delete;
  stack_pools& operator=(const stack_pools&) = delete;

  // The runtime's own size, cached by workers.
  stack_pool& standard() noexcept { return standard_; }
  std::size_t stack_size() const noexcept { return standard_.stack_size(); }

  // The usable size a fiber asking for `requested` bytes gets (0: the
  // standard size). The caller has checked the range (check_stack_size).
  std::size_t size_for(std::size_t requested) const noexcept {
    if (requested == 0) return standard_.stack_size();
    std::size_t page_rounded = round_up(requested, page_size());
    if (page_rounded == standard_.stack_size()) return page_rounded;
    return std::size_t{1} << class_log2(requested);
  }

  // The pool for stacks of `usable` bytes, a size size_for() returned;
  // created on first use.
  stack_pool& pool_for(std::size_t usable) noexcept {
    if (usable == standard_.stack_size()) return standard_;
    unsigned k = class_log2(usable) - min_class_log2;
    if (stack_pool* p = published_[k].load(std::memory_order_acquire)) return *p;
    std::lock_guard<std::mutex> lk(create_lock_);
    if (!classes_[k]) {
      classes_[k].emplace(usable);
      published_[k].store(&*classes_[k], std::memory_order_release);
    }
    return *classes_[k];
  }

  // The pool a stack came from (it exists: the stack was taken from it).
  stack_pool& owner_of(const stack_span& s) noexcept {
    if (s.size == standard_.stack_size()) return standard_;
    return *published_[class_log2(s.size) - min_class_log2].load(std::memory_order_acquire);
  }

  // The monitor's purge of stacks unused for stack_pool::decay_ns, over
  // every pool. Returns when the next is due (no_deadline_ns: none).
  std::int64_t decay(std::int64_t now) noexcept {
    std::int64_t next = standard_.next_decay() <= now ? standard_.decay(now) : standard_.next_decay();
    for_each_class([&](stack_pool& p) {
      std::int64_t due = p.next_decay();
      if (due <= now) due = p.decay(now);
      if (due < next) next = due;
    });
    return next;
  }

  std::size_t mapped_count() const noexcept {
    std::size_t n = standard_.mapped_count();
    for_each_class([&](const stack_pool& p) { n += p.mapped_count(); });
    return n;
  }
  std::size_t hot_count() const noexcept {
    std::size_t n = standard_.hot_count();
    for_each_class([&](const stack_pool& p) { n += p.hot_count(); });
    return n;
  }

 private:
  static constexpr unsigned class_count = max_class_log2 - min_class_log2 + 1;

  // log2 of the smallest power of two >= n (n in [16 KiB, 1 GiB]).
  static unsigned class_log2(std::size_t n) noexcept {
    unsigned k = min_class_log2;
    while ((std::size_t{1} << k) < n) ++k;
    return k;
  }

  template <class F>
  void for_each_class(F&& f) const noexcept {
    for (const auto& p : published_)
      if (stack_pool* pool = p.load(std::memory_order_acquire)) f(*pool);
  }

  stack_pool standard_;
  std::mutex create_lock_;
  std::optional<stack_pool> classes_[class_count];  // guarded by create_lock_; read through published_
  std::atomic<stack_pool*> published_[class_count] = {};
};

// A fiber's requested stack size, checked before anything is created.
// `least` is the smallest a fiber may have: room for a preemption signal's
// frame and the switch below it (whatever the mode: set_preempt_mode may
// turn signals on later), and never below stack_pool::min_stack_size().
inline void check_stack_size(std::size_t requested, std::size_t least, const char* caller) noexcept {
  if (least < stack_pool::min_stack_size()) least = stack_pool::min_stack_size();
  if (requested == 0 || (requested >= least && requested <= stack_pools::max_stack_size)) return;
  message m;
  m.text("jiffy: ").text(caller).text(": fiber_options::stack_size must be 0 (the runtime's size) or ");
  m.number(least).text(" to ").number(stack_pools::max_stack_size);
  fatal(m.text(" bytes (got ").number(requested).text(")"));
}

}  // namespace jiffy::detail
