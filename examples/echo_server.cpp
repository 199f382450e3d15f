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
//  * Idle connections are closed after 5 minutes.
//
// Usage: echo_server [--port P] [--address A] [--workers W] [--help]
#include <jiffy/jiffy.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <sys/signalfd.h>
#include <unordered_set>

using namespace std::chrono;

namespace {

constexpr auto idle_timeout = minutes(5);

struct config {
  std::string address = "127.0.0.1";
  long port = 7000;
  long workers = 0;  // one per hardware thread
};

class server {
 public:
  explicit server(jiffy::tcp_listener listener) : listener_(std::move(listener)) {}

  // Accepts until the listener is closed, one fiber per connection.
  void accept_loop() {
    for (;;) {
      auto c = listener_.accept();
      if (!c) {
        if (c.error == std::errc::operation_canceled || c.error == std::errc::bad_file_descriptor) return;
        std::fprintf(stderr, "echo_server: accept: %s\n", c.error.message().c_str());
        jiffy::this_fiber::sleep_for(milliseconds(10));
        continue;
      }
      active_.add();
      jiffy::spawn([this, s = std::move(c.value)]() mutable {
        if (enlist(s)) {
          echo(s);
          delist(s);
        }
        active_.done();
      }).detach();
    }
  }

  void begin_shutdown() {
    std::lock_guard<jiffy::mutex> lk(mu_);
    if (stopping_) return;
    stopping_ = true;
    for (jiffy::tcp_stream* s : connections_) s->shutdown(SHUT_RD);  // their reads see end of stream
    listener_.close();  // wakes accept_loop
  }

  void wait_for_connections() { active_.wait(); }

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

  // Registers a connection so that a shutdown can reach it; false if the
  // server is already stopping (the connection is just closed).
  bool enlist(jiffy::tcp_stream& s) {
    std::lock_guard<jiffy::mutex> lk(mu_);
    if (stopping_) return false;
    connections_.insert(&s);
    return true;
  }
  void delist(jiffy::tcp_stream& s) {
    std::lock_guard<jiffy::mutex> lk(mu_);
    connections_.erase(&s);
  }

  jiffy::tcp_listener listener_;
  jiffy::mutex mu_;
  bool stopping_ = false;
  std::unordered_set<jiffy::tcp_stream*> connections_;
  jiffy::wait_group active_;
};

// Blocks SIGINT and SIGTERM here and in every thread created later; they
// queue on the returned signalfd instead.
int block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) return -1;
  return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

[[noreturn]] void usage(int code) {
  std::fprintf(code ? stderr : stdout,
               "usage: echo_server [--port P] [--address A] [--workers W]\n"
               "  --port P       TCP port, 0..65535; 0 picks a free one (default 7000)\n"
               "  --address A    IPv4 or IPv6 address to listen on (default 127.0.0.1)\n"
               "  --workers W    worker threads, 1..1024 (default: one per hardware thread)\n"
               "Echoes every connection's bytes back. Prints \"listening on ADDRESS:PORT\" once ready;\n"
               "SIGINT/SIGTERM close the connections after echoing what they sent, then exit 0.\n");
  std::exit(code);
}

long parse_number(const char* flag, const char* text, long min, long max) {
  char* end = nullptr;
  long v = text ? std::strtol(text, &end, 10) : 0;
  if (!text || !*text || *end || v < min || v > max) {
    std::fprintf(stderr, "echo_server: %s needs a whole number from %ld to %ld (got '%s')\n", flag, min, max,
                 text ? text : "");
    usage(2);
  }
  return v;
}

config parse_command_line(int argc, char** argv) {
  config cfg;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    const char* next = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "--help" || a == "-h") {
      usage(0);
    } else if (a == "--port") {
      cfg.port = parse_number("--port", next, 0, 65535), ++i;
    } else if (a == "--address") {
      if (!next || !jiffy::ip_endpoint::parse(next, 0)) {
        std::fprintf(stderr, "echo_server: --address needs an IPv4 or IPv6 address (got '%s')\n", next ? next : "");
        usage(2);
      }
      cfg.address = next, ++i;
    } else if (a == "--workers") {
      cfg.workers = parse_number("--workers", next, 1, 1024), ++i;
    } else {
      std::fprintf(stderr, "echo_server: unknown option '%s'\n", argv[i]);
      usage(2);
    }
  }
  return cfg;
}

}  // namespace

int main(int argc, char** argv) {
  config cfg = parse_command_line(argc, argv);
  int sfd = block_stop_signals();  // before the runtime: its threads inherit the mask
  if (sfd < 0) {
    std::fprintf(stderr, "echo_server: cannot set up signal handling: %s\n", std::strerror(errno));
    return 1;
  }
  auto at = jiffy::ip_endpoint::parse(cfg.address, static_cast<std::uint16_t>(cfg.port)).value;
  auto listener = jiffy::tcp_listener::bind(at);
  if (!listener) {
    std::fprintf(stderr, "echo_server: cannot listen on %s: %s\n", at.to_string().c_str(),
                 listener.error.message().c_str());
    return 1;
  }
  jiffy::ip_endpoint bound = listener.value.local_endpoint().value;

  jiffy::runtime rt({.workers = static_cast<unsigned>(cfg.workers)});
  rt.block_on([&] {
    jiffy::file signals(sfd);
    server srv(std::move(listener.value));
    jiffy::fiber watcher = jiffy::spawn([&] {
      signalfd_siginfo info;
      (void)signals.read(&info, sizeof info);  // a signal, or closed once the server ends on its own
      srv.begin_shutdown();
    });
    std::printf("listening on %s\n", bound.to_string().c_str());
    std::fflush(stdout);
    srv.accept_loop();
    srv.begin_shutdown();
    srv.wait_for_connections();
    signals.close();
    watcher.join();
  });
  return 0;
}
