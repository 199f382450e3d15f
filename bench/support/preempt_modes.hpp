// bench/support/preempt_modes.hpp — jiffy's preemption models by name, as
// the benchmarks print them and take them on the command line
// (preempt_latency --mode, lockbench --preempt).
#pragma once

#include "cli.hpp"

#include <jiffy/options.hpp>

#include <string>

namespace bench {

inline const char* mode_name(jiffy::preempt_mode m) { return jiffy::preempt_mode_name(m); }

// `text` (the value of the option being parsed, or one item of it) as a
// preemption model; a bad command line otherwise.
inline jiffy::preempt_mode preempt_mode_named(const cli::args& args, const std::string& text) {
  for (jiffy::preempt_mode m : {jiffy::preempt_mode::none, jiffy::preempt_mode::voluntary, jiffy::preempt_mode::full,
                                jiffy::preempt_mode::lazy})
    if (text == mode_name(m)) return m;
  args.fail(args.name() + ": '" + text + "' is not one of none, voluntary, full, lazy");
}

}  // namespace bench
