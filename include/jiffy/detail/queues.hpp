// jiffy/detail/queues.hpp — the scheduler's run queues and wait lists.
//
// Rules:
//  * intrusive_fifo and wait_list hold no lock of their own: their owner
//    (a worker, or a raw_spinlock) serialises every access.
//  * run_ring is a worker's stealable queue (Go's runq): a bounded ring with
//    one producer, its owner, and many consumers, the owner and thieves,
//    which claim slots by CAS on `head`. The owner publishes a slot with a
//    release store of `tail`; a consumer reads `tail` with acquire before it
//    reads the slot, and claims it with a CAS that, on success, hands the
//    slot back to the producer (release), which reads `head` with acquire
//    before overwriting it.
#pragma once

#include <jiffy/detail/config.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace jiffy::detail {

// T needs a `T* next` member.
template <class T>
class intrusive_fifo {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  std::size_t size() const noexcept { return size_; }
  T* front() const noexcept { return head_; }
  void push_back(T* x) noexcept {
    x->next = nullptr;
    if (tail_)
      tail_->next = x;
    else
      head_ = x;
    tail_ = x;
    ++size_;
  }
  T* pop_front() noexcept {
    T* x = head_;
    if (x) {
      head_ = x->next;
      if (!head_) tail_ = nullptr;
      --size_;
    }
    return x;
  }
  // Unlinks x from anywhere in the queue (a walk: for short queues); false
  // if x is not in it.
  bool remove(T* x) noexcept {
    T* before = nullptr;
    for (T* p = head_; p; before = p, p = p->next) {
      if (p != x) continue;
      (before ? before->next : head_) = p->next;
      if (tail_ == p) tail_ = before;
      --size_;
      return true;
    }
    return false;
  }
  // Moves everything from `other` to the back of this queue.
  void splice_back(intrusive_fifo& other) noexcept {
    if (other.empty()) return;
    if (tail_)
      tail_->next = other.head_;
    else
      head_ = other.head_;
    tail_ = other.tail_;
    size_ += other.size_;
    other.head_ = other.tail_ = nullptr;
    other.size_ = 0;
  }

 private:
  T* head_ = nullptr;
  T* tail_ = nullptr;
  std::size_t size_ = 0;
};

// Doubly linked, so a waiter that timed out can unlink itself from the middle.
// T needs `T* wnext`, `T* wprev` and `bool linked`.
template <class T>
class wait_list {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  void push_back(T* x) noexcept {
    x->wnext = nullptr;
    x->wprev = tail_;
    if (tail_)
      tail_->wnext = x;
    else
      head_ = x;
    tail_ = x;
    x->linked = true;
  }
  T* pop_front() noexcept {
    T* x = head_;
    if (x) unlink(x);
    return x;
  }
  void unlink(T* x) noexcept {
    if (x->wprev)
      x->wprev->wnext = x->wnext;
    else
      head_ = x->wnext;
    if (x->wnext)
      x->wnext->wprev = x->wprev;
    else
      tail_ = x->wprev;
    x->wnext = x->wprev = nullptr;
    x->linked = false;
  }

 private:
  T* head_ = nullptr;
  T* tail_ = nullptr;
};

template <class T, std::uint32_t N = 256>
class run_ring {
  static_assert((N & (N - 1)) == 0, "ring size must be a power of two");

 public:
  static constexpr std::uint32_t capacity = N;

  bool empty() const noexcept { return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_acquire); }
  std::uint32_t size() const noexcept {
    return tail_.load(std::memory_order_acquire) - head_.load(std::memory_order_acquire);
  }

  // Owner only. Returns false when full.
  bool push(T* x) noexcept {
    std::uint32_t h = head_.load(std::memory_order_acquire);
    std::uint32_t t = tail_.load(std::memory_order_relaxed);
    if (t - h >= N) return false;
    slots_[t & (N - 1)].store(x, std::memory_order_relaxed);
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }

  // Owner only: takes half of what is queued from the head, oldest first,
  // handing each to `sink` (overflow to the global queue). Returns how many
  // were taken.
  template <class Sink>
  std::uint32_t take_half(Sink&& sink) noexcept {
    for (;;) {
      std::uint32_t h = head_.load(std::memory_order_acquire);
      std::uint32_t t = tail_.load(std::memory_order_relaxed);
      std::uint32_t n = (t - h) / 2;
      if (n == 0) return 0;
      T* batch[N / 2];
      for (std::uint32_t i = 0; i < n; ++i) batch[i] = slots_[(h + i) & (N - 1)].load(std::memory_order_relaxed);
      if (head_.compare_exchange_strong(h, h + n, std::memory_order_acq_rel, std::memory_order_relaxed)) {
        for (std::uint32_t i = 0; i < n; ++i) sink(batch[i]);
        return n;
      }
    }
  }

  // Owner or thief: takes the oldest.
  T* pop() noexcept {
    for (;;) {
      std::uint32_t h = head_.load(std::memory_order_acquire);
      std::uint32_t t = tail_.load(std::memory_order_acquire);
      if (t == h) return nullptr;
      T* x = slots_[h & (N - 1)].load(std::memory_order_relaxed);
      if (head_.compare_exchange_weak(h, h + 1, std::memory_order_acq_rel, std::memory_order_relaxed)) return x;
    }
  }

  // Thief: claims half of `victim`, returns the oldest to run now and
  // publishes the rest in this ring, which the caller owns and which must be
  // empty.
  T* steal_half_from(run_ring& victim) noexcept {
    std::uint32_t my_tail = tail_.load(std::memory_order_relaxed);
    for (;;) {
      std::uint32_t h = victim.head_.load(std::memory_order_acquire);
      std::uint32_t t = victim.tail_.load(std::memory_order_acquire);
      std::uint32_t n = t - h;
      n = n - n / 2;
      if (n == 0) return nullptr;
      if (n > N / 2) continue;  // inconsistent snapshot: head moved on after we read it
      T* first = victim.slots_[h & (N - 1)].load(std::memory_order_relaxed);
      for (std::uint32_t i = 1; i < n; ++i)
        slots_[(my_tail + i - 1) & (N - 1)].store(victim.slots_[(h + i) & (N - 1)].load(std::memory_order_relaxed),
                                                  std::memory_order_relaxed);
      if (victim.head_.compare_exchange_weak(h, h + n, std::memory_order_acq_rel, std::memory_order_relaxed)) {
        if (n > 1) tail_.store(my_tail + n - 1, std::memory_order_release);
        return first;
      }
    }
  }

 private:
  alignas(cache_line) std::atomic<std::uint32_t> head_{0};
  alignas(cache_line) std::atomic<std::uint32_t> tail_{0};
  alignas(cache_line) std::atomic<T*> slots_[N] = {};
};

}  // namespace jiffy::detail
