// jiffy/spin/seqlock.hpp — sequence lock: jiffy::seqlock, and
// jiffy::seqlocked<T>, a value guarded by one.
//
// Layout: seqlock is 8 bytes (a 32-bit sequence and a 4-byte writer lock),
// 4-byte aligned.
//
// Rules:
//  * Writers serialise on the writer lock (a jiffy::spinlock: integrated,
//    so a writer is never preempted halfway through) and make the sequence
//    odd while they write. Readers take no lock and never block writers: they
//    read the sequence, read the data, and retry if the sequence was odd or
//    has changed.
//  * The data itself must be read and written with atomic operations (relaxed
//    is enough): the retry discards a torn read, but C++ calls a plain racing
//    read a data race. seqlocked<T> does this for any trivially copyable T.
//  * Orders (after Boehm, "Can seqlocks get along with programming language
//    memory models?"): the writer's odd store is followed by a release fence
//    and its even store is a release; the reader's first load is an acquire
//    and an acquire fence precedes its re-check.
//  * For Clang's thread-safety analysis (thread_annotations.hpp) the writer
//    side is a capability: lock()/unlock() acquire and release the seqlock
//    itself, and writes to data JIFFY_GUARDED_BY(a seqlock) need it held.
//    Readers hold nothing, by design; code that reads guarded data through
//    read_begin()/read_retry() says so with JIFFY_NO_THREAD_SAFETY_ANALYSIS
//    (seqlocked<T>::load() does).
#pragma once

#include <jiffy/spin/policy.hpp>
#include <jiffy/spin/ttas.hpp>
#include <jiffy/thread_annotations.hpp>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace jiffy {
namespace detail {

// The algorithm, over a preemption policy (spin/policy.hpp). Only the
// integrated instantiation is public: jiffy::seqlock.
template <class Preemption>
class JIFFY_CAPABILITY("seqlock") basic_seqlock {
 public:
  basic_seqlock() noexcept = default;
  basic_seqlock(const basic_seqlock&) = delete;
  basic_seqlock& operator=(const basic_seqlock&) = delete;

  // Writer side (Lockable: std::lock_guard<seqlock> works). Not analysed:
  // to the analysis these take writer_ in one function and release it in
  // another; to callers they acquire and release the seqlock.
  void lock() noexcept JIFFY_ACQUIRE() JIFFY_NO_THREAD_SAFETY_ANALYSIS {
    writer_.lock();
    begin_write();
  }
  [[nodiscard]] bool try_lock() noexcept JIFFY_TRY_ACQUIRE(true) JIFFY_NO_THREAD_SAFETY_ANALYSIS {
    if (!writer_.try_lock()) return false;
    begin_write();
    return true;
  }
  void unlock() noexcept JIFFY_RELEASE() JIFFY_NO_THREAD_SAFETY_ANALYSIS {
    std::uint32_t s = seq_.load(std::memory_order_relaxed);
    if constexpr (debug_checks)
      if (!(s & 1)) unlock_not_held("seqlock");
    seq_.store(s + 1, std::memory_order_release);  // even: the data is consistent again
    writer_.unlock();
  }

  // Reader side: s = read_begin(); read the data; if (read_retry(s)) again.
  [[nodiscard]] std::uint32_t read_begin() const noexcept {
    spin_wait w;
    std::uint32_t s;
    while ((s = seq_.load(std::memory_order_acquire)) & 1) w.wait();
    return s;
  }
  [[nodiscard]] bool read_retry(std::uint32_t s) const noexcept {
    std::atomic_thread_fence(std::memory_order_acquire);
    return seq_.load(std::memory_order_relaxed) != s;
  }
  // Calls f() until it ran without a writer in between; returns its result.
  template <class F>
  [[nodiscard]] auto read(F&& f) const {
    for (;;) {
      std::uint32_t s = read_begin();
      auto r = f();
      if (!read_retry(s)) return r;
    }
  }

  [[nodiscard]] std::uint32_t sequence() const noexcept { return seq_.load(std::memory_order_relaxed); }

 private:
  void begin_write() noexcept {
    seq_.store(seq_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // odd: writing
    std::atomic_thread_fence(std::memory_order_release);  // ...before any of the data stores
  }

  std::atomic<std::uint32_t> seq_{0};
  basic_ttas_spinlock<Preemption> writer_;
};

}  // namespace detail

using seqlock = detail::basic_seqlock<detail::integrate_preemption>;

// A trivially copyable value guarded by a seqlock, stored as relaxed atomic
// words so that readers racing a writer are well-defined (and TSan-clean).
template <class T>
class seqlocked {
  static_assert(std::is_trivially_copyable_v<T>, "seqlocked<T> needs a trivially copyable T");
  static constexpr std::size_t words = (sizeof(T) + sizeof(std::uint64_t) - 1) / sizeof(std::uint64_t);

 public:
  seqlocked() noexcept : seqlocked(T{}) {}
  explicit seqlocked(const T& v) noexcept { put(v); }

  // Reads without the lock, as a seqlock reader does (read() retries a read
  // that raced a writer): not analysed.
  [[nodiscard]] T load() const noexcept JIFFY_NO_THREAD_SAFETY_ANALYSIS {
    return lock_.read([this]() JIFFY_NO_THREAD_SAFETY_ANALYSIS {
      std::uint64_t buf[words];
      for (std::size_t i = 0; i < words; ++i) buf[i] = data_[i].load(std::memory_order_relaxed);
      T v;
      std::memcpy(&v, buf, sizeof(T));
      return v;
    });
  }

  void store(const T& v) noexcept JIFFY_EXCLUDES(lock_) {
    lock_.lock();
    put(v);
    lock_.unlock();
  }

  // Read-modify-write under the writer lock.
  template <class F>
  void update(F&& f) JIFFY_EXCLUDES(lock_) {
    lock_.lock();
    std::uint64_t buf[words];
    for (std::size_t i = 0; i < words; ++i) buf[i] = data_[i].load(std::memory_order_relaxed);
    T v;
    std::memcpy(&v, buf, sizeof(T));
    f(v);
    put(v);
    lock_.unlock();
  }

 private:
  // The constructor calls it too, unlocked: constructors are not analysed.
  void put(const T& v) noexcept JIFFY_REQUIRES(lock_) {
    std::uint64_t buf[words] = {};
    std::memcpy(buf, &v, sizeof(T));
    for (std::size_t i = 0; i < words; ++i) data_[i].store(buf[i], std::memory_order_relaxed);
  }

  seqlock lock_;
  std::atomic<std::uint64_t> data_[words] JIFFY_GUARDED_BY(lock_);
};

}  // namespace jiffy
