// jiffy/spin/mcs.hpp — a queue lock after the kernel's qspinlock:
// jiffy::mcs_spinlock.
//
// Layout: one 32-bit word (4 bytes, 4-byte aligned): bits 0–7 the locked
// byte, bit 8 the pending bit, bits 16–31 the queue's tail (which waiter's
// node: an owner id and a nesting level, detail/mcs_nodes.hpp). No node is
// passed by the caller. FIFO-fair.
//
// Rules:
//  * Uncontended: one CAS to lock, one atomic subtract to unlock.
//  * The first waiter does not queue: it sets the pending bit and spins on the
//    lock word. Later waiters join an MCS queue, each spinning on its own
//    node's cache line; the queue's head spins on the lock word, takes the
//    lock when both the locked byte and the pending bit are clear, and makes
//    the next node the head.
//  * The integrated lock waits and holds with preemption disabled, so its
//    node can be per worker (a worker runs one waiter at a time) and a
//    waiter whose turn came is always running to take it.
//  * The same algorithm over detail::ignore_preemption (the holder-preemptible
//    twin that only bench/holder_preemptible.hpp instantiates, to measure
//    what the integration buys) waits and holds preemptibly, as a plain
//    user-space queue lock would; its waiters use per-fiber nodes (or per
//    thread, on plain threads), and a waiter preempted when its turn comes
//    holds up everyone behind it — the convoy the integrated lock avoids.
//  * A capability for Clang's thread-safety analysis (thread_annotations.hpp).
#pragma once

#include <jiffy/detail/mcs_nodes.hpp>
#include <jiffy/detail/fiber.hpp>
#include <jiffy/spin/policy.hpp>
#include <jiffy/thread_annotations.hpp>

#include <atomic>
#include <cstdint>

namespace jiffy {
namespace detail {

// The algorithm, over a preemption policy (spin/policy.hpp). Only the
// integrated instantiation is public: jiffy::mcs_spinlock.
template <class Preemption>
class JIFFY_CAPABILITY("spinlock") basic_mcs_spinlock {
 public:
  basic_mcs_spinlock() noexcept = default;
  basic_mcs_spinlock(const basic_mcs_spinlock&) = delete;
  basic_mcs_spinlock& operator=(const basic_mcs_spinlock&) = delete;

  void lock() noexcept JIFFY_ACQUIRE() {
    Preemption::disable();
    std::uint32_t v = 0;
    // acquire: the critical section sees what the previous holder wrote.
    if (word_.compare_exchange_strong(v, locked_bit, std::memory_order_acquire, std::memory_order_relaxed)) return;
    lock_slow(v);
  }

  [[nodiscard]] bool try_lock() noexcept JIFFY_TRY_ACQUIRE(true) {
    Preemption::disable();
    std::uint32_t v = 0;
    if (word_.compare_exchange_strong(v, locked_bit, std::memory_order_acquire, std::memory_order_relaxed)) return true;
    Preemption::enable();
    return false;
  }

  void unlock() noexcept JIFFY_RELEASE() {
    // Checked before the word changes, so that the report finds the lock as
    // the misuse left it. (Only the holder clears the locked byte.)
    if constexpr (debug_checks)
      if (!(word_.load(std::memory_order_relaxed) & locked_mask)) unlock_not_held("mcs_spinlock");
    // release: publishes the critical section to the next holder.
    word_.fetch_sub(locked_bit, std::memory_order_release);
    Preemption::enable();
  }

  [[nodiscard]] bool is_locked() const noexcept { return (word_.load(std::memory_order_relaxed) & locked_mask) != 0; }

 private:
  static constexpr std::uint32_t locked_bit = 1, locked_mask = 0xff, pending_bit = 1u << 8;
  static constexpr std::uint32_t tail_mask = 0xffff0000u;
  static constexpr unsigned level_shift = 16, id_shift = 18;

  static std::uint32_t encode(const mcs_block* b, unsigned level) noexcept {
    return (b->id << id_shift) | (level << level_shift);
  }
  static mcs_node* decode(std::uint32_t tail) noexcept {
    mcs_block* b = mcs_registry::get().find(tail >> id_shift);
    return &b->nodes[(tail >> level_shift) & 3];
  }

  // The waiter's node block: its fiber's when it may be switched out while
  // queued, else its thread's (which, on a worker, all its fibers share).
  static mcs_block* my_block() noexcept {
    if constexpr (!Preemption::integrated) {
      if (fiber_control* f = this_cpu()->current) {
        if (!f->mcs) f->mcs = mcs_registry::get().enroll(mcs_block_hooks());
        return f->mcs;
      }
    }
    return thread_mcs_block();
  }

  [[gnu::noinline]] void lock_slow(std::uint32_t v) noexcept {
    spin_wait w;
    // A pending waiter is about to take the lock: give it a moment.
    for (int i = 0; i < 512 && v == pending_bit; ++i) {
      cpu_relax();
      v = word_.load(std::memory_order_relaxed);
    }
    // Nobody pending or queued: become the pending waiter.
    if (!(v & ~locked_mask)) {
      v = word_.fetch_or(pending_bit, std::memory_order_acquire);
      if (!(v & ~locked_mask)) {
        while (word_.load(std::memory_order_acquire) & locked_mask) w.wait();
        // Clear pending and set locked in one step (tail bits may have changed).
        word_.fetch_add(locked_bit - pending_bit, std::memory_order_acquire);
        return;
      }
      if (!(v & pending_bit)) word_.fetch_and(~pending_bit, std::memory_order_relaxed);  // not ours to keep
    }
    queue_and_lock();
  }

  void queue_and_lock() noexcept {
    mcs_block* block = my_block();
    unsigned level = block->depth++;
    if (level >= mcs_levels) fatal("mcs_spinlock nested more than 4 deep on one thread");
    mcs_node* node = &block->nodes[level];
    node->next.store(nullptr, std::memory_order_relaxed);
    node->ready.store(0, std::memory_order_relaxed);
    std::uint32_t tail = encode(block, level);

    // Swap ourselves in as the tail. release: a successor that finds us
    // through the tail sees our node initialised.
    std::uint32_t old = word_.load(std::memory_order_relaxed);
    while (!word_.compare_exchange_weak(old, (old & ~tail_mask) | tail, std::memory_order_acq_rel,
                                        std::memory_order_relaxed)) {
    }
    spin_wait w;
    if (old & tail_mask) {
      decode(old)->next.store(node, std::memory_order_release);
      while (!node->ready.load(std::memory_order_acquire)) w.wait();  // spin on our own line
    }
    // Head of the queue: wait for the holder and any pending waiter.
    std::uint32_t v;
    while ((v = word_.load(std::memory_order_acquire)) & (locked_mask | pending_bit)) w.wait();
    // Last in the queue? Then take the lock and empty the queue at once —
    // with one CAS against exactly our tail (the kernel's rule). If anything
    // changed, even only a pending bit that a passing waiter set and is about
    // to take back, set the locked byte instead and hand over to our
    // successor: a retried CAS would wipe out that waiter's bit.
    bool done =
        v == tail && word_.compare_exchange_strong(v, locked_bit, std::memory_order_acquire, std::memory_order_relaxed);
    if (!done) {
      word_.fetch_or(locked_bit, std::memory_order_acquire);
      mcs_node* next;
      while (!(next = node->next.load(std::memory_order_acquire))) w.wait();  // it is linking itself in
      next->ready.store(1, std::memory_order_release);
    }
    --block->depth;
  }

  std::atomic<std::uint32_t> word_{0};
};

}  // namespace detail

using mcs_spinlock = detail::basic_mcs_spinlock<detail::integrate_preemption>;

}  // namespace jiffy
