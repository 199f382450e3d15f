// bench/lockbench_locks.cpp — the locks `lockbench` knows, by the names
// the command line uses: each jiffy lock and its holder-preemptible twin
// (holder_preemptible.hpp), jiffy::mutex, std::mutex, std::shared_mutex,
// pthread_spinlock_t, and Concurrency Kit's fas/ticket/mcs spinlocks when
// built with them (lockbench_ck.c); the roster and the other libraries'
// locks come from lockbench_roster.cpp. Also the named groups --locks
// accepts. These files instantiate lockbench.hpp's measurements, once per
// lock.
#include "holder_preemptible.hpp"
#include "lockbench_tool.hpp"

#include <jiffy/spinlock.hpp>
#include <jiffy/sync.hpp>

#include <mutex>
#include <pthread.h>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

// ------------------------------------------------------- Concurrency Kit ----

#if JIFFY_LOCKBENCH_HAVE_CK
// Must match lockbench_ck.c.
extern "C" {
struct lockbench_ck_ops {
  const char* name;
  std::size_t size;
  std::size_t waiter_size;
  void* (*create)(void);
  void* (*new_waiter)(void);
  void (*release)(void*);
  void (*lock)(void* lock, void* waiter);
  void (*unlock)(void* lock, void* waiter);
  void (*loop)(void* lock, void* waiter, unsigned long pairs);
};
const lockbench_ck_ops* lockbench_ck_get(int kind);
}

namespace {

// A CK lock behind lockbench_ck.c's table; Kind as lockbench_ck_get() takes it.
template <int Kind>
class ck_lock {
 public:
  // A contender's handle: its own waiter state (MCS node) and the lock.
  class waiter {
   public:
    waiter(const lockbench_ck_ops* ops, void* lock) : ops_(ops), lock_(lock) {
      if (ops_->new_waiter) node_ = ops_->new_waiter();
    }
    waiter(waiter&& o) noexcept : ops_(o.ops_), lock_(o.lock_), node_(std::exchange(o.node_, nullptr)) {}
    waiter(const waiter&) = delete;
    waiter& operator=(const waiter&) = delete;
    waiter& operator=(waiter&&) = delete;
    ~waiter() {
      if (node_) ops_->release(node_);
    }
    void lock() { ops_->lock(lock_, node_); }
    void unlock() { ops_->unlock(lock_, node_); }
    void lock_unlock_loop(std::uint64_t n) { ops_->loop(lock_, node_, static_cast<unsigned long>(n)); }

   private:
    const lockbench_ck_ops* ops_;
    void* lock_;
    void* node_ = nullptr;
  };

  ck_lock() : ops_(lockbench_ck_get(Kind)), lock_(ops_->create()) {}
  ck_lock(const ck_lock&) = delete;
  ck_lock& operator=(const ck_lock&) = delete;
  ~ck_lock() { ops_->release(lock_); }

  waiter contender() { return waiter(ops_, lock_); }
  std::size_t lockbench_size() const { return ops_->size; }

 private:
  const lockbench_ck_ops* ops_;
  void* lock_;
};

}  // namespace
#endif

namespace lockbench::tool {
namespace {

class pthread_spin {
 public:
  pthread_spin() { pthread_spin_init(&l_, PTHREAD_PROCESS_PRIVATE); }
  pthread_spin(const pthread_spin&) = delete;
  pthread_spin& operator=(const pthread_spin&) = delete;
  ~pthread_spin() { pthread_spin_destroy(&l_); }
  void lock() { pthread_spin_lock(&l_); }
  void unlock() { pthread_spin_unlock(&l_); }
  std::size_t lockbench_size() const { return sizeof l_; }

 private:
  pthread_spinlock_t l_;
};

namespace hp = jiffy_bench::holder_preemptible;

// Locks lockbench knows that need a package, and which.
struct optional_lock {
  const char* name;
  bool built;
  const char* package;
};

const optional_lock optional_locks[] = {
    {"ck_fas", JIFFY_LOCKBENCH_HAVE_CK, "Concurrency Kit (Debian: libck-dev)"},
    {"ck_ticket", JIFFY_LOCKBENCH_HAVE_CK, "Concurrency Kit (Debian: libck-dev)"},
    {"ck_mcs", JIFFY_LOCKBENCH_HAVE_CK, "Concurrency Kit (Debian: libck-dev)"},
    {"tbb_spin", JIFFY_LOCKBENCH_HAVE_TBB, "oneTBB (Debian: libtbb-dev)"},
    {"tbb_queuing", JIFFY_LOCKBENCH_HAVE_TBB, "oneTBB (Debian: libtbb-dev)"},
    {"absl_mutex", JIFFY_LOCKBENCH_HAVE_ABSL, "Abseil (Debian: libabsl-dev)"},
};

std::vector<lock_entry> jiffy_and_std_locks() {
  return {
      make_entry<jiffy::spinlock>("spinlock", "jiffy::spinlock (TTAS)"),
      make_entry<hp::spinlock>("hp_spinlock", "jiffy_bench::holder_preemptible::spinlock"),
      make_entry<jiffy::ticket_spinlock>("ticket", "jiffy::ticket_spinlock"),
      make_entry<hp::ticket_spinlock>("hp_ticket", "jiffy_bench::holder_preemptible::ticket_spinlock"),
      make_entry<jiffy::mcs_spinlock>("mcs", "jiffy::mcs_spinlock"),
      make_entry<hp::mcs_spinlock>("hp_mcs", "jiffy_bench::holder_preemptible::mcs_spinlock"),
      make_entry<jiffy::rw_spinlock>("rw", "jiffy::rw_spinlock (exclusive lock())"),
      make_entry<hp::rw_spinlock>("hp_rw", "jiffy_bench::holder_preemptible::rw_spinlock (exclusive)"),
      make_entry<jiffy::seqlock>("seqlock", "jiffy::seqlock (writer lock)"),
      make_entry<hp::seqlock>("hp_seqlock", "jiffy_bench::holder_preemptible::seqlock (writer)"),
      make_entry<jiffy::mutex>("jiffy_mutex", "jiffy::mutex (parks fibers)"),
      make_entry<std::mutex>("std_mutex", "std::mutex", true),
      make_entry<std::shared_mutex>("std_shared_mutex", "std::shared_mutex (exclusive lock())", true),
      make_entry<pthread_spin>("pthread_spin", "pthread_spinlock_t", true),
  };
}

std::vector<lock_entry> ck_locks() {
#if JIFFY_LOCKBENCH_HAVE_CK
  return {
      make_entry<ck_lock<0>>("ck_fas", "Concurrency Kit ck_spinlock_fas"),
      make_entry<ck_lock<1>>("ck_ticket", "Concurrency Kit ck_spinlock_ticket"),
      make_entry<ck_lock<2>>("ck_mcs", "Concurrency Kit ck_spinlock_mcs (+ node per waiter)"),
  };
#else
  return {};
#endif
}

std::vector<lock_entry> collect_locks() {
  std::vector<lock_entry> v;
  for (std::vector<lock_entry> part : {jiffy_and_std_locks(), ck_locks(), roster_locks(), library_locks()})
    v.insert(v.end(), part.begin(), part.end());
  return v;
}

std::vector<std::string> names_of_group(const std::string& g) {
  if (g == "jiffy") return {"spinlock", "ticket", "mcs", "rw", "seqlock", "jiffy_mutex"};
  if (g == "hp") return {"hp_spinlock", "hp_ticket", "hp_mcs", "hp_rw", "hp_seqlock"};
  if (g == "os") return {"std_mutex", "std_shared_mutex", "pthread_spin", "pthread_adaptive"};
  if (g == "ck") return {"ck_fas", "ck_ticket", "ck_mcs"};
  if (g == "roster") return {"clh", "anderson", "ticket_backoff", "hemlock", "mcs_tp"};
  if (g == "libs") return {"tbb_spin", "tbb_queuing", "absl_mutex", "pthread_adaptive"};
  if (g == "queue") return {"mcs", "hp_mcs", "ck_mcs", "clh", "anderson", "hemlock", "mcs_tp", "tbb_queuing"};
  if (g == "fair")
    return {"ticket", "hp_ticket", "mcs",     "hp_mcs", "ck_ticket",      "ck_mcs",
            "clh",    "anderson",  "hemlock", "mcs_tp", "ticket_backoff", "tbb_queuing"};
  if (g == "baseline") return {"empty", "fetch_add"};
  return {};
}

const char* const group_names = "all, jiffy, hp, os, ck, roster, libs, queue, fair, baseline";

}  // namespace

const std::vector<lock_entry>& all_locks() {
  static const std::vector<lock_entry> locks = collect_locks();
  return locks;
}

const lock_entry* find_lock(const std::string& name) {
  for (const lock_entry& e : all_locks())
    if (name == e.name) return &e;
  return nullptr;
}

std::string why_not_built(const std::string& name) {
  for (const optional_lock& o : optional_locks)
    if (name == o.name && !o.built) return std::string("lockbench was built without ") + o.package;
  return "";
}

std::vector<std::string> unbuilt_locks() {
  std::vector<std::string> v;
  for (const optional_lock& o : optional_locks)
    if (!o.built) v.push_back(o.name);
  return v;
}

// Named groups usable in --locks: every lock of the group that was built.
std::vector<std::string> lock_group(const std::string& g) {
  std::vector<std::string> v;
  if (g == "all") {
    for (const lock_entry& e : all_locks()) v.push_back(e.name);
    return v;
  }
  for (const std::string& name : names_of_group(g))
    if (find_lock(name) || !why_not_built(name).empty()) v.push_back(name);
  return v;
}

std::string valid_lock_names() {
  std::string s;
  for (const lock_entry& e : all_locks()) s += std::string(s.empty() ? "" : ", ") + e.name;
  return s + "; groups: " + group_names;
}

}  // namespace lockbench::tool
