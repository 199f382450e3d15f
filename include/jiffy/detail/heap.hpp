// jiffy/detail/heap.hpp — every heap allocation a runtime makes, through its
// runtime_options::allocator (jiffy::allocator_hooks) or operator new.
//
// Rules:
//  * Memory goes back through the hooks it came from, with the size and
//    alignment it was taken with: whoever frees keeps a copy of the hooks
//    (an allocator_hooks is three pointers), never a path through a runtime
//    that may be gone by then (a worker thread's MCS block is freed at the
//    thread's exit).
//  * A refused allocation stops the program with a message naming the size
//    and alignment: callers are noexcept, and a runtime without its
//    structures cannot go on.
#pragma once

#include <jiffy/detail/diag.hpp>
#include <jiffy/allocator.hpp>

#include <cstddef>
#include <new>
#include <utility>

namespace jiffy::detail {

// Both functions or neither: checked before the runtime allocates anything.
inline void validate_allocator(const allocator_hooks& h) {
  if (!h.allocate == !h.deallocate) return;
  fatal(message()
            .text("jiffy: runtime_options::allocator needs both allocate and deallocate, or neither (allocate is ")
            .text(h.allocate ? "set" : "null")
            .text(", deallocate is ")
            .text(h.deallocate ? "set" : "null")
            .text(")"));
}

// Never null: a refusal stops the program (see the rules).
[[nodiscard]] inline void* heap_allocate(const allocator_hooks& h, std::size_t size, std::size_t alignment) noexcept {
  void* p = h.allocate ? h.allocate(h.context, size, alignment)
                       : ::operator new (size, std::align_val_t{alignment}, std::nothrow);
  if (!p)
    fatal(message()
              .text(h.allocate ? "jiffy: runtime_options::allocator.allocate returned null for "
                               : "jiffy: out of memory for ")
              .number(size)
              .text(" bytes (alignment ")
              .number(alignment)
              .text(")"));
  return p;
}

inline void heap_deallocate(const allocator_hooks& h, void* p, std::size_t size, std::size_t alignment) noexcept {
  if (!p) return;
  if (h.deallocate)
    h.deallocate(h.context, p, size, alignment);
  else
    ::operator delete (p, std::align_val_t{alignment}, std::nothrow);
}

template <class T, class... Args>
[[nodiscard]] T* heap_new(const allocator_hooks& h, Args&&... args) noexcept {
  return ::new (heap_allocate(h, sizeof(T), alignof(T))) T(std::forward<Args>(args)...);
}

// `h` may live inside *p (a runtime_core's options): copied first.
template <class T>
void heap_delete(const allocator_hooks& h, T* p) noexcept {
  if (!p) return;
  allocator_hooks copy = h;
  p->~T();
  heap_deallocate(copy, p, sizeof(T), alignof(T));
}

// A standard allocator over the hooks, for containers a runtime owns.
template <class T>
struct hooks_allocator {
  using value_type = T;
  const allocator_hooks* hooks;
  explicit hooks_allocator(const allocator_hooks* h) noexcept : hooks(h) {}
  template <class U>
  hooks_allocator(const hooks_allocator<U>& o) noexcept : hooks(o.hooks) {}
  // The size of one element, T itself (which may be a pointer: a vector of
  // worker*), as std::allocator_traits means it.
  static constexpr std::size_t element_size = sizeof(T);  // NOLINT(bugprone-sizeof-expression)
  T* allocate(std::size_t n) { return static_cast<T*>(heap_allocate(*hooks, n * element_size, alignof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { heap_deallocate(*hooks, p, n * element_size, alignof(T)); }
  friend bool operator==(const hooks_allocator& a, const hooks_allocator& b) noexcept { return a.hooks == b.hooks; }
};

// Owns a T made by heap_new (a unique_ptr deleter).
template <class T>
struct heap_deleter {
  const allocator_hooks* hooks = nullptr;
  void operator()(T* p) const noexcept { heap_delete(*hooks, p); }
};

}  // namespace jiffy::detail
