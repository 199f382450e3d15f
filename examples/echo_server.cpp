// echo_server: a TCP echo server on jiffy — one fiber per connection, each
// writing back whatever it reads. The smallest complete jiffy server; pair it
// with echo_client.
//
// Rules:
//  * Listens on loopback unless --address says otherwise; prints exactly
//    "listening on ADDRESS:PORT" (flushed) once it accepts connections.
//  * SIGINT/SIGTERM: stop accepting, shut down the reading side of every
//    connection (each echoes what it already read, sees end of stream and
//    closes), then exit 0. The signals are blocked before the runtime starts,
//    so every thread inherits the mask, and a fiber reads them from a signalfd.
//    How a server starts and stops, and its per-connection bookkeeping, are
//    shared with http_server: examples/common/server_main.hpp and
//    connection_server.hpp. What is here is what makes it an echo server.
//  * Idle connections are closed after 5 minutes.
//
// Usage: echo_server [--port P] [--address A] [--workers W] [--help]
#include "common/cli.hpp"
#include "common/connection_server.hpp"
#include "common/network_options.hpp"
#include "common/server_main.hpp"

#include <jiffy/jiffy.hpp>

#include <chrono>
#include <sys/socket.h>

using namespace std::chrono;

namespace {

constexpr auto idle_timeout = minutes(5);

const examples::cli::program program{
    "echo_server",
    "usage: echo_server [--port P] [--address A] [--workers W]\n"
    "  --port P       TCP port, 0..65535; 0 picks a free one (default 7000)\n"
    "  --address A    IPv4 or IPv6 address to listen on (default 127.0.0.1)\n"
    "  --workers W    worker threads, 1..1024 (default: one per hardware thread)\n"
    "Echoes every connection's bytes back. Prints \"listening on ADDRESS:PORT\" once ready;\n"
    "SIGINT/SIGTERM close the connections after echoing what they sent, then exit 0.\n"};

examples::network_options parse_command_line(int argc, char** argv) {
  examples::network_options cfg{.port = 7000, .workers = 0};  // workers: one per hardware thread
  examples::cli::arguments args(program, argc, argv);
  while (args.next())
    if (!cfg.read(args, 0)) args.reject_unknown();
  return cfg;
}

class server {
 public:
  explicit server(jiffy::tcp_listener listener) : connections_(program.name, std::move(listener)) {}

  void accept_loop() { connections_.accept_loop(echo); }
  // Every connection's reads see end of stream: it echoes what it already
  // read and closes.
  void begin_shutdown() {
    connections_.begin_shutdown([](jiffy::tcp_stream& s) { s.shutdown(SHUT_RD); });
  }
  void wait_for_connections() { connections_.wait_for_connections(); }

 private:
  static void echo(jiffy::tcp_stream& s) {
    char buf[16384];
    for (;;) {
      auto r = s.read(buf, sizeof buf, jiffy::after(idle_timeout));
      if (!r || r.value == 0) break;
      if (!s.write_all(buf, r.value, jiffy::after(idle_timeout))) return;
    }
    s.shutdown(SHUT_WR);  // the client reads end of stream after the last echo
  }

  examples::connection_server<jiffy::tcp_stream> connections_;
};

}  // namespace

int main(int argc, char** argv) {
  examples::network_options cfg = parse_command_line(argc, argv);
  return examples::serve_until_stopped<server>(program.name, cfg.endpoint(), cfg.runtime());
}
