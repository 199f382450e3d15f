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
//  * One list per worker, not one per runtime, so that spawning stays cheap:
//    a worker's lock is contended only when a fiber it spawned retires on
//    another worker at the moment it spawns.
//  * Each list has a raw_spinlock held for a few instructions. It is taken
//    in create_fiber (a fiber or a plain thread) and in fiber_retire (a
//    post-switch action, maybe inside the preemption signal handler): the
//    lock raises the preempt count, so its holder is never preempted and a
//    handler on its thread never waits for it; nothing inside allocates or
//    takes another lock. Linking is done inside the runtime section so the
//    list chosen is the worker that runs the spawner while it links.
//  * Links (`live_next`, `live_prev`, `head`) are written only under the
//    list's lock; the lock's acquire/release orders them and what the
//    creator wrote before linking for anyone who walks a list under it. A
//    debugger reads them in a stopped process, without the lock: a thread
//    stopped inside it may leave one list mid-update (the script bounds its
//    walk).
#pragma once

#include <jiffy/detail/config.hpp>
#include <jiffy/detail/fiber.hpp>
#include <jiffy/detail/preempt_count.hpp>
#include <jiffy/detail/raw_spinlock.hpp>

namespace jiffy::detail {

// A line of its own: a fiber retiring on another worker writes it, and the
// worker's own hot fields (its counters, its stack cache) must not move
// with it.
struct alignas(cache_line) live_fiber_list {
  raw_spinlock lock;
  fiber_control* head = nullptr;  // guarded by lock
};

// Links `f` (not yet visible to anyone else) into `list`. The caller is in
// the runtime section (it chose `list` from the worker it runs on), which
// is what the bare acquire needs: its holder cannot be preempted.
inline void link_live_fiber(live_fiber_list& list, fiber_control* f) noexcept {
  f->live_list = &list;
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
  for (fiber_control* f = list.head; f; f = f->live_next) fn(f);
  list.lock.unlock();
}

}  // namespace jiffy::detail
