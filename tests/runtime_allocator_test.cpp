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
