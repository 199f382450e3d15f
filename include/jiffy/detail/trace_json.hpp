// jiffy/detail/trace_json.hpp — the recorder's rings as a Chrome trace-event
// JSON file (the format Perfetto's UI and chrome://tracing open).
//
// Rules:
//  * Written once, after the workers stopped (detail/lifecycle.hpp), by
//    the thread that destroys the runtime; it may allocate (through the
//    runtime's allocator) and take its time.
//  * One thread per track: "worker N", "main thread" (serve_main),
//    "outside the runtime". Time stamps are microseconds since the runtime
//    started (steady_clock).
//  * A slice per fiber run ("X": name, class, why it left); instants ("i")
//    where it was preempted, rescheduled or made way for a waking fiber,
//    where a signal was deferred, and where a waker asked a worker to make
//    way; a slice "sleep" while a worker's thread slept; a flow ("s" at the
//    waker, "f" at the start of the woken or spawned fiber's next run) for
//    every wake-up and spawn whose run was kept.
//  * The file's "otherData" says how many records the rings dropped, and
//    the steady_clock reading (ns) that time stamp 0 stands for, so a trace
//    can be lined up with the program's own steady_clock logs.
#pragma once

#include <jiffy/detail/diag.hpp>
#include <jiffy/detail/heap.hpp>
#include <jiffy/detail/platform/file.hpp>
#include <jiffy/detail/trace_recorder.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

namespace jiffy::detail {

// Buffered JSON text into an output_file; remembers the first failure.
class json_writer {
 public:
  explicit json_writer(output_file& f) noexcept : file_(f) {}
  json_writer& raw(const char* s) noexcept { return raw(s, std::strlen(s)); }
  json_writer& raw(const char* s, std::size_t n) noexcept {
    if (len_ + n > sizeof buf_) flush();
    if (n > sizeof buf_) {
      ok_ = ok_ && file_.write(s, n);
      return *this;
    }
    std::memcpy(buf_ + len_, s, n);
    len_ += n;
    return *this;
  }
  json_writer& string(const char* s) noexcept {
    raw("\"");
    for (; *s; ++s) {
      auto c = static_cast<unsigned char>(*s);
      if (c == '"' || c == '\\') {
        char esc[2] = {'\\', static_cast<char>(c)};
        raw(esc, 2);
      } else if (c < 0x20) {
        char esc[8];
        std::snprintf(esc, sizeof esc, "\\u%04x", c);
        raw(esc);
      } else {
        raw(s, 1);
      }
    }
    return raw("\"");
  }
  json_writer& integer(std::uint64_t v) noexcept {
    char tmp[24];
    return raw(tmp,
               static_cast<std::size_t>(std::snprintf(tmp, sizeof tmp, "%llu", static_cast<unsigned long long>(v))));
  }
  // Nanoseconds since `origin`, as microseconds with three decimals.
  json_writer& micros(std::int64_t ns, std::int64_t origin) noexcept {
    std::int64_t d = ns - origin;
    if (d < 0) d = 0;
    char tmp[32];
    return raw(tmp,
               static_cast<std::size_t>(std::snprintf(tmp, sizeof tmp, "%lld.%03lld", static_cast<long long>(d / 1000),
                                                      static_cast<long long>(d % 1000))));
  }
  bool finish() noexcept {
    flush();
    return ok_;
  }

 private:
  void flush() noexcept {
    ok_ = ok_ && file_.write(buf_, len_);
    len_ = 0;
  }
  output_file& file_;
  char buf_[16384];
  std::size_t len_ = 0;
  bool ok_ = true;
};

// Where a fiber's runs begin, to bind a flow to the run a wake-up led to.
struct run_start {
  std::uint64_t fiber;
  std::int64_t begin;
  unsigned track;
  bool operator<(const run_start& o) const noexcept { return fiber != o.fiber ? fiber < o.fiber : begin < o.begin; }
};

class chrome_trace {
 public:
  chrome_trace(const trace_recorder& rec, const allocator_hooks& a, json_writer& out)
      : rec_(rec), out_(out), runs_(hooks_allocator<run_start>(&a)) {}

  void write(unsigned workers) {
    index_runs();
    out_.raw("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n");
    out_.raw("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"args\":{\"name\":\"jiffy runtime\"}}");
    for (unsigned t = 0; t < rec_.tracks(); ++t) track_name(t, workers);
    std::uint64_t dropped = 0, kept = 0;
    for (unsigned t = 0; t < rec_.tracks(); ++t) {
      dropped += rec_.ring(t).dropped();
      rec_.ring(t).for_each([&](const trace_record& r) {
        ++kept;
        record(t, r);
      });
    }
    out_.raw("\n],\"otherData\":{\"clock\":\"steady_clock\",\"start_ns\":")
        .integer(static_cast<std::uint64_t>(rec_.start_ns()));
    out_.raw(",\"records\":").integer(kept);
    out_.raw(",\"dropped_records\":").integer(dropped).raw("}}\n");
  }

 private:
  void index_runs() {
    for (unsigned t = 0; t < rec_.tracks(); ++t)
      rec_.ring(t).for_each([&](const trace_record& r) {
        if (r.kind == record_kind::slice) runs_.push_back({r.fiber, r.begin, t});
      });
    std::sort(runs_.begin(), runs_.end());
  }
  // The first run of `fiber` that began at or after `t`.
  const run_start* run_after(std::uint64_t fiber, std::int64_t t) const {
    auto it = std::lower_bound(runs_.begin(), runs_.end(), run_start{fiber, t, 0});
    return it != runs_.end() && it->fiber == fiber ? &*it : nullptr;
  }

  void track_name(unsigned t, unsigned workers) {
    char name[40];
    if (t < workers)
      std::snprintf(name, sizeof name, "worker %u", t);
    else
      std::snprintf(name, sizeof name, "%s", t == workers ? "main thread (serve_main)" : "outside the runtime");
    out_.raw(",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":").integer(t);
    out_.raw(",\"args\":{\"name\":").string(name).raw("}}");
    out_.raw(",\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":1,\"tid\":").integer(t);
    out_.raw(",\"args\":{\"sort_index\":").integer(t).raw("}}");
  }

  // ,\n{"name":NAME,"ph":PH,"pid":1,"tid":T,"ts":TS   (the caller closes it)
  void begin_event(const char* name, const char* ph, unsigned track, std::int64_t ts) {
    out_.raw(",\n{\"name\":").string(name).raw(",\"ph\":\"").raw(ph).raw("\",\"pid\":1,\"tid\":").integer(track);
    out_.raw(",\"ts\":").micros(ts, rec_.start_ns());
  }
  void fiber_args(const trace_record& r) {
    out_.raw(",\"args\":{\"fiber\":").integer(r.fiber);
    out_.raw(",\"class\":").string(sched_policy_name(static_cast<sched_policy>(r.policy)));
    if (r.priority) out_.raw(",\"priority\":").integer(r.priority);
  }
  // An instant on track t about r's fiber; the caller closes its args and
  // the event.
  void preemption_instant(const char* name, unsigned t, std::int64_t ts, const trace_record& r) {
    begin_event(name, "i", t, ts);
    out_.raw(",\"s\":\"t\",\"cat\":\"preemption\"");
    fiber_args(r);
  }
  static const char* fiber_name(const trace_record& r, char (&buf)[40]) {
    if (r.name[0]) return r.name;
    std::snprintf(buf, sizeof buf, "fiber-%llu", static_cast<unsigned long long>(r.fiber));
    return buf;
  }

  void record(unsigned t, const trace_record& r) {
    char buf[40];
    switch (r.kind) {
      case record_kind::slice:
        begin_event(fiber_name(r, buf), "X", t, r.begin);
        out_.raw(",\"dur\":")
            .micros(r.end, r.begin)
            .raw(",\"cat\":")
            .string(sched_policy_name(static_cast<sched_policy>(r.policy)));
        fiber_args(r);
        out_.raw(",\"left\":").string(switch_reason_name(r.reason)).raw("}}");
        if (r.reason == switch_reason::preempted || r.reason == switch_reason::rescheduled ||
            r.reason == switch_reason::wakeup_preempted) {
          preemption_instant(switch_reason_name(r.reason), t, r.end, r);
          out_.raw("}}");
        }
        break;
      case record_kind::sleep:
        begin_event("sleep", "X", t, r.begin);
        out_.raw(",\"dur\":").micros(r.end, r.begin).raw(",\"cat\":\"worker\"}");
        break;
      case record_kind::deferred:
        preemption_instant("preemption deferred", t, r.begin, r);
        out_.raw("}}");
        break;
      case record_kind::wakeup_preempt:
        preemption_instant("wake-up preemption", t, r.begin, r);
        out_.raw(",\"worker\":").integer(r.other).raw("}}");
        break;
      case record_kind::spawn:
      case record_kind::wake: flow(t, r); break;
    }
  }

  void flow(unsigned t, const trace_record& r) {
    const run_start* to = run_after(r.fiber, r.begin);
    if (!to) return;  // its next run was not kept (or never came)
    const char* name = r.kind == record_kind::spawn ? "spawn" : "wake";
    ++flow_id_;
    begin_event(name, "s", t, r.begin);
    out_.raw(",\"cat\":\"flow\",\"id\":").integer(flow_id_);
    out_.raw(",\"args\":{\"by\":").integer(r.other).raw(",\"fiber\":").integer(r.fiber).raw("}}");
    begin_event(name, "f", to->track, to->begin);
    out_.raw(",\"bp\":\"e\",\"cat\":\"flow\",\"id\":").integer(flow_id_).raw("}");
  }

  const trace_recorder& rec_;
  json_writer& out_;
  std::vector<run_start, hooks_allocator<run_start>> runs_;
  std::uint64_t flow_id_ = 0;
};

// Writes the recorder's file; on failure says so on stderr, naming the
// path and the error. Returns whether it was written.
inline bool write_chrome_trace(const trace_recorder& rec, const allocator_hooks& a, unsigned workers) {
  output_file f;
  bool ok = f.open(rec.path());
  if (ok) {
    json_writer out(f);
    chrome_trace(rec, a, out).write(workers);
    ok = out.finish();
    ok = f.close() && ok;
  }
  if (!ok) {
    int err = errno;
    char text[128];
    message m;
    m.text("jiffy: cannot write the trace file '").text(rec.path()).text("': ");
    m.text(describe_error(err, text, sizeof text)).write_line();
  }
  return ok;
}

}  // namespace jiffy::detail
