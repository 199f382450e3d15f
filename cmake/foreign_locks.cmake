# cmake/foreign_locks.cmake — the link flags that make locks jiffy does not
# own (std::mutex and every pthread mutex and rwlock, static initialisers,
# pthread_once/std::call_once) hold preemption off while held, and make the
# program's clock reads preemptible.
#
# Each -Wl,--wrap=NAME routes the program's calls to NAME through
# __wrap_NAME, defined in include/jiffy/detail/platform/lock_interposition.hpp
# (which explains the mechanism). The list must match the wrappers there;
# tests/foreign_locks_test.cpp exercises every one of them.
set(JIFFY_WRAPPED_LOCK_FUNCTIONS
  pthread_mutex_lock pthread_mutex_trylock pthread_mutex_timedlock pthread_mutex_clocklock pthread_mutex_unlock
  pthread_rwlock_rdlock pthread_rwlock_tryrdlock pthread_rwlock_timedrdlock pthread_rwlock_clockrdlock
  pthread_rwlock_wrlock pthread_rwlock_trywrlock pthread_rwlock_timedwrlock pthread_rwlock_clockwrlock
  pthread_rwlock_unlock pthread_once __cxa_guard_acquire __cxa_guard_release __cxa_guard_abort)
# Clock reads, so that a signal landing in the vDSO under them can preempt
# (include/jiffy/detail/platform/clock_interposition.hpp): clock_gettime and
# std::chrono::_V2::steady_clock::now() / system_clock::now().
set(JIFFY_WRAPPED_CLOCK_FUNCTIONS clock_gettime _ZNSt6chrono3_V212steady_clock3nowEv _ZNSt6chrono3_V212system_clock3nowEv)
list(TRANSFORM JIFFY_WRAPPED_LOCK_FUNCTIONS PREPEND "--wrap=" OUTPUT_VARIABLE jiffy_wrap_flags)
list(TRANSFORM JIFFY_WRAPPED_CLOCK_FUNCTIONS PREPEND "--wrap=" OUTPUT_VARIABLE jiffy_clock_wrap_flags)
list(APPEND jiffy_wrap_flags ${jiffy_clock_wrap_flags})
list(JOIN jiffy_wrap_flags "," jiffy_wrap_flags)
set(JIFFY_FOREIGN_LOCK_LINK_OPTIONS "LINKER:${jiffy_wrap_flags}")
