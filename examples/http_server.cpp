// http_server: a minimal HTTP/1.1 server on jiffy, one fiber per connection —
// the server for load tests of the preemption models.
//
// Routes (GET and HEAD; other methods get 405):
//   /hello          200 "Hello, world!\n"
//   /work?ms=N      computes for N ms (0..10000) WITHOUT yielding — a busy loop
//                   on the clock whose result goes into the body — then 200.
//                   Under --preempt none it holds its worker for all N ms;
//                   under full it is preempted every quantum.
//   anything else   404
//
// Rules:
//  * HTTP/1.1 keep-alive by default, "Connection: close" honoured, HTTP/1.0
//    closes unless it asks for keep-alive; pipelined requests are answered
//    in order (the responses to the requests in one read go out in one write,
//    except that any already made are sent before a /work computation starts).
//  * Every response has Content-Length. Request bodies (Content-Length) are
//    read and ignored. Transfer-Encoding in a request gets 501 and a close
//    (no chunked decoding here); malformed requests get 400, a head over 8 KiB
//    or a body over 1 MiB 413, a version other than HTTP/1.x 505 — each
//    followed by a close, since the rest of the stream cannot be trusted.
//    Parsing is examples/http_parser.hpp, which is strict and fuzzed.
//  * Closing after a response: shut down our side, then read and discard for
//    up to a second, so the client reads the response instead of a reset.
//  * A connection idle for 60 s between requests is closed, and so is one
//    whose request has not fully arrived 30 s after its first bytes.
//  * SIGINT/SIGTERM: stop accepting (the listener is closed), close idle
//    keep-alive connections, let requests in progress finish and send their
//    response (with Connection: close), then exit 0. The signals are blocked
//    before the runtime starts (every thread inherits the mask) and read from
//    a signalfd by a fiber (examples/common/server_main.hpp, shared with
//    echo_server, as is the connection bookkeeping, connection_server.hpp).
//  * Prints exactly "listening on ADDRESS:PORT" (flushed) once it accepts.
//
// Usage: http_server [--port P] [--address A] [--workers W] [--preempt none|voluntary|full|lazy]
//                    [--quantum-us Q] [--log-requests] [--help]
#include "common/cli.hpp"
#include "common/connection_server.hpp"
#include "common/network_options.hpp"
#include "common/server_main.hpp"
#include "http_parser.hpp"

#include <jiffy/jiffy.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <vector>

using namespace std::chrono;

namespace {

constexpr long max_work_ms = 10000;
constexpr auto idle_timeout = seconds(60);
constexpr auto request_timeout = seconds(30);
constexpr auto write_timeout = seconds(30);
constexpr auto linger_time = seconds(1);
const http::limits request_limits{.max_head_bytes = 8192, .max_headers = 64, .max_body_bytes = 1u << 20};

struct config {
  examples::network_options net{.port = 8080, .workers = 0};  // workers: one per hardware thread
  jiffy::preempt_mode preempt = jiffy::preempt_mode::full;
  long quantum_us = 1000;
  bool log_requests = false;
};

const examples::cli::program program{
    "http_server",
    "usage: http_server [--port P] [--address A] [--workers W] [--preempt none|voluntary|full|lazy]\n"
    "                   [--quantum-us Q] [--log-requests]\n"
    "  --port P          TCP port, 0..65535; 0 picks a free one (default 8080)\n"
    "  --address A       IPv4 or IPv6 address to listen on (default 127.0.0.1)\n"
    "  --workers W       worker threads, 1..1024 (default: one per hardware thread)\n"
    "  --preempt M       preemption model: none, voluntary, full or lazy (default full)\n"
    "  --quantum-us Q    preemption quantum in microseconds, 50..10000000 (default 1000)\n"
    "  --log-requests    print \"METHOD TARGET\" on stdout as each request starts\n"
    "Routes: GET/HEAD /hello, GET/HEAD /work?ms=N (computes N ms, 0..10000, without yielding).\n"
    "Prints \"listening on ADDRESS:PORT\" once ready; SIGINT/SIGTERM finish in-flight requests, then exit 0.\n"};

// ---- responses ------------------------------------------------------------

struct response {
  int status = 200;
  std::string body;
  const char* extra_headers = "";  // whole lines, each ending in CRLF
};

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 501: return "Not Implemented";
    case 505: return "HTTP Version Not Supported";
  }
  return "Unknown";
}

void append_response(std::string& out, const response& r, bool keep_alive, bool head_only) {
  out.append("HTTP/1.1 ").append(std::to_string(r.status)).append(" ").append(reason_phrase(r.status));
  out.append("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ").append(std::to_string(r.body.size()));
  out.append(keep_alive ? "\r\nConnection: keep-alive\r\n" : "\r\nConnection: close\r\n");
  out.append(r.extra_headers).append("\r\n");
  if (!head_only) out.append(r.body);
}

response error_response(http::parse_status s) {
  switch (s) {
    case http::parse_status::headers_too_large: return {413, "request header section too large (limit 8 KiB)\n"};
    case http::parse_status::body_too_large: return {413, "request body too large (limit 1 MiB)\n"};
    case http::parse_status::unsupported_transfer_encoding:
      return {501, "Transfer-Encoding is not supported; send Content-Length\n"};
    case http::parse_status::unsupported_version: return {505, "only HTTP/1.0 and HTTP/1.1 are supported\n"};
    default: return {400, "bad request\n"};
  }
}

// ---- routes ---------------------------------------------------------------

// Computes for `d` without yielding or blocking, and returns a value that
// depends on every step (it goes into the response, so the loop cannot be
// optimised away). Reads the clock only every few hundred steps: a loop that
// mostly sits in the vDSO is preempted less promptly (see README).
std::uint64_t compute_for(steady_clock::duration d) {
  auto until = steady_clock::now() + d;
  std::uint64_t x = 0x9e3779b97f4a7c15ull;
  do {
    for (int i = 0; i < 256; ++i) x ^= x << 13, x ^= x >> 7, x ^= x << 17;
  } while (steady_clock::now() < until);
  return x;
}

// The value of `key` in a query string "a=1&key=v"; false if absent.
bool query_param(std::string_view query, std::string_view key, std::string_view& value) {
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    if (pair.size() > key.size() && pair.substr(0, key.size()) == key && pair[key.size()] == '=') {
      value = pair.substr(key.size() + 1);
      return true;
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return false;
}

// 0..max_work_ms, digits only; -1 otherwise.
long parse_work_ms(std::string_view text) {
  if (text.empty() || text.size() > 5) return -1;
  long v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v <= max_work_ms ? v : -1;
}

response route(const http::request& req) {
  bool known = req.path == "/hello" || req.path == "/work";
  if (!known) return {404, "not found\n"};
  if (req.method != "GET" && req.method != "HEAD") return {405, "method not allowed\n", "Allow: GET, HEAD\r\n"};
  if (req.path == "/hello") return {200, "Hello, world!\n"};
  std::string_view ms_text;
  long ms = query_param(req.query, "ms", ms_text) ? parse_work_ms(ms_text) : -1;
  if (ms < 0) return {400, "want /work?ms=N with N a whole number from 0 to 10000\n"};
  std::uint64_t result = compute_for(milliseconds(ms));
  return {200, "worked " + std::to_string(ms) + " ms, result " + std::to_string(result % 1000000) + "\n"};
}

// ---- connections ----------------------------------------------------------

// Bytes read from a connection and not yet parsed: pending() is the current
// request (and any pipelined after it), from its first byte.
class input_buffer {
 public:
  std::string_view pending() const { return {bytes_.data() + begin_, end_ - begin_}; }
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  bool empty() const { return begin_ == end_; }
  // Room at the end for a read: moves pending bytes to the front first, and
  // grows only when they fill the buffer (the parser's limits bound that).
  char* space(std::size_t& room) {
    if (begin_ > 0) {
      std::memmove(bytes_.data(), bytes_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (end_ == bytes_.size()) bytes_.resize(bytes_.size() * 2);
    room = bytes_.size() - end_;
    return bytes_.data() + end_;
  }
  void commit(std::size_t n) { end_ += n; }

 private:
  std::vector<char> bytes_ = std::vector<char>(16384);
  std::size_t begin_ = 0, end_ = 0;
};

struct connection {
  jiffy::tcp_stream stream;
  std::atomic<bool> idle{false};  // waiting for a new request's first bytes
};

class server {
 public:
  server(jiffy::tcp_listener listener, const config& cfg)
      : connections_(program.name, std::move(listener)), cfg_(cfg) {}

  void accept_loop() {
    connections_.accept_loop([this](connection& c) { serve(c); });
  }

  // The start of a graceful shutdown: no new connections, idle ones closed.
  // An idle reader sees end of stream and leaves; a busy one sees stopping()
  // when its response is ready and closes after it. (With enter_idle's
  // order, one of the two sides always sees the other.)
  void begin_shutdown() {
    connections_.begin_shutdown([](connection& c) {
      if (c.idle.load()) c.stream.shutdown(SHUT_RD);
    });
  }

  void wait_for_connections() { connections_.wait_for_connections(); }

 private:
  // Marks the connection idle unless the server is stopping (then false).
  // Sequentially consistent, against begin_shutdown's store-then-look: either
  // we see stopping(), or begin_shutdown sees us idle and shuts our reading
  // side (or both). No lock per request: all connections would share it.
  bool enter_idle(connection& c) {
    c.idle.store(true);
    return !stopping();
  }
  static void leave_idle(connection& c) { c.idle.store(false); }
  bool stopping() const { return connections_.stopping(); }

  void serve(connection& c) {
    c.stream.set_nodelay();
    input_buffer in;
    std::string out;
    http::request_parser parser(request_limits);
    http::request req;
    jiffy::deadline request_deadline = jiffy::after(request_timeout);  // for the request being received
    for (;;) {
      http::parse_result r = parser.parse(in.pending(), req);
      if (r.status == http::parse_status::complete) {
        if (cfg_.log_requests) log_request(req);
        // Batched responses wait for nobody: not for a computation, not
        // beyond 64 KiB.
        bool slow = req.path == "/work";
        if ((slow || out.size() >= 65536) && !out.empty() && !write_out(c, out)) return;
        response resp = route(req);
        bool keep_alive = req.keep_alive && !stopping();  // after the work: a stop meanwhile closes
        append_response(out, resp, keep_alive, req.method == "HEAD");
        in.consume(r.consumed);
        parser.reset();
        request_deadline = jiffy::after(request_timeout);  // a pipelined request may have begun
        if (!keep_alive) return finish(c, out);
        continue;
      }
      if (r.status != http::parse_status::incomplete) {
        append_response(out, error_response(r.status), false, false);
        return finish(c, out);
      }
      // Everything parsed is answered before we wait for more.
      if (!out.empty() && !write_out(c, out)) return;
      if (in.empty()) {  // between requests: idle until the next one starts
        if (!enter_idle(c)) return;
        bool got = read_more(c, in, jiffy::after(idle_timeout));
        leave_idle(c);
        if (!got) return;
        request_deadline = jiffy::after(request_timeout);
      } else if (!read_more(c, in, request_deadline)) {
        return;
      }
    }
  }

  static bool read_more(connection& c, input_buffer& in, jiffy::deadline d) {
    std::size_t room = 0;
    char* at = in.space(room);
    auto r = c.stream.read(at, room, d);
    if (!r || r.value == 0) return false;  // end of stream, reset, time-out or shutdown
    in.commit(r.value);
    return true;
  }

  static bool write_out(connection& c, std::string& out) {
    bool ok = c.stream.write_all(out.data(), out.size(), jiffy::after(write_timeout)).ok();
    out.clear();
    return ok;
  }

  // Sends the last response, then closes without resetting: our side shuts
  // down and we read what the client still sends until it closes too (or a
  // second passes). Closing with unread input would send a reset, and the
  // client could lose the response.
  static void finish(connection& c, std::string& out) {
    if (!write_out(c, out)) return;
    c.stream.shutdown(SHUT_WR);
    char sink[4096];
    auto until = jiffy::after(linger_time);
    for (int i = 0; i < 64; ++i) {
      auto r = c.stream.read(sink, sizeof sink, until);
      if (!r || r.value == 0) break;
    }
  }

  static void log_request(const http::request& req) {
    std::printf("%.*s %.*s\n", static_cast<int>(req.method.size()), req.method.data(),
                static_cast<int>(req.target.size()), req.target.data());
    std::fflush(stdout);
  }

  examples::connection_server<connection> connections_;
  const config& cfg_;
};

// ---- command line ---------------------------------------------------------

jiffy::preempt_mode parse_preempt(examples::cli::arguments& args) {
  const char* text = args.value();
  std::string_view t = text ? text : "";
  if (t == "none") return jiffy::preempt_mode::none;
  if (t == "voluntary") return jiffy::preempt_mode::voluntary;
  if (t == "full") return jiffy::preempt_mode::full;
  if (t == "lazy") return jiffy::preempt_mode::lazy;
  args.reject("--preempt needs none, voluntary, full or lazy" + args.got(text));
}

config parse_command_line(int argc, char** argv) {
  config cfg;
  examples::cli::arguments args(program, argc, argv);
  while (args.next()) {
    if (cfg.net.read(args, 0)) continue;
    if (args.is("--preempt"))
      cfg.preempt = parse_preempt(args);
    else if (args.is("--quantum-us"))
      cfg.quantum_us = args.number(50, 10000000);
    else if (args.is("--log-requests"))
      cfg.log_requests = true;
    else
      args.reject_unknown();
  }
  return cfg;
}

}  // namespace

int main(int argc, char** argv) {
  config cfg = parse_command_line(argc, argv);
  jiffy::runtime_options options = cfg.net.runtime();
  options.preempt = cfg.preempt;
  options.quantum = microseconds(cfg.quantum_us);
  return examples::serve_until_stopped<server>(program.name, cfg.net.endpoint(), options, cfg);
}
