// jiffy/detail/tracer.hpp — a runtime's tracing state: the program's hooks
// (runtime_options::trace) and the built-in recorder's
// (detail/trace_recorder.hpp), called one after the other.
//
// Rules:
//  * Set up by start_runtime before any worker starts and never changed
//    after, so every thread reads it without synchronisation beyond the
//    thread start.
//  * `on` is the one branch an event costs when nobody listens; each
//    worker keeps a copy (worker::tracing) next to what the switch touches
//    anyway. The emitting side is detail/trace_points.hpp.
#pragma once

#include <jiffy/trace.hpp>

namespace jiffy::detail {

class trace_recorder;

struct tracer {
  trace_hooks program;                 // runtime_options::trace
  trace_hooks builtin;                 // the recorder's, when it records
  trace_recorder* recorder = nullptr;  // owned by detail/lifecycle.hpp
  bool on = false;

  void emit(trace_hook trace_hooks::*which, const trace_event& e) const noexcept {
    if (trace_hook h = program.*which) h(program.context, e);
    if (trace_hook h = builtin.*which) h(builtin.context, e);
  }
};

}  // namespace jiffy::detail
