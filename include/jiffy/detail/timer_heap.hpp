// jiffy/detail/timer_heap.hpp — a worker's timers: an intrusive pairing heap.
//
// Rules:
//  * Each entry is embedded in the sleeping waiter: arming, firing and
//    cancelling a timer allocate nothing. (They may run in a post-switch
//    action on a fiber that resumes inside the preemption signal handler,
//    where malloc is off limits.) Insert is O(1), removing the earliest or
//    any given entry O(log n) amortised.
//  * The heap has its own raw_spinlock: the owning worker arms timers, but
//    any worker may fire them (an idle worker runs a busy worker's expired
//    timers) and any thread may cancel one.
//  * `earliest` mirrors the top deadline so a worker can test "anything due?"
//    with one relaxed load; a stale value only costs an extra look.
#pragma once

#include <jiffy/detail/time.hpp>
#include <jiffy/detail/raw_spinlock.hpp>

#include <atomic>
#include <cstdint>
#include <limits>

namespace jiffy::detail {

struct timer_entry {
  std::int64_t deadline = no_deadline_ns;
  timer_entry* child = nullptr;    // first child
  timer_entry* sibling = nullptr;  // next sibling
  timer_entry* prev = nullptr;     // previous sibling, or the parent for a first child
  bool armed = false;
};

class timer_heap {
 public:
  std::int64_t earliest() const noexcept { return earliest_.load(std::memory_order_relaxed); }

  void insert(timer_entry* e) noexcept {
    lock_.lock();
    e->child = e->sibling = e->prev = nullptr;
    e->armed = true;
    root_ = meld(root_, e);
    publish();
    lock_.unlock();
  }

  // Returns true if the entry was still armed.
  bool remove(timer_entry* e) noexcept {
    lock_.lock();
    bool armed = e->armed;
    if (armed) erase(e);
    publish();
    lock_.unlock();
    return armed;
  }

  // Removes every entry due at `now`, calling fire(entry) with the lock held.
  template <class Fire>
  void expire(std::int64_t now, Fire&& fire) noexcept {
    if (earliest() > now) return;
    lock_.lock();
    while (root_ && root_->deadline <= now) {
      timer_entry* e = root_;
      erase(e);
      fire(e);
    }
    publish();
    lock_.unlock();
  }

 private:
  void publish() noexcept { earliest_.store(root_ ? root_->deadline : no_deadline_ns, std::memory_order_relaxed); }

  // Both arguments are roots (no siblings); returns the new root.
  static timer_entry* meld(timer_entry* a, timer_entry* b) noexcept {
    if (!a) return b;
    if (!b) return a;
    if (b->deadline < a->deadline) {
      timer_entry* t = a;
      a = b;
      b = t;
    }
    b->prev = a;
    b->sibling = a->child;
    if (a->child) a->child->prev = b;
    a->child = b;
    return a;
  }

  // The classic two-pass merge of a sibling list: meld pairs left to right,
  // then fold the results right to left. Iterative, no allocation.
  static timer_entry* merge_siblings(timer_entry* first) noexcept {
    if (!first) return nullptr;
    timer_entry* pairs = nullptr;  // melded pairs, linked through `sibling` in reverse
    while (first) {
      timer_entry* a = first;
      timer_entry* b = a->sibling;
      first = b ? b->sibling : nullptr;
      a->sibling = a->prev = nullptr;
      if (b) b->sibling = b->prev = nullptr;
      timer_entry* m = meld(a, b);
      m->sibling = pairs;
      pairs = m;
    }
    timer_entry* result = nullptr;
    while (pairs) {
      timer_entry* next = pairs->sibling;
      pairs->sibling = nullptr;
      result = meld(result, pairs);
      pairs = next;
    }
    result->prev = nullptr;
    return result;
  }

  void erase(timer_entry* e) noexcept {
    if (e == root_) {
      root_ = merge_siblings(e->child);
    } else {
      if (e->prev->child == e)
        e->prev->child = e->sibling;
      else
        e->prev->sibling = e->sibling;
      if (e->sibling) e->sibling->prev = e->prev;
      e->sibling = e->prev = nullptr;
      root_ = meld(root_, merge_siblings(e->child));
    }
    e->child = e->sibling = e->prev = nullptr;
    e->armed = false;
  }

  raw_spinlock lock_;
  timer_entry* root_ = nullptr;
  std::atomic<std::int64_t> earliest_{no_deadline_ns};
};

}  // namespace jiffy::detail
