// jiffy/detail/live_fibers.hpp — the registry of live fibers: every fiber
// from its creation to its retirement, for a debugger to list
// (tools/jiffy-gdb.py) and for tests.
//
// Rules:
//  * A fiber is on exactly one list from create_fiber (detail/spawn.hpp) to
//    fiber_retire (detail/retire.hpp): the list of the worker that spawned
//    it, or its runtime's list of fibers spawned from outside its workers
//    (a plain thread, another runtime's fiber). It remembers that list
//    (`live_list`, set once), so whichever worker retires it unlinks it.
//  * One list per worker, not one per runtime, so that spawning stays cheap.
//  * A worker's list keeps its fibers in slots (`slots`): the worker alone
//    fills them (at spawn, inside the runtime section, probing a few slots
//    from `cursor`), and whichever thread retires a fiber empties its slot
//    with one store — no lock, no neighbour to relink. A frame of jobs
//    spawns on one worker and retires on the other; unlinking from a
//    locked list moved its lock's line and its neighbours' links between
//    them for every fiber (about 30% of a 2-worker batch of 1,000 spawns,
//    docs/benchmarks.md). The main-thread worker's list has slots too (its
//    serving thread alone spawns onto it). Fibers that find no free slot,
//    and every fiber on the runtime's list of fibers spawned from outside
//    (whose spawners are many threads: no slots), go on the locked list
//    (`head`) as before.
//  * The locked list: a raw_spinlock held for a few instructions, in
//    create_fiber (a fiber or a plain thread) and in fiber_retire (a
//    post-switch action, maybe inside the preemption signal handler): the
//    lock raises the preempt count, so its holder is never preempted and a
//    handler on its thread never waits for it; nothing inside allocates or
//    takes another lock. Links (`live_next`, `live_prev`, `head`) are
//    written only under it.
//  * Walking without freezing the spawners: a walker (for_each_live_fiber)
//    counts itself in `walkers` (a seq_cst RMW), then reads the slots; a
//    retirer empties its slot, then (store_load_barrier(), detail/
//    barrier.hpp) waits until `walkers` is 0 before its stack can be
//    released. Either the retirer sees the walker and waits for it, or the
//    walker sees the slot empty. So a fiber a walker found stays alive
//    until the walk ends. The walker holds the list's lock throughout (it
//    raises the preempt count): a walking fiber is never preempted, so no
//    retirer on its worker waits for it forever.
//  * A slot is filled with release and read with acquire: a walker sees
//    what the creator wrote before linking (id, rt, stack). A debugger
//    reads slots and links in a stopped process, without the protocol: a
//    thread stopped mid-update may leave one list inconsistent (the script
//    bounds its walk).
#pragma once

#include <jiffy/detail/barrier.hpp>
#include <jiffy/detail/config.hpp>
#include <jiffy/detail/fiber.hpp>
#include <jiffy/detail/preempt_count.hpp>
#include <jiffy/detail/raw_spinlock.hpp>

#include <atomic>

namespace jiffy::detail {

// Lines of their own: fibers retiring on other workers write the slots,
// and the worker's own hot fields (its counters, its stack cache) must not
// move with them. The first line is read by every retirer (`walkers`) and
// written rarely; the owner's cursor, written at every spawn, has its own.
struct alignas(cache_line) live_fiber_list {
  static constexpr unsigned slot_count = 2048;  // a frame's jobs at once, with room (16 KiB)
  static constexpr unsigned slot_probe = 16;    // slots a spawn looks at before it takes the lock

  raw_spinlock lock;
  fiber_control* head = nullptr;  // guarded by lock
  std::atomic<unsigned> walkers{0};
  bool has_slots = false;                   // set before the list is first used
  alignas(cache_line) unsigned cursor = 0;  // where the owner looks for a free slot next; its alone
  alignas(cache_line) std::atomic<fiber_control*> slots[slot_count] = {};
};

// Puts `f` in a free slot of `list`, if one of the next slot_probe is.
// Called by the list's owner, inside the runtime section.
[[nodiscard]] inline bool take_live_slot(live_fiber_list& list, fiber_control* f) noexcept {
  for (unsigned k = 0; k < live_fiber_list::slot_probe; ++k) {
    unsigned i = (list.cursor + k) % live_fiber_list::slot_count;
    // relaxed: an empty slot is the owner's to fill; what its last fiber
    // did before emptying it does not matter to the new one.
    if (list.slots[i].load(std::memory_order_relaxed)) continue;
    f->live_slot = &list.slots[i];
    list.cursor = i + 1;
    list.slots[i].store(f, std::memory_order_release);  // a walker's acquire sees f's fields
    return true;
  }
  return false;
}

// Links `f` (not yet visible to anyone else) into `list`. The caller is in
// the runtime section (it chose `list` from the worker it runs on), which
// is what the bare acquire needs: its holder cannot be preempted.
inline void link_live_fiber(live_fiber_list& list, fiber_control* f) noexcept {
  f->live_list = &list;
  if (list.has_slots && take_live_slot(list, f)) return;
  list.lock.acquire();
  f->live_next = list.head;
  if (list.head) list.head->live_prev = f;
  list.head = f;
  list.lock.release();
}

// Unlinks a fiber that has finished, before its stack can be released.
// Called from fiber_retire, a post-switch action: inside the runtime
// section, as the bare acquire needs.
inline void unlink_live_fiber(fiber_control* f) noexcept {
  live_fiber_list& list = *f->live_list;
  if (f->live_slot) {
    f->live_slot->store(nullptr, std::memory_order_relaxed);  // the barrier orders it
    store_load_barrier();  // the slot emptied before `walkers` is read (a walker: count, then read)
    // acquire: the walk's reads of f happen before its stack is reused.
    while (list.walkers.load(std::memory_order_acquire) != 0) cpu_relax();
    return;
  }
  list.lock.acquire();
  if (f->live_prev)
    f->live_prev->live_next = f->live_next;
  else
    list.head = f->live_next;
  if (f->live_next) f->live_next->live_prev = f->live_prev;
  list.lock.release();
}

// Calls fn(fiber_control*) for each fiber on `list`, under its lock: fn must
// not block, allocate or take a lock, and may read only what a fiber's
// creator wrote before linking it (id, rt, stack) or what is atomic.
template <class Fn>
void for_each_live_fiber(live_fiber_list& list, Fn&& fn) noexcept {
  list.lock.lock();
  if (list.has_slots) {
    list.walkers.fetch_add(1, std::memory_order_seq_cst);  // before the slots are read (see the rules)
    for (auto& slot : list.slots)
      if (fiber_control* f = slot.load(std::memory_order_acquire)) fn(f);
    list.walkers.fetch_sub(1, std::memory_order_release);  // the walk's reads before any stack's release
  }
  for (fiber_control* f = list.head; f; f = f->live_next) fn(f);
  list.lock.unlock();
}

}  // namespace jiffy::detail
