// examples/common/cli.hpp — the command-line conventions every example
// follows, so that each example's parser only lists its own options:
//
//  * Options are read in order; an option's value is the argument after it.
//  * --help or -h, wherever it stands, prints the usage on stdout and exits 0
//    (an error in an argument before it wins, as it is read first).
//  * A bad argument prints "PROGRAM: what is wrong" and then the usage on
//    stderr, and exits 2: scripts and tests tell a usage error from a run
//    that failed (exit 1). A missing value shows as '' in the message.
#pragma once

#include <jiffy/jiffy.hpp>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace examples::cli {

// What the messages need to know about the program.
struct program {
  const char* name;   // "echo_server": every complaint starts "echo_server: "
  const char* usage;  // the whole --help text, ending in a newline
};

// Prints the usage (on stdout when asked for, on stderr after an error) and
// exits with `code`.
[[noreturn]] inline void exit_with_usage(const program& p, int code) {
  std::fputs(p.usage, code ? stderr : stdout);
  std::exit(code);
}

// `text` as a whole number from min to max, or false. strtol alone would
// take "" as 0 and "12x" as 12, and clamp what overflows to LONG_MAX.
inline bool parse_whole_number(const char* text, long min, long max, long& out) {
  if (!text || !*text) return false;
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (*end || v < min || v > max) return false;
  out = v;
  return true;
}

// The arguments of main(), read one at a time:
//
//   cli::arguments args(program, argc, argv);
//   while (args.next()) {
//     if (args.is("--port")) cfg.port = args.number(0, 65535);
//     else args.reject_unknown();
//   }
class arguments {
 public:
  arguments(const program& p, int argc, char** argv) : program_(p), argc_(argc), argv_(argv) {}

  // Steps to the next argument; false once all have been read. Answers
  // --help and -h itself, since every example takes them.
  bool next() {
    if (++at_ >= argc_) return false;
    if (is("--help") || is("-h")) exit_with_usage(program_, 0);
    return true;
  }

  // True if the current argument is `option`.
  bool is(std::string_view option) const { return option == argv_[at_]; }

  // The argument after the current option (and steps past it), or nullptr
  // if the option is the last argument.
  const char* value() { return at_ + 1 < argc_ ? argv_[++at_] : nullptr; }

  // The current option's value as a whole number from min to max.
  long number(long min, long max) {
    return number_in(min, max, "from " + std::to_string(min) + " to " + std::to_string(max));
  }

  // The current option's value as a whole number of at least `min` (for an
  // option with no useful upper bound).
  long number_at_least(long min) { return number_in(min, LONG_MAX, "of at least " + std::to_string(min)); }

  // The current option's value as a numeric IPv4 or IPv6 address (no host
  // names: the examples do no name lookups).
  std::string address() {
    std::string option = argv_[at_];
    const char* text = value();
    if (!text || !jiffy::ip_endpoint::parse(text, 0)) reject(option + " needs an IPv4 or IPv6 address" + got(text));
    return text;
  }

  // For the argument that matched no option.
  [[noreturn]] void reject_unknown() { reject("unknown option '" + std::string(argv_[at_]) + "'"); }

  // Says what is wrong with the arguments, shows the usage and exits 2.
  [[noreturn]] void reject(const std::string& problem) {
    std::fprintf(stderr, "%s: %s\n", program_.name, problem.c_str());
    exit_with_usage(program_, 2);
  }

  // " (got 'TEXT')", the end of every complaint about a value.
  static std::string got(const char* text) { return std::string(" (got '") + (text ? text : "") + "')"; }

 private:
  // `range` says min and max in words, for the complaint.
  long number_in(long min, long max, const std::string& range) {
    std::string option = argv_[at_];
    const char* text = value();
    long v = 0;
    if (!parse_whole_number(text, min, max, v)) reject(option + " needs a whole number " + range + got(text));
    return v;
  }

  program program_;
  int argc_;
  char** argv_;
  int at_ = 0;  // argv_[0] is the program itself
};

}  // namespace examples::cli
