// echo_client: drives echo_server — each connection (a fiber) sends
// newline-terminated messages one at a time, checks that each comes back
// byte for byte, and the client reports round trips per second and latency.
//
// Rules:
//  * Every message is different (it names its connection and number), so an
//    echo that is lost, reordered, truncated or mixed up with another
//    connection's is caught, not counted.
//  * Exit status: 0 when every echo came back intact, 1 when any did not (or
//    a connection failed; the first problem is printed), 2 on bad arguments.
//  * Every wait has a deadline (--timeout-s), so a dead server is an error,
//    not a hang.
//
// Usage: echo_client [--port P] [--address A] [--connections C] [--messages M]
//                    [--size B] [--workers W] [--timeout-s T] [--help]
#include "common/cli.hpp"
#include "common/network_options.hpp"
#include "common/percentiles.hpp"

#include <jiffy/jiffy.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

using namespace std::chrono;

namespace {

struct config {
  examples::network_options net{.port = 7000, .workers = 2};
  long connections = 4;
  long messages = 1000;  // per connection
  long size = 64;        // bytes per message, newline included
  long timeout_s = 10;
};

const examples::cli::program program{
    "echo_client",
    "usage: echo_client [--port P] [--address A] [--connections C] [--messages M] [--size B]\n"
    "                   [--workers W] [--timeout-s T]\n"
    "  --port P          the echo server's port, 1..65535 (default 7000)\n"
    "  --address A       the echo server's address (default 127.0.0.1)\n"
    "  --connections C   concurrent connections, 1..10000 (default 4)\n"
    "  --messages M      messages per connection, 1..100000000 (default 1000)\n"
    "  --size B          bytes per message, newline included, 1..1048576 (default 64)\n"
    "  --workers W       worker threads, 1..1024 (default 2)\n"
    "  --timeout-s T     seconds to wait for a connect or an echo, 1..3600 (default 10)\n"
    "Sends each message, waits for its echo, checks it byte for byte; reports round trips.\n"
    "Exits 0 if every echo was intact, 1 otherwise.\n"};

config parse_command_line(int argc, char** argv) {
  config cfg;
  examples::cli::arguments args(program, argc, argv);
  while (args.next()) {
    if (cfg.net.read(args, 1)) continue;
    if (args.is("--connections"))
      cfg.connections = args.number(1, 10000);
    else if (args.is("--messages"))
      cfg.messages = args.number(1, 100000000);
    else if (args.is("--size"))
      cfg.size = args.number(1, 1 << 20);
    else if (args.is("--timeout-s"))
      cfg.timeout_s = args.number(1, 3600);
    else
      args.reject_unknown();
  }
  return cfg;
}

// Message `n` of connection `c`: "c=3 n=17 " then filler, then '\n', `size`
// bytes in all (the label is cut short for tiny sizes).
std::string make_message(long c, long n, std::size_t size) {
  std::string label = "c=" + std::to_string(c) + " n=" + std::to_string(n) + " ";
  std::string m(size, '.');
  for (std::size_t i = 0; i + 1 < size; ++i) m[i] = i < label.size() ? label[i] : static_cast<char>('a' + (n + i) % 26);
  m[size - 1] = '\n';
  return m;
}

struct connection_report {
  std::vector<std::uint32_t> latencies_us;
  std::string problem;  // empty if every echo was intact
};

// One connection's whole run.
connection_report run_connection(const config& cfg, const jiffy::ip_endpoint& server, long index) {
  connection_report rep;
  rep.latencies_us.reserve(static_cast<std::size_t>(cfg.messages));
  const auto timeout = seconds(cfg.timeout_s);
  auto c = jiffy::tcp_stream::connect(server, jiffy::after(timeout));
  if (!c) {
    rep.problem = "connect to " + server.to_string() + ": " + c.error.message();
    return rep;
  }
  c.value.set_nodelay();
  std::string back(static_cast<std::size_t>(cfg.size), '\0');
  for (long n = 0; n < cfg.messages; ++n) {
    std::string msg = make_message(index, n, back.size());
    auto start = steady_clock::now();
    auto w = c.value.write_all(msg.data(), msg.size(), jiffy::after(timeout));
    auto r = w ? c.value.read_exact(back.data(), back.size(), jiffy::after(timeout)) : w;
    if (!r) {
      rep.problem = "message " + std::to_string(n) + ": " + r.error.message();
      return rep;
    }
    if (back != msg) {
      rep.problem = "message " + std::to_string(n) + " came back different";
      return rep;
    }
    rep.latencies_us.push_back(
        static_cast<std::uint32_t>(duration_cast<microseconds>(steady_clock::now() - start).count()));
  }
  return rep;
}

}  // namespace

int main(int argc, char** argv) {
  config cfg = parse_command_line(argc, argv);
  jiffy::ip_endpoint server = cfg.net.endpoint();
  std::vector<connection_report> reports(static_cast<std::size_t>(cfg.connections));

  auto start = steady_clock::now();
  {
    jiffy::runtime rt(cfg.net.runtime());
    rt.block_on([&] {
      std::vector<jiffy::fiber> fibers;
      for (long i = 0; i < cfg.connections; ++i)
        fibers.push_back(
            jiffy::spawn([&, i] { reports[static_cast<std::size_t>(i)] = run_connection(cfg, server, i); }));
      for (auto& f : fibers) f.join();
    });
  }
  double secs = duration<double>(steady_clock::now() - start).count();

  std::vector<std::uint32_t> all;
  int failed = 0;
  for (std::size_t i = 0; i < reports.size(); ++i) {
    all.insert(all.end(), reports[i].latencies_us.begin(), reports[i].latencies_us.end());
    if (reports[i].problem.empty()) continue;
    if (failed++ == 0) std::fprintf(stderr, "%s: connection %zu: %s\n", program.name, i, reports[i].problem.c_str());
  }
  std::sort(all.begin(), all.end());
  std::printf("%zu round trips of %ld bytes on %ld connections in %.3f s: %.0f round trips/s\n", all.size(), cfg.size,
              cfg.connections, secs, secs > 0 ? static_cast<double>(all.size()) / secs : 0.0);
  std::printf("latency: p50 %u us, p99 %u us, max %u us\n", examples::percentile(all, 50),
              examples::percentile(all, 99), examples::percentile(all, 100));
  if (failed) {
    std::printf("FAILED: %d of %ld connections saw a lost, short or wrong echo\n", failed, cfg.connections);
    return 1;
  }
  std::printf("all echoes verified\n");
  return 0;
}
