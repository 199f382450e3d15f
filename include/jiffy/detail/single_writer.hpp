// jiffy/detail/single_writer.hpp — adding to a count that one thread writes
// and others only read.
//
// Rules:
//  * The caller is the count's only writer (a worker's own counters, a
//    queue's counts under its lock): a relaxed load and store then add
//    exactly, without the locked read-modify-write a shared count needs
//    (~20 cycles on x86, more when the line is contended).
//  * Readers on other threads see each value whole (the count is atomic) but
//    ordered with nothing: these are statistics and hints, never a
//    handshake. A count that must order other memory uses a real RMW.
#pragma once

#include <atomic>

namespace jiffy::detail {

// c += by, for c's only writer. Always inlined: GCC otherwise calls it out
// of line from the switch path, where most such counts are kept.
template <class T, class U>
[[gnu::always_inline]] inline void single_writer_add(std::atomic<T>& c, U by) noexcept {
  c.store(static_cast<T>(c.load(std::memory_order_relaxed) + static_cast<T>(by)), std::memory_order_relaxed);
}

}  // namespace jiffy::detail
