// bench/http_load_client.cpp — http_load's client: one HTTP/1.1 exchange
// on a keep-alive connection, the connection fibers, and the hand-out of due
// requests to them.
#include "http_load_client.hpp"

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string_view>

namespace http_load {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
}

namespace {

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

}  // namespace

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

}  // namespace http_load
