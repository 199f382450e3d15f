// jiffy/net.hpp — TCP for fibers: endpoints, listeners, streams.
//
// Rules:
//  * Everything here is a jiffy::file underneath (io.hpp): RAII-owned
//    descriptors, calls that park only the calling fiber, deadlines, results
//    as io_result / std::error_code, close() waking waiters.
//  * IPv4 and IPv6. Nothing listens beyond loopback unless asked:
//    ip_endpoint::loopback() is the usual address.
//  * Writes never raise SIGPIPE (MSG_NOSIGNAL): a peer that went away is the
//    error broken_pipe or connection_reset, as is any peer reset.
//  * accept() survives running out of descriptors (EMFILE, ENFILE): it logs
//    once per listener, backs off (1 ms, doubling up to 100 ms) and tries
//    again, so a server under descriptor pressure keeps serving the
//    connections it has instead of spinning or failing.
#pragma once

#include <jiffy/io.hpp>
#include <jiffy/runtime.hpp>

#include <arpa/inet.h>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <thread>

namespace jiffy {

class ip_endpoint {
 public:
  ip_endpoint() noexcept = default;

  // "127.0.0.1", "::1", "0.0.0.0", "::"; port in host order.
  static io_result<ip_endpoint> parse(std::string_view address, std::uint16_t port) noexcept {
    ip_endpoint e;
    // inet_pton wants a C string; a stack copy keeps parse() allocation-free
    // (it is noexcept). Anything longer than the longest textual IPv6 address
    // is not an address.
    char a[INET6_ADDRSTRLEN];
    if (address.size() >= sizeof a || address.find('\0') != std::string_view::npos)
      return {{}, std::make_error_code(std::errc::invalid_argument)};
    address.copy(a, address.size());
    a[address.size()] = '\0';
    auto* v4 = reinterpret_cast<sockaddr_in*>(&e.storage_);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&e.storage_);
    if (::inet_pton(AF_INET, a, &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(port);
      e.length_ = sizeof(sockaddr_in);
      return {e, {}};
    }
    if (::inet_pton(AF_INET6, a, &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(port);
      e.length_ = sizeof(sockaddr_in6);
      return {e, {}};
    }
    return {{}, std::make_error_code(std::errc::invalid_argument)};
  }
  static ip_endpoint loopback(std::uint16_t port = 0) noexcept { return parse("127.0.0.1", port).value; }
  static ip_endpoint loopback_v6(std::uint16_t port = 0) noexcept { return parse("::1", port).value; }

  int family() const noexcept { return storage_.ss_family; }
  std::uint16_t port() const noexcept {
    if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    return 0;
  }
  // "127.0.0.1:8080", "[::1]:8080". (Built by appending: GCC 12 warns
  // falsely, -Wrestrict, on "literal" + std::string at -O3.)
  std::string to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    std::string out;
    if (family() == AF_INET) {
      ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf, sizeof buf);
      out.append(buf);
    } else if (family() == AF_INET6) {
      ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf, sizeof buf);
      out.append(1, '[').append(buf).append(1, ']');
    } else {
      return "(none)";
    }
    out.append(1, ':').append(std::to_string(port()));
    return out;
  }

  const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* data() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t size() const noexcept { return length_; }
  void set_size(socklen_t n) noexcept { length_ = n; }

 private:
  sockaddr_storage storage_{};
  socklen_t length_ = 0;
};

namespace detail {
inline io_result<ip_endpoint> socket_name(int fd, bool peer) noexcept {
  ip_endpoint e;
  socklen_t len = sizeof(sockaddr_storage);
  int rc = peer ? ::getpeername(fd, e.data(), &len) : ::getsockname(fd, e.data(), &len);
  if (rc != 0) return {{}, {errno, std::generic_category()}};
  e.set_size(len);
  return {e, {}};
}
}  // namespace detail

class tcp_stream : public file {
 public:
  tcp_stream() noexcept = default;
  explicit tcp_stream(int fd) noexcept : file(fd) {}

  static io_result<tcp_stream> connect(const ip_endpoint& to, deadline d = no_deadline) noexcept {
    int fd = ::socket(to.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return {{}, {errno, std::generic_category()}};
    tcp_stream s(fd);
    int rc;
    do {
      rc = ::connect(fd, to.data(), to.size());
    } while (rc != 0 && errno == EINTR);
    if (rc != 0 && errno != EINPROGRESS) return {{}, {errno, std::generic_category()}};
    if (rc != 0) {
      if (std::error_code ec = s.wait_writable(d)) return {{}, ec};
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err) return {{}, {err, std::generic_category()}};
    }
    return {std::move(s), {}};
  }

  io_result<std::size_t> write(const void* buf, std::size_t n, deadline d = no_deadline) noexcept {
    return io(detail::io_direction::write, d, [&](int fd) { return ::send(fd, buf, n, MSG_NOSIGNAL); });
  }
  io_result<std::size_t> send(const void* buf, std::size_t n, int flags, deadline d = no_deadline) noexcept {
    return io(detail::io_direction::write, d, [&](int fd) { return ::send(fd, buf, n, flags | MSG_NOSIGNAL); });
  }
  io_result<std::size_t> recv(void* buf, std::size_t n, int flags, deadline d = no_deadline) noexcept {
    return io(detail::io_direction::read, d, [&](int fd) { return ::recv(fd, buf, n, flags); });
  }
  io_result<std::size_t> writev(const iovec* iov, int count, deadline d = no_deadline) noexcept {
    msghdr msg{};
    msg.msg_iov = const_cast<iovec*>(iov);
    msg.msg_iovlen = static_cast<std::size_t>(count);
    return io(detail::io_direction::write, d, [&](int fd) { return ::sendmsg(fd, &msg, MSG_NOSIGNAL); });
  }

  // Reads exactly n bytes; end of stream first is io_errc::end_of_stream
  // (value: the bytes that did arrive).
  io_result<std::size_t> read_exact(void* buf, std::size_t n, deadline d = no_deadline) noexcept {
    std::size_t got = 0;
    while (got < n) {
      auto r = read(static_cast<char*>(buf) + got, n - got, d);
      if (!r) return {got, r.error};
      if (r.value == 0) return {got, make_error_code(io_errc::end_of_stream)};
      got += r.value;
    }
    return {got, {}};
  }

  // Writes all n bytes (or fails, with value = what was written).
  io_result<std::size_t> write_all(const void* buf, std::size_t n, deadline d = no_deadline) noexcept {
    std::size_t put = 0;
    while (put < n) {
      auto r = write(static_cast<const char*>(buf) + put, n - put, d);
      if (!r) return {put, r.error};
      put += r.value;
    }
    return {put, {}};
  }

  // SHUT_WR: the peer reads end of stream, and we can still read its reply.
  std::error_code shutdown(int how = SHUT_WR) noexcept {
    if (::shutdown(native_handle(), how) != 0) return {errno, std::generic_category()};
    return {};
  }
  std::error_code set_nodelay(bool on = true) noexcept {
    int v = on ? 1 : 0;
    if (::setsockopt(native_handle(), IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) != 0)
      return {errno, std::generic_category()};
    return {};
  }
  io_result<ip_endpoint> local_endpoint() const noexcept { return detail::socket_name(native_handle(), false); }
  io_result<ip_endpoint> peer_endpoint() const noexcept { return detail::socket_name(native_handle(), true); }
};

class tcp_listener : public file {
 public:
  struct options {
    bool reuse_address = true;  // SO_REUSEADDR: rebind right after a restart
    bool reuse_port = false;    // SO_REUSEPORT: several listeners share the port
    int backlog = 1024;
  };

  tcp_listener() noexcept = default;
  // Moves, as file does (the flag is atomic, hence written out; it is read
  // before the base moves).
  tcp_listener(tcp_listener&& o) noexcept : warned_exhaustion_(o.warned_exhaustion_.load(std::memory_order_relaxed)) {
    file::operator=(std::move(o));
  }
  tcp_listener& operator=(tcp_listener&& o) noexcept {
    bool warned = o.warned_exhaustion_.load(std::memory_order_relaxed);
    file::operator=(std::move(o));
    warned_exhaustion_.store(warned, std::memory_order_relaxed);
    return *this;
  }

  static io_result<tcp_listener> bind(const ip_endpoint& at, options o) noexcept {
    int fd = ::socket(at.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return {{}, {errno, std::generic_category()}};
    tcp_listener l;
    static_cast<file&>(l) = file(fd);
    int one = 1;
    if (o.reuse_address) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (o.reuse_port) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (::bind(fd, at.data(), at.size()) != 0 || ::listen(fd, o.backlog) != 0)
      return {{}, {errno, std::generic_category()}};
    return {std::move(l), {}};
  }
  static io_result<tcp_listener> bind(const ip_endpoint& at) noexcept { return bind(at, options{}); }

  // The next connection. Out of descriptors (EMFILE, ENFILE), it backs off
  // and retries rather than failing or spinning; it fails only on deadline,
  // close, or a real error.
  io_result<tcp_stream> accept(deadline d = no_deadline) noexcept {
    std::chrono::milliseconds backoff(1);
    for (;;) {
      auto r = io(detail::io_direction::read, d, [](int fd) {
        return static_cast<ssize_t>(::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      });
      if (r) return {tcp_stream(static_cast<int>(r.value)), {}};
      int e = r.error.value();                         // accept's errors are all errno values (generic_category)
      if (e == ECONNABORTED || e == EPROTO) continue;  // the client gave up first: next one
      if (e != EMFILE && e != ENFILE) return {{}, r.error};
      // relaxed: only the one warning matters, not its order with anything.
      if (!warned_exhaustion_.exchange(true, std::memory_order_relaxed)) {
        detail::message()
            .text("jiffy: accept: out of file descriptors (")
            .text(e == EMFILE ? "EMFILE" : "ENFILE")
            .text("); backing off and retrying")
            .write_line();
      }
      if (std::chrono::steady_clock::now() + backoff >= d) return {{}, std::make_error_code(std::errc::timed_out)};
      if (this_fiber::in_fiber())
        this_fiber::sleep_for(backoff);
      else
        std::this_thread::sleep_for(backoff);
      if (backoff < std::chrono::milliseconds(100)) backoff *= 2;
    }
  }

  io_result<ip_endpoint> local_endpoint() const noexcept { return detail::socket_name(native_handle(), false); }

 private:
  std::atomic<bool> warned_exhaustion_{false};  // several fibers may accept on one listener
};

}  // namespace jiffy
