// bench/http_load.cpp — an open-loop HTTP/1.1 load generator on jiffy's own
// sockets, for the "tiny requests beside heavy ones" scenario: how long does
// a GET /hello take while 1 request in N makes the server compute for M ms?
//
// Usage: http_load --port P [options]   (see --help, or kHelp below)
//
// How it measures:
//  * Open loop. Request i is due at t0 + i / rate, whatever happened to the
//    ones before it, and its latency runs from that INTENDED time to the
//    last byte of its response. A stalled server therefore shows its stall
//    in every request due during it (no coordinated omission: a closed-loop
//    client such as wrk would simply send less while the server stalls).
//  * 1 request in --heavy-every is GET /work?ms=--heavy-ms; the others are
//    GET /hello. Only /hello latencies make the main figures; the heavy ones
//    are reported apart. Which requests are heavy: by default each one is,
//    with probability 1/N, from a fixed-seed generator (--seed), so heavy
//    requests sometimes overlap, as real traffic does, and every run (and
//    every server) gets the same sequence; --heavy-pattern even makes every
//    N-th one heavy instead (evenly spaced: they overlap only if one lasts
//    longer than N request periods).
//  * No client-side queueing behind a heavy request: /hello and /work
//    requests use two separate pools of keep-alive connections, each served
//    by one fiber. A due request goes to an idle connection of its pool
//    (idle connections are used round-robin, so all stay warm); if none is
//    idle it waits in a FIFO for the first to free up, and is counted as
//    `waited` (its latency includes the wait, as it should). Size the pools
//    (--connections, --heavy-connections) so that `waited` stays 0: the
//    server, not the client, should be what is measured.
//  * The client is a jiffy::runtime of its own (--workers, default 1,
//    preemption `none`: its fibers never compute for long). One dispatcher
//    fiber sleeps until each request is due and hands it to a connection;
//    how late it hands them out is reported as `send lag` (client health:
//    it is part of every latency, so it must stay small).
//    The worker threads' timer slack is set to 1 us (Linux's default, 50 us,
//    would be added to every wake-up of the dispatcher).
//  * The first --warmup seconds of requests are sent but not recorded.
//  * Errors (connect, time-out, I/O, a status other than 200, a response we
//    cannot parse) are counted by kind and excluded from the percentiles;
//    a connection that fails is reconnected for its next request. A reused
//    connection that turns out to be closed by the server before any byte
//    of the response arrived is retried once on a new connection (what
//    HTTP clients do for idempotent requests), counted as `retried`.
//
// The client (connection pools, the HTTP exchange) is http_load_client.cpp;
// this file has the options, the dispatcher and the outputs.
//
// Output: a table (default), --csv (a header line and one record) or --json
// (one object, with the /hello latency curve at percentiles 0 ... 99.99 and
// max, for bench/plot_http_latency.py). Percentiles are nearest-rank
// (bench/support/percentile.hpp).
// Exit status: 0 after a run (even with errors: they are reported), 1 when
// the server cannot be reached at the start, 2 on bad arguments.

#include "http_load_client.hpp"
#include "support/cli.hpp"
#include "support/percentile.hpp"

#include <jiffy/jiffy.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <sched.h>
#include <string>
#include <sys/prctl.h>
#include <vector>

namespace {

using namespace http_load;
using namespace std::chrono_literals;

constexpr const char* kSynopsis =
    "--port P [--host ADDR] [--rate R] [--duration S] [--warmup S]\n"
    "[--heavy-every N] [--heavy-ms M] [--heavy-pattern random|even] [--seed S]\n"
    "[--connections N] [--heavy-connections N]\n"
    "[--workers N] [--timeout-ms T] [--label TEXT] [--csv | --json] [--help]";

constexpr const char* kHelp =
    "Open-loop HTTP/1.1 load: GET /hello at a fixed rate, 1 request in N replaced by\n"
    "GET /work?ms=M; /hello latency from each request's intended send time.\n"
    "\n"
    "  --port P               server port (required)\n"
    "  --host ADDR            server address (default 127.0.0.1; IPv4 or IPv6 literal)\n"
    "  --rate R               requests per second, all kinds together (default 2000)\n"
    "  --duration S           measured seconds (default 10)\n"
    "  --warmup S             seconds of load sent first and not recorded (default 1; 0: none)\n"
    "  --heavy-every N        1 request in N is /work (default 100; 0: never)\n"
    "  --heavy-ms M           ms of computing per /work request (default 20)\n"
    "  --heavy-pattern P      random: each request is heavy with probability 1/N, from a fixed\n"
    "                         seed (default); even: exactly every N-th request\n"
    "  --seed S               seed of the random pattern (default 1)\n"
    "  --connections N        keep-alive connections for /hello (default 128)\n"
    "  --heavy-connections N  keep-alive connections for /work (default 16)\n"
    "  --workers N            the client's jiffy workers (default 1)\n"
    "  --timeout-ms T         a request not answered T ms after it was due is an error (default 5000)\n"
    "  --label TEXT           name of this run in the output\n"
    "  --csv                  print a CSV header and one record instead of the table\n"
    "  --json                 print one JSON object (with the /hello latency curve)\n"
    "  --help                 this text\n"
    "\n"
    "A request that finds no idle connection waits for one and is counted as `waited`;\n"
    "keep that 0 (raise --connections) so the figures are the server's.\n";

struct options {
  std::string host = "127.0.0.1";
  long port = -1;
  jiffy::ip_endpoint server;  // host and port
  double rate = 2000;
  double duration_s = 10;
  double warmup_s = 1;
  long heavy_every = 100;
  long heavy_ms = 20;
  bool heavy_random = true;
  std::uint64_t seed = 1;
  long connections = 128;
  long heavy_connections = 16;
  long workers = 1;
  long timeout_ms = 5000;
  std::string label;
  bench::output_format format = bench::output_format::text;
};

// Applies the current argument; false if it is not an option of ours.
bool parse_option(bench::cli::args& args, options& o) {
  if (args.is("--csv"))
    o.format = bench::output_format::csv;
  else if (args.is("--json"))
    o.format = bench::output_format::json;
  else if (args.is("--port"))
    o.port = static_cast<long>(args.integer(1, 65535));
  else if (args.is("--host"))
    o.host = args.text();
  else if (args.is("--rate"))
    o.rate = args.number(1, 1000000);
  else if (args.is("--duration"))
    o.duration_s = args.number(0.01, 3600);
  else if (args.is("--warmup"))
    o.warmup_s = args.number(0, 600);
  else if (args.is("--heavy-every"))
    o.heavy_every = static_cast<long>(args.integer(0, 100000000));
  else if (args.is("--heavy-ms"))
    o.heavy_ms = static_cast<long>(args.integer(0, 10000));
  else if (args.is("--heavy-pattern"))
    o.heavy_random = args.choice({"random", "even"}) == 0;
  else if (args.is("--seed"))
    o.seed = static_cast<std::uint64_t>(args.integer(0, 2147483647));
  else if (args.is("--connections"))
    o.connections = static_cast<long>(args.integer(1, 20000));
  else if (args.is("--heavy-connections"))
    o.heavy_connections = static_cast<long>(args.integer(1, 20000));
  else if (args.is("--workers"))
    o.workers = static_cast<long>(args.integer(1, 256));
  else if (args.is("--timeout-ms"))
    o.timeout_ms = static_cast<long>(args.integer(1, 3600000));
  else if (args.is("--label"))
    o.label = args.text();
  else
    return false;
  return true;
}

options parse_args(int argc, char** argv) {
  options o;
  bench::cli::args args(argc, argv, kSynopsis, kHelp);
  while (args.next())
    if (!parse_option(args, o)) args.unknown();
  if (o.port < 0) args.fail("--port is required");
  if (o.heavy_every == 1) args.fail("--heavy-every 1 would leave no /hello requests to measure");
  if (std::llround(o.duration_s * o.rate) == 0) args.fail("--rate x --duration gives no request to measure");
  auto ep = jiffy::ip_endpoint::parse(o.host, static_cast<std::uint16_t>(o.port));
  if (!ep) args.fail("--host: '" + o.host + "' is not an IPv4 or IPv6 address");
  o.server = ep.value;
  if (o.label.empty()) o.label = "http_load " + o.host + ":" + std::to_string(o.port);
  for (char& c : o.label)  // keeps the CSV and JSON records well-formed
    if (c == ',' || c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) c = ' ';
  return o;
}

// splitmix64: a fixed, portable sequence (std::uniform_int_distribution's
// is implementation-defined).
std::uint64_t next_random(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// ------------------------------------------------------------- summary ----

std::string fmt_ms(double us) {
  char b[32];
  if (us < 10000)
    std::snprintf(b, sizeof b, "%.3f ms", us / 1000);
  else
    std::snprintf(b, sizeof b, "%.1f ms", us / 1000);
  return b;
}

struct pool_result {
  bench::latency_summary lat;  // microseconds
  bench::latency_summary lag;
  std::uint64_t errors[static_cast<int>(error_kind::count_)] = {};
  std::uint64_t error_total = 0;
  std::uint64_t waited = 0;
  std::size_t max_backlog = 0;
  std::uint64_t retried = 0;
  std::uint64_t connects = 0;
  std::vector<std::int64_t> sorted;  // latencies, ns, ascending
};

pool_result collect(pool& p) {
  pool_result r;
  std::vector<std::int64_t> lag;
  for (auto& c : p.conns) {
    r.sorted.insert(r.sorted.end(), c->rec.latency_ns.begin(), c->rec.latency_ns.end());
    lag.insert(lag.end(), c->rec.lag_ns.begin(), c->rec.lag_ns.end());
    for (int k = 0; k < static_cast<int>(error_kind::count_); ++k) {
      r.errors[k] += c->rec.errors[k];
      r.error_total += c->rec.errors[k];
    }
    r.retried += c->rec.retried;
    r.connects += c->rec.reconnects;
  }
  std::sort(r.sorted.begin(), r.sorted.end());
  r.lat = bench::summarise_sorted_ns_as_us(r.sorted);
  r.lag = bench::summarise_ns_as_us(std::move(lag));
  r.waited = p.waited;
  r.max_backlog = p.max_backlog;
  return r;
}

// The scheduling class the client runs in (bench/http_bench.sh runs it
// under SCHED_FIFO so that the server's busy threads cannot delay it).
const char* sched_name() {
  switch (::sched_getscheduler(0)) {
    case SCHED_FIFO: return "SCHED_FIFO";
    case SCHED_RR: return "SCHED_RR";
    case SCHED_OTHER: return "SCHED_OTHER";
    default: return "other scheduling class";
  }
}

std::string errors_text(const pool_result& r) {
  std::string s;
  for (int k = 0; k < static_cast<int>(error_kind::count_); ++k) {
    if (!r.errors[k]) continue;
    if (!s.empty()) s += ", ";
    s += std::to_string(r.errors[k]) + " " + kErrorNames[k];
  }
  return s.empty() ? "none" : s;
}

// What a run measured, for the outputs.
struct run_result {
  pool_result hello, heavy;
  bench::latency_summary lag;  // send lag over both kinds of request
  std::string server, heavy_name;
  bool with_heavy;
  double elapsed_s;
  std::uint64_t measured_requests;
};

bench::latency_summary send_lag(const pool& hello, const pool& heavy) {
  std::vector<std::int64_t> all_lag;
  for (const pool* p : {&hello, &heavy})
    for (auto& c : p->conns) all_lag.insert(all_lag.end(), c->rec.lag_ns.begin(), c->rec.lag_ns.end());
  return bench::summarise_ns_as_us(std::move(all_lag));
}

void print_text(const options& o, const run_result& r) {
  const pool_result& h = r.hello;
  const pool_result& w = r.heavy;
  std::printf("%s\n", o.label.c_str());
  std::printf("  %s, open loop at %.0f req/s for %.1f s (+%.1f s warm-up)", r.server.c_str(), o.rate, o.duration_s,
              o.warmup_s);
  if (r.with_heavy)
    std::printf(", 1 in %ld is %s (%s)", o.heavy_every, r.heavy_name.c_str(),
                o.heavy_random ? "at random, fixed seed" : "evenly spaced");
  std::printf("; %ld + %ld connections, %ld client worker(s), %s\n", o.connections,
              r.with_heavy ? o.heavy_connections : 0L, o.workers, sched_name());
  std::printf("  latency from the intended send time:\n");
  std::printf("  %-14s %7s %7s %7s %10s %10s %10s %10s %10s\n", "request", "ok", "errors", "waited", "p50", "p90",
              "p99", "p99.9", "max");
  auto row = [](const char* name, const pool_result& p) {
    std::printf("  %-14s %7zu %7llu %7llu %10s %10s %10s %10s %10s\n", name, p.lat.count,
                static_cast<unsigned long long>(p.error_total), static_cast<unsigned long long>(p.waited),
                fmt_ms(p.lat.p50).c_str(), fmt_ms(p.lat.p90).c_str(), fmt_ms(p.lat.p99).c_str(),
                fmt_ms(p.lat.p999).c_str(), fmt_ms(p.lat.max).c_str());
  };
  row("/hello", h);
  if (r.with_heavy) row(r.heavy_name.c_str(), w);
  std::printf("  errors: /hello %s", errors_text(h).c_str());
  if (r.with_heavy) std::printf("; %s %s", r.heavy_name.c_str(), errors_text(w).c_str());
  std::printf("\n  retried on a new connection: %llu; connects during the run: %llu\n",
              static_cast<unsigned long long>(h.retried + w.retried),
              static_cast<unsigned long long>(h.connects + w.connects));
  std::printf("  client send lag (handed to a connection - intended): p50 %s, p99 %s, max %s\n",
              fmt_ms(r.lag.p50).c_str(), fmt_ms(r.lag.p99).c_str(), fmt_ms(r.lag.max).c_str());
  std::printf("  achieved: %.0f req/s over %.2f s (the last request answered included)\n",
              static_cast<double>(r.measured_requests) / r.elapsed_s, r.elapsed_s);
  if (h.waited || w.waited)
    std::printf("  NOTE: %llu requests found no idle connection (deepest backlog %zu): raise --connections\n",
                static_cast<unsigned long long>(h.waited + w.waited), std::max(h.max_backlog, w.max_backlog));
}

void print_csv(const options& o, const run_result& r) {
  const pool_result& h = r.hello;
  const pool_result& w = r.heavy;
  std::printf(
      "label,rate,duration_s,heavy_every,heavy_ms,hello_ok,hello_errors,hello_waited,hello_p50_us,hello_p90_us,"
      "hello_p99_us,hello_p999_us,hello_max_us,hello_mean_us,heavy_ok,heavy_errors,heavy_waited,heavy_p50_us,"
      "heavy_p99_us,heavy_max_us,lag_p50_us,lag_p99_us,lag_max_us,retried\n");
  std::printf(
      "%s,%g,%g,%ld,%ld,%zu,%llu,%llu,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%zu,%llu,%llu,%.1f,%.1f,%.1f,%.1f,%.1f,"
      "%.1f,%llu\n",
      o.label.c_str(), o.rate, o.duration_s, o.heavy_every, o.heavy_ms, h.lat.count,
      static_cast<unsigned long long>(h.error_total), static_cast<unsigned long long>(h.waited), h.lat.p50, h.lat.p90,
      h.lat.p99, h.lat.p999, h.lat.max, h.lat.mean, w.lat.count, static_cast<unsigned long long>(w.error_total),
      static_cast<unsigned long long>(w.waited), w.lat.p50, w.lat.p99, w.lat.max, r.lag.p50, r.lag.p99, r.lag.max,
      static_cast<unsigned long long>(h.retried + w.retried));
}

void print_json(const options& o, const run_result& r) {
  const pool_result& h = r.hello;
  const pool_result& w = r.heavy;
  auto stats = [](const pool_result& p) {
    char b[512];
    std::snprintf(b, sizeof b,
                  "{\"ok\": %zu, \"errors\": %llu, \"waited\": %llu, \"max_backlog\": %zu, \"p50_us\": %.1f, "
                  "\"p90_us\": %.1f, \"p99_us\": %.1f, \"p999_us\": %.1f, \"max_us\": %.1f, \"mean_us\": %.1f",
                  p.lat.count, static_cast<unsigned long long>(p.error_total),
                  static_cast<unsigned long long>(p.waited), p.max_backlog, p.lat.p50, p.lat.p90, p.lat.p99, p.lat.p999,
                  p.lat.max, p.lat.mean);
    std::string s = b;
    s += ", \"error_kinds\": {";
    for (int k = 0; k < static_cast<int>(error_kind::count_); ++k)
      s += std::string(k ? ", " : "") + "\"" + kErrorNames[k] + "\": " + std::to_string(p.errors[k]);
    return s + "}}";
  };
  std::printf(
      "{\"tool\": \"http_load\", \"label\": \"%s\", \"server\": \"%s\", \"rate\": %g, \"duration_s\": %g, "
      "\"warmup_s\": %g, \"heavy_every\": %ld, \"heavy_ms\": %ld, \"connections\": %ld, "
      "\"heavy_connections\": %ld, \"heavy_pattern\": \"%s\", \"seed\": %llu, \"client_workers\": %ld, "
      "\"client_sched\": \"%s\", \"elapsed_s\": %.3f,\n",
      o.label.c_str(), r.server.c_str(), o.rate, o.duration_s, o.warmup_s, o.heavy_every, o.heavy_ms, o.connections,
      r.with_heavy ? o.heavy_connections : 0L, o.heavy_random ? "random" : "even",
      static_cast<unsigned long long>(o.seed), o.workers, sched_name(), r.elapsed_s);
  std::printf(" \"hello\": %s,\n", stats(h).c_str());
  std::printf(" \"heavy\": %s,\n", stats(w).c_str());
  std::printf(" \"send_lag\": {\"p50_us\": %.1f, \"p99_us\": %.1f, \"max_us\": %.1f}, \"retried\": %llu,\n", r.lag.p50,
              r.lag.p99, r.lag.max, static_cast<unsigned long long>(h.retried + w.retried));
  // The /hello latency curve: percentiles 100 (1 - 10^(-k/10)), k = 0..40
  // (0, 20.6, 36.9, ..., 99.99), then the maximum.
  std::printf(" \"hello_curve\": [");
  for (int k = 0; k <= 40; ++k) {
    double q = 1 - std::pow(10.0, -k / 10.0);
    std::printf("%s[%.4f, %.1f]", k ? ", " : "", q * 100,
                static_cast<double>(bench::percentile_sorted(h.sorted, q)) / 1000.0);
  }
  std::printf(", [100, %.1f]]}\n", h.lat.max);
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse_args(argc, argv);

  shared_state st;
  st.server = o.server;
  st.timeout = std::chrono::milliseconds(o.timeout_ms);
  const std::string host_header = "Host: " + st.server.to_string() + "\r\n";

  pool hello, heavy;
  hello.name = "/hello";
  hello.request = "GET /hello HTTP/1.1\r\n" + host_header + "\r\n";
  heavy.name = "/work?ms=" + std::to_string(o.heavy_ms);
  heavy.request = "GET " + heavy.name + " HTTP/1.1\r\n" + host_header + "\r\n";
  const bool with_heavy = o.heavy_every > 0;

  const double period_ns = 1e9 / o.rate;
  const auto warmup_requests = static_cast<std::uint64_t>(std::llround(o.warmup_s * o.rate));
  const auto measured_requests = static_cast<std::uint64_t>(std::llround(o.duration_s * o.rate));
  const std::uint64_t total_requests = warmup_requests + measured_requests;

  jiffy::runtime rt({.workers = static_cast<unsigned>(o.workers), .preempt = jiffy::preempt_mode::none});
  int status = 0;
  double elapsed_s = 0;
  // Timer slack: Linux lets a sleeping thread's timer fire up to 50 us late
  // by default, which would delay every request the dispatcher sends after a
  // sleep. 1 us on each worker thread (slack is per thread).
  for (unsigned i = 0; i < static_cast<unsigned>(o.workers); ++i)
    rt.spawn_pinned(i, [] { ::prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL); }).join();
  rt.block_on([&] {
    // Open every connection first: the run measures requests, not handshakes.
    for (pool* p : {&hello, &heavy}) {
      if (p == &heavy && !with_heavy) break;
      long n = p == &hello ? o.connections : o.heavy_connections;
      for (long i = 0; i < n; ++i) {
        auto c = std::make_unique<connection>();
        c->owner = p;
        auto s = jiffy::tcp_stream::connect(st.server, jiffy::after(5s));
        if (!s) {
          std::fprintf(stderr, "http_load: cannot connect to %s: %s\n", st.server.to_string().c_str(),
                       s.error.message().c_str());
          status = 1;
          return;
        }
        c->stream = std::move(s.value);
        (void)c->stream.set_nodelay();
        p->idle.push_back(c.get());
        p->conns.push_back(std::move(c));
      }
    }
    for (pool* p : {&hello, &heavy})
      for (auto& c : p->conns) c->rec.latency_ns.reserve(static_cast<std::size_t>(measured_requests / 8 + 16));

    std::vector<jiffy::fiber> fibers;
    for (pool* p : {&hello, &heavy})
      for (auto& c : p->conns) {
        connection* cp = c.get();
        fibers.push_back(jiffy::spawn([&st, cp] { connection_loop(st, *cp); }));
      }

    // The dispatcher: hand out every request when it is due.
    std::uint64_t rng = o.seed;
    const std::int64_t t0 = now_ns() + 2'000'000;  // the connection fibers have started by then
    for (std::uint64_t i = 0; i < total_requests; ++i) {
      const std::int64_t due = t0 + static_cast<std::int64_t>(static_cast<double>(i) * period_ns);
      if (now_ns() < due) jiffy::this_fiber::sleep_until(clock_type::time_point(std::chrono::nanoseconds(due)));
      job j{due, i >= warmup_requests};
      st.outstanding.add(1);
      bool is_heavy = with_heavy && (o.heavy_random ? next_random(rng) % static_cast<std::uint64_t>(o.heavy_every) == 0
                                                    : i % static_cast<std::uint64_t>(o.heavy_every) ==
                                                          static_cast<std::uint64_t>(o.heavy_every) / 2);
      dispatch(is_heavy ? heavy : hello, j);
    }
    st.outstanding.wait();
    elapsed_s = static_cast<double>(now_ns() - t0) / 1e9 - o.warmup_s;
    for (pool* p : {&hello, &heavy}) {
      {
        std::lock_guard<jiffy::mutex> lk(p->m);
        p->stopping = true;
      }
      for (auto& c : p->conns) c->cv.notify_one();
    }
    for (auto& f : fibers) f.join();
    for (pool* p : {&hello, &heavy})
      for (auto& c : p->conns) c->stream.close();
  });
  if (status) return status;

  const run_result r{collect(hello), collect(heavy), send_lag(hello, heavy), st.server.to_string(), heavy.name,
                     with_heavy,     elapsed_s,      measured_requests};
  if (o.format == bench::output_format::csv)
    print_csv(o, r);
  else if (o.format == bench::output_format::json)
    print_json(o, r);
  else
    print_text(o, r);
  return 0;
}
