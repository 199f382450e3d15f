// jiffy/detail/platform/thread.hpp — what the runtime asks the OS about a
// worker's thread.
//
// Rules:
//  * A worker publishes an os_thread_view of itself once, from its own
//    thread, before the monitor starts (start_runtime's latch orders it);
//    the monitor reads it from its own thread afterwards.
//  * thread_cpu_ns() and thread_is_running() are two reads the monitor makes
//    on every tick; they must not allocate or lock.
//  * Windows: GetCurrentThreadId, QueryThreadCycleTime, and the thread's wait
//    state from NtQuerySystemInformation (or no such check).
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

namespace jiffy::detail {

// The calling thread's id, as the kernel numbers it.
inline pid_t current_thread_id() noexcept { return static_cast<pid_t>(::syscall(SYS_gettid)); }

// One thread, as another thread can observe it.
struct os_thread_view {
  pid_t tid = 0;          // the kernel's thread id (signals are aimed at it)
  clockid_t cpu_clock{};  // its CPU-time clock
  int stat_fd = -1;       // /proc/thread-self/stat, opened by the thread itself

  // Called on the thread being described.
  void describe_current_thread() noexcept {
    tid = current_thread_id();
    pthread_getcpuclockid(pthread_self(), &cpu_clock);
    stat_fd = ::open("/proc/thread-self/stat", O_RDONLY | O_CLOEXEC);
  }
  void release() noexcept {
    if (stat_fd >= 0) ::close(stat_fd);
    stat_fd = -1;
  }
};

// The thread's CPU time in nanoseconds (-1 if the clock is unreadable).
inline std::int64_t thread_cpu_ns(clockid_t clock) noexcept {
  timespec ts{};
  if (clock_gettime(clock, &ts) != 0) return -1;
  return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// Whether the kernel has the thread running or runnable ('R' in its stat
// file) rather than asleep in a system call. Read right before signalling,
// it narrows the window in which a signal could land in a system call the
// thread is just entering to microseconds. Unknown counts as running.
inline bool thread_is_running(int stat_fd) noexcept {
  if (stat_fd < 0) return true;
  char buf[512];
  ssize_t n = ::pread(stat_fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return true;
  buf[n] = 0;
  const char* close_paren = nullptr;
  for (const char* p = buf; *p; ++p)
    if (*p == ')') close_paren = p;  // the command name may itself contain ')'
  return !close_paren || close_paren[1] != ' ' || close_paren[2] == 'R';
}

// The system call a thread is blocked in, from /proc/self/task/<tid>/syscall
// (its first field): the call's number, -1 if the thread is running in user
// space or the file is unreadable. Not async-signal-safe; the monitor only.
inline long blocked_syscall(pid_t tid) noexcept {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/syscall", static_cast<int>(tid));
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[64];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0 || buf[0] < '0' || buf[0] > '9') return -1;  // "running" or an error
  buf[n] = 0;
  return std::strtol(buf, nullptr, 10);
}

inline constexpr const char* futex_wait_meaning = "futex: a lock, condition variable, static guard or call_once";

// What a blocked system call means, for a report: futex waits are locks,
// condition variables, once-guards and thread joins.
inline const char* blocked_syscall_meaning(long nr) noexcept {
  switch (nr) {
    case SYS_futex: return futex_wait_meaning;
#ifdef SYS_poll
    case SYS_poll: return "poll";
#endif
    case SYS_ppoll: return "ppoll";
    case SYS_epoll_pwait: return "epoll_pwait";
    case SYS_read: return "read";
    case SYS_nanosleep: return "nanosleep";
    case SYS_clock_nanosleep: return "clock_nanosleep";
    default: return "a system call";
  }
}

// Whether a blocked thread waits in a futex: its system call's number, or
// else its wait channel (/proc/self/task/<tid>/wchan, the kernel function it
// sleeps in), which also answers under qemu-user, where the syscall file
// shows the host's numbers. Not async-signal-safe; the monitor only.
inline bool blocked_in_futex(pid_t tid, long syscall_nr) noexcept {
  if (syscall_nr == SYS_futex) return true;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/wchan", static_cast<int>(tid));
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[64];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  return n >= 5 && std::strncmp(buf, "futex", 5) == 0;
}

// A thread the runtime starts and later joins (a worker, the monitor).
// Unlike std::thread, starting one takes nothing from the heap.
using thread_handle = pthread_t;

// Puts `thread` under SCHED_FIFO at `priority` (1-99). Returns 0, or the
// error (EPERM without CAP_SYS_NICE or a large enough RLIMIT_RTPRIO).
inline int make_thread_realtime(thread_handle thread, int priority) noexcept {
  sched_param p{};
  p.sched_priority = priority;
  return pthread_setschedparam(thread, SCHED_FIFO, &p);
}

// Starts a joinable thread running fn(arg) with the default stack. Returns 0
// or the error (EAGAIN: the process or system thread limit).
[[nodiscard]] inline int start_thread(thread_handle& t, void* (*fn)(void*), void* arg) noexcept {
  return pthread_create(&t, nullptr, fn, arg);
}
inline void join_thread(thread_handle t) noexcept { pthread_join(t, nullptr); }

// Starts a detached thread running fn(arg) with the default stack. Returns 0
// or the error (EAGAIN: the process or system thread limit).
inline int start_detached_thread(void* (*fn)(void*), void* arg) noexcept {
  pthread_t t;
  int err = pthread_create(&t, nullptr, fn, arg);
  if (err == 0) pthread_detach(t);
  return err;
}

// Gives the CPU to another runnable thread, if any.
inline void yield_thread() noexcept { ::sched_yield(); }

// The kernel lets a normal thread's timed sleep end up to 50 us late (its
// timer slack) to batch wake-ups; the monitor and the workers ask for 1 ns
// (an idle worker sleeps until its fibers' earliest timer).
inline void use_minimal_timer_slack() noexcept { ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL); }

// Sleeps the calling thread until `deadline_ns` (absolute CLOCK_MONOTONIC).
inline void sleep_thread_until(std::int64_t deadline_ns) noexcept {
  timespec ts{static_cast<time_t>(deadline_ns / 1000000000), static_cast<long>(deadline_ns % 1000000000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

}  // namespace jiffy::detail
