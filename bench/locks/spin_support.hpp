// bench/locks/spin_support.hpp — what the roster's lock algorithms share:
// the pause in a spin loop, giving the CPU up, the size of a cache line to
// pad to, and a small pool for per-waiter queue nodes.
//
// Why a pool: a queue lock's waiters each bring a node (CLH, MCS-TP), and
// lockbench gives each contender its own handle (the lock's contender()):
// the node belongs to the contender, not to its OS thread, because a fiber
// may move to another worker between two acquisitions (a thread_local node
// would then be shared by two fibers of one worker, or left behind). CLH
// also passes nodes from one contender to the next, so no handle can free
// the node it ends up with; the lock keeps every node it handed out on a
// list and frees them when it is destroyed. The list is a lock-free stack
// (contenders create their handles concurrently; a std::mutex there could
// block a worker under `full` preemption).
#pragma once

#include <jiffy/detail/raw_spinlock.hpp>
#include <jiffy/runtime.hpp>

#include <atomic>
#include <cstddef>

namespace lockbench::locks {

// Waiters spin on lines of their own; 128 bytes keeps them off the
// adjacent-line pair x86-64 prefetches (jiffy::false_sharing_range).
inline constexpr std::size_t line = 128;

// One pause in a spin loop (x86 `pause`, AArch64 `isb`).
inline void relax() noexcept { jiffy::detail::cpu_relax(); }

// n pauses.
inline void relax_for(unsigned n) noexcept {
  for (unsigned i = 0; i < n; ++i) relax();
}

// Gives the CPU up: the fiber yields to its worker's other fibers, a plain
// thread calls sched_yield().
inline void give_up_cpu() noexcept { jiffy::this_fiber::yield(); }

// Owns nodes of type Node (which has a `Node* pool_next` member) until the
// pool is destroyed.
template <class Node>
class node_pool {
 public:
  node_pool() = default;
  node_pool(const node_pool&) = delete;
  node_pool& operator=(const node_pool&) = delete;
  ~node_pool() {
    for (Node* n = head_.load(std::memory_order_acquire); n;) {
      Node* next = n->pool_next;
      delete n;
      n = next;
    }
  }

  // A new node, kept on the list. release: the destructor's walk sees
  // pool_next written (the destructor runs after every contender has
  // joined, so this is belt and braces).
  Node* make() {
    Node* n = new Node;
    n->pool_next = head_.load(std::memory_order_relaxed);
    while (!head_.compare_exchange_weak(n->pool_next, n, std::memory_order_release, std::memory_order_relaxed)) {
    }
    return n;
  }

 private:
  std::atomic<Node*> head_{nullptr};
};

}  // namespace lockbench::locks
