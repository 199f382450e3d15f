// jiffy/detail/parallel_for.hpp — splitting an index range over a
// runtime's workers (jiffy::parallel_for, runtime::parallel_for).
//
// Rules:
//  * The range is cut into chunks of `grain` indices, handed out by one
//    atomic counter: whoever is free takes the next chunk, so a slow chunk
//    (or a preempted fiber) delays only itself, and no stealing is needed to
//    balance. Automatic grain: about eight chunks per worker, enough to even
//    out uneven chunks, few enough that the counter is not contended.
//  * The caller takes chunks too (it helps instead of waiting); at most one
//    helper fiber per other worker is spawned, with the caller's scheduling
//    class, and the caller joins them. A helper that starts after the last
//    chunk was taken returns at once. Nested calls are ordinary calls.
//  * No heap allocation: the shared state lives on the caller's stack, the
//    helpers' closures on their own (pooled) stacks, their handles in a
//    fixed array.
//  * With exceptions enabled, the first exception thrown by f stops the
//    handing out of chunks (chunks already started run to their end) and is
//    rethrown in the caller once every helper has finished.
#pragma once

#include <jiffy/detail/config.hpp>
#include <jiffy/detail/cpu_local.hpp>
#include <jiffy/detail/diag.hpp>
#include <jiffy/detail/fiber.hpp>
#include <jiffy/detail/run_queue.hpp>
#include <jiffy/detail/runtime_core.hpp>
#include <jiffy/detail/spawn.hpp>
#include <jiffy/detail/trace_points.hpp>
#include <jiffy/detail/wait.hpp>
#include <jiffy/detail/wake.hpp>

#include <atomic>
#include <concepts>
#include <cstddef>
#include <type_traits>
#if JIFFY_EXCEPTIONS
#include <exception>
#endif

namespace jiffy::detail {

inline constexpr std::size_t parallel_chunks_per_worker = 8;
inline constexpr unsigned parallel_max_helpers = 63;

// The shared state of one parallel_for, on the caller's stack.
template <std::integral Index, class F>
class parallel_range {
 public:
  using count_t = std::make_unsigned_t<Index>;

  parallel_range(Index first, Index last, F& f, count_t grain, unsigned workers) noexcept : first_(first), f_(f) {
    count_ = last > first ? static_cast<count_t>(static_cast<count_t>(last) - static_cast<count_t>(first)) : 0;
    if (grain == 0) {
      count_t target = static_cast<count_t>(workers * parallel_chunks_per_worker);
      grain = count_ / target + (count_ % target != 0);
    }
    grain_ = grain == 0 ? 1 : grain;
    chunks_ = count_ / grain_ + (count_ % grain_ != 0);
  }

  count_t chunks() const noexcept { return chunks_; }

  // Runs chunks until none is left. Called by the caller and each helper.
  void run_chunks() noexcept {
    for (;;) {
      // relaxed: only claims a chunk; what f wrote reaches the caller
      // through the helpers' joins.
      count_t c = next_.fetch_add(1, std::memory_order_relaxed);
      if (c >= chunks_) return;
      count_t begin = c * grain_;
      count_t end = count_ - begin < grain_ ? count_ : begin + grain_;
      run_indices(begin, end);
    }
  }

  // Rethrows the first exception f threw (after every helper has joined).
  void rethrow_if_failed() {
#if JIFFY_EXCEPTIONS
    if (error_) std::rethrow_exception(error_);
#endif
  }

 private:
  // first + i, computed modulo 2^N (C++20 converts to signed modulo 2^N):
  // no overflow for any range of Index.
  Index index_at(count_t i) const noexcept { return static_cast<Index>(static_cast<count_t>(first_) + i); }

  void run_indices(count_t begin, count_t end) noexcept {
#if JIFFY_EXCEPTIONS
    try {
      for (count_t i = begin; i < end; ++i) f_(index_at(i));
    } catch (...) {
      if (!failed_.exchange(true, std::memory_order_relaxed)) error_ = std::current_exception();
      next_.store(chunks_, std::memory_order_relaxed);  // hand out no more
    }
#else
    for (count_t i = begin; i < end; ++i) f_(index_at(i));
#endif
  }

  Index first_;
  F& f_;
  count_t count_ = 0, grain_ = 1, chunks_ = 0;
  std::atomic<count_t> next_{0};
#if JIFFY_EXCEPTIONS
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;  // written by the one that set failed_; read after the joins
#endif
};

// A grain as a count; a negative one stops the program naming it.
template <std::integral Index>
std::make_unsigned_t<Index> checked_grain(Index grain, const char* caller) noexcept {
  if constexpr (std::is_signed_v<Index>) {
    if (grain < 0) {
      message m;
      fatal(m.text("jiffy: ").text(caller).text(": grain must be >= 0 (0: automatic), got ").signed_number(grain));
    }
  }
  return static_cast<std::make_unsigned_t<Index>>(grain);
}

// Inside a fiber of `rt`: runs f(i) for every i in [first, last).
template <std::integral Index, class F>
void run_parallel_for(runtime_core* rt, Index first, Index last, F& f, std::make_unsigned_t<Index> grain) {
  const auto workers = static_cast<unsigned>(rt->workers.size());
  parallel_range<Index, F> range(first, last, f, grain, workers);
  if (range.chunks() == 0) return;
  unsigned helpers = workers - 1;
  if (range.chunks() - 1 < helpers) helpers = static_cast<unsigned>(range.chunks() - 1);
  if (helpers > parallel_max_helpers) helpers = parallel_max_helpers;
  fiber_control* spawned[parallel_max_helpers];
  const sched_params mine = this_cpu()->current->sched;
  for (unsigned h = 0; h < helpers; ++h) {
    fiber_control* fc = create_fiber(
        rt, [&range]() noexcept { range.run_chunks(); }, -1);
    fc->sched = mine;
    trace_spawn(rt, fc);
    make_runnable(fc, ready_reason::spawned);
    spawned[h] = fc;
  }
  range.run_chunks();
  for (unsigned h = 0; h < helpers; ++h) join_fiber(spawned[h]);
  range.rethrow_if_failed();
}

}  // namespace jiffy::detail
