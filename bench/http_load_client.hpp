// bench/http_load_client.hpp — http_load's client: pools of keep-alive
// connections, each served by a fiber, that carry the requests the
// dispatcher hands them and record what happened (see the comment atop
// http_load.cpp for how it measures).
#pragma once

#include <jiffy/jiffy.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace http_load {

using clock_type = std::chrono::steady_clock;

// steady_clock's now, in ns: the time base of every job.
std::int64_t now_ns();

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
  std::string buf;        // bytes received and not yet consumed
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

// A connection's fiber: waits for a job, carries it, records it, and takes
// the next one from the backlog or goes back to the idle list; returns when
// its pool is stopping.
void connection_loop(shared_state& st, connection& c);

// Hands one due request to pool p: to an idle connection, or to the backlog.
void dispatch(pool& p, const job& j);

}  // namespace http_load
