// jiffy/detail/timer_heap.hpp — a worker's timers: a min-heap of deadlines.
//
// Rules:
//  * Each entry is embedded in the sleeping waiter (no allocation per timer
//    beyond the heap's vector) and knows its heap index, so a waiter woken
//    early removes its entry in O(log n).
//  * The heap has its own raw_spinlock: the owning worker arms timers, but
//    any worker may fire them (an idle worker runs a busy worker's expired
//    timers) and any thread may cancel one.
//  * `earliest` mirrors the top deadline so a worker can test "anything due?"
//    with one relaxed load; a stale value only costs an extra look.
#pragma once

#include <jiffy/detail/raw_spinlock.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace jiffy::detail {

inline constexpr std::int64_t no_deadline = std::numeric_limits<std::int64_t>::max();

struct timer_entry {
  std::int64_t deadline = no_deadline;
  std::size_t index = npos;
  static constexpr std::size_t npos = ~std::size_t{0};
};

class timer_heap {
 public:
  std::int64_t earliest() const noexcept { return earliest_.load(std::memory_order_relaxed); }

  void insert(timer_entry* e) noexcept {
    lock_.lock();
    e->index = heap_.size();
    heap_.push_back(e);
    sift_up(e->index);
    publish();
    lock_.unlock();
  }

  // Returns true if the entry was still armed.
  bool remove(timer_entry* e) noexcept {
    lock_.lock();
    bool armed = e->index != timer_entry::npos;
    if (armed) erase_at(e->index);
    publish();
    lock_.unlock();
    return armed;
  }

  // Pops every entry due at `now`, calling fire(entry) with the lock held.
  template <class Fire>
  void expire(std::int64_t now, Fire&& fire) noexcept {
    if (earliest() > now) return;
    lock_.lock();
    while (!heap_.empty() && heap_.front()->deadline <= now) {
      timer_entry* e = heap_.front();
      erase_at(0);
      fire(e);
    }
    publish();
    lock_.unlock();
  }

 private:
  void publish() noexcept {
    earliest_.store(heap_.empty() ? no_deadline : heap_.front()->deadline, std::memory_order_relaxed);
  }
  void erase_at(std::size_t i) noexcept {
    timer_entry* gone = heap_[i];
    gone->index = timer_entry::npos;
    timer_entry* last = heap_.back();
    heap_.pop_back();
    if (i == heap_.size()) return;
    heap_[i] = last;
    last->index = i;
    sift_down(i);
    sift_up(last->index);
  }
  void swap_at(std::size_t a, std::size_t b) noexcept {
    std::swap(heap_[a], heap_[b]);
    heap_[a]->index = a;
    heap_[b]->index = b;
  }
  void sift_up(std::size_t i) noexcept {
    while (i > 0) {
      std::size_t parent = (i - 1) / 2;
      if (heap_[parent]->deadline <= heap_[i]->deadline) break;
      swap_at(parent, i);
      i = parent;
    }
  }
  void sift_down(std::size_t i) noexcept {
    for (;;) {
      std::size_t l = 2 * i + 1, r = l + 1, m = i;
      if (l < heap_.size() && heap_[l]->deadline < heap_[m]->deadline) m = l;
      if (r < heap_.size() && heap_[r]->deadline < heap_[m]->deadline) m = r;
      if (m == i) return;
      swap_at(i, m);
      i = m;
    }
  }

  raw_spinlock lock_;
  std::vector<timer_entry*> heap_;
  std::atomic<std::int64_t> earliest_{no_deadline};
};

}  // namespace jiffy::detail
