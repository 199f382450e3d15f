// bench/http_closed_loop.cpp — a closed-loop HTTP/1.1 load client: N
// keep-alive connections, each sending its next request as soon as the last
// response arrived; 1 request in HEAVY_EVERY (chosen at random with a fixed
// seed) is /work?ms=HEAVY_MS, the rest /hello. Reports the latency of each
// kind (send to last byte of the response) and the request rate.
//
// It saturates the server, which is the point: a /hello that becomes ready
// while the server's workers compute /work requests waits for them unless
// the server preempts. Plain threads and blocking sockets, so the client
// behaves the same whatever server it measures.
//
// Usage: http_closed_loop --port P [--host A] [--connections N] [--duration S]
//                         [--warmup S] [--heavy-every N] [--heavy-ms MS]
//                         [--label TEXT]
// Prints one JSON object: {"label", "seconds", "rps", "hello": {...},
// "work": {...}} with count, errors, p50_us, p99_us, p999_us, max_us.
#include "support/cli.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct options {
  std::string host = "127.0.0.1";
  int port = 0;
  int connections = 16;
  double duration_s = 10, warmup_s = 1;
  int heavy_every = 100, heavy_ms = 20;
  std::string label = "server";
};

constexpr const char* kSynopsis =
    "--port P [--host A] [--connections N] [--duration S] [--warmup S] [--heavy-every N] [--heavy-ms MS] "
    "[--label TEXT]";
constexpr const char* kHelp =
    "Closed-loop HTTP load: N keep-alive connections, each sending its next request as soon as\n"
    "its last response arrived; 1 in --heavy-every is /work?ms=--heavy-ms, the rest /hello.\n\n"
    "  --connections N  keep-alive connections (default 16)\n"
    "  --duration S     measured seconds (default 10), after --warmup S (default 1)\n"
    "  --heavy-every N  1 request in N is heavy (default 100)\n"
    "  --heavy-ms MS    the heavy request's computation (default 20)\n";

options parse(int argc, char** argv) {
  options o;
  bench::cli::args args(argc, argv, kSynopsis, kHelp);
  while (args.next()) {
    if (args.is("--host"))
      o.host = args.text();
    else if (args.is("--port"))
      o.port = static_cast<int>(args.integer(1, 65535));
    else if (args.is("--connections"))
      o.connections = static_cast<int>(args.integer(1, 4096));
    else if (args.is("--duration"))
      o.duration_s = args.number(0.1, 3600);
    else if (args.is("--warmup"))
      o.warmup_s = args.number(0, 3600);
    else if (args.is("--heavy-every"))
      o.heavy_every = static_cast<int>(args.integer(1, 1000000));
    else if (args.is("--heavy-ms"))
      o.heavy_ms = static_cast<int>(args.integer(0, 100000));
    else if (args.is("--label"))
      o.label = args.text();
    else
      args.unknown();
  }
  if (o.port == 0) args.fail("--port is required");
  return o;
}

struct kind_record {
  std::vector<std::int64_t> latency_ns;
  std::uint64_t errors = 0;
};

int connect_to(const options& o) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(o.port));
  if (::inet_pton(AF_INET, o.host.c_str(), &a.sin_addr) != 1 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool send_all(int fd, const std::string& s) {
  for (std::size_t off = 0; off < s.size();) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads one response (headers and a Content-Length body) from fd; `buf`
// keeps bytes beyond it. Returns false on an error or a non-200 status.
bool read_response(int fd, std::string& buf) {
  char tmp[4096];
  std::size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<std::size_t>(n));
  }
  bool ok = buf.compare(0, 12, "HTTP/1.1 200") == 0;
  std::size_t length = 0;
  for (const char* name : {"Content-Length:", "content-length:"}) {
    std::size_t at = buf.find(name);
    if (at != std::string::npos && at < end) length = std::strtoul(buf.c_str() + at + std::strlen(name), nullptr, 10);
  }
  std::size_t total = end + 4 + length;
  while (buf.size() < total) {
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<std::size_t>(n));
  }
  buf.erase(0, total);
  return ok;
}

std::int64_t percentile(std::vector<std::int64_t>& v, double p) {
  if (v.empty()) return 0;
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

void print_kind(const char* name, kind_record& r, bool last) {
  std::int64_t mx = r.latency_ns.empty() ? 0 : *std::max_element(r.latency_ns.begin(), r.latency_ns.end());
  std::printf(
      "\"%s\": {\"count\": %zu, \"errors\": %llu, \"p50_us\": %.1f, \"p99_us\": %.1f, \"p999_us\": %.1f, "
      "\"max_us\": %.1f}%s",
      name, r.latency_ns.size(), static_cast<unsigned long long>(r.errors),
      static_cast<double>(percentile(r.latency_ns, 0.5)) / 1e3,
      static_cast<double>(percentile(r.latency_ns, 0.99)) / 1e3,
      static_cast<double>(percentile(r.latency_ns, 0.999)) / 1e3, static_cast<double>(mx) / 1e3, last ? "" : ", ");
}

}  // namespace

int main(int argc, char** argv) {
  options o = parse(argc, argv);
  const std::string hello = "GET /hello HTTP/1.1\r\nHost: bench\r\n\r\n";
  const std::string work = "GET /work?ms=" + std::to_string(o.heavy_ms) + " HTTP/1.1\r\nHost: bench\r\n\r\n";
  auto start = clock_type::now();
  auto measure_from =
      start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(o.warmup_s));
  auto stop_at =
      measure_from + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(o.duration_s));
  std::vector<kind_record> hello_rec(static_cast<std::size_t>(o.connections)), work_rec(hello_rec.size());
  std::atomic<int> failed_connects{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < o.connections; ++c)
    threads.emplace_back([&, c] {
      std::mt19937 rng(static_cast<unsigned>(12345 + c));
      int fd = connect_to(o);
      if (fd < 0) {
        failed_connects.fetch_add(1);
        return;
      }
      std::string buf;
      for (;;) {
        auto t0 = clock_type::now();
        if (t0 >= stop_at) break;
        bool heavy = static_cast<int>(rng() % static_cast<unsigned>(o.heavy_every)) == 0;
        kind_record& rec = heavy ? work_rec[static_cast<std::size_t>(c)] : hello_rec[static_cast<std::size_t>(c)];
        bool ok = send_all(fd, heavy ? work : hello) && read_response(fd, buf);
        auto t1 = clock_type::now();
        if (t0 >= measure_from) {
          if (ok)
            rec.latency_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
          else
            ++rec.errors;
        }
        if (!ok) {
          ::close(fd);
          buf.clear();
          if ((fd = connect_to(o)) < 0) {
            failed_connects.fetch_add(1);
            return;
          }
        }
      }
      ::close(fd);
    });
  for (auto& t : threads) t.join();
  kind_record h, w;
  for (std::size_t i = 0; i < hello_rec.size(); ++i) {
    h.latency_ns.insert(h.latency_ns.end(), hello_rec[i].latency_ns.begin(), hello_rec[i].latency_ns.end());
    w.latency_ns.insert(w.latency_ns.end(), work_rec[i].latency_ns.begin(), work_rec[i].latency_ns.end());
    h.errors += hello_rec[i].errors;
    w.errors += work_rec[i].errors;
  }
  double rps = static_cast<double>(h.latency_ns.size() + w.latency_ns.size()) / o.duration_s;
  std::printf("{\"label\": \"%s\", \"connections\": %d, \"seconds\": %.1f, \"rps\": %.1f, \"failed_connects\": %d, ",
              o.label.c_str(), o.connections, o.duration_s, rps, failed_connects.load());
  print_kind("hello", h, false);
  print_kind("work", w, true);
  std::printf("}\n");
  return failed_connects.load() == o.connections ? 1 : 0;
}
