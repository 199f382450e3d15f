// hello_fibers: fibers on workers, a job counter, and a preempt-disabled
// section that uses per-worker data safely.
//
// 1000 small jobs run as fibers on 2 workers. Each adds its number to a per-worker
// slot: inside preempt_guard the fiber cannot be switched out or moved, so
// worker_index() is stable and the slot is touched by one fiber at a time
// without a lock. A wait_group counts the jobs down.
#include <jiffy/jiffy.hpp>

#include <cstdio>
#include <vector>

int main() {
  jiffy::runtime rt({.workers = 2});

  struct alignas(64) slot {
    long sum = 0;
    long jobs = 0;
  };
  std::vector<slot> per_worker(rt.workers());

  rt.block_on([&] {
    jiffy::wait_group jobs;
    for (int i = 1; i <= 1000; ++i) {
      jobs.add();
      jiffy::spawn([&, i] {
        volatile double work = 0;  // ~20 µs of computing, so both workers get a share
        for (int k = 1; k < 20000; ++k) work = work + 1.0 / k;
        jiffy::this_fiber::yield();  // let the others run; we may resume on another worker
        {
          jiffy::preempt_guard no_switch;  // preempt_count() == 1: we stay on this worker
          slot& s = per_worker[jiffy::this_fiber::worker_index()];
          s.sum += i;
          s.jobs += 1;
        }
        jobs.done();
      }).detach();
    }
    jobs.wait();
  });

  long total = 0;
  for (unsigned w = 0; w < per_worker.size(); ++w) {
    std::printf("worker %u ran %ld jobs\n", w, per_worker[w].jobs);
    total += per_worker[w].sum;
  }
  jiffy::runtime_stats st = rt.stats();
  std::printf("sum of 1..1000 = %ld (expected 500500)\n", total);
  std::printf("fibers: %llu, context switches: %llu, steals: %llu\n",
              static_cast<unsigned long long>(st.fibers_finished), static_cast<unsigned long long>(st.context_switches),
              static_cast<unsigned long long>(st.steals));
  return total == 500500 ? 0 : 1;
}
