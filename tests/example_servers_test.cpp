// The example servers as users run them: the built http_server, echo_server
// and echo_client binaries, started as processes (paths come from CMake),
// talked to over real loopback sockets with plain blocking POSIX calls.
//
// Rules:
//  * Servers start with --port 0 and the test reads "listening on
//    127.0.0.1:P" from their stdout to learn the port.
//  * Every wait is bounded (socket time-outs, a bounded wait for exit, a
//    watchdog per test), and nothing asserts speed: the bounds are there to
//    turn a hang into a failure, and are generous for sanitizers.
//  * When a test needs the server to be busy with a request before it acts
//    (SIGTERM during /work), it waits for the line --log-requests prints as
//    the request starts, instead of sleeping and hoping.
#include "support.hpp"

#include <arpa/inet.h>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <spawn.h>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

using namespace std::chrono_literals;

namespace {

constexpr auto io_timeout = 30s;  // generous: sanitizer builds are slow

// ---- processes ------------------------------------------------------------

// A child process whose stdout (and, if asked, stderr) we read through a pipe.
class process {
 public:
  process(const char* path, const std::vector<std::string>& args, bool merge_stderr = false) {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    if (merge_stderr) posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(path));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int rc = ::posix_spawn(&pid_, path, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    out_ = fds[0];
    REQUIRE_MESSAGE(rc == 0, "cannot start " << path << ": " << std::strerror(rc));
  }
  ~process() {
    if (pid_ > 0) {  // a failed test left it running
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) ::close(out_);
  }
  process(const process&) = delete;
  process& operator=(const process&) = delete;

  void signal(int sig) { REQUIRE(::kill(pid_, sig) == 0); }

  // The next line of output, without its newline; nullopt at end of output
  // or after `timeout`.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout = io_timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      std::size_t nl = pending_.find('\n');
      if (nl != std::string::npos) {
        std::string line = pending_.substr(0, nl);
        pending_.erase(0, nl + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      ssize_t n = ::read(out_, buf, sizeof buf);
      if (n <= 0) return std::nullopt;
      pending_.append(buf, static_cast<std::size_t>(n));
    }
  }

  // All remaining output (until the process closes it or `timeout`).
  std::string read_rest(std::chrono::milliseconds timeout = io_timeout) {
    std::string all;
    while (auto line = read_line(timeout)) all += *line + "\n";
    return all + pending_;
  }

  // Waits up to `timeout` for the process to exit; its exit code, or -1 if
  // it died by a signal or did not exit in time (then it is killed).
  int wait_for_exit(std::chrono::milliseconds timeout = io_timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    for (;;) {
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) break;
      if (std::chrono::steady_clock::now() > end) {
        MESSAGE("the process did not exit in time; killing it");
        return -1;  // the destructor kills it
      }
      std::this_thread::sleep_for(5ms);
    }
    pid_ = 0;
    if (WIFSIGNALED(status)) MESSAGE("the process died by signal " << WTERMSIG(status));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  pid_t pid_ = 0;
  int out_ = -1;
  std::string pending_;
};

// A server started with --port 0; port() is what it printed.
class server_process : public process {
 public:
  server_process(const char* path, std::vector<std::string> args) : process(path, with_port_0(std::move(args))) {
    std::optional<std::string> line = read_line();
    REQUIRE_MESSAGE(line.has_value(), "the server printed no 'listening on' line");
    const std::string prefix = "listening on 127.0.0.1:";
    REQUIRE_MESSAGE(line->rfind(prefix, 0) == 0, "unexpected first line: " << *line);
    port_ = static_cast<std::uint16_t>(std::stoi(line->substr(prefix.size())));
    REQUIRE(port_ != 0);
  }
  std::uint16_t port() const { return port_; }

 private:
  static std::vector<std::string> with_port_0(std::vector<std::string> args) {
    args.insert(args.begin(), {"--port", "0"});
    return args;
  }
  std::uint16_t port_ = 0;
};

server_process start_http_server(std::vector<std::string> extra = {}) {
  extra.insert(extra.end(), {"--workers", "2"});
  return server_process(JIFFY_HTTP_SERVER_PATH, std::move(extra));
}

// ---- a plain blocking HTTP client ------------------------------------------

struct http_response {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;

  std::string header(const std::string& name) const {
    for (const auto& h : headers)
      if (h.first == name) return h.second;
    return "";
  }
};

class client {
 public:
  explicit client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    timeval tv{static_cast<time_t>(std::chrono::seconds(io_timeout).count()), 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~client() { ::close(fd_); }
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  bool send(const std::string& bytes) {
    std::size_t put = 0;
    while (put < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + put, bytes.size() - put, MSG_NOSIGNAL);
      if (n <= 0) return false;
      put += static_cast<std::size_t>(n);
    }
    return true;
  }

  // The next response; status 0 if the connection ended or timed out first.
  // `head` is for responses to HEAD, which carry Content-Length but no body.
  http_response read_response(bool head = false) {
    http_response r;
    std::size_t end;
    while ((end = in_.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return r;
    std::string head_text = in_.substr(0, end + 2);
    in_.erase(0, end + 4);
    std::size_t eol = head_text.find("\r\n");
    std::string status_line = head_text.substr(0, eol);
    if (status_line.rfind("HTTP/1.1 ", 0) != 0 || status_line.size() < 12) return r;
    for (std::size_t pos = eol + 2; pos < head_text.size();) {
      std::size_t next = head_text.find("\r\n", pos);
      std::string line = head_text.substr(pos, next - pos);
      std::size_t colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::size_t v = line.find_first_not_of(' ', colon + 1);
      r.headers.emplace_back(name, v == std::string::npos ? "" : line.substr(v));
      pos = next + 2;
    }
    std::string length_text = r.header("content-length");
    std::size_t length = length_text.empty() ? 0 : static_cast<std::size_t>(std::stoul(length_text));
    if (!head) {
      while (in_.size() < length)
        if (!fill()) return r;
      r.body = in_.substr(0, length);
      in_.erase(0, length);
    }
    r.status = std::stoi(status_line.substr(9, 3));
    return r;
  }

  // True if the server closes the connection (and sent nothing more): end of
  // stream, or a reset (a connection still in the listen backlog when the
  // server closed its listener is reset by the kernel). A time-out is false.
  bool closed_by_server() {
    if (!in_.empty()) return false;
    char c;
    ssize_t n = ::recv(fd_, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

  int fd() const { return fd_; }

 private:
  bool fill() {
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    in_.append(buf, static_cast<std::size_t>(n));
    return true;
  }
  int fd_ = -1;
  std::string in_;
};

std::string get(const std::string& target, const std::string& extra_headers = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: test\r\n" + extra_headers + "\r\n";
}

}  // namespace

TEST_CASE("http_server answers GET /hello twice on one keep-alive connection") {
  test::watchdog wd(120s, "keep-alive");
  auto srv = start_http_server();
  client c(srv.port());
  for (int i = 0; i < 2; ++i) {
    CAPTURE(i);
    REQUIRE(c.send(get("/hello")));
    http_response r = c.read_response();
    CHECK(r.status == 200);
    CHECK(r.body == "Hello, world!\n");
    CHECK(r.header("content-length") == "14");
    CHECK(r.header("connection") == "keep-alive");
  }
  // HEAD: the same Content-Length, no body; the connection stays usable.
  REQUIRE(c.send("HEAD /hello HTTP/1.1\r\nHost: test\r\n\r\n"));
  http_response h = c.read_response(true);
  CHECK(h.status == 200);
  CHECK(h.header("content-length") == "14");
  REQUIRE(c.send(get("/hello", "Connection: close\r\n")));
  http_response last = c.read_response();
  CHECK(last.status == 200);
  CHECK(last.header("connection") == "close");
  CHECK(c.closed_by_server());
}

TEST_CASE("http_server answers three pipelined requests in one write, in order") {
  test::watchdog wd(120s, "pipelining");
  auto srv = start_http_server();
  client c(srv.port());
  REQUIRE(c.send(get("/work?ms=20") + get("/nowhere") + get("/hello")));
  http_response a = c.read_response(), b = c.read_response(), d = c.read_response();
  CHECK(a.status == 200);
  CHECK(a.body.rfind("worked 20 ms", 0) == 0);
  CHECK(b.status == 404);
  CHECK(d.status == 200);
  CHECK(d.body == "Hello, world!\n");
}

TEST_CASE("http_server answers a malformed request with 400 and closes the connection") {
  test::watchdog wd(120s, "malformed");
  auto srv = start_http_server();
  const std::string bad[] = {"GARBAGE\r\n\r\n", "GET / HTTP/1.1\nHost: x\n\n", "GET /hello HTTP/1.1\r\n\r\n",
                             std::string("GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n", 30),
                             "GET /hello HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n"};
  for (const std::string& req : bad) {
    CAPTURE(req);
    client c(srv.port());
    REQUIRE(c.send(req));
    http_response r = c.read_response();
    CHECK(r.status == 400);
    CHECK(r.header("connection") == "close");
    CHECK(c.closed_by_server());
  }
  // The server is still fine.
  client c(srv.port());
  REQUIRE(c.send(get("/hello")));
  CHECK(c.read_response().status == 200);
}

TEST_CASE("http_server answers a header section over 8 KiB with 413 and closes") {
  test::watchdog wd(120s, "oversized header");
  auto srv = start_http_server();
  client c(srv.port());
  REQUIRE(c.send(get("/hello", std::string("X-Big: ").append(9000, 'a').append("\r\n"))));
  http_response r = c.read_response();
  CHECK(r.status == 413);
  CHECK(r.header("connection") == "close");
  CHECK(c.closed_by_server());
}

TEST_CASE(
    "http_server answers unknown paths 404, other methods 405, bad /work arguments 400, and keeps the connection") {
  test::watchdog wd(120s, "routes");
  auto srv = start_http_server();
  client c(srv.port());
  REQUIRE(c.send(get("/nope")));
  CHECK(c.read_response().status == 404);
  // A request body is read past: the next request on the connection works.
  REQUIRE(c.send("POST /hello HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello"));
  http_response p = c.read_response();
  CHECK(p.status == 405);
  CHECK(p.header("allow") == "GET, HEAD");
  for (const char* target : {"/work", "/work?ms=", "/work?ms=10001", "/work?ms=-1", "/work?ms=1x", "/work?n=5"}) {
    CAPTURE(target);
    REQUIRE(c.send(get(target)));
    CHECK(c.read_response().status == 400);
  }
  REQUIRE(c.send(get("/work?x=1&ms=0")));
  CHECK(c.read_response().status == 200);
  REQUIRE(c.send(get("/hello?x=1")));
  CHECK(c.read_response().body == "Hello, world!\n");
}

TEST_CASE("http_server answers Transfer-Encoding with 501 and closes") {
  test::watchdog wd(120s, "transfer-encoding");
  auto srv = start_http_server();
  client c(srv.port());
  REQUIRE(c.send("POST /hello HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
  http_response r = c.read_response();
  CHECK(r.status == 501);
  CHECK(c.closed_by_server());
}

TEST_CASE("http_server closes HTTP/1.0 connections unless they ask for keep-alive") {
  test::watchdog wd(120s, "HTTP/1.0");
  auto srv = start_http_server();
  {
    client c(srv.port());
    REQUIRE(c.send("GET /hello HTTP/1.0\r\n\r\n"));
    http_response r = c.read_response();
    CHECK(r.status == 200);
    CHECK(r.header("connection") == "close");
    CHECK(c.closed_by_server());
  }
  client c(srv.port());
  for (int i = 0; i < 2; ++i) {
    REQUIRE(c.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    http_response r = c.read_response();
    CHECK(r.status == 200);
    CHECK(r.header("connection") == "keep-alive");
  }
}

TEST_CASE("http_server on SIGTERM finishes the /work request in progress, sends it whole, and exits 0") {
  test::watchdog wd(120s, "SIGTERM in flight");
  auto srv = start_http_server({"--log-requests"});
  client busy(srv.port());
  // The server decides between keep-alive and close when the computation
  // ends, so the stop must reach it before then: from the logged start of
  // the request, we read the line, signal, and the server's watcher fiber is
  // woken through the signalfd and marks it stopping. Microseconds normally;
  // the computation's 2 s leave room for a loaded machine or a sanitizer.
  REQUIRE(busy.send(get("/work?ms=2000")));
  std::optional<std::string> logged = srv.read_line();  // the server has started on it
  REQUIRE(logged.has_value());
  CHECK(*logged == "GET /work?ms=2000");
  srv.signal(SIGTERM);
  http_response r = busy.read_response();
  CHECK(r.status == 200);
  CHECK(r.body.rfind("worked 2000 ms, result ", 0) == 0);
  CHECK(r.header("connection") == "close");  // no more requests on it
  CHECK(busy.closed_by_server());
  CHECK(srv.wait_for_exit() == 0);
}

TEST_CASE("http_server on SIGINT closes idle keep-alive connections, stops listening and exits 0") {
  test::watchdog wd(120s, "SIGINT idle");
  auto srv = start_http_server();
  std::vector<std::unique_ptr<client>> idle;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(std::make_unique<client>(srv.port()));
    REQUIRE(idle.back()->send(get("/hello")));
    CHECK(idle.back()->read_response().status == 200);
  }
  client never_asked(srv.port());  // connected, no request yet
  srv.signal(SIGINT);
  for (auto& c : idle) CHECK(c->closed_by_server());
  CHECK(never_asked.closed_by_server());
  CHECK(srv.wait_for_exit(60s) == 0);
}

TEST_CASE("http_server and echo_server reject bad arguments with exit status 2 and a message naming the problem") {
  test::watchdog wd(120s, "arguments");
  struct bad_args {
    const char* path;
    std::vector<std::string> args;
    const char* message;
  };
  const bad_args table[] = {
      {JIFFY_HTTP_SERVER_PATH, {"--port", "70000"}, "--port needs a whole number from 0 to 65535"},
      {JIFFY_HTTP_SERVER_PATH, {"--port"}, "--port needs"},
      {JIFFY_HTTP_SERVER_PATH, {"--workers", "0"}, "--workers needs"},
      {JIFFY_HTTP_SERVER_PATH, {"--workers", "two"}, "--workers needs"},
      {JIFFY_HTTP_SERVER_PATH, {"--preempt", "sometimes"}, "--preempt needs none, voluntary, full or lazy"},
      {JIFFY_HTTP_SERVER_PATH, {"--quantum-us", "10"}, "--quantum-us needs a whole number from 50"},
      {JIFFY_HTTP_SERVER_PATH, {"--address", "localhost"}, "--address needs an IPv4 or IPv6 address"},
      {JIFFY_HTTP_SERVER_PATH, {"--frobnicate"}, "unknown option '--frobnicate'"},
      {JIFFY_ECHO_SERVER_PATH, {"--port", "-1"}, "--port needs"},
      {JIFFY_ECHO_CLIENT_PATH, {"--size", "0"}, "--size needs"},
      {JIFFY_ECHO_CLIENT_PATH, {"--bogus"}, "unknown option '--bogus'"},
  };
  for (const bad_args& b : table) {
    CAPTURE(b.path);
    CAPTURE(b.message);
    process p(b.path, b.args, true);
    std::string out = p.read_rest();
    CHECK(out.find(b.message) != std::string::npos);
    CHECK(out.find("usage:") != std::string::npos);
    CHECK(p.wait_for_exit() == 2);
  }
  for (const char* path : {JIFFY_HTTP_SERVER_PATH, JIFFY_ECHO_SERVER_PATH, JIFFY_ECHO_CLIENT_PATH}) {
    CAPTURE(path);
    process p(path, {"--help"}, true);
    CHECK(p.read_rest().find("usage:") != std::string::npos);
    CHECK(p.wait_for_exit() == 0);
  }
}

TEST_CASE("echo_client verifies every echo from echo_server and exits 0 and echo_server exits 0 on SIGTERM") {
  test::watchdog wd(180s, "echo");
  server_process srv(JIFFY_ECHO_SERVER_PATH, {"--workers", "2"});
  std::string port = std::to_string(srv.port());
  process cl(JIFFY_ECHO_CLIENT_PATH, {"--port", port, "--connections", "8", "--messages", "200", "--size", "100"},
             true);
  std::string report = cl.read_rest();
  CAPTURE(report);
  CHECK(cl.wait_for_exit() == 0);
  CHECK(report.find("1600 round trips of 100 bytes on 8 connections") != std::string::npos);
  CHECK(report.find("all echoes verified") != std::string::npos);

  // A connection left open is closed by the shutdown.
  client open(srv.port());
  REQUIRE(open.send("ping\n"));
  char buf[5];
  CHECK(::recv(open.fd(), buf, sizeof buf, MSG_WAITALL) == 5);
  srv.signal(SIGTERM);
  CHECK(open.closed_by_server());
  CHECK(srv.wait_for_exit() == 0);
}

TEST_CASE("echo_client exits 1 and says why when no server answers") {
  test::watchdog wd(120s, "echo without server");
  // A port nobody listens on: bind one, note it, close it.
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(s);
  process cl(JIFFY_ECHO_CLIENT_PATH, {"--port", std::to_string(ntohs(a.sin_port)), "--timeout-s", "5"}, true);
  std::string out = cl.read_rest();
  CAPTURE(out);
  CHECK(out.find("connect to 127.0.0.1:") != std::string::npos);
  CHECK(out.find("FAILED") != std::string::npos);
  CHECK(cl.wait_for_exit() == 1);
}
