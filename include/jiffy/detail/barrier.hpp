// jiffy/detail/barrier.hpp — the store-then-load handshake every sleep uses.
//
// Rules:
//  * A sleeper and its waker meet in a store-then-load handshake ("I publish
//    that I sleep, then look for work" / "I publish work, then look for
//    sleepers"). Each side puts store_load_barrier() between its store and
//    its load, rather than relying on seq_cst accesses alone. (A seq_cst
//    read-modify-write before the load also serves: it is a full barrier on
//    both targets and under qemu.) With one on each side, at least one side
//    sees the other's store, so a wake-up cannot be lost.
//  * Every handshake names its partner in a comment at both ends.
#pragma once

#include <atomic>

namespace jiffy::detail {

// Orders a store before a later load of another variable (the one ordering
// acquire/release leaves out). seq_cst store and load alone are enough for
// the C++ memory model and for ARMv8 hardware (STLR then LDAR), but
// qemu-user on an x86 host translates STLR/LDAR without the store-to-load
// barrier between them, and our AArch64 tests run there: a lost wake-up hung
// a worker in epoll_wait with work queued. A full fence (DMB ISH, MFENCE) is
// honoured everywhere, and these paths are on the way to or out of a sleep,
// where it costs nothing that matters.
inline void store_load_barrier() noexcept { std::atomic_thread_fence(std::memory_order_seq_cst); }

}  // namespace jiffy::detail
