// bench/holder_preemptible.hpp — jiffy's spinlock algorithms without the
// preemption integration, for measuring what the integration buys.
//
// What: jiffy_bench::holder_preemptible::spinlock, ticket_spinlock,
// mcs_spinlock, rw_spinlock and seqlock are the same templates as jiffy's
// locks (detail::basic_ttas_spinlock and the rest, in include/jiffy/spin/),
// instantiated with detail::ignore_preemption instead of
// detail::integrate_preemption: lock() does not disable preemption and
// unlock() does not re-enable it. That is what a plain user-space program
// writes, and what lockbench and the tests set against jiffy's locks
// (docs/benchmarks.md, "Locks").
//
// Why here and not in include/jiffy: a fiber holding one of these can be
// preempted while others spin for it — under `full` preemption on one
// worker, every waiter then burns its whole quantum for a holder that is not
// running, and a fair lock's queue stalls behind a waiter switched out when
// its turn came. That is the failure jiffy's locks exist to prevent, so the
// twins are kept out of the API where nobody can mistake them for locks to
// protect data with. They are still capabilities to Clang's thread-safety
// analysis (the attribute comes with the template).
//
// Rules:
//  * Benchmarks and tests only. Include as "holder_preemptible.hpp" with
//    bench/ on the include path (tests/CMakeLists.txt adds it).
//  * Same layout, same sizes, same waiting as their jiffy counterparts; only
//    the preempt count differs: holding one leaves preempt_count() at 0.
//  * mcs_spinlock's waiters can be switched out while queued, so they take
//    per-fiber queue nodes (detail/mcs_nodes.hpp) instead of per-thread ones.
#pragma once

#include <jiffy/spinlock.hpp>

namespace jiffy_bench::holder_preemptible {

using spinlock = jiffy::detail::basic_ttas_spinlock<jiffy::detail::ignore_preemption>;
using ticket_spinlock = jiffy::detail::basic_ticket_spinlock<jiffy::detail::ignore_preemption>;
using mcs_spinlock = jiffy::detail::basic_mcs_spinlock<jiffy::detail::ignore_preemption>;
using rw_spinlock = jiffy::detail::basic_rw_spinlock<jiffy::detail::ignore_preemption>;
using seqlock = jiffy::detail::basic_seqlock<jiffy::detail::ignore_preemption>;

}  // namespace jiffy_bench::holder_preemptible
