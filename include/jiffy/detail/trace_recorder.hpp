// jiffy/detail/trace_recorder.hpp — the built-in recorder behind
// runtime_options::trace_file and JIFFY_TRACE: trace hooks that keep what
// happened in per-worker rings, written out as a Chrome trace when the
// runtime ends (detail/trace_json.hpp).
//
// The rules of this file, before the code.
//
// Who writes where.  One ring per worker (and one for the thread serving
// main fibers), written only by that worker's thread; one more for threads
// outside the runtime (a spawn from the program's thread, a wake-up by a
// blocking() helper or the monitor), under a mutex — those threads never
// take preemption signals, and jiffy's workers never write there.
//
// The signal handler.  A deferred preemption is recorded from inside the
// preemption signal handler, which may interrupt its own worker halfway
// through writing another record. A record's slot is therefore claimed with
// one atomic read-modify-write of the ring's head (relaxed: only this
// thread and its handler touch it; the atomic makes the claim indivisible
// against the handler), and each claim owns its slot until the head comes
// round again, a whole ring later. The pairing state (when the running
// slice and the current sleep began) is written by switch and sleep hooks
// only, never by the handler.
//
// Memory.  Rings are allocated once, at start, through the runtime's
// allocator; a record is 64 bytes. When a ring is full the oldest records
// are overwritten: a long run keeps its end, and the file says how many
// records each track lost. Whole slices are single records, so a dropped
// record never leaves a begin without its end.
//
// Reading.  Only after every writer has stopped: the workers are joined
// and no outside thread is inside a wake-up (stop_runtime waits for both).
#pragma once

#include <jiffy/allocator.hpp>
#include <jiffy/detail/heap.hpp>
#include <jiffy/detail/time.hpp>
#include <jiffy/trace.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>

namespace jiffy::detail {

enum class record_kind : std::uint8_t {
  slice,           // a fiber ran [begin, end); reason: why it left
  sleep,           // the worker's thread slept [begin, end)
  spawn,           // fiber created by `other` (0: a thread)
  wake,            // fiber woken by `other` (0: a thread, timer or poller)
  deferred,        // a preemption signal found fiber at an unsafe point
  wakeup_preempt,  // fiber woke and worker `other` was asked to make way
};

struct trace_record {
  std::int64_t begin = 0;
  std::int64_t end = 0;  // begin, for an instant
  std::uint64_t fiber = 0;
  std::uint64_t other = 0;
  record_kind kind = record_kind::slice;
  switch_reason reason = switch_reason::yield;
  std::uint8_t policy = 0;  // a sched_policy
  std::uint8_t priority = 0;
  static constexpr std::size_t name_capacity = 28;
  char name[name_capacity] = {};  // the fiber's own name, truncated; empty: "fiber-<id>"
};
static_assert(sizeof(trace_record) == 64, "a record is one cache line");

class trace_ring {
 public:
  void init(trace_record* slots, std::size_t capacity) noexcept {
    slots_ = slots;
    capacity_ = capacity;
  }
  // Claims the next slot (see "The signal handler" above).
  trace_record& claim() noexcept {
    std::uint64_t i = head_.fetch_add(1, std::memory_order_relaxed);
    return slots_[i & (capacity_ - 1)];
  }
  std::uint64_t written() const noexcept { return head_.load(std::memory_order_relaxed); }
  std::uint64_t dropped() const noexcept { return written() > capacity_ ? written() - capacity_ : 0; }
  // Visits the records kept, oldest first.
  template <class F>
  void for_each(F&& f) const {
    for (std::uint64_t i = dropped(), end = written(); i < end; ++i) f(slots_[i & (capacity_ - 1)]);
  }

  std::int64_t slice_begin = 0;  // when the running fiber switched in
  std::int64_t sleep_begin = 0;  // when the thread went to sleep

 private:
  trace_record* slots_ = nullptr;
  std::size_t capacity_ = 0;
  std::atomic<std::uint64_t> head_{0};
};

class trace_recorder {
 public:
  // `tracks`: the runtime's workers plus the main thread; one more ring
  // serves outside threads. `path` is copied; the process's n-th recording
  // runtime (n > 1) writes "<stem>.<n><extension>" instead, so runtimes
  // that follow one another do not overwrite each other's file.
  trace_recorder(const allocator_hooks& a, unsigned tracks, std::size_t events_per_ring, const char* path,
                 unsigned ordinal) noexcept
      : alloc_(a), tracks_(tracks + 1) {
    capacity_ = 64;
    while (capacity_ < events_per_ring) capacity_ *= 2;
    rings_ = static_cast<trace_ring*>(heap_allocate(alloc_, sizeof(trace_ring) * tracks_, alignof(trace_ring)));
    slots_ = static_cast<trace_record*>(
        heap_allocate(alloc_, sizeof(trace_record) * capacity_ * tracks_, alignof(trace_record)));
    for (unsigned i = 0; i < tracks_; ++i) {
      new (&rings_[i]) trace_ring();
      rings_[i].init(slots_ + std::size_t{i} * capacity_, capacity_);
    }
    path_ = numbered_path(path, ordinal);
    start_ns_ = now_ns();
  }
  ~trace_recorder() {
    for (unsigned i = 0; i < tracks_; ++i) rings_[i].~trace_ring();
    heap_deallocate(alloc_, rings_, sizeof(trace_ring) * tracks_, alignof(trace_ring));
    heap_deallocate(alloc_, slots_, sizeof(trace_record) * capacity_ * tracks_, alignof(trace_record));
    heap_deallocate(alloc_, path_, std::strlen(path_) + 1, 1);
  }
  trace_recorder(const trace_recorder&) = delete;
  trace_recorder& operator=(const trace_recorder&) = delete;

  trace_hooks hooks() noexcept {
    trace_hooks h;
    h.context = this;
    h.on_spawn = [](void* c, const trace_event& e) { self(c).instant(e, record_kind::spawn); };
    h.on_wake = [](void* c, const trace_event& e) { self(c).instant(e, record_kind::wake); };
    h.on_preempt_deferred = [](void* c, const trace_event& e) { self(c).instant(e, record_kind::deferred); };
    h.on_wakeup_preempt = [](void* c, const trace_event& e) { self(c).instant(e, record_kind::wakeup_preempt); };
    h.on_switch_in = [](void* c, const trace_event& e) { self(c).ring_of(e.worker).slice_begin = e.time_ns; };
    h.on_switch_out = [](void* c, const trace_event& e) { self(c).end_slice(e); };
    h.on_worker_sleep = [](void* c, const trace_event& e) { self(c).ring_of(e.worker).sleep_begin = e.time_ns; };
    h.on_worker_wake = [](void* c, const trace_event& e) { self(c).end_sleep(e); };
    return h;
  }

  const char* path() const noexcept { return path_; }
  std::int64_t start_ns() const noexcept { return start_ns_; }
  unsigned tracks() const noexcept { return tracks_; }  // the last is "outside the runtime"
  const trace_ring& ring(unsigned track) const noexcept { return rings_[track]; }

 private:
  static trace_recorder& self(void* c) noexcept { return *static_cast<trace_recorder*>(c); }

  char* numbered_path(const char* path, unsigned ordinal) noexcept {
    std::size_t len = std::strlen(path);
    const char* slash = std::strrchr(path, '/');
    const char* dot = std::strrchr(path, '.');
    std::size_t stem = dot && dot > (slash ? slash : path) ? static_cast<std::size_t>(dot - path) : len;
    char suffix[16] = "";
    if (ordinal > 1) std::snprintf(suffix, sizeof suffix, ".%u", ordinal);
    std::size_t n = len + std::strlen(suffix) + 1;
    char* p = static_cast<char*>(heap_allocate(alloc_, n, 1));
    std::snprintf(p, n, "%.*s%s%s", static_cast<int>(stem), path, suffix, path + stem);
    return p;
  }
  trace_ring& ring_of(int worker) noexcept { return rings_[worker < 0 ? tracks_ - 1 : static_cast<unsigned>(worker)]; }

  static void describe(trace_record& r, const trace_fiber& f) noexcept {
    r.fiber = f.id;
    r.policy = static_cast<std::uint8_t>(f.policy);
    r.priority = static_cast<std::uint8_t>(f.priority);
    std::size_t n = f.name ? strnlen(f.name, trace_record::name_capacity - 1) : 0;
    std::memcpy(r.name, f.name ? f.name : "", n);
    r.name[n] = '\0';
  }

  void instant(const trace_event& e, record_kind kind) noexcept {
    std::unique_lock<std::mutex> lk(outside_lock_, std::defer_lock);
    if (e.worker < 0) lk.lock();  // only the outside ring has several writers
    fill(ring_of(e.worker).claim(), e, kind, e.time_ns);
  }
  void end_slice(const trace_event& e) noexcept {
    trace_ring& r = ring_of(e.worker);
    fill(r.claim(), e, record_kind::slice, r.slice_begin);
  }
  void end_sleep(const trace_event& e) noexcept {
    trace_ring& r = ring_of(e.worker);
    fill(r.claim(), e, record_kind::sleep, r.sleep_begin);
  }
  static void fill(trace_record& r, const trace_event& e, record_kind kind, std::int64_t begin) noexcept {
    r.kind = kind;
    r.begin = begin;
    r.end = e.time_ns;
    r.other = e.other;
    r.reason = e.reason;
    describe(r, e.fiber);
  }

  allocator_hooks alloc_;
  unsigned tracks_;
  std::size_t capacity_;
  trace_ring* rings_ = nullptr;
  trace_record* slots_ = nullptr;
  char* path_ = nullptr;
  std::int64_t start_ns_ = 0;
  std::mutex outside_lock_;
};

}  // namespace jiffy::detail
