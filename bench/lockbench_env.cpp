// bench/lockbench_env.cpp — the machine a lockbench run measured, recorded
// with the results (--json: "environment") and checked for what makes lock
// figures untrustworthy.
//
// Recorded: the CPU model; logical CPUs, physical cores and packages (from
// /sys/devices/system/cpu/cpu*/topology: a core is a distinct (package,
// core_id) pair, so SMT siblings count once); the kernel (uname); the
// compiler, build type and flags (from the build); jiffy's git revision
// (`git describe --always --dirty` at build time, regenerated on every build
// by lockbench_revision.cmake, so it names the code that was compiled); the
// exact command line; the CPU frequency governor and turbo/boost state where
// /sys shows them ("unreadable" otherwise: most VMs have no cpufreq).
//
// Checked, with a warning (on stderr unless --quiet, and in the JSON):
//  * a governor other than `performance`, or turbo on: the clock then moves
//    with load and temperature, and so do ns figures (ticks do not: rdtsc
//    counts at a constant rate);
//  * other processes' load during the run: the CPU time all CPUs spent busy
//    (/proc/stat), minus this process's own (getrusage), as a fraction of
//    the run's wall time on every CPU; above 10% the contenders were sharing
//    their CPUs with someone else. Time the hypervisor took (steal) is
//    reported beside it, above 5% warned about too.
#include "lockbench_tool.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <utility>
#include <vector>

#ifndef JIFFY_LOCKBENCH_BUILD
#define JIFFY_LOCKBENCH_BUILD "unknown"
#endif

namespace lockbench::tool {

extern const char* const git_revision;  // lockbench_revision.cpp, generated at build time

namespace {

// The first line of a file, or "" if it cannot be read.
std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    std::size_t colon = line.find(':');
    if (line.rfind("model name", 0) == 0 && colon != std::string::npos) return line.substr(colon + 2);
  }
  return "unknown";
}

// Logical CPUs, distinct (package, core) pairs, distinct packages.
void read_topology(environment& e) {
  std::set<std::pair<std::string, std::string>> cores;
  std::set<std::string> packages;
  for (unsigned cpu = 0; cpu < 4096; ++cpu) {
    std::string dir = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    std::string package = first_line(dir + "physical_package_id");
    if (package.empty()) break;
    ++e.logical_cpus;
    cores.insert({package, first_line(dir + "core_id")});
    packages.insert(package);
  }
  e.physical_cores = static_cast<unsigned>(cores.size());
  e.packages = static_cast<unsigned>(packages.size());
}

std::string kernel() {
  utsname u{};
  if (uname(&u) != 0) return "unknown";
  return std::string(u.sysname) + " " + u.release + " " + u.version + " " + u.machine;
}

std::string compiler() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("gcc ") + __VERSION__;
#else
  return "unknown";
#endif
}

std::string governor() {
  std::string g = first_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor");
  return g.empty() ? "unreadable" : g;
}

std::string turbo() {
  std::string no_turbo = first_line("/sys/devices/system/cpu/intel_pstate/no_turbo");
  if (!no_turbo.empty()) return no_turbo == "0" ? "on" : "off";
  std::string boost = first_line("/sys/devices/system/cpu/cpufreq/boost");
  if (!boost.empty()) return boost == "1" ? "on" : "off";
  return "unreadable";
}

double loadavg() {
  double l = -1;
  std::istringstream(first_line("/proc/loadavg")) >> l;
  return l;
}

// All CPUs' busy and stolen seconds since boot (/proc/stat's first line).
bool read_cpu_times(double& busy, double& steal) {
  std::istringstream in(first_line("/proc/stat"));
  std::string cpu;
  unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, stolen = 0;
  if (!(in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> stolen) || cpu != "cpu")
    return false;
  double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  busy = static_cast<double>(user + nice + system + irq + softirq) / hz;
  steal = static_cast<double>(stolen) / hz;
  return true;
}

double own_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(u.ru_utime) + seconds(u.ru_stime);
}

void warn(environment& e, const std::string& what) { e.warnings.push_back(what); }

void check_frequency(environment& e) {
  if (e.governor != "unreadable" && e.governor != "performance")
    warn(e, "the CPU frequency governor is '" + e.governor +
                "', not 'performance': the clock follows the load, and ns figures with it");
  if (e.turbo == "on") warn(e, "turbo/boost is on: the clock varies with load and temperature");
}

std::string percent(double f) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f%%", 100 * f);
  return buf;
}

void check_load(environment& e) {
  if (e.others_busy > 0.10)
    warn(e, "other processes kept the CPUs " + percent(e.others_busy) +
                " busy during the run: contenders shared their CPUs, figures are disturbed");
  if (e.steal > 0.05) warn(e, "the hypervisor took " + percent(e.steal) + " of the CPUs' time (steal) during the run");
}

}  // namespace

environment machine_watch::start() {
  environment e;
  e.cpu_model = cpu_model();
  read_topology(e);
  e.kernel = kernel();
  e.compiler = compiler();
  e.build = JIFFY_LOCKBENCH_BUILD;
  e.git_revision = git_revision;
  e.governor = governor();
  e.turbo = turbo();
  e.loadavg_before = loadavg();
  sampled_ = read_cpu_times(busy0_, steal0_);
  own0_ = own_cpu_seconds();
  wall0_ = std::chrono::steady_clock::now();
  return e;
}

void machine_watch::finish(environment& e) const {
  e.loadavg_after = loadavg();
  double busy1 = 0, steal1 = 0;
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0_).count();
  double capacity = wall * static_cast<double>(e.logical_cpus ? e.logical_cpus : lockbench::cores());
  if (sampled_ && read_cpu_times(busy1, steal1) && capacity >= 0.5) {  // /proc/stat counts in 10 ms ticks
    double others = (busy1 - busy0_) - (own_cpu_seconds() - own0_);
    e.others_busy = std::max(0.0, others / capacity);
    e.steal = (steal1 - steal0_) / capacity;
  }
  check_frequency(e);
  check_load(e);
}

void print_warnings(const environment& e) {
  for (const std::string& w : e.warnings) std::fprintf(stderr, "lockbench: warning: %s\n", w.c_str());
}

}  // namespace lockbench::tool
