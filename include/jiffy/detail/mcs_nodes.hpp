// jiffy/detail/mcs_nodes.hpp — queue nodes for jiffy's MCS lock, named by a
// 16-bit code so a lock word can hold a queue tail in 4 bytes.
//
// Rules:
//  * A node block (4 nodes: one per nesting level) belongs to one waiter
//    context: an OS thread (its workers' fibers share it, which is safe
//    because an integrated waiter cannot be switched out or moved), or a
//    fiber (for the holder-preemptible twin that bench/holder_preemptible.hpp
//    builds from spin/mcs.hpp's template, whose waiters can be switched out).
//  * Each block is enrolled under an id from 1 to 16383; the id and level
//    make the 16-bit tail code. Ids are recycled when a thread exits or a
//    fiber ends; more than 16383 blocks alive at once is reported as a bug.
//  * The table is read lock-free (release/acquire on the slot); enrolling and
//    leaving take a mutex (rare: once per thread or fiber).
//  * Blocks come from the heap through the enrolling thread's hooks: a
//    runtime's worker threads use its runtime_options::allocator (they exit
//    before the runtime is gone), any other thread operator new. A block
//    keeps a copy of its hooks to be freed with. The table's own storage,
//    free ids included, is static: enrolling never allocates beyond the
//    block.
#pragma once

#include <jiffy/detail/config.hpp>
#include <jiffy/detail/diag.hpp>
#include <jiffy/detail/heap.hpp>
#include <jiffy/detail/preempt_count.hpp>

#include <atomic>
#include <cstdint>
#include <mutex>

namespace jiffy::detail {

struct alignas(cache_line) mcs_node {
  std::atomic<mcs_node*> next{nullptr};
  std::atomic<std::uint32_t> ready{0};  // set by the predecessor: "you are the queue's head"
};

inline constexpr unsigned mcs_levels = 4;
inline constexpr std::uint32_t mcs_max_blocks = (1u << 14) - 1;

struct mcs_block {
  mcs_node nodes[mcs_levels];
  unsigned depth = 0;  // nodes in use (nested waits)
  std::uint32_t id = 0;
  allocator_hooks hooks;  // what it was allocated with
};

// The hooks the calling thread's blocks come from: its runtime's allocator
// on a worker thread (set by worker_main), else null (operator new).
inline thread_local const allocator_hooks* thread_block_hooks = nullptr;

inline void use_allocator_for_mcs_blocks(const allocator_hooks* h) noexcept { thread_block_hooks = h; }
inline allocator_hooks mcs_block_hooks() noexcept {
  return thread_block_hooks ? *thread_block_hooks : allocator_hooks{};
}

class mcs_registry {
 public:
  static mcs_registry& get() noexcept {
    static mcs_registry r;
    return r;
  }
  mcs_block* find(std::uint32_t id) const noexcept { return slots_[id].load(std::memory_order_acquire); }

  // The mutex is held inside the runtime section: a fiber preempted while
  // holding it would block the next fiber on its worker that enrolls.
  mcs_block* enroll(const allocator_hooks& hooks) noexcept {
    auto* b = heap_new<mcs_block>(hooks);
    b->hooks = hooks;
    cpu_local* cpu = this_cpu();
    runtime_enter(cpu);
    std::unique_lock<std::mutex> lk(mu_);
    std::uint32_t id;
    if (free_count_) {
      id = free_[--free_count_];
    } else {
      if (next_ > mcs_max_blocks) fatal("more than 16383 threads and fibers use MCS locks at once");
      id = next_++;
    }
    b->id = id;
    slots_[id].store(b, std::memory_order_release);
    lk.unlock();
    runtime_exit(cpu);
    return b;
  }

  void leave(mcs_block* b) noexcept {
    if (!b) return;
    cpu_local* cpu = this_cpu();
    runtime_enter(cpu);
    {
      std::lock_guard<std::mutex> lk(mu_);
      slots_[b->id].store(nullptr, std::memory_order_relaxed);
      free_[free_count_++] = static_cast<std::uint16_t>(b->id);  // at most one entry per id: fits
    }
    runtime_exit(cpu);
    heap_delete(b->hooks, b);
  }

 private:
  std::atomic<mcs_block*> slots_[mcs_max_blocks + 1] = {};
  std::mutex mu_;
  std::uint16_t free_[mcs_max_blocks] = {};  // ids given back, reused last-in first-out
  std::uint32_t free_count_ = 0;
  std::uint32_t next_ = 1;
};

// The calling OS thread's block, enrolled on first use, released at exit.
inline mcs_block* thread_mcs_block() {
  static thread_local struct holder {
    mcs_block* b = nullptr;
    ~holder() { mcs_registry::get().leave(b); }
  } h;
  if (!h.b) h.b = mcs_registry::get().enroll(mcs_block_hooks());
  return h.b;
}

}  // namespace jiffy::detail
