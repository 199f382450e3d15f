// bench/bench_core.cpp — jiffy's core costs, next to Boost.Context/Boost.Fiber
// doing the same thing, in one binary so that one run gives the ratios.
//
// What is measured (each benchmark reports `per_op`, the time of one
// operation, besides Google Benchmark's time per loop iteration):
//
//  BM_switch/*        One raw context switch. Two contexts (the benchmark
//                     thread and one on a private mmap'd stack) jump back and
//                     forth; an iteration is a round trip, i.e. two switches.
//                     jiffy::detail::jump_context vs Boost.Context's
//                     jump_fcontext (the library under both Boost.Fiber and
//                     Boost.Coroutine2). BM_switch/jiffy_same_mxcsr is a
//                     diagnostic variant (see there).
//  BM_yield/*         One yield of a two-fiber round robin on one thread: a
//                     jiffy runtime with one worker and preemption off, vs
//                     Boost.Fiber's default round_robin scheduler. The timed
//                     loop runs in fiber A; fiber B yields back each time, so
//                     an iteration is a round trip, i.e. two yields.
//                     jiffy_no_run_delay: the same with
//                     runtime_options::measure_run_delay off.
//  BM_spawn_join/*    Starting an empty fiber from a fiber and joining it.
//                     Boost.Fiber with its default stack allocator (malloc)
//                     and with pooled_fixedsize_stack.
//  BM_spawn_batch/*   A burst: 1,000 empty fibers spawned from a fiber, then
//                     joined (a game frame's fan-out). per_op is per fiber.
//                     Boost.Fiber with pooled_fixedsize_stack, its fastest.
//  BM_preempt_pair/*  preempt_disable() + preempt_enable() around an empty
//                     critical section (benchmark::ClobberMemory), against the
//                     same shape done by hand on a thread_local counter: ++,
//                     signal fence, fence, --, test a thread_local flag. On a
//                     plain thread and inside a fiber. An iteration is
//                     kPairsPerIteration pairs so loop overhead stays small.
//  BM_std_mutex/*     An uncontended std::mutex lock + unlock inside a fiber:
//                     `wrapped` through jiffy's lock wrappers (the count is
//                     raised while held: platform/lock_interposition.hpp), as
//                     every program linked with jiffy::jiffy does; `direct`
//                     the same pthread mutex through the real functions, what
//                     the pair cost before the wrappers. An iteration is
//                     kPairsPerIteration pairs.
//  BM_mutex_pingpong/* One hand-off of a turn between two fibers through a
//                     mutex + condition variable: A sets turn = B, notifies,
//                     waits for its turn; B does the mirror image. An
//                     iteration is two hand-offs. jiffy on one worker (the
//                     Boost.Fiber set-up) and, for information, on two.
//
// How: the jiffy runtimes are created once (function-local statics) and
// reused by every run. A benchmark that needs a fiber runs its whole timed
// loop inside runtime::block_on: the benchmark thread blocks meanwhile, so
// handing `state` to the fiber is safe. The time is wall-clock (UseRealTime),
// because the CPU-time clock would belong to whichever thread ran the loop.
// Boost.Fiber benchmarks run on the benchmark thread, whose main context is
// itself a Boost fiber.
//
// bench/ratios.py turns --benchmark_format=json output into a table of
// jiffy/reference ratios against the project's targets.

#include <jiffy/jiffy.hpp>
#include <jiffy/detail/context.hpp>

#include <benchmark/benchmark.h>

#if JIFFY_BENCH_HAVE_BOOST
#include <boost/context/detail/fcontext.hpp>
#include <boost/fiber/all.hpp>
#endif

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <sys/mman.h>
#include <vector>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace {

// Seconds per repetition. Set here rather than by --benchmark_min_time (which
// a benchmark's own MinTime overrides) so that a run with 5 repetitions stays
// well under two minutes.
constexpr double kMinTime = 0.25;

// Adds the `per_op` counter: seconds per operation, given how many
// operations one iteration performs (shown as e.g. "12.3ns").
void report_per_op(benchmark::State& state, double ops_per_iteration) {
  state.counters["per_op"] = benchmark::Counter(ops_per_iteration * static_cast<double>(state.iterations()),
                                                benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// The runtimes every run reuses. preempt_mode::none: nothing but the
// benchmark decides when a fiber leaves the CPU.
jiffy::runtime& runtime_1w() {
  static jiffy::runtime rt({.workers = 1, .preempt = jiffy::preempt_mode::none});
  return rt;
}
jiffy::runtime& runtime_2w() {
  static jiffy::runtime rt({.workers = 2, .preempt = jiffy::preempt_mode::none});
  return rt;
}
// runtime_1w without run-delay measurement: what the clock reads cost.
jiffy::runtime& runtime_1w_no_run_delay() {
  static jiffy::runtime rt({.workers = 1, .preempt = jiffy::preempt_mode::none, .measure_run_delay = false});
  return rt;
}

// A stack for the raw-switch benchmarks.
class raw_stack {
 public:
  static constexpr std::size_t size = 64 * 1024;
  raw_stack() {
    base_ = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base_ == MAP_FAILED) {
      std::perror("mmap");
      std::abort();
    }
  }
  ~raw_stack() { ::munmap(base_, size); }
  raw_stack(const raw_stack&) = delete;
  raw_stack& operator=(const raw_stack&) = delete;
  void* top() const { return static_cast<char*>(base_) + size; }

 private:
  void* base_;
};

// ---------------------------------------------------------------------------
// Raw context switch.

// The other side of the ping-pong: jumps straight back, forever. It is never
// resumed after the benchmark ends; its stack is simply unmapped.
void jiffy_bounce(jiffy::detail::transfer t) noexcept {
  for (;;) t = jiffy::detail::jump_context(t.from, nullptr);
}

void BM_switch_jiffy(benchmark::State& state) {
  raw_stack stack;
  void* other = jiffy::detail::make_context(stack.top(), &jiffy_bounce);
  for (auto _ : state) other = jiffy::detail::jump_context(other, nullptr).from;
  report_per_op(state, 2);
}
BENCHMARK(BM_switch_jiffy)->Name("BM_switch/jiffy")->MinTime(kMinTime);

#if defined(__x86_64__)
// Diagnostic: the same, but the other context first adopts the benchmark
// thread's MXCSR, as Boost's make_fcontext does at creation. jiffy's
// make_context gives a new context the default MXCSR (0x1F80), while a
// thread that has done any inexact floating-point operation (Google
// Benchmark's own bookkeeping is enough) has the sticky "inexact" flag set
// (0x1FA0); every switch then loads a different MXCSR, which costs far more
// than the rest of the switch. With equal values this shows the jump alone.
void jiffy_bounce_adopting_mxcsr(jiffy::detail::transfer t) noexcept {
  _mm_setcsr(*static_cast<const unsigned*>(t.data));
  for (;;) t = jiffy::detail::jump_context(t.from, nullptr);
}

void BM_switch_jiffy_same_mxcsr(benchmark::State& state) {
  raw_stack stack;
  void* other = jiffy::detail::make_context(stack.top(), &jiffy_bounce_adopting_mxcsr);
  unsigned mxcsr = _mm_getcsr();
  other = jiffy::detail::jump_context(other, &mxcsr).from;
  for (auto _ : state) other = jiffy::detail::jump_context(other, nullptr).from;
  report_per_op(state, 2);
}
BENCHMARK(BM_switch_jiffy_same_mxcsr)->Name("BM_switch/jiffy_same_mxcsr")->MinTime(kMinTime);
#endif

#if JIFFY_BENCH_HAVE_BOOST
void boost_bounce(boost::context::detail::transfer_t t) {
  for (;;) t = boost::context::detail::jump_fcontext(t.fctx, nullptr);
}

void BM_switch_boost(benchmark::State& state) {
  raw_stack stack;
  boost::context::detail::fcontext_t other =
      boost::context::detail::make_fcontext(stack.top(), raw_stack::size, &boost_bounce);
  for (auto _ : state) other = boost::context::detail::jump_fcontext(other, nullptr).fctx;
  report_per_op(state, 2);
}
BENCHMARK(BM_switch_boost)->Name("BM_switch/boost_context")->MinTime(kMinTime);
#endif

// ---------------------------------------------------------------------------
// Yield round trip, two fibers on one thread.

void BM_yield_jiffy(benchmark::State& state, jiffy::runtime& rt) {
  rt.block_on([&state] {
    std::atomic<bool> stop{false};
    jiffy::fiber other = jiffy::spawn([&stop] {
      while (!stop.load(std::memory_order_relaxed)) jiffy::this_fiber::yield();
    });
    for (auto _ : state) jiffy::this_fiber::yield();
    stop.store(true, std::memory_order_relaxed);
    other.join();
  });
  report_per_op(state, 2);
}
void BM_yield_jiffy_1w(benchmark::State& state) { BM_yield_jiffy(state, runtime_1w()); }
BENCHMARK(BM_yield_jiffy_1w)->Name("BM_yield/jiffy")->UseRealTime()->MinTime(kMinTime);
void BM_yield_jiffy_no_run_delay(benchmark::State& state) { BM_yield_jiffy(state, runtime_1w_no_run_delay()); }
BENCHMARK(BM_yield_jiffy_no_run_delay)->Name("BM_yield/jiffy_no_run_delay")->UseRealTime()->MinTime(kMinTime);

#if JIFFY_BENCH_HAVE_BOOST
void BM_yield_boost(benchmark::State& state) {
  bool stop = false;
  boost::fibers::fiber other([&stop] {
    while (!stop) boost::this_fiber::yield();
  });
  for (auto _ : state) boost::this_fiber::yield();
  stop = true;
  other.join();
  report_per_op(state, 2);
}
BENCHMARK(BM_yield_boost)->Name("BM_yield/boost_fiber")->UseRealTime()->MinTime(kMinTime);
#endif

// ---------------------------------------------------------------------------
// Spawn + join of an empty fiber, from a fiber.

void BM_spawn_join_jiffy(benchmark::State& state) {
  runtime_1w().block_on([&state] {
    for (auto _ : state) jiffy::spawn([] {}).join();
  });
  report_per_op(state, 1);
}
BENCHMARK(BM_spawn_join_jiffy)->Name("BM_spawn_join/jiffy")->UseRealTime()->MinTime(kMinTime);

// Two workers: the new fiber may be stolen by the idle worker.
void BM_spawn_join_jiffy_2w(benchmark::State& state) {
  runtime_2w().block_on([&state] {
    for (auto _ : state) jiffy::spawn([] {}).join();
  });
  report_per_op(state, 1);
}
BENCHMARK(BM_spawn_join_jiffy_2w)->Name("BM_spawn_join/jiffy_2workers")->UseRealTime()->MinTime(kMinTime);

#if JIFFY_BENCH_HAVE_BOOST
void BM_spawn_join_boost(benchmark::State& state) {
  for (auto _ : state) boost::fibers::fiber([] {}).join();
  report_per_op(state, 1);
}
BENCHMARK(BM_spawn_join_boost)->Name("BM_spawn_join/boost_fiber")->UseRealTime()->MinTime(kMinTime);

void BM_spawn_join_boost_pooled(benchmark::State& state) {
  boost::fibers::pooled_fixedsize_stack stacks;  // copies share one pool
  for (auto _ : state) boost::fibers::fiber(std::allocator_arg, stacks, [] {}).join();
  report_per_op(state, 1);
}
BENCHMARK(BM_spawn_join_boost_pooled)->Name("BM_spawn_join/boost_fiber_pooled")->UseRealTime()->MinTime(kMinTime);
#endif

// ---------------------------------------------------------------------------
// A burst of kBatch spawns, then their joins.

constexpr int kBatch = 1000;

void BM_spawn_batch_jiffy(benchmark::State& state, jiffy::runtime& rt) {
  rt.block_on([&state] {
    std::vector<jiffy::fiber> fibers(kBatch);
    for (auto _ : state) {
      for (auto& f : fibers) f = jiffy::spawn([] {});
      for (auto& f : fibers) f.join();
    }
  });
  report_per_op(state, kBatch);
}
void BM_spawn_batch_jiffy_1w(benchmark::State& state) { BM_spawn_batch_jiffy(state, runtime_1w()); }
BENCHMARK(BM_spawn_batch_jiffy_1w)->Name("BM_spawn_batch/jiffy")->UseRealTime()->MinTime(kMinTime);
void BM_spawn_batch_jiffy_2w(benchmark::State& state) { BM_spawn_batch_jiffy(state, runtime_2w()); }
BENCHMARK(BM_spawn_batch_jiffy_2w)->Name("BM_spawn_batch/jiffy_2workers")->UseRealTime()->MinTime(kMinTime);

#if JIFFY_BENCH_HAVE_BOOST
void BM_spawn_batch_boost_pooled(benchmark::State& state) {
  boost::fibers::pooled_fixedsize_stack stacks;
  std::vector<boost::fibers::fiber> fibers(kBatch);
  for (auto _ : state) {
    for (auto& f : fibers) f = boost::fibers::fiber(std::allocator_arg, stacks, [] {});
    for (auto& f : fibers) f.join();
  }
  report_per_op(state, kBatch);
}
BENCHMARK(BM_spawn_batch_boost_pooled)->Name("BM_spawn_batch/boost_fiber_pooled")->UseRealTime()->MinTime(kMinTime);
#endif

// ---------------------------------------------------------------------------
// marl's Schedule/Empty re-created: 262,144 empty tasks, each a fiber
// spawned detached, counted down on a wait group that the spawner waits on.
// Heavy (on one worker every task is alive at once: 262,144 stacks; the
// Boost.Fiber row takes about 30 s), so one iteration each, and named so
// that the smoke test's /jiffy/ filter leaves them out.

constexpr int kEmptyTasks = 262144;

void BM_empty_tasks_jiffy(benchmark::State& state, jiffy::runtime& rt) {
  rt.block_on([&state] {
    for (auto _ : state) {
      jiffy::wait_group wg(kEmptyTasks);
      for (int i = 0; i < kEmptyTasks; ++i) jiffy::spawn([&wg] { wg.done(); }).detach();
      wg.wait();
    }
  });
  report_per_op(state, kEmptyTasks);
}
void BM_empty_tasks_jiffy_1w(benchmark::State& state) { BM_empty_tasks_jiffy(state, runtime_1w()); }
BENCHMARK(BM_empty_tasks_jiffy_1w)->Name("BM_empty_tasks/jiffy_1worker")->UseRealTime()->Iterations(1);
void BM_empty_tasks_jiffy_2w(benchmark::State& state) { BM_empty_tasks_jiffy(state, runtime_2w()); }
BENCHMARK(BM_empty_tasks_jiffy_2w)->Name("BM_empty_tasks/jiffy_2workers")->UseRealTime()->Iterations(1);

#if JIFFY_BENCH_HAVE_BOOST
// Boost.Fiber has no wait group: a count under its mutex, and a condition
// variable for the last task to notify.
void BM_empty_tasks_boost_pooled(benchmark::State& state) {
  boost::fibers::pooled_fixedsize_stack stacks;
  for (auto _ : state) {
    boost::fibers::mutex mu;
    boost::fibers::condition_variable all_done;
    int left = kEmptyTasks;
    for (int i = 0; i < kEmptyTasks; ++i)
      boost::fibers::fiber(std::allocator_arg, stacks, [&] {
        std::lock_guard<boost::fibers::mutex> lk(mu);
        if (--left == 0) all_done.notify_one();
      }).detach();
    std::unique_lock<boost::fibers::mutex> lk(mu);
    all_done.wait(lk, [&] { return left == 0; });
  }
  report_per_op(state, kEmptyTasks);
}
BENCHMARK(BM_empty_tasks_boost_pooled)->Name("BM_empty_tasks/boost_fiber_pooled")->UseRealTime()->Iterations(1);
#endif

// ---------------------------------------------------------------------------
// preempt_disable/preempt_enable pair vs a thread_local counter pair.

constexpr int kPairsPerIteration = 64;

// The reference: what preempt_disable/preempt_enable do, written against
// ordinary thread_locals (local-exec TLS, one %fs-relative access each).
thread_local unsigned tl_count = 0;
thread_local std::atomic<unsigned> tl_flag{0};

[[gnu::noinline]] void tl_slow_path() { benchmark::ClobberMemory(); }

void preempt_pairs_jiffy(benchmark::State& state) {
  for (auto _ : state) {
    for (int i = 0; i < kPairsPerIteration; ++i) {
      jiffy::preempt_disable();
      benchmark::ClobberMemory();
      jiffy::preempt_enable();
    }
  }
  report_per_op(state, kPairsPerIteration);
}

void preempt_pairs_thread_local(benchmark::State& state) {
  for (auto _ : state) {
    for (int i = 0; i < kPairsPerIteration; ++i) {
      ++tl_count;
      std::atomic_signal_fence(std::memory_order_seq_cst);
      benchmark::ClobberMemory();
      std::atomic_signal_fence(std::memory_order_seq_cst);
      if (--tl_count == 0 && tl_flag.load(std::memory_order_relaxed)) tl_slow_path();
    }
  }
  report_per_op(state, kPairsPerIteration);
}

void BM_preempt_pair_jiffy(benchmark::State& state) { preempt_pairs_jiffy(state); }
BENCHMARK(BM_preempt_pair_jiffy)->Name("BM_preempt_pair/jiffy")->MinTime(kMinTime);

void BM_preempt_pair_thread_local(benchmark::State& state) { preempt_pairs_thread_local(state); }
BENCHMARK(BM_preempt_pair_thread_local)->Name("BM_preempt_pair/thread_local")->MinTime(kMinTime);

void BM_preempt_pair_jiffy_fiber(benchmark::State& state) {
  runtime_1w().block_on([&state] { preempt_pairs_jiffy(state); });
}
BENCHMARK(BM_preempt_pair_jiffy_fiber)->Name("BM_preempt_pair/jiffy_in_fiber")->UseRealTime()->MinTime(kMinTime);

void BM_preempt_pair_thread_local_fiber(benchmark::State& state) {
  runtime_1w().block_on([&state] { preempt_pairs_thread_local(state); });
}
BENCHMARK(BM_preempt_pair_thread_local_fiber)
    ->Name("BM_preempt_pair/thread_local_in_fiber")
    ->UseRealTime()
    ->MinTime(kMinTime);

// ---------------------------------------------------------------------------
// An uncontended std::mutex pair, wrapped and direct.

void std_mutex_pairs_wrapped(benchmark::State& state) {
  std::mutex m;
  for (auto _ : state) {
    for (int i = 0; i < kPairsPerIteration; ++i) {
      m.lock();
      benchmark::ClobberMemory();
      m.unlock();
    }
  }
  report_per_op(state, kPairsPerIteration);
}

void std_mutex_pairs_direct(benchmark::State& state) {
  if (!jiffy::foreign_locks_hold_off_preemption()) {
    state.SkipWithError("not linked with jiffy's lock wrappers: nothing to compare");
    return;
  }
  std::mutex m;
  pthread_mutex_t* h = m.native_handle();
  for (auto _ : state) {
    for (int i = 0; i < kPairsPerIteration; ++i) {
      __real_pthread_mutex_lock(h);
      benchmark::ClobberMemory();
      __real_pthread_mutex_unlock(h);
    }
  }
  report_per_op(state, kPairsPerIteration);
}

void BM_std_mutex_wrapped(benchmark::State& state) {
  runtime_1w().block_on([&state] { std_mutex_pairs_wrapped(state); });
}
BENCHMARK(BM_std_mutex_wrapped)->Name("BM_std_mutex/wrapped_in_fiber")->UseRealTime()->MinTime(kMinTime);

void BM_std_mutex_direct(benchmark::State& state) {
  runtime_1w().block_on([&state] { std_mutex_pairs_direct(state); });
}
BENCHMARK(BM_std_mutex_direct)->Name("BM_std_mutex/direct_in_fiber")->UseRealTime()->MinTime(kMinTime);

// ---------------------------------------------------------------------------
// Mutex + condition variable ping-pong between two fibers.

// Fiber A runs the timed loop, fiber B answers. `Mutex`/`CondVar` are
// jiffy's or Boost.Fiber's.
template <class Mutex, class CondVar>
struct pingpong {
  Mutex m;
  CondVar cv;
  int turn = 0;  // 0: A's turn, 1: B's turn
  bool stop = false;

  void run_a(benchmark::State& state) {
    std::unique_lock<Mutex> lk(m);
    for (auto _ : state) {
      turn = 1;
      cv.notify_one();
      cv.wait(lk, [this] { return turn == 0; });
    }
    stop = true;
    turn = 1;
    cv.notify_one();
  }

  void run_b() {
    std::unique_lock<Mutex> lk(m);
    for (;;) {
      cv.wait(lk, [this] { return turn == 1; });
      if (stop) return;
      turn = 0;
      cv.notify_one();
    }
  }
};

void jiffy_pingpong(jiffy::runtime& rt, benchmark::State& state) {
  rt.block_on([&state] {
    pingpong<jiffy::mutex, jiffy::condition_variable> pp;
    jiffy::fiber b = jiffy::spawn([&pp] { pp.run_b(); });
    pp.run_a(state);
    b.join();
  });
  report_per_op(state, 2);
}

void BM_mutex_pingpong_jiffy(benchmark::State& state) { jiffy_pingpong(runtime_1w(), state); }
BENCHMARK(BM_mutex_pingpong_jiffy)->Name("BM_mutex_pingpong/jiffy")->UseRealTime()->MinTime(kMinTime);

// With two workers the result depends on where the fibers settle: both on
// one worker (the other asleep), or split, so that each hand-off wakes the
// other worker's thread. A run can switch between the two, which fools
// Google Benchmark's iteration estimate; a fixed count bounds the run time.
void BM_mutex_pingpong_jiffy_2w(benchmark::State& state) { jiffy_pingpong(runtime_2w(), state); }
BENCHMARK(BM_mutex_pingpong_jiffy_2w)->Name("BM_mutex_pingpong/jiffy_2workers")->UseRealTime()->Iterations(100000);

#if JIFFY_BENCH_HAVE_BOOST
void BM_mutex_pingpong_boost(benchmark::State& state) {
  pingpong<boost::fibers::mutex, boost::fibers::condition_variable> pp;
  boost::fibers::fiber b([&pp] { pp.run_b(); });
  pp.run_a(state);
  b.join();
  report_per_op(state, 2);
}
BENCHMARK(BM_mutex_pingpong_boost)->Name("BM_mutex_pingpong/boost_fiber")->UseRealTime()->MinTime(kMinTime);
#endif

}  // namespace

BENCHMARK_MAIN();
