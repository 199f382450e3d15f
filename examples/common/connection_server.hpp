// examples/common/connection_server.hpp — the connection bookkeeping both
// example servers share: accept on a listener, give each connection a fiber
// of its own, and keep what a graceful stop needs:
//
//  * the open connections, so that a stop can reach each one (to close its
//    reading side, say) — listed under a mutex that keeps a listed
//    connection alive while the stop looks at it;
//  * a stopping flag, set once: connections that arrive after it are closed
//    unserved, and a server reads it to end keep-alive;
//  * a count of the connection fibers still running, to wait for them.
//
// What a connection's fiber does, and what a stop does to it, is the
// server's: accept_loop() and begin_shutdown() take them as functions.
#pragma once

#include <jiffy/jiffy.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <system_error>
#include <unordered_set>
#include <utility>

namespace examples {

// `Connection` is what a connection's fiber works on: jiffy::tcp_stream
// itself, or a struct whose first member is the tcp_stream (built as
// Connection{std::move(stream)}) and that carries per-connection state.
template <class Connection>
class connection_server {
 public:
  // `program` prefixes the accept errors it prints.
  connection_server(const char* program, jiffy::tcp_listener listener)
      : program_(program), listener_(std::move(listener)) {}

  // Accepts until begin_shutdown() closes the listener, and runs
  // serve(Connection&) in a new fiber for each connection, which is closed
  // when serve returns.
  template <class Serve>
  void accept_loop(Serve serve) {
    for (;;) {
      auto c = listener_.accept();
      if (!c) {
        if (c.error == std::errc::operation_canceled || c.error == std::errc::bad_file_descriptor) return;
        std::fprintf(stderr, "%s: accept: %s\n", program_, c.error.message().c_str());
        jiffy::this_fiber::sleep_for(std::chrono::milliseconds(10));  // a transient failure (ENOBUFS, say): try again
        continue;
      }
      if (stopping()) continue;  // accepted as we stopped: dropped, which closes it
      active_.add();
      jiffy::spawn([this, serve, s = std::move(c.value)]() mutable {
        Connection conn{std::move(s)};
        if (enlist(conn)) {
          serve(conn);
          delist(conn);
        }
        active_.done();
      }).detach();
    }
  }

  // The start of a graceful stop: marks the server stopping, calls
  // reach(Connection&) on every open connection, and closes the listener
  // (which ends accept_loop). Only the first call does anything.
  template <class Reach>
  void begin_shutdown(Reach reach) {
    {
      std::lock_guard<jiffy::mutex> lk(mu_);
      // Set, then look at the connections, under the lock; a connection that
      // enlists later sees the flag (see enlist). Sequentially consistent, so
      // a server can pair the flag with a flag of its own per connection.
      if (stopping_.exchange(true)) return;
      for (Connection* c : connections_) reach(*c);
    }
    listener_.close();  // wakes accept_loop with operation_canceled
  }

  bool stopping() const { return stopping_.load(); }

  // Returns once every connection's fiber has finished.
  void wait_for_connections() { active_.wait(); }

 private:
  // Lists a connection so that a stop can reach it; false if the server is
  // already stopping (the connection is then closed unserved).
  bool enlist(Connection& c) {
    std::lock_guard<jiffy::mutex> lk(mu_);
    if (stopping_.load()) return false;
    connections_.insert(&c);
    return true;
  }
  void delist(Connection& c) {
    std::lock_guard<jiffy::mutex> lk(mu_);
    connections_.erase(&c);
  }

  const char* program_;
  jiffy::tcp_listener listener_;
  jiffy::mutex mu_;  // guards connections_ (membership only)
  std::atomic<bool> stopping_{false};
  std::unordered_set<Connection*> connections_;
  jiffy::wait_group active_;
};

}  // namespace examples
