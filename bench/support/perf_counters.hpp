// bench/support/perf_counters.hpp — a few Linux perf counters for the whole
// process, counting only while enabled (lockbench --counters).
//
// How: one perf_event_open() per counter, for the calling thread with
// `inherit` set, opened disabled. Threads the caller starts afterwards
// inherit the counter; enabling or disabling it through the caller's file
// descriptor does the same to every inherited copy (the kernel walks the
// children), and a child's count is added to the caller's when the child
// exits. So: open, start the threads, enable/disable around the window, join
// the threads, read. User space only (exclude_kernel: allowed at
// perf_event_paranoid 2, Debian's default) except the software counters,
// which the kernel counts for the task itself.
//
// A counter the machine cannot count — no PMU in most VMs (ENOENT), a
// paranoid setting (EACCES/EPERM) — is not an error: it is reported as
// unavailable with the reason, and the others still count.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <linux/perf_event.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace bench {

struct perf_counter_kind {
  const char* name;
  std::uint32_t type;
  std::uint64_t config;
};

inline const std::vector<perf_counter_kind>& perf_counter_kinds() {
  static const std::vector<perf_counter_kind> kinds = {
      {"cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES},
      {"instructions", PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS},
      {"cache-misses", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES},
      {"branch-misses", PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_MISSES},
      {"context-switches", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES},
      {"cpu-migrations", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_MIGRATIONS},
      {"page-faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS},
  };
  return kinds;
}

inline const perf_counter_kind* find_perf_counter(const std::string& name) {
  for (const perf_counter_kind& k : perf_counter_kinds())
    if (name == k.name) return &k;
  return nullptr;
}

class perf_counter {
 public:
  explicit perf_counter(const perf_counter_kind& kind) : kind_(&kind) {
    perf_event_attr a;
    std::memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = kind.type;
    a.config = kind.config;
    a.disabled = 1;
    a.inherit = 1;
    a.exclude_kernel = kind.type == PERF_TYPE_HARDWARE;
    a.exclude_hv = 1;
    fd_ = static_cast<int>(syscall(SYS_perf_event_open, &a, 0, -1, -1, 0));
    if (fd_ < 0) error_ = errno;
  }
  perf_counter(const perf_counter&) = delete;
  perf_counter& operator=(const perf_counter&) = delete;
  ~perf_counter() {
    if (fd_ >= 0) close(fd_);
  }

  const char* name() const { return kind_->name; }
  bool available() const { return fd_ >= 0; }
  // Why not, for a message.
  std::string why_unavailable() const {
    std::string s = "perf_event_open: ";
    s += std::strerror(error_);
    if (error_ == ENOENT || error_ == EOPNOTSUPP) s += " (no such counter here: most VMs have no hardware PMU)";
    if (error_ == EACCES || error_ == EPERM) s += " (forbidden: see /proc/sys/kernel/perf_event_paranoid)";
    return s;
  }

  void reset_and_enable() {
    if (fd_ < 0) return;
    ioctl(fd_, PERF_EVENT_IOC_RESET, 0);
    ioctl(fd_, PERF_EVENT_IOC_ENABLE, 0);
  }
  void disable() {
    if (fd_ >= 0) ioctl(fd_, PERF_EVENT_IOC_DISABLE, 0);
  }
  // The count (children that have exited included); 0 if unavailable.
  std::uint64_t read_count() const {
    std::uint64_t v = 0;
    if (fd_ < 0 || read(fd_, &v, sizeof v) != static_cast<ssize_t>(sizeof v)) return 0;
    return v;
  }

 private:
  const perf_counter_kind* kind_;
  int fd_ = -1;
  int error_ = 0;
};

}  // namespace bench
