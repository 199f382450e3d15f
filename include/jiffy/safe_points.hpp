// jiffy/safe_points.hpp — choosing which code a `full`-preemption signal may
// interrupt.
//
// Rules (the reason is in detail/safe_points.hpp):
//  * By default, only the main executable's code is preemptible; code in
//    shared objects (libc, libstdc++, the loader, your own .so files) is not,
//    because it may hold locks that jiffy cannot see. A fiber interrupted
//    there keeps running and is preempted at its next safe point instead.
//  * Allow a shared object of yours when you know it takes no locks that other
//    fibers on the same worker could need (or only jiffy locks and
//    preempt_disable()). Forbid a range of your executable that holds such a
//    lock without telling jiffy (say, code around a std::mutex).
//  * Forbidding wins over allowing. Registrations are process-wide and
//    permanent (up to 256 of them).
#pragma once

#include <jiffy/detail/safe_points.hpp>

#include <cstdint>

namespace jiffy {

// Makes the code of the module (executable or shared object) that contains
// `address_in_module` preemptible — pass the address of any function in it.
// Returns false if no loaded module contains the address.
inline bool allow_preemption_in_module(const void* address_in_module) noexcept {
  detail::safe_point_table::get().ensure_defaults();
  return address_in_module && detail::safe_point_table::get().add_module(address_in_module, true);
}

// Makes [begin, end) preemptible, or never preemptible. Returns false if the
// table is full or the range is empty.
inline bool allow_preemption_in_range(const void* begin, const void* end) noexcept {
  detail::safe_point_table::get().ensure_defaults();
  return detail::safe_point_table::get().add(reinterpret_cast<std::uintptr_t>(begin),
                                             reinterpret_cast<std::uintptr_t>(end), true);
}
inline bool forbid_preemption_in_range(const void* begin, const void* end) noexcept {
  detail::safe_point_table::get().ensure_defaults();
  return detail::safe_point_table::get().add(reinterpret_cast<std::uintptr_t>(begin),
                                             reinterpret_cast<std::uintptr_t>(end), false);
}

// Whether an asynchronous preemption may interrupt the instruction at `pc`.
inline bool preemption_allowed_at(const void* pc) noexcept {
  detail::safe_point_table::get().ensure_defaults();
  return detail::safe_point_table::get().allows(reinterpret_cast<std::uintptr_t>(pc));
}

}  // namespace jiffy
