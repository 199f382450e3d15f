// tests/torture.cpp — a seeded random mix of everything jiffy offers, in the
// spirit of the kernel's locktorture and rcutorture, checking invariants as
// it goes and printing a summary.
//
// Each configuration (workers × preemption mode) runs `fibers` fibers that
// pick operations at random (seeded per fiber): yield; sleep; jiffy::mutex,
// condition_variable and wait_group; every jiffy spinlock; preempt_disable
// regions; std::mutex and function-local statics (foreign locks); pipe I/O
// with deadlines; spawn/join/detach; floating-point work that must come out
// bit-identical. Plain threads meanwhile take the same jiffy::mutex, notify
// the same condition variable, and spawn and join fibers.
//
// Checked: mutual exclusion of every lock (a probe counts overlaps); every
// wait ends (a watchdog aborts, naming the configuration, if a run outlives
// its time by far); counters balance (tokens produced = consumed + left,
// bytes written = read + drained, children spawned = children run, each
// exactly once); FP results bit-identical to a reference computed up front;
// the preempt count is 0 between operations and the worker is stable inside
// preempt_disable.
//
// Usage: torture [--seed N] [--seconds S] [--workers N] [--mode full|voluntary|both]
//   --seconds is the whole run, shared by the configurations (default 24);
//   --workers picks one count (default: 1, 2, 4 and 8 in turn).
// Exit status 0 when every invariant held, 1 otherwise (each violation is
// printed), 2 on a bad command line.
#include <jiffy/jiffy.hpp>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;

namespace {

std::atomic<int> violations{0};

void violation(const char* what, const std::string& config) {
  violations.fetch_add(1);
  std::fprintf(stderr, "torture: VIOLATION in %s: %s\n", config.c_str(), what);
}

struct rng {
  std::uint64_t s;
  std::uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  unsigned below(unsigned n) { return static_cast<unsigned>(next() % n); }
};

// Counts overlapping critical sections.
struct probe {
  std::atomic<int> inside{0};
  std::atomic<std::uint64_t> overlaps{0}, entries{0};
  void enter() {
    if (inside.fetch_add(1, std::memory_order_relaxed) != 0) overlaps.fetch_add(1, std::memory_order_relaxed);
    entries.fetch_add(1, std::memory_order_relaxed);
  }
  void leave() { inside.fetch_sub(1, std::memory_order_relaxed); }
};

[[gnu::noinline]] double fp_work(std::uint64_t seed) {
  double x = static_cast<double>(seed % 1000) + 0.5;
  for (int i = 0; i < 200; ++i) x = std::sqrt(x * 1.000001 + 3.25) + std::sin(x) * 1e-3;
  return x;
}

[[gnu::noinline]] void busy(int n) {
  volatile double x = 1;
  for (int i = 0; i < n; ++i) x = x * 1.0000001 + 1e-9;
}

template <int I>
int slow_static() {
  static const int v = [] {
    busy(20000);
    return I + 7;
  }();
  return v;
}

struct shared_state {
  std::string config;
  jiffy::mutex m;
  probe m_probe;
  jiffy::condition_variable cv;
  std::int64_t tokens = 0;  // guarded by m
  std::atomic<std::int64_t> produced{0}, consumed{0};
  jiffy::spinlock spin;
  jiffy::ticket_spinlock ticket;
  jiffy::mcs_spinlock mcs;
  jiffy::rw_spinlock rw;
  jiffy::seqlock seq;
  probe spin_probe, ticket_probe, mcs_probe, rw_probe;
  std::atomic<std::int64_t> seq_a{0}, seq_b{0};  // written under seq; equal when read consistently
  std::mutex std_m;
  probe std_probe;
  int pipe_fd[2] = {-1, -1};
  jiffy::file pipe_r, pipe_w;
  std::atomic<std::int64_t> bytes_written{0}, bytes_read{0};
  std::atomic<std::int64_t> children_spawned{0}, children_ran{0};
  std::atomic<std::uint64_t> ops{0};
  std::atomic<bool> stop{false};
  double fp_reference[16];
};

void one_op(shared_state& s, rng& r, unsigned op) {
  switch (op) {
    case 0: jiffy::this_fiber::yield(); break;
    case 1: jiffy::this_fiber::sleep_for(std::chrono::microseconds(r.below(200))); break;
    case 2: {
      std::lock_guard<jiffy::mutex> g(s.m);
      s.m_probe.enter();
      busy(200);
      s.m_probe.leave();
      break;
    }
    case 3: {  // produce a token
      {
        std::lock_guard<jiffy::mutex> g(s.m);
        ++s.tokens;
      }
      s.produced.fetch_add(1);
      s.cv.notify_one();
      break;
    }
    case 4: {  // consume a token, waiting at most 1 ms
      std::unique_lock<jiffy::mutex> lk(s.m);
      if (s.cv.wait_for(lk, 1ms, [&] { return s.tokens > 0; })) {
        --s.tokens;
        s.consumed.fetch_add(1);
      }
      if (s.tokens < 0) violation("condition variable: tokens below zero", s.config);
      break;
    }
    case 5: {  // wait_group over children
      int k = 1 + static_cast<int>(r.below(4));
      jiffy::wait_group wg(k);
      std::atomic<int> ran{0};
      for (int i = 0; i < k; ++i) {
        s.children_spawned.fetch_add(1);
        jiffy::spawn([&] {
          ran.fetch_add(1);
          s.children_ran.fetch_add(1);
          wg.done();
        }).detach();
      }
      wg.wait();
      if (ran.load() != k) violation("wait_group: wait ended before every child ran", s.config);
      break;
    }
    case 6: {
      auto with = [&](auto& lock, probe& p) {
        lock.lock();
        p.enter();
        busy(100);
        p.leave();
        lock.unlock();
      };
      switch (r.below(4)) {
        case 0: with(s.spin, s.spin_probe); break;
        case 1: with(s.ticket, s.ticket_probe); break;
        case 2: with(s.mcs, s.mcs_probe); break;
        default: with(s.rw, s.rw_probe); break;
      }
      break;
    }
    case 7: {  // rw readers and the seqlock
      if (r.below(2)) {
        s.rw.lock_shared();
        if (s.rw_probe.inside.load(std::memory_order_relaxed) != 0)
          violation("rw_spinlock: reader beside a writer", s.config);
        s.rw.unlock_shared();
      } else if (r.below(2)) {
        s.seq.lock();
        s.seq_a.store(s.seq_a.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        busy(50);
        s.seq_b.store(s.seq_b.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        s.seq.unlock();
      } else {
        std::int64_t a, b;
        std::uint32_t v;
        do {
          v = s.seq.read_begin();
          a = s.seq_a.load(std::memory_order_relaxed);
          b = s.seq_b.load(std::memory_order_relaxed);
        } while (s.seq.read_retry(v));
        if (a != b) violation("seqlock: torn read", s.config);
      }
      break;
    }
    case 8: {  // preempt_disable region: stays on its worker
      unsigned before = jiffy::this_fiber::worker_index();
      jiffy::preempt_guard g;
      busy(300);
      if (jiffy::this_fiber::worker_index() != before) violation("preempt_disable: migrated", s.config);
      if (jiffy::preempt_count() == 0) violation("preempt_disable: count is 0 inside", s.config);
      break;
    }
    case 9: {  // foreign locks: std::mutex and statics
      {
        std::lock_guard<std::mutex> g(s.std_m);
        s.std_probe.enter();
        busy(100);
        s.std_probe.leave();
      }
      int v = slow_static<0>() + slow_static<1>() + slow_static<2>();
      if (v != 7 + 8 + 9) violation("function-local static: wrong value", s.config);
      break;
    }
    case 10: {  // pipe I/O with deadlines
      if (r.below(2)) {
        char c = 'x';
        auto w = s.pipe_w.write(&c, 1, jiffy::after(1ms));
        if (w) s.bytes_written.fetch_add(static_cast<std::int64_t>(w.value));
      } else {
        char buf[16];
        auto rd = s.pipe_r.read(buf, sizeof buf, jiffy::after(1ms));
        if (rd) s.bytes_read.fetch_add(static_cast<std::int64_t>(rd.value));
      }
      break;
    }
    case 11: {  // spawn and join, or detach
      s.children_spawned.fetch_add(1);
      auto f = jiffy::spawn([&] { s.children_ran.fetch_add(1); });
      if (r.below(2))
        f.join();
      else
        f.detach();
      break;
    }
    default: {  // floating point, bit-identical under preemption
      unsigned i = r.below(16);
      double x = fp_work(i);
      if (std::memcmp(&x, &s.fp_reference[i], sizeof x) != 0) violation("floating point: result differs", s.config);
      break;
    }
  }
  if (jiffy::preempt_count() != 0) violation("preempt_count not 0 between operations", s.config);
}

constexpr unsigned op_count = 13;

void check_probe(const probe& p, const char* name, const std::string& config) {
  if (p.overlaps.load() != 0) violation((std::string(name) + ": mutual exclusion broken").c_str(), config);
}

struct summary {
  std::uint64_t ops = 0, preemptions = 0, deferred = 0, switches = 0;
};

summary run_config(unsigned workers, jiffy::preempt_mode mode, std::chrono::milliseconds length, std::uint64_t seed) {
  shared_state s;
  s.config = std::to_string(workers) + (workers == 1 ? " worker, " : " workers, ") +
             (mode == jiffy::preempt_mode::full ? "full at 50 us" : "voluntary at 50 us");
  for (unsigned i = 0; i < 16; ++i) s.fp_reference[i] = fp_work(i);
  if (::pipe2(s.pipe_fd, O_CLOEXEC) != 0) {
    std::perror("torture: pipe");
    std::exit(1);
  }
  s.pipe_r = jiffy::file(s.pipe_fd[0]);
  s.pipe_w = jiffy::file(s.pipe_fd[1]);
  jiffy::runtime_stats stats;
  {
    jiffy::runtime rt({.workers = workers, .preempt = mode, .quantum = 50us});
    constexpr int fibers = 32;
    std::vector<jiffy::fiber> fs;
    for (int f = 0; f < fibers; ++f)
      fs.push_back(rt.spawn([&s, f, seed] {
        rng r{seed * 0x9e3779b97f4a7c15ull + static_cast<std::uint64_t>(f) * 0xbf58476d1ce4e5b9ull + 1};
        while (!s.stop.load(std::memory_order_relaxed)) {
          one_op(s, r, r.below(op_count));
          s.ops.fetch_add(1, std::memory_order_relaxed);
        }
      }));
    // Plain threads beside the fibers.
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t)
      threads.emplace_back([&s, &rt] {
        while (!s.stop.load(std::memory_order_relaxed)) {
          {
            std::lock_guard<jiffy::mutex> g(s.m);
            s.m_probe.enter();
            s.m_probe.leave();
            ++s.tokens;
          }
          s.produced.fetch_add(1);
          s.cv.notify_all();
          s.children_spawned.fetch_add(1);
          rt.spawn([&s] { s.children_ran.fetch_add(1); }).join();
          std::this_thread::sleep_for(200us);
        }
      });
    std::this_thread::sleep_for(length);
    s.stop = true;
    for (auto& f : fs) f.join();
    for (auto& t : threads) t.join();
    stats = rt.stats();
  }  // the runtime waits for detached children here
  // Drain the pipe.
  (void)s.pipe_w.close();
  char buf[256];
  for (;;) {
    auto rd = s.pipe_r.read(buf, sizeof buf);
    if (!rd || rd.value == 0) break;
    s.bytes_read.fetch_add(static_cast<std::int64_t>(rd.value));
  }
  check_probe(s.m_probe, "jiffy::mutex", s.config);
  check_probe(s.spin_probe, "spinlock", s.config);
  check_probe(s.ticket_probe, "ticket_spinlock", s.config);
  check_probe(s.mcs_probe, "mcs_spinlock", s.config);
  check_probe(s.rw_probe, "rw_spinlock", s.config);
  check_probe(s.std_probe, "std::mutex", s.config);
  if (s.produced.load() != s.consumed.load() + s.tokens)
    violation("condition variable: produced != consumed + left", s.config);
  if (s.bytes_written.load() != s.bytes_read.load()) violation("pipe: bytes written != bytes read", s.config);
  if (s.children_spawned.load() != s.children_ran.load()) violation("spawn: a child was lost or ran twice", s.config);
  std::printf("  %-30s %10" PRIu64 " ops  %8" PRIu64 " switches  %7" PRIu64 " preemptions  %7" PRIu64 " deferred\n",
              s.config.c_str(), s.ops.load(), stats.context_switches, stats.preemptions, stats.deferred_preemptions);
  return {s.ops.load(), stats.preemptions, stats.deferred_preemptions, stats.context_switches};
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "torture: %s\nusage: torture [--seed N] [--seconds S] [--workers N] [--mode full|voluntary|both]\n",
               why);
  std::exit(2);
}

long number(const char* flag, const char* text, long min, long max) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(text, &end, 10);
  if (errno || !end || *end || v < min || v > max)
    usage((std::string(flag) + " wants a whole number from " + std::to_string(min) + " to " + std::to_string(max) +
           " (got '" + text + "')")
              .c_str());
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t seed = 1;
  long seconds = 24;
  std::vector<unsigned> worker_counts = {1, 2, 4, 8};
  std::vector<jiffy::preempt_mode> modes = {jiffy::preempt_mode::full, jiffy::preempt_mode::voluntary};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) usage(("missing value after " + a).c_str());
    const char* v = argv[++i];
    if (a == "--seed")
      seed = static_cast<std::uint64_t>(number("--seed", v, 0, 1L << 62));
    else if (a == "--seconds")
      seconds = number("--seconds", v, 1, 7 * 24 * 3600);
    else if (a == "--workers")
      worker_counts = {static_cast<unsigned>(number("--workers", v, 1, 256))};
    else if (a == "--mode") {
      std::string m = v;
      if (m == "full")
        modes = {jiffy::preempt_mode::full};
      else if (m == "voluntary")
        modes = {jiffy::preempt_mode::voluntary};
      else if (m != "both")
        usage(("--mode wants full, voluntary or both (got '" + m + "')").c_str());
    } else
      usage(("unknown option " + a).c_str());
  }
  const std::size_t configs = worker_counts.size() * modes.size();
  auto each = std::chrono::milliseconds(seconds * 1000 / static_cast<long>(configs));
  if (each < 100ms) each = 100ms;
  // A run that outlives its time by far is a hang: say which and stop.
  std::atomic<bool> finished{false};
  std::thread watchdog([&] {
    auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(seconds) * 3 + 60s;
    while (!finished.load()) {
      if (std::chrono::steady_clock::now() > limit) {
        std::fprintf(stderr, "torture: VIOLATION: the run did not finish in time (a hang)\n");
        std::abort();
      }
      std::this_thread::sleep_for(50ms);
    }
  });
  std::printf("torture: seed %" PRIu64 ", %ld s over %zu configurations (%s)\n", seed, seconds, configs,
              jiffy::foreign_locks_hold_off_preemption() ? "foreign locks wrapped" : "foreign locks NOT wrapped");
  summary total;
  for (unsigned w : worker_counts)
    for (auto m : modes) {
      summary s = run_config(w, m, each, seed);
      total.ops += s.ops;
      total.preemptions += s.preemptions;
      total.deferred += s.deferred;
      total.switches += s.switches;
    }
  finished = true;
  watchdog.join();
  std::printf("torture: %" PRIu64 " operations, %" PRIu64 " switches, %" PRIu64 " preemptions, %" PRIu64
              " deferred; %d violations\n",
              total.ops, total.switches, total.preemptions, total.deferred, violations.load());
  return violations.load() == 0 ? 0 : 1;
}
