// jiffy/cache_padded.hpp — keeping independently written data off each
// other's cache lines.
//
// Rules:
//  * cache_padded<T> aligns and pads T to 128 bytes: two cache lines, because
//    x86-64 cores prefetch lines in adjacent pairs (so 64-byte padding still
//    shares a pair), and some AArch64 cores have 128-byte lines.
//  * Use it for per-worker or per-thread slots in an array, or for a lock and
//    the data other threads write next to it.
#pragma once

#include <cstddef>
#include <utility>

namespace jiffy {

inline constexpr std::size_t false_sharing_range = 128;

template <class T>
struct alignas(false_sharing_range) cache_padded {
  T value;

  cache_padded() = default;
  template <class... Args>
  explicit cache_padded(Args&&... args) : value(std::forward<Args>(args)...) {}

  T& operator*() noexcept { return value; }
  const T& operator*() const noexcept { return value; }
  T* operator->() noexcept { return &value; }
  const T* operator->() const noexcept { return &value; }
};

static_assert(sizeof(cache_padded<char>) == false_sharing_range);

}  // namespace jiffy
