// The registries a debugger walks (detail/live_fibers.hpp,
// detail/live_runtimes.hpp; tools/jiffy-gdb.py): every live fiber is on one
// of its runtime's lists until it finishes, and every live runtime on the
// process's list.
#include "support.hpp"

#include <jiffy/jiffy.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

namespace {

using jiffy::detail::fiber_control;
using jiffy::detail::runtime_core;

// The ids on every list of `rt`: its workers', its main worker's and the
// one for fibers spawned from outside. Nothing is allocated under a list's
// lock: `ids` has room reserved.
std::vector<std::uint64_t> live_fiber_ids(runtime_core* rt, std::size_t room = 4096) {
  std::vector<std::uint64_t> ids;
  ids.reserve(room);
  auto collect = [&](fiber_control* f) {
    if (ids.size() < ids.capacity()) ids.push_back(f->id);
  };
  for (auto& w : rt->workers) jiffy::detail::for_each_live_fiber(w->live_fibers, collect);
  jiffy::detail::for_each_live_fiber(rt->main_worker->live_fibers, collect);
  jiffy::detail::for_each_live_fiber(rt->spawned_outside, collect);
  std::sort(ids.begin(), ids.end());
  return ids;
}

bool is_live_runtime(const runtime_core* rt) {
  std::lock_guard<std::mutex> lk(jiffy::detail::live_runtimes.lock);
  for (runtime_core* r = jiffy::detail::live_runtimes.head; r; r = r->live_next)
    if (r == rt) return true;
  return false;
}

}  // namespace

TEST_CASE("every fiber is on its runtime's registry from spawn until it finishes, wherever it was spawned") {
  jiffy::runtime rt({.workers = 2});
  jiffy::mutex gate;
  gate.lock();
  std::vector<jiffy::fiber> fibers;
  std::vector<std::uint64_t> expected;
  for (int i = 0; i < 8; ++i) {  // from this thread, outside the runtime
    fibers.push_back(rt.spawn([&] { jiffy::lock_guard<jiffy::mutex> lk(gate); }));
    expected.push_back(fibers.back().id());
  }
  runtime_core* core = nullptr;
  std::vector<std::uint64_t> seen_inside, seen_after;
  rt.block_on([&] {
    core = jiffy::detail::current_runtime_core();
    expected.push_back(jiffy::this_fiber::id());
    for (int i = 0; i < 8; ++i) {  // from a fiber: onto a worker's list
      fibers.push_back(jiffy::spawn([&] { jiffy::lock_guard<jiffy::mutex> lk(gate); }));
      expected.push_back(fibers.back().id());
    }
    seen_inside = live_fiber_ids(core);
  });
  std::sort(expected.begin(), expected.end());
  CHECK(seen_inside == expected);

  gate.unlock();
  for (auto& f : fibers) f.join();
  // Every fiber has finished (joined), and block_on's has retired: the
  // lists are empty.
  CHECK(test::wait_until([&] { return live_fiber_ids(core).empty(); }, std::chrono::seconds(10)));
}

TEST_CASE("the registry stays whole while fibers spawn and retire on every worker") {
  jiffy::runtime rt({.workers = 2});
  const int per_spawner = test::scale(2000);
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> walks{0};
  std::size_t most = 0;
  rt.block_on([&] {
    runtime_core* core = jiffy::detail::current_runtime_core();
    jiffy::fiber walker = jiffy::spawn([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        std::vector<std::uint64_t> ids = live_fiber_ids(core);
        CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());  // never twice
        CHECK((ids.empty() || ids.front() != 0));
        most = std::max(most, ids.size());
        ++walks;
        jiffy::this_fiber::yield();
      }
    });
    std::vector<jiffy::fiber> spawners;
    for (int s = 0; s < 2; ++s)
      spawners.push_back(jiffy::spawn([&] {
        // Not before the walker walks: the walks must overlap the spawning.
        while (walks.load() == 0) jiffy::this_fiber::yield();
        for (int i = 0; i < per_spawner; ++i) jiffy::spawn([] { jiffy::this_fiber::yield(); }).detach();
      }));
    for (auto& s : spawners) s.join();
    stop.store(true);
    walker.join();
  });
  // The first walk came before any spawning, with block_on's fiber, the
  // walker and both spawners alive (three of them in a worker's slots).
  CHECK(most >= 4);
}

TEST_CASE("fibers beyond a worker's slots are listed too, and leave the registry when they finish") {
  // A worker keeps the fibers it spawns in slots and, with none free, on
  // its locked list (detail/live_fibers.hpp): more alive at once than it
  // has slots must all be listed.
  test::watchdog wd(std::chrono::seconds(120), "registry beyond the slots");
  jiffy::runtime rt({.workers = 2});
  const std::size_t n = jiffy::detail::live_fiber_list::slot_count + 300;
  jiffy::wait_group gate(1);
  std::vector<jiffy::fiber> fibers;
  fibers.reserve(n);
  runtime_core* core = nullptr;
  std::vector<std::uint64_t> expected, seen;
  rt.block_on([&] {
    core = jiffy::detail::current_runtime_core();
    jiffy::migrate_guard stay;  // all spawned from one worker
    for (std::size_t i = 0; i < n; ++i) {
      fibers.push_back(jiffy::spawn({.stack_size = 32 * 1024}, [&] { gate.wait(); }));
      expected.push_back(fibers.back().id());
    }
  });
  seen = live_fiber_ids(core, 2 * n);
  std::sort(expected.begin(), expected.end());
  CHECK(std::includes(seen.begin(), seen.end(), expected.begin(), expected.end()));
  gate.done();
  for (auto& f : fibers) f.join();
  CHECK(test::wait_until([&] { return live_fiber_ids(core).empty(); }, std::chrono::seconds(20)));
}

TEST_CASE("a runtime is on the process's registry from its start until it is destroyed") {
  runtime_core* core = nullptr;
  {
    jiffy::runtime rt({.workers = 1});
    core = rt.block_on([] { return jiffy::detail::current_runtime_core(); });
    CHECK(is_live_runtime(core));
  }
  CHECK(!is_live_runtime(core));  // compared, never read: it is freed
}
