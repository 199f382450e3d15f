// bench/skynet.cpp — the "skynet" benchmark: a tree of fibers, each of which
// spawns 10 children until 1,000,000 leaves each return their own number,
// and the sums come back up the tree (1,111,111 fibers in all). The Go
// version, bench/go/skynet, does the same with goroutines and channels;
// bench/skynet.sh runs both on the same number of OS threads.
//
// Each fiber's closure (the results array, its slot, its number and size)
// fits jiffy's inline 48 bytes; stacks are 32 KiB (a parked parent uses a
// page or two of it), so the tree's live fibers stay resident in little
// memory.
//
// Prints one line per run, "run N: T ms", then "median: T ms" and checks
// the sum (exit 1 if it is wrong).
#include "support/cli.hpp"

#include <jiffy/jiffy.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

namespace {

constexpr int kDiv = 10;

std::uint64_t skynet(std::uint64_t num, std::uint64_t size) {
  if (size == 1) return num;
  std::uint64_t results[kDiv];
  jiffy::fiber children[kDiv];
  std::uint64_t part = size / kDiv;
  for (int i = 0; i < kDiv; ++i) {
    std::uint64_t* slot = &results[i];
    std::uint64_t first = num + static_cast<std::uint64_t>(i) * part;
    children[i] = jiffy::spawn([slot, first, part] { *slot = skynet(first, part); });
  }
  std::uint64_t sum = 0;
  for (int i = 0; i < kDiv; ++i) {
    children[i].join();
    sum += results[i];
  }
  return sum;
}

const char kHelp[] =
    "  --workers N  worker threads (default 2)\n"
    "  --leaves L   leaves of the tree, a power of 10 (default 1000000)\n"
    "  --runs R     timed runs after one warm-up (default 5)\n";

}  // namespace

int main(int argc, char** argv) {
  long long workers = 2, leaves = 1000000, runs = 5;
  bench::cli::args args(argc, argv, "[--workers N] [--leaves L] [--runs R]", kHelp);
  while (args.next()) {
    if (args.is("--workers"))
      workers = args.integer(1, 256);
    else if (args.is("--leaves"))
      leaves = args.integer(10, 100000000);
    else if (args.is("--runs"))
      runs = args.integer(1, 1000);
    else
      args.unknown();
  }
  for (long long l = leaves; l > 1; l /= kDiv)
    if (l % kDiv != 0) {
      std::fprintf(stderr, "skynet: --leaves %lld is not a power of 10\n", leaves);
      return 2;
    }
  jiffy::runtime rt({.workers = static_cast<unsigned>(workers), .stack_size = 32 * 1024});
  const auto n = static_cast<std::uint64_t>(leaves);
  const std::uint64_t expected = n * (n - 1) / 2;
  std::vector<double> ms;
  for (long long r = 0; r <= runs; ++r) {  // run 0 warms the stack pool up
    auto start = std::chrono::steady_clock::now();
    std::uint64_t sum = rt.block_on([n] { return skynet(0, n); });
    double took = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (sum != expected) {
      std::fprintf(stderr, "skynet: sum %llu, expected %llu\n", static_cast<unsigned long long>(sum),
                   static_cast<unsigned long long>(expected));
      return 1;
    }
    if (r == 0) continue;
    ms.push_back(took);
    std::printf("run %lld: %.1f ms\n", r, took);
  }
  std::sort(ms.begin(), ms.end());
  std::printf("median: %.1f ms (jiffy, %lld workers, %lld leaves)\n", ms[ms.size() / 2], workers, leaves);
  return 0;
}
