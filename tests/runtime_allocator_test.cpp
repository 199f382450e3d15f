// runtime_options::allocator: a runtime takes its heap memory from the
// hooks it is given and gives every block back through them, with the size
// and alignment it was taken with; misconfigured hooks stop the program
// with a message. (allocation_test.cpp shows that nothing else reaches
// operator new meanwhile.)
#include "allocation_ledger.hpp"
#include "support.hpp"

#include <jiffy/jiffy.hpp>

#include <doctest/doctest.h>

#include <csignal>
#include <string>
#include <thread>
#include <vector>

TEST_CASE("a runtime takes its memory from runtime_options::allocator and gives all of it back") {
  for (unsigned workers : {1u, 2u, 4u}) {
    CAPTURE(workers);
    test::allocation_ledger ledger;
    long checksum = 0;
    {
      jiffy::runtime rt({.workers = workers, .allocator = ledger.hooks()});
      CHECK(ledger.allocations() > 0);  // its structures, from construction on
      checksum = test::exercise_runtime(rt);
      CHECK(ledger.outstanding() > 0);
    }
    CHECK(checksum == test::exercise_runtime_checksum);
    CHECK(ledger.outstanding() == 0);  // every block returned once the runtime is gone
    CHECK(ledger.mismatches() == 0);   // ... once each, with its own size and alignment
    CHECK(ledger.misaligned() == 0);
  }
}

TEST_CASE("a runtime's memory stays while handles to its fibers do, and goes back with the last of them") {
  // The references to the runtime are counted by each worker for what it
  // spawns and releases, and by the runtime for other threads, then summed
  // when it stops (detail/retire.hpp): a sum too low frees it under the
  // handles, one too high never frees it.
  for (unsigned workers : {1u, 2u}) {
    CAPTURE(workers);
    test::allocation_ledger ledger;
    std::vector<jiffy::fiber> later;
    {
      jiffy::runtime rt({.workers = workers, .allocator = ledger.hooks()});
      std::vector<jiffy::fiber> now;
      rt.block_on([&] {
        for (int i = 0; i < 200; ++i) (i % 2 ? later : now).push_back(jiffy::spawn([] {}));
        for (int i = 0; i < 50; ++i) jiffy::spawn([] {}).detach();
      });
      for (int i = 0; i < 200; ++i) (i % 2 ? later : now).push_back(rt.spawn([] {}));
      for (int i = 0; i < 50; ++i) rt.spawn([] {}).detach();
      // Half the handles let go inside a fiber (on a worker), half by this thread.
      rt.block_on([&] {
        for (std::size_t i = 0; i < now.size() / 2; ++i) now[i].join();
      });
      for (std::size_t i = now.size() / 2; i < now.size(); ++i) now[i].join();
    }
    CHECK(ledger.outstanding() > 0);  // the runtime is gone, its core stays for `later`
    for (auto& f : later) f.join();   // finished long ago: returns at once
    later.clear();
    CHECK(ledger.outstanding() == 0);
    CHECK(ledger.mismatches() == 0);
  }
}

TEST_CASE("worker threads take their MCS queue nodes from the runtime's allocator, once each") {
  test::allocation_ledger ledger;
  jiffy::runtime rt({.workers = 1, .allocator = ledger.hooks()});
  long before = ledger.allocations();
  // The node block a waiter queues with on this worker (mcs_spinlock's
  // third waiter at once; see detail/mcs_nodes.hpp).
  jiffy::detail::mcs_block* first = nullptr;
  rt.block_on([&] { first = jiffy::detail::thread_mcs_block(); });
  CHECK(ledger.allocations() == before + 1);
  jiffy::detail::mcs_block* again = nullptr;
  rt.block_on([&] { again = jiffy::detail::thread_mcs_block(); });
  CHECK(again == first);
  CHECK(ledger.allocations() == before + 1);
  // A thread outside the runtime takes its block from operator new.
  std::thread([] { (void)jiffy::detail::thread_mcs_block(); }).join();
  CHECK(ledger.allocations() == before + 1);
}

TEST_CASE("an allocator with only one of allocate and deallocate stops the program naming both") {
  auto r = test::run_in_child([] {
    jiffy::allocator_hooks half{};
    half.allocate = [](void*, std::size_t, std::size_t) -> void* { return nullptr; };
    jiffy::runtime rt({.workers = 1, .allocator = half});
  });
  CAPTURE(r.err);
  CHECK(r.signal == SIGABRT);
  CHECK(r.err.find("runtime_options::allocator needs both allocate and deallocate, or neither (allocate is set, "
                   "deallocate is null)") != std::string::npos);
}

TEST_CASE("an allocator that returns null stops the program naming the request") {
  auto r = test::run_in_child([] {
    jiffy::allocator_hooks refusing{
        [](void*, std::size_t, std::size_t) -> void* { return nullptr; },
        [](void*, void*, std::size_t, std::size_t) {},
        nullptr,
    };
    jiffy::runtime rt({.workers = 1, .allocator = refusing});
  });
  CAPTURE(r.err);
  CHECK(r.signal == SIGABRT);
  CHECK(r.err.find("runtime_options::allocator.allocate returned null for ") != std::string::npos);
  CHECK(r.err.find(" bytes (alignment ") != std::string::npos);
}
