// bench/http_load.cpp — an open-loop HTTP/1.1 load generator on jiffy's own
// sockets, for the "tiny requests beside heavy ones" scenario: how long does
// a GET /hello take while 1 request in N makes the server compute for M ms?
//
// Usage: http_load --port P [options]   (see --help, or kUsage below)
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
// Output: a table (default), --csv (a header line and one record) or --json
// (one object, with the /hello latency curve at percentiles 0 ... 99.99 and
// max, for bench/plot_http_latency.py). Percentiles are nearest-rank.
// Exit status: 0 after a run (even with errors: they are reported), 1 when
// the server cannot be reached at the start, 2 on bad arguments.

#include <jiffy/jiffy.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <sched.h>
#include <string>
#include <string_view>
#include <sys/prctl.h>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kUsage =
    "usage: http_load --port P [--host ADDR] [--rate R] [--duration S] [--warmup S]\n"
    "                 [--heavy-every N] [--heavy-ms M] [--heavy-pattern random|even] [--seed S]\n"
    "                 [--connections N] [--heavy-connections N]\n"
    "                 [--workers N] [--timeout-ms T] [--label TEXT] [--csv | --json] [--help]\n";

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

enum class output_format { text, csv, json };

struct options {
  std::string host = "127.0.0.1";
  long port = -1;
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
  output_format format = output_format::text;
};

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr, "http_load: %s\n%s(see --help)\n", what.c_str(), kUsage);
  std::exit(2);
}

double parse_number(const char* opt, const char* v, double lo, double hi) {
  if (!v) usage_error(std::string("missing value for ") + opt);
  char* end = nullptr;
  double d = std::strtod(v, &end);
  if (*v == '\0' || *end != '\0' || !(d >= lo && d <= hi)) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s: '%s' is not a number from %g to %g", opt, v, lo, hi);
    usage_error(buf);
  }
  return d;
}

long parse_int(const char* opt, const char* v, long lo, long hi) {
  if (!v) usage_error(std::string("missing value for ") + opt);
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  if (*v == '\0' || *end != '\0' || n < lo || n > hi) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s: '%s' is not a whole number from %ld to %ld", opt, v, lo, hi);
    usage_error(buf);
  }
  return n;
}

options parse_args(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    const char* v = nullptr;
    std::size_t eq = a.find('=');
    std::string inline_value;
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = a.substr(eq + 1);
      a.resize(eq);
      v = inline_value.c_str();
    }
    auto value = [&]() -> const char* {
      if (v) return v;
      if (i + 1 < argc) return argv[++i];
      return nullptr;
    };
    const char* o_ = a.c_str();
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      std::fputs("\n", stdout);
      std::fputs(kHelp, stdout);
      std::exit(0);
    } else if (a == "--csv" || a == "--json") {
      if (v) usage_error(a + " takes no value");
      o.format = a == "--csv" ? output_format::csv : output_format::json;
    } else if (a == "--port") {
      o.port = parse_int(o_, value(), 1, 65535);
    } else if (a == "--host") {
      const char* h = value();
      if (!h) usage_error("missing value for --host");
      o.host = h;
    } else if (a == "--rate") {
      o.rate = parse_number(o_, value(), 1, 1000000);
    } else if (a == "--duration") {
      o.duration_s = parse_number(o_, value(), 0.01, 3600);
    } else if (a == "--warmup") {
      o.warmup_s = parse_number(o_, value(), 0, 600);
    } else if (a == "--heavy-every") {
      o.heavy_every = parse_int(o_, value(), 0, 100000000);
    } else if (a == "--heavy-ms") {
      o.heavy_ms = parse_int(o_, value(), 0, 10000);
    } else if (a == "--heavy-pattern") {
      const char* p = value();
      if (!p || (std::strcmp(p, "random") && std::strcmp(p, "even")))
        usage_error(std::string("--heavy-pattern: '") + (p ? p : "") + "' is not random or even");
      o.heavy_random = !std::strcmp(p, "random");
    } else if (a == "--seed") {
      o.seed = static_cast<std::uint64_t>(parse_int(o_, value(), 0, 2147483647));
    } else if (a == "--connections") {
      o.connections = parse_int(o_, value(), 1, 20000);
    } else if (a == "--heavy-connections") {
      o.heavy_connections = parse_int(o_, value(), 1, 20000);
    } else if (a == "--workers") {
      o.workers = parse_int(o_, value(), 1, 256);
    } else if (a == "--timeout-ms") {
      o.timeout_ms = parse_int(o_, value(), 1, 3600000);
    } else if (a == "--label") {
      const char* l = value();
      if (!l) usage_error("missing value for --label");
      o.label = l;
    } else {
      usage_error("unknown option '" + a + "'");
    }
  }
  if (o.port < 0) usage_error("--port is required");
  if (o.heavy_every == 1) usage_error("--heavy-every 1 would leave no /hello requests to measure");
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

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
}

// ------------------------------------------------------------ requests ----

enum class error_kind { connect, timeout, io, status, protocol, count_ };
constexpr const char* kErrorNames[] = {"connect", "timeout", "io", "status", "protocol"};

struct job {
  std::int64_t due_ns = 0;  // intended send time
  bool measured = false;    // false during the warm-up
};

// What one connection fiber recorded; merged after the run (no sharing).
struct record {
  std::vector<std::int64_t> latency_ns;
  std::vector<std::int64_t> lag_ns;  // send lag: handed to the connection - due
  std::uint64_t errors[static_cast<int>(error_kind::count_)] = {};
  std::uint64_t retried = 0;
  std::uint64_t reconnects = 0;
};

struct pool;

struct connection {
  pool* owner = nullptr;
  jiffy::tcp_stream stream;
  bool used = false;  // has carried a request (a reuse may find it closed)
  bool has_job = false;
  job next;
  std::int64_t handed_ns = 0;
  jiffy::condition_variable cv;
  std::string buf;       // bytes received and not yet consumed
  bool counting = false;  // the current job is measured (warm-up errors are not counted)
  record rec;
};

// One kind of request and the keep-alive connections that carry it.
struct pool {
  std::string name;     // "/hello", "/work?ms=20"
  std::string request;  // the bytes sent
  jiffy::mutex m;
  std::deque<connection*> idle;  // round-robin: take from the front, return to the back
  std::deque<job> backlog;       // due requests that found no idle connection
  bool stopping = false;
  std::uint64_t waited = 0;     // requests that found no idle connection (measured ones)
  std::size_t max_backlog = 0;  // deepest backlog seen
  std::vector<std::unique_ptr<connection>> conns;
};

struct shared_state {
  jiffy::ip_endpoint server;
  std::chrono::milliseconds timeout{5000};
  jiffy::wait_group outstanding;
  std::atomic<bool> error_printed[static_cast<int>(error_kind::count_)] = {};
};

void note_error(shared_state& st, connection& c, error_kind k, const std::string& detail) {
  if (c.counting) ++c.rec.errors[static_cast<int>(k)];
  // The first error of each kind is printed, so a broken setup is obvious.
  if (!st.error_printed[static_cast<int>(k)].exchange(true, std::memory_order_relaxed))
    std::fprintf(stderr, "http_load: first %s error: %s\n", kErrorNames[static_cast<int>(k)], detail.c_str());
}

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char a = s[i], b = prefix[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (a != b) return false;
  }
  return true;
}

enum class outcome { ok, error, retry };

// Sends c.owner->request on c and reads one response. The connection is
// (re)opened first if needed.
outcome exchange(shared_state& st, connection& c, jiffy::deadline d) {
  record& rec = c.rec;
  if (!c.stream.is_open()) {
    auto s = jiffy::tcp_stream::connect(st.server, d);
    if (!s) {
      note_error(st, c, s.error == std::errc::timed_out ? error_kind::timeout : error_kind::connect,
                 "connect to " + st.server.to_string() + ": " + s.error.message());
      return outcome::error;
    }
    c.stream = std::move(s.value);
    (void)c.stream.set_nodelay();
    c.buf.clear();
    c.used = false;
    ++rec.reconnects;
  }
  const bool reused = c.used;
  c.used = true;
  const std::string& req = c.owner->request;
  auto fail_io = [&](const std::error_code& ec, std::size_t response_bytes, const char* what) {
    c.stream.close();
    if (reused && response_bytes == 0 && ec != std::errc::timed_out) return outcome::retry;
    note_error(st, c, ec == std::errc::timed_out ? error_kind::timeout : error_kind::io,
               std::string(what) + ": " + ec.message());
    return outcome::error;
  };
  if (auto w = c.stream.write_all(req.data(), req.size(), d); !w) return fail_io(w.error, 0, "write");

  // Headers: up to the blank line.
  std::size_t received = 0;
  std::size_t header_end;
  char chunk[4096];
  while ((header_end = c.buf.find("\r\n\r\n")) == std::string::npos) {
    if (c.buf.size() > 64 * 1024) {
      c.stream.close();
      note_error(st, c, error_kind::protocol, "response headers longer than 64 KiB");
      return outcome::error;
    }
    auto r = c.stream.read(chunk, sizeof chunk, d);
    if (!r) return fail_io(r.error, received, "read");
    if (r.value == 0) return fail_io(jiffy::make_error_code(jiffy::io_errc::end_of_stream), received, "read");
    received += r.value;
    c.buf.append(chunk, r.value);
  }
  std::string_view head(c.buf.data(), header_end);
  // Status line: "HTTP/1.x NNN ..."
  int status = 0;
  if (head.size() >= 12 && head.substr(0, 7) == "HTTP/1.") status = std::atoi(std::string(head.substr(9, 3)).c_str());
  if (status < 100) {
    c.stream.close();
    note_error(st, c, error_kind::protocol, "not an HTTP/1.x status line: '" + std::string(head.substr(0, 40)) + "'");
    return outcome::error;
  }
  long long content_length = -1;
  bool close_after = head.substr(0, 8) == "HTTP/1.0";
  for (std::size_t pos = head.find("\r\n"); pos != std::string_view::npos; pos = head.find("\r\n", pos + 2)) {
    std::string_view line = head.substr(pos + 2);
    line = line.substr(0, line.find("\r\n"));
    if (iequals_prefix(line, "content-length:")) {
      content_length = std::atoll(std::string(line.substr(15)).c_str());
    } else if (iequals_prefix(line, "transfer-encoding:")) {
      c.stream.close();
      note_error(st, c, error_kind::protocol, "Transfer-Encoding is not supported: '" + std::string(line) + "'");
      return outcome::error;
    } else if (iequals_prefix(line, "connection:")) {
      std::string_view v = line.substr(11);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      if (iequals_prefix(v, "close")) close_after = true;
    }
  }
  if (content_length < 0) {
    c.stream.close();
    note_error(st, c, error_kind::protocol, "response without Content-Length");
    return outcome::error;
  }
  const std::size_t total = header_end + 4 + static_cast<std::size_t>(content_length);
  while (c.buf.size() < total) {
    auto r = c.stream.read(chunk, sizeof chunk, d);
    if (!r) return fail_io(r.error, received, "read body");
    if (r.value == 0) return fail_io(jiffy::make_error_code(jiffy::io_errc::end_of_stream), received, "read body");
    received += r.value;
    c.buf.append(chunk, r.value);
  }
  c.buf.erase(0, total);
  if (close_after) c.stream.close();
  if (status != 200) {
    note_error(st, c, error_kind::status, "HTTP status " + std::to_string(status) + " for " + c.owner->name);
    return outcome::error;
  }
  return outcome::ok;
}

// A connection's fiber: waits for a job, carries it, records it, and takes
// the next one from the backlog or goes back to the idle list.
void connection_loop(shared_state& st, connection& c) {
  pool& p = *c.owner;
  std::unique_lock<jiffy::mutex> lk(p.m);
  for (;;) {
    c.cv.wait(lk, [&] { return c.has_job || p.stopping; });
    if (!c.has_job) return;
    job j = c.next;
    c.has_job = false;
    std::int64_t handed = c.handed_ns;
    lk.unlock();

    c.counting = j.measured;
    if (j.measured) c.rec.lag_ns.push_back(handed - j.due_ns);
    jiffy::deadline d = clock_type::time_point(std::chrono::nanoseconds(j.due_ns)) + st.timeout;
    outcome out = exchange(st, c, d);
    if (out == outcome::retry) {
      if (j.measured) ++c.rec.retried;
      out = exchange(st, c, d);
      if (out == outcome::retry) {  // a brand-new connection never asks for a retry; be safe anyway
        note_error(st, c, error_kind::io, "connection closed before the response");
        out = outcome::error;
      }
    }
    std::int64_t end = now_ns();
    if (out == outcome::ok && j.measured) c.rec.latency_ns.push_back(end - j.due_ns);
    st.outstanding.done();

    lk.lock();
    if (!p.backlog.empty()) {
      c.next = p.backlog.front();
      p.backlog.pop_front();
      c.has_job = true;
      c.handed_ns = now_ns();
    } else {
      p.idle.push_back(&c);
    }
  }
}

// Hands one due request to pool p.
void dispatch(pool& p, const job& j) {
  connection* c = nullptr;
  {
    std::lock_guard<jiffy::mutex> lk(p.m);
    if (p.idle.empty()) {
      if (j.measured) ++p.waited;
      p.backlog.push_back(j);
      p.max_backlog = std::max(p.max_backlog, p.backlog.size());
      return;
    }
    c = p.idle.front();
    p.idle.pop_front();
    c->next = j;
    c->has_job = true;
    c->handed_ns = now_ns();
  }
  c->cv.notify_one();
}

// ------------------------------------------------------------- summary ----

struct summary {
  std::size_t count = 0;
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0, mean = 0;  // microseconds
};

double rank_us(const std::vector<std::int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  double r = std::ceil(q * static_cast<double>(sorted.size()) - 1e-9);
  std::size_t i = r < 1 ? 1 : static_cast<std::size_t>(r);
  if (i > sorted.size()) i = sorted.size();
  return static_cast<double>(sorted[i - 1]) / 1000.0;
}

summary summarise(std::vector<std::int64_t>& v) {
  std::sort(v.begin(), v.end());
  summary s;
  s.count = v.size();
  if (v.empty()) return s;
  s.p50 = rank_us(v, 0.50);
  s.p90 = rank_us(v, 0.90);
  s.p99 = rank_us(v, 0.99);
  s.p999 = rank_us(v, 0.999);
  s.max = static_cast<double>(v.back()) / 1000.0;
  double sum = 0;
  for (std::int64_t x : v) sum += static_cast<double>(x);
  s.mean = sum / static_cast<double>(v.size()) / 1000.0;
  return s;
}

std::string fmt_ms(double us) {
  char b[32];
  if (us < 10000)
    std::snprintf(b, sizeof b, "%.3f ms", us / 1000);
  else
    std::snprintf(b, sizeof b, "%.1f ms", us / 1000);
  return b;
}

struct pool_result {
  summary lat;
  summary lag;
  std::uint64_t errors[static_cast<int>(error_kind::count_)] = {};
  std::uint64_t error_total = 0;
  std::uint64_t waited = 0;
  std::size_t max_backlog = 0;
  std::uint64_t retried = 0;
  std::uint64_t connects = 0;
  std::vector<std::int64_t> sorted;  // latencies, ns
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
  r.lat = summarise(r.sorted);
  r.lag = summarise(lag);
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

}  // namespace

int main(int argc, char** argv) {
  options o = parse_args(argc, argv);
  auto ep = jiffy::ip_endpoint::parse(o.host, static_cast<std::uint16_t>(o.port));
  if (!ep) usage_error("--host: '" + o.host + "' is not an IPv4 or IPv6 address");

  shared_state st;
  st.server = ep.value;
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
  if (measured_requests == 0) usage_error("--rate x --duration gives no request to measure");

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

  pool_result h = collect(hello);
  pool_result w = collect(heavy);
  // Send lag over both kinds.
  std::vector<std::int64_t> all_lag;
  for (pool* p : {&hello, &heavy})
    for (auto& c : p->conns) all_lag.insert(all_lag.end(), c->rec.lag_ns.begin(), c->rec.lag_ns.end());
  summary lag = summarise(all_lag);

  switch (o.format) {
    case output_format::text: {
      std::printf("%s\n", o.label.c_str());
      std::printf("  %s, open loop at %.0f req/s for %.1f s (+%.1f s warm-up)", st.server.to_string().c_str(), o.rate,
                  o.duration_s, o.warmup_s);
      if (with_heavy)
        std::printf(", 1 in %ld is %s (%s)", o.heavy_every, heavy.name.c_str(),
                    o.heavy_random ? "at random, fixed seed" : "evenly spaced");
      std::printf("; %ld + %ld connections, %ld client worker(s), %s\n", o.connections,
                  with_heavy ? o.heavy_connections : 0L, o.workers, sched_name());
      std::printf("  latency from the intended send time:\n");
      std::printf("  %-14s %7s %7s %7s %10s %10s %10s %10s %10s\n", "request", "ok", "errors", "waited", "p50", "p90",
                  "p99", "p99.9", "max");
      auto row = [](const char* name, const pool_result& r) {
        std::printf("  %-14s %7zu %7llu %7llu %10s %10s %10s %10s %10s\n", name, r.lat.count,
                    static_cast<unsigned long long>(r.error_total), static_cast<unsigned long long>(r.waited),
                    fmt_ms(r.lat.p50).c_str(), fmt_ms(r.lat.p90).c_str(), fmt_ms(r.lat.p99).c_str(),
                    fmt_ms(r.lat.p999).c_str(), fmt_ms(r.lat.max).c_str());
      };
      row("/hello", h);
      if (with_heavy) row(heavy.name.c_str(), w);
      std::printf("  errors: /hello %s", errors_text(h).c_str());
      if (with_heavy) std::printf("; %s %s", heavy.name.c_str(), errors_text(w).c_str());
      std::printf("\n  retried on a new connection: %llu; connects during the run: %llu\n",
                  static_cast<unsigned long long>(h.retried + w.retried),
                  static_cast<unsigned long long>(h.connects + w.connects));
      std::printf("  client send lag (handed to a connection - intended): p50 %s, p99 %s, max %s\n",
                  fmt_ms(lag.p50).c_str(), fmt_ms(lag.p99).c_str(), fmt_ms(lag.max).c_str());
      std::printf("  achieved: %.0f req/s over %.2f s (the last request answered included)\n",
                  static_cast<double>(measured_requests) / elapsed_s, elapsed_s);
      if (h.waited || w.waited)
        std::printf("  NOTE: %llu requests found no idle connection (deepest backlog %zu): raise --connections\n",
                    static_cast<unsigned long long>(h.waited + w.waited), std::max(h.max_backlog, w.max_backlog));
      break;
    }
    case output_format::csv:
      std::printf(
          "label,rate,duration_s,heavy_every,heavy_ms,hello_ok,hello_errors,hello_waited,hello_p50_us,hello_p90_us,"
          "hello_p99_us,hello_p999_us,hello_max_us,hello_mean_us,heavy_ok,heavy_errors,heavy_waited,heavy_p50_us,"
          "heavy_p99_us,heavy_max_us,lag_p50_us,lag_p99_us,lag_max_us,retried\n");
      std::printf("%s,%g,%g,%ld,%ld,%zu,%llu,%llu,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%zu,%llu,%llu,%.1f,%.1f,%.1f,%.1f,%.1f,"
                  "%.1f,%llu\n",
                  o.label.c_str(), o.rate, o.duration_s, o.heavy_every, o.heavy_ms, h.lat.count,
                  static_cast<unsigned long long>(h.error_total), static_cast<unsigned long long>(h.waited), h.lat.p50,
                  h.lat.p90, h.lat.p99, h.lat.p999, h.lat.max, h.lat.mean, w.lat.count,
                  static_cast<unsigned long long>(w.error_total), static_cast<unsigned long long>(w.waited), w.lat.p50,
                  w.lat.p99, w.lat.max, lag.p50, lag.p99, lag.max, static_cast<unsigned long long>(h.retried + w.retried));
      break;
    case output_format::json: {
      auto stats = [](const pool_result& r) {
        char b[512];
        std::snprintf(b, sizeof b,
                      "{\"ok\": %zu, \"errors\": %llu, \"waited\": %llu, \"max_backlog\": %zu, \"p50_us\": %.1f, "
                      "\"p90_us\": %.1f, \"p99_us\": %.1f, \"p999_us\": %.1f, \"max_us\": %.1f, \"mean_us\": %.1f",
                      r.lat.count, static_cast<unsigned long long>(r.error_total),
                      static_cast<unsigned long long>(r.waited), r.max_backlog, r.lat.p50, r.lat.p90, r.lat.p99,
                      r.lat.p999, r.lat.max, r.lat.mean);
        std::string s = b;
        s += ", \"error_kinds\": {";
        for (int k = 0; k < static_cast<int>(error_kind::count_); ++k)
          s += std::string(k ? ", " : "") + "\"" + kErrorNames[k] + "\": " + std::to_string(r.errors[k]);
        return s + "}}";
      };
      std::printf("{\"tool\": \"http_load\", \"label\": \"%s\", \"server\": \"%s\", \"rate\": %g, \"duration_s\": %g, "
                  "\"warmup_s\": %g, \"heavy_every\": %ld, \"heavy_ms\": %ld, \"connections\": %ld, "
                  "\"heavy_connections\": %ld, \"heavy_pattern\": \"%s\", \"seed\": %llu, \"client_workers\": %ld, "
                  "\"client_sched\": \"%s\", \"elapsed_s\": %.3f,\n",
                  o.label.c_str(), st.server.to_string().c_str(), o.rate, o.duration_s, o.warmup_s, o.heavy_every,
                  o.heavy_ms, o.connections, with_heavy ? o.heavy_connections : 0L,
                  o.heavy_random ? "random" : "even", static_cast<unsigned long long>(o.seed), o.workers, sched_name(),
                  elapsed_s);
      std::printf(" \"hello\": %s,\n", stats(h).c_str());
      std::printf(" \"heavy\": %s,\n", stats(w).c_str());
      std::printf(" \"send_lag\": {\"p50_us\": %.1f, \"p99_us\": %.1f, \"max_us\": %.1f}, \"retried\": %llu,\n", lag.p50,
                  lag.p99, lag.max, static_cast<unsigned long long>(h.retried + w.retried));
      // The /hello latency curve: percentiles 100 (1 - 10^(-k/10)), k = 0..40
      // (0, 20.6, 36.9, ..., 99.99), then the maximum.
      std::printf(" \"hello_curve\": [");
      for (int k = 0; k <= 40; ++k) {
        double q = 1 - std::pow(10.0, -k / 10.0);
        std::printf("%s[%.4f, %.1f]", k ? ", " : "", q * 100, rank_us(h.sorted, q));
      }
      std::printf(", [100, %.1f]]}\n", h.lat.max);
      break;
    }
  }
  return 0;
}
