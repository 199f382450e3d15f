// cmake/foreign_locks.cpp — compiled into every target that links
// jiffy::jiffy while JIFFY_WRAP_FOREIGN_LOCKS is on (an INTERFACE source),
// so that the __wrap_ functions the link flags route calls to exist even in
// a program none of whose own files includes a jiffy header. The
// definitions are weak: copies from jiffy's headers merge with this one.
#include <jiffy/detail/platform/clock_interposition.hpp>
#include <jiffy/detail/platform/lock_interposition.hpp>
