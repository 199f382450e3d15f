// bench/support/cli.hpp — the benchmarks' command-line parser.
//
// What it accepts:
//  * options `--name`, some taking a value: `--name VALUE` or `--name=VALUE`
//    (a value may start with '-': `--pin-cpu -1`);
//  * positional arguments, for a program that takes them (fiber_memory);
//  * `-h` / `--help`: prints "usage: PROGRAM SYNOPSIS" and the help text on
//    stdout and exits 0.
// Anything wrong (an unknown option, a missing or bad value, a value given
// to an option that takes none) prints on stderr
//     PROGRAM: what is wrong, naming the option and the value
//     usage: PROGRAM SYNOPSIS
//     (PROGRAM --help lists the options)
// and exits with status 2, so that scripts can tell a bad command line
// from a failed run (1).
//
// Use: a loop over the arguments, one `if` per option, so each program's
// options stay readable where they are handled:
//
//   bench::cli::args args(argc, argv, "[--seconds S] [--label TEXT] [--csv]", kHelp);
//   while (args.next()) {
//     if (args.is("--seconds")) o.seconds = args.number(0.001, 3600);
//     else if (args.is("--label")) o.label = args.text();
//     else if (args.is("--csv")) o.csv = true;
//     else args.unknown();
//   }
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace bench {

// --csv and --json: the machine-readable outputs several benchmarks offer
// besides their text.
enum class output_format { text, csv, json };

namespace cli {

class args {
 public:
  // `synopsis`: the options, as the usage line shows them after the
  // program's name ('\n' starts an indented line); `help`: what --help
  // prints after the usage line.
  args(int argc, char** argv, std::string synopsis, std::string help)
      : argc_(argc),
        argv_(argv),
        program_(base_name(argc > 0 ? argv[0] : "benchmark")),
        synopsis_(std::move(synopsis)),
        help_(std::move(help)) {}

  // Moves to the next argument; false when there are none left. Handles
  // -h/--help itself.
  bool next() {
    if (inline_value_ && !value_taken_) fail(name_ + " takes no value");
    if (++i_ >= argc_) return false;
    name_ = argv_[i_];
    inline_value_ = false;
    value_taken_ = false;
    const std::size_t eq = name_.find('=');
    if (name_.rfind("--", 0) == 0 && eq != std::string::npos) {
      value_ = name_.substr(eq + 1);
      name_.resize(eq);
      inline_value_ = true;
    }
    if (name_ == "-h" || name_ == "--help") print_help_and_exit();
    return true;
  }

  // The current argument is the option `name`.
  bool is(std::string_view name) const { return name_ == name; }

  // The current argument is not an option (does not start with '-').
  bool positional() const { return name_.empty() || name_[0] != '-'; }

  // The current option's name, or the positional argument itself.
  const std::string& name() const { return name_; }

  // The current option's value as text. For a positional argument: the
  // argument itself.
  std::string text() {
    value_taken_ = true;
    if (positional()) return name_;
    if (inline_value_) return value_;
    if (i_ + 1 >= argc_) fail(name_ + " needs a value");
    return argv_[++i_];
  }

  // The current option's value as a number from lo to hi.
  double number(double lo, double hi) { return number_in(text(), lo, hi); }

  // The current option's value as a whole number from lo to hi.
  long long integer(long long lo, long long hi) { return integer_in(text(), lo, hi); }

  // The current option's value as the index of one of `allowed` (a braced
  // list of names, or an array of them).
  std::size_t choice(std::initializer_list<std::string_view> allowed) { return index_in(text(), allowed); }
  template <class Names>
  std::size_t choice(const Names& allowed) {
    return index_in(text(), allowed);
  }

  // Checks `text` (the current option's value, or one item of it when the
  // value is a list) as a number from lo to hi.
  double number_in(const std::string& text, double lo, double hi) const {
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(v >= lo && v <= hi))
      fail(label() + ": '" + text + "' is not a number from " + shortest(lo) + " to " + shortest(hi));
    return v;
  }

  // Checks `text` the same way as a whole number from lo to hi.
  long long integer_in(const std::string& text, long long lo, long long hi) const {
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno != 0 || v < lo || v > hi)
      fail(label() + ": '" + text + "' is not a whole number from " + std::to_string(lo) + " to " + std::to_string(hi));
    return v;
  }

  // The current argument is not one the program takes.
  [[noreturn]] void unknown() const {
    fail(positional() ? "unexpected argument '" + name_ + "'" : "unknown option '" + name_ + "'");
  }

  // Reports a bad command line (what is wrong, naming the option and the
  // value) and exits with status 2.
  [[noreturn]] void fail(const std::string& what) const {
    std::fprintf(stderr, "%s: %s\n%s(%s --help lists the options)\n", program_.c_str(), what.c_str(), usage().c_str(),
                 program_.c_str());
    std::exit(2);
  }

 private:
  static std::string base_name(const char* path) {
    const std::string p = path;
    const std::size_t slash = p.rfind('/');
    return slash == std::string::npos ? p : p.substr(slash + 1);
  }

  // %g: "1e+06" rather than "1000000.000000".
  static std::string shortest(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
  }

  template <class Names>
  std::size_t index_in(const std::string& v, const Names& allowed) const {
    std::size_t i = 0;
    std::string list;
    for (std::string_view a : allowed) {
      if (v == a) return i;
      list += (i++ ? ", " : "") + std::string(a);
    }
    fail(label() + ": '" + v + "' is not one of " + list);
  }

  // "usage: PROGRAM SYNOPSIS\n", a synopsis of several lines indented to
  // line up under its first.
  std::string usage() const {
    std::string text = "usage: " + program_ + " ";
    const std::string indent(text.size(), ' ');
    for (char c : synopsis_) {
      text += c;
      if (c == '\n') text += indent;
    }
    return text + "\n";
  }

  // How messages name the current argument: the option, or for a
  // positional one its place.
  std::string label() const { return positional() ? "argument " + std::to_string(i_) : name_; }

  [[noreturn]] void print_help_and_exit() const {
    std::fputs(usage().c_str(), stdout);
    if (!help_.empty()) std::printf("\n%s", help_.c_str());
    std::exit(0);
  }

  int argc_;
  char** argv_;
  std::string program_, synopsis_, help_;
  int i_ = 0;
  std::string name_, value_;
  bool inline_value_ = false, value_taken_ = false;
};

}  // namespace cli
}  // namespace bench
