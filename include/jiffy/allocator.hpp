// jiffy/allocator.hpp — allocator_hooks: where a runtime takes heap memory
// from (runtime_options::allocator). Its own header, light enough for the
// lock-only headers (the MCS lock's node blocks come from it too).
#pragma once

#include <cstddef>

namespace jiffy {

// Where a runtime takes heap memory from (marl's Allocator, EASTL's and
// game engines' allocator callbacks). Both functions set, or neither (the
// global operator new and delete). allocate returns memory of at least
// `size` bytes aligned to `alignment` (a power of two), or nullptr, which
// stops the program with a message naming the request; deallocate gets back
// exactly the size and alignment it was allocated with. Both may be called
// from any thread, the runtime's workers included, at once: they must be
// thread-safe and must not block for long (or switch fibers). `context` is
// passed to both untouched.
//
// What goes through it: the runtime's own structures (allocated when it is
// constructed, freed when the last of its fibers has gone) and the queue
// node blocks mcs_spinlock's waiters use on its worker threads (one per
// worker, freed when the worker exits). Nothing else jiffy does after
// construction touches the heap: fiber stacks, the stack pools' lists and
// the I/O descriptor table are mapped straight from the OS (mmap), spawn()
// keeps a fiber's closure on the fiber's own stack, and threads are started
// with pthread_create (whose C-library bookkeeping is libc's own). The
// hooks, and whatever `context` points to, must stay valid until the
// runtime object is destroyed and every fiber handle of it is gone.
struct allocator_hooks {
  void* (*allocate)(void* context, std::size_t size, std::size_t alignment) = nullptr;
  void (*deallocate)(void* context, void* p, std::size_t size, std::size_t alignment) = nullptr;
  void* context = nullptr;
};

}  // namespace jiffy
