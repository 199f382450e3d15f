// jiffy/detail/sanitizers.hpp — telling ASan and TSan about stack switches.
//
// Rules:
//  * ASan: every jump is bracketed by start_switch_fiber (on the leaving
//    side, naming the destination stack) and finish_switch_fiber (on the
//    arriving side). A context that will never run again passes a null
//    fake-stack slot so ASan frees its fake frames.
//  * TSan: each fiber owns a TSan fiber object, created at spawn and
//    destroyed after its last switch; switch_to_fiber is called right before
//    the jump. Flag 0 makes the switch a synchronisation point, which matches
//    the runtime: whatever a fiber did before it parked happens-before what
//    its waker's fiber does next on that thread.
//  * The before/after hooks are always inlined into the switch: nothing
//    instrumented may run between telling TSan about the switch and the
//    jump itself, at any optimisation level.
//  * Without sanitizers every function here is an empty inline.
#pragma once

#include <jiffy/detail/config.hpp>

#include <cstddef>

#if JIFFY_ASAN
extern "C" {
void __sanitizer_start_switch_fiber(void** fake_stack_save, const void* bottom, std::size_t size);
void __sanitizer_finish_switch_fiber(void* fake_stack_save, const void** bottom_old, std::size_t* size_old);
}
#endif
#if JIFFY_TSAN
extern "C" {
void* __tsan_get_current_fiber(void);
void* __tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void* fiber);
void __tsan_switch_to_fiber(void* fiber, unsigned flags);
void __tsan_acquire(void* addr);
void __tsan_release(void* addr);
}
#endif

namespace jiffy::detail {

// What the sanitizers need to know about one context (a fiber or a worker's
// own thread stack).
struct sanitizer_context {
  void* asan_fake_stack = nullptr;
  const void* stack_bottom = nullptr;
  std::size_t stack_size = 0;
  void* tsan_fiber = nullptr;
};

inline void sanitizer_init_thread(sanitizer_context& c) noexcept {
#if JIFFY_TSAN
  c.tsan_fiber = __tsan_get_current_fiber();
#else
  (void)c;
#endif
}

inline void sanitizer_create_fiber(sanitizer_context& c, const void* bottom, std::size_t size) noexcept {
  c.stack_bottom = bottom;
  c.stack_size = size;
#if JIFFY_TSAN
  c.tsan_fiber = __tsan_create_fiber(0);
#endif
}

inline void sanitizer_destroy_fiber(sanitizer_context& c) noexcept {
#if JIFFY_TSAN
  if (c.tsan_fiber) __tsan_destroy_fiber(c.tsan_fiber);
  c.tsan_fiber = nullptr;
#else
  (void)c;
#endif
}

// Called on the leaving side, immediately before the jump. `leaving_for_good`
// is true when `from` will never be resumed (a finished fiber).
[[gnu::always_inline]] inline void sanitizer_before_switch(sanitizer_context& from, sanitizer_context& to,
                                                           bool leaving_for_good) noexcept {
#if JIFFY_ASAN
  __sanitizer_start_switch_fiber(leaving_for_good ? nullptr : &from.asan_fake_stack, to.stack_bottom, to.stack_size);
#else
  (void)from;
  (void)leaving_for_good;
#endif
#if JIFFY_TSAN
  __tsan_switch_to_fiber(to.tsan_fiber, 0);
#else
  (void)to;
#endif
}

// Called on the arriving side, immediately after the jump returns.
[[gnu::always_inline]] inline void sanitizer_after_switch(sanitizer_context& self) noexcept {
#if JIFFY_ASAN
  const void* bottom = nullptr;
  std::size_t size = 0;
  __sanitizer_finish_switch_fiber(self.asan_fake_stack, &bottom, &size);
  // A thread's own stack is learned on its first switch away and back.
  if (!self.stack_bottom) {
    self.stack_bottom = bottom;
    self.stack_size = size;
  }
#else
  (void)self;
#endif
}

}  // namespace jiffy::detail

#if JIFFY_ASAN
extern "C" void __asan_unpoison_memory_region(void const volatile* addr, std::size_t size);
#endif

namespace jiffy::detail {
// A reused stack may still carry the poisoned redzones of its last owner's
// frames; a new fiber must start on clean memory.
inline void sanitizer_unpoison_stack(void* base, std::size_t size) noexcept {
#if JIFFY_ASAN
  __asan_unpoison_memory_region(base, size);
#else
  (void)base;
  (void)size;
#endif
}

// Happens-before that travels through the kernel where TSan cannot see it:
// a release before handing `obj` to a system call, an acquire after another
// thread gets it back. (Clang 14's TSan intercepts epoll_wait, not the
// epoll_pwait2 the netpoller uses.)
inline void sanitizer_release(void* obj) noexcept {
#if JIFFY_TSAN
  __tsan_release(obj);
#else
  (void)obj;
#endif
}
inline void sanitizer_acquire(void* obj) noexcept {
#if JIFFY_TSAN
  __tsan_acquire(obj);
#else
  (void)obj;
#endif
}
}  // namespace jiffy::detail
