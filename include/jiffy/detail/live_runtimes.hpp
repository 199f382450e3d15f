// jiffy/detail/live_runtimes.hpp — the process's list of live runtimes, where
// a debugger starts (tools/jiffy-gdb.py finds `jiffy::detail::live_runtimes`
// by name and walks each runtime's fiber lists, detail/live_fibers.hpp).
//
// Rules:
//  * A runtime is on the list from the end of start_runtime until
//    stop_runtime has joined its workers (no fiber is left then).
//  * Guarded by a std::mutex: only the threads that create and destroy
//    runtimes take it, never a fiber or a signal handler, and nothing is
//    done inside it but relinking.
#pragma once

#include <jiffy/detail/runtime_core.hpp>

#include <mutex>

namespace jiffy::detail {

struct live_runtime_list {
  std::mutex lock;
  runtime_core* head = nullptr;  // guarded by lock; linked through runtime_core::live_next
};

inline live_runtime_list live_runtimes;

inline void link_live_runtime(runtime_core* rt) noexcept {
  std::lock_guard<std::mutex> lk(live_runtimes.lock);
  rt->live_next = live_runtimes.head;
  if (live_runtimes.head) live_runtimes.head->live_prev = rt;
  live_runtimes.head = rt;
}

inline void unlink_live_runtime(runtime_core* rt) noexcept {
  std::lock_guard<std::mutex> lk(live_runtimes.lock);
  if (rt->live_prev)
    rt->live_prev->live_next = rt->live_next;
  else
    live_runtimes.head = rt->live_next;
  if (rt->live_next) rt->live_next->live_prev = rt->live_prev;
  rt->live_next = rt->live_prev = nullptr;
}

}  // namespace jiffy::detail
