// The netpoller and TCP: many connections, deadlines, cancellation by close,
// resets and half-closes, descriptor exhaustion, plain threads, IPv6.
// (Spawned fibers use CHECK, never REQUIRE: doctest's REQUIRE throws, and
// an exception escaping a spawned fiber terminates the program; block_on
// carries it back to the caller instead.)
#include "support.hpp"

#include <jiffy/jiffy.hpp>
#include <jiffy/net.hpp>

#include <algorithm>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;

namespace {

// An echo server on loopback: one fiber per connection. Returns the port.
struct echo_server {
  jiffy::tcp_listener listener;
  jiffy::fiber acceptor;
  jiffy::wait_group connections;  // connection fibers not yet ended: they touch *this
  std::atomic<int> served{0};

  std::uint16_t start(jiffy::runtime& rt, const jiffy::ip_endpoint& at = jiffy::ip_endpoint::loopback()) {
    auto l = jiffy::tcp_listener::bind(at);
    REQUIRE(l.ok());
    listener = std::move(l.value);
    std::uint16_t port = listener.local_endpoint().value.port();
    acceptor = rt.spawn([this] {
      for (;;) {
        auto c = listener.accept();
        if (!c) return;  // closed: the test is over
        connections.add();
        jiffy::spawn([this, s = std::move(c.value)]() mutable {
          char buf[4096];
          for (;;) {
            auto r = s.read(buf, sizeof buf);
            if (!r || r.value == 0) break;
            if (!s.write_all(buf, r.value)) break;
          }
          ++served;
          connections.done();
        }).detach();
      }
    });
    return port;
  }
  // Call after every client has closed: each connection fiber then reads
  // end-of-file and ends, and none outlives the server it counts into.
  void stop() {
    listener.close();  // wakes the acceptor with operation_canceled
    acceptor.join();
    connections.wait();
  }
};

// A jiffy::file that lets the test see how many calls are inside it right
// now. A call that has entered cannot find the file already closed: close()
// marks it closed, wakes it, and waits for it to leave, so it ends with
// operation_canceled (while before it enters, a close would make it fail
// with bad_file_descriptor instead).
class observed_file : public jiffy::file {
 public:
  using jiffy::file::file;
  unsigned calls_inside() {
    jiffy::detail::poll_desc* pd = pd_.load(std::memory_order_acquire);
    if (!pd) return 0;
    pd->lock.lock();
    unsigned n = pd->users;
    pd->lock.unlock();
    return n;
  }
};

// Whether a thread of this process is asleep in the kernel, read from /proc
// the way the preemption monitor reads it (true when /proc cannot tell).
bool thread_asleep(pid_t tid) {
  std::string path = "/proc/self/task/" + std::to_string(tid) + "/stat";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return true;
  bool running = jiffy::detail::thread_is_running(fd);
  ::close(fd);
  return !running;
}

}  // namespace

TEST_CASE("echo round trips on 1,000 concurrent connections on 2 workers") {
  test::watchdog wd(300s, "1000 connections");
  jiffy::runtime rt({.workers = 2});
  echo_server server;
  std::uint16_t port = server.start(rt);
  const int connections = test::slow_environment() ? 200 : 1000;
  std::atomic<int> ok{0}, failed{0};
  rt.block_on([&] {
    jiffy::wait_group wg;
    for (int i = 0; i < connections; ++i) {
      wg.add();
      jiffy::spawn([&, i] {
        auto c = jiffy::tcp_stream::connect(jiffy::ip_endpoint::loopback(port), jiffy::after(30s));
        bool good = c.ok();
        for (int round = 0; good && round < 3; ++round) {
          std::string msg = "hello " + std::to_string(i) + " round " + std::to_string(round);
          good = c.value.write_all(msg.data(), msg.size()).ok();
          std::string back(msg.size(), '\0');
          good = good && c.value.read_exact(back.data(), back.size(), jiffy::after(30s)).ok() && back == msg;
        }
        (good ? ok : failed)++;
        wg.done();
      }).detach();
    }
    wg.wait();
  });
  CHECK(failed.load() == 0);
  CHECK(ok.load() == connections);
  CHECK(test::wait_until([&] { return server.served.load() == connections; }));
  server.stop();
}

TEST_CASE("a read deadline fires, and the connection stays usable") {
  test::watchdog wd(60s, "deadline");
  jiffy::runtime rt({.workers = 2});
  echo_server server;
  std::uint16_t port = server.start(rt);
  rt.block_on([&] {
    auto c = jiffy::tcp_stream::connect(jiffy::ip_endpoint::loopback(port));
    REQUIRE(c.ok());
    char buf[16];
    auto t0 = std::chrono::steady_clock::now();
    auto r = c.value.read(buf, sizeof buf, jiffy::after(50ms));
    auto waited = std::chrono::steady_clock::now() - t0;
    CHECK(r.error == std::errc::timed_out);
    CHECK(waited >= 50ms);
    CHECK(c.value.write_all("x", 1).ok());
    CHECK(c.value.read_exact(buf, 1, jiffy::after(10s)).ok());
    CHECK(buf[0] == 'x');
  });
  server.stop();
}

TEST_CASE("closing a descriptor wakes the fibers and threads waiting on it with an error") {
  test::watchdog wd(60s, "close wakes waiters");
  jiffy::runtime rt({.workers = 2});
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  jiffy::file reader(fds[0]);
  jiffy::file writer(fds[1]);
  std::error_code got;
  // The close comes only once the fiber is parked waiting for the pipe: its
  // read found it empty, registered as the descriptor's reader and parked
  // (the only park in this runtime).
  const auto parks_before = rt.stats().parks;
  auto f = rt.spawn([&] {
    char c;
    got = reader.read(&c, 1).error;
  });
  REQUIRE(test::wait_until([&] { return rt.stats().parks > parks_before; }));
  CHECK(reader.close() == std::error_code{});
  f.join();
  CHECK(got == std::errc::operation_canceled);

  // The same from a plain thread. It has no poller: it polls the descriptor
  // itself, in 20 ms slices, looking for a close between them. The close
  // comes once its read is inside the file (so it must end canceled, never
  // with bad_file_descriptor) and its thread is asleep, in that poll.
  REQUIRE(::pipe(fds) == 0);
  observed_file reader2(fds[0]);
  jiffy::file writer2(fds[1]);
  std::error_code got2;
  std::atomic<pid_t> tid{0};
  std::thread t([&] {
    tid = static_cast<pid_t>(::syscall(SYS_gettid));
    char c;
    got2 = reader2.read(&c, 1).error;
  });
  REQUIRE(test::wait_until([&] {
    if (tid.load() == 0 || reader2.calls_inside() == 0) return false;
    return thread_asleep(tid.load());  // without /proc, being inside the call is enough for the result
  }));
  reader2.close();
  t.join();
  CHECK(got2 == std::errc::operation_canceled);
  CHECK(reader2.close() == std::errc::bad_file_descriptor);  // closing twice is reported, not undefined
}

TEST_CASE("a peer reset and a half-close are ordinary results, not crashes") {
  test::watchdog wd(60s, "reset and half-close");
  jiffy::runtime rt({.workers = 2});
  auto l = jiffy::tcp_listener::bind(jiffy::ip_endpoint::loopback());
  REQUIRE(l.ok());
  std::uint16_t port = l.value.local_endpoint().value.port();
  rt.block_on([&] {
    // Half-close: the client shuts down its sending side; the server reads
    // end of stream, and can still answer.
    auto server = jiffy::spawn([&] {
      auto s = l.value.accept(jiffy::after(10s));
      CHECK(s.ok());  // (no REQUIRE inside a fiber: it throws)
      if (!s) return;
      char buf[8];
      auto r = s.value.read_exact(buf, sizeof buf, jiffy::after(10s));
      CHECK(r.error == jiffy::io_errc::end_of_stream);
      CHECK(r.value == 3);
      CHECK(s.value.write_all("bye", 3).ok());
    });
    auto c = jiffy::tcp_stream::connect(jiffy::ip_endpoint::loopback(port));
    REQUIRE(c.ok());
    CHECK(c.value.write_all("abc", 3).ok());
    CHECK(!c.value.shutdown(SHUT_WR));
    char reply[3];
    CHECK(c.value.read_exact(reply, 3, jiffy::after(10s)).ok());
    CHECK(std::memcmp(reply, "bye", 3) == 0);
    server.join();

    // Reset: the peer closes with SO_LINGER 0 (an RST) once we are connected,
    // while we keep writing.
    jiffy::wait_group connected(1);
    auto server2 = jiffy::spawn([&] {
      auto s = l.value.accept(jiffy::after(10s));
      connected.wait();
      if (!s) return;
      linger lg{1, 0};
      ::setsockopt(s.value.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    });
    auto c2 = jiffy::tcp_stream::connect(jiffy::ip_endpoint::loopback(port));
    connected.done();
    server2.join();
    REQUIRE(c2.ok());
    std::error_code err;
    std::string chunk(65536, 'x');
    for (int i = 0; i < 100 && !err; ++i) {
      auto r = c2.value.write(chunk.data(), chunk.size(), jiffy::after(5s));
      if (!r) err = r.error;
      char b[64];
      auto rd = c2.value.read(b, sizeof b, jiffy::after(1ms));
      if (!rd && rd.error != std::errc::timed_out) err = rd.error;
    }
    CHECK((err == std::errc::connection_reset || err == std::errc::broken_pipe));
  });
}

TEST_CASE("accept survives running out of file descriptors and the server keeps serving") {
  auto r = test::run_in_child([] {
    rlimit lim{64, 64};
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) std::_Exit(10);
    // Two workers, two fibers accepting on the one listener: both meet
    // EMFILE, and the "logged once" flag they share must be race-free
    // (ThreadSanitizer flagged the plain bool it was).
    jiffy::runtime rt({.workers = 2});
    auto l = jiffy::tcp_listener::bind(jiffy::ip_endpoint::loopback());
    if (!l) std::_Exit(11);
    std::uint16_t port = l.value.local_endpoint().value.port();
    std::atomic<int> accepted{0};
    auto accept_loop = [&] {
      for (;;) {
        auto s = l.value.accept();
        if (s) {
          ++accepted;  // and close it at once
          continue;
        }
        // Another acceptor already waits for the next connection: wait a
        // little and try again, until the listener is closed.
        if (s.error != std::errc::device_or_resource_busy) return;
        jiffy::this_fiber::sleep_for(std::chrono::milliseconds(1));
      }
    };

    auto connect_one = [&] {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      if (fd < 0) return -1;
      auto ep = jiffy::ip_endpoint::loopback(port);
      if (::connect(fd, ep.data(), ep.size()) != 0) {
        ::close(fd);
        return -1;
      }
      return fd;
    };
    // Fill the descriptor table, then free exactly one slot: the client's
    // socket takes it, so the server's accept finds none (EMFILE).
    std::vector<int> filler;
    for (int fd; (fd = ::open("/dev/null", O_RDONLY)) >= 0;) filler.push_back(fd);
    if (filler.size() < 16) std::_Exit(16);
    ::close(filler.back());
    filler.pop_back();
    int first = connect_one();
    if (first < 0) std::_Exit(12);
    // The acceptors start with the connection already pending, so accept
    // fails with EMFILE at once and never waits for the descriptor: each
    // logs (once between them) and backs off in this_fiber::sleep_for, a
    // park, after the log line is written (or only a yield if the backoff
    // is over already, which merely delays the count). So four parks mean
    // at least four EMFILE retries: logged, and retried often enough for
    // "logged once" to mean something.
    auto acceptor = rt.spawn(accept_loop);
    auto acceptor2 = rt.spawn(accept_loop);
    if (!test::wait_until([&] { return rt.stats().parks >= 4; }, 20000ms)) std::_Exit(17);
    if (accepted.load() != 0) std::_Exit(13);
    for (int i = 0; i < 8; ++i) {  // descriptors come back: the server serves the one waiting...
      ::close(filler.back());
      filler.pop_back();
    }
    if (!test::wait_until([&] { return accepted.load() >= 1; }, 15000ms)) std::_Exit(14);
    int second = connect_one();  // ...and new ones
    if (second < 0) std::_Exit(15);
    if (!test::wait_until([&] { return accepted.load() >= 2; }, 15000ms)) std::_Exit(18);
    (void)l.value.close();
    acceptor.join();
    acceptor2.join();
    std::_Exit(0);
  });
  INFO("the child's stderr: " << r.err);
  CHECK(r.exited);
  CHECK(r.exit_code == 0);
  // The child ends with _Exit, which skips ThreadSanitizer's exit status: look
  // for its report instead (the acceptors share the "logged once" flag).
  CHECK(r.err.find("WARNING: ThreadSanitizer") == std::string::npos);
  CHECK(r.err.find("jiffy: accept: out of file descriptors (EMFILE)") != std::string::npos);
  // Logged once, not once per retry.
  CHECK(r.err.find("out of file descriptors") == r.err.rfind("out of file descriptors"));
}

TEST_CASE("plain threads use the same calls, blocking their thread, and IPv6 loopback works") {
  test::watchdog wd(60s, "threads and IPv6");
  jiffy::runtime rt({.workers = 2});
  echo_server server;
  std::uint16_t port = server.start(rt, jiffy::ip_endpoint::loopback_v6());
  auto c = jiffy::tcp_stream::connect(jiffy::ip_endpoint::loopback_v6(port), jiffy::after(10s));  // a plain thread
  REQUIRE(c.ok());
  std::string expected("[::1]:");
  expected.append(std::to_string(port));
  CHECK(c.value.peer_endpoint().value.to_string() == expected);
  CHECK(c.value.write_all("six", 3).ok());
  char back[3];
  CHECK(c.value.read_exact(back, 3, jiffy::after(10s)).ok());
  CHECK(std::memcmp(back, "six", 3) == 0);
  c.value.close();
  server.stop();
  CHECK(jiffy::ip_endpoint::parse("not an address", 1).error == std::errc::invalid_argument);
}

TEST_CASE("ip_endpoint::parse takes every textual form up to the longest and rejects longer or NUL-carrying text") {
  auto longest = jiffy::ip_endpoint::parse("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", 80);  // 45 characters
  REQUIRE(longest.ok());
  CHECK(longest.value.family() == AF_INET6);
  CHECK(longest.value.port() == 80);
  CHECK(jiffy::ip_endpoint::parse("0.0.0.0", 7).value.to_string() == "0.0.0.0:7");
  CHECK(jiffy::ip_endpoint::parse("127.0.0.1 ", 1).error == std::errc::invalid_argument);
  CHECK(jiffy::ip_endpoint::parse(std::string(200, '1'), 1).error == std::errc::invalid_argument);
  CHECK(jiffy::ip_endpoint::parse(std::string_view("127.0.0.1\0junk", 14), 1).error == std::errc::invalid_argument);
  CHECK(jiffy::ip_endpoint::parse("", 1).error == std::errc::invalid_argument);
}

TEST_CASE("fibers waiting for readiness cost no CPU") {
  jiffy::runtime rt({.workers = 2});
  std::vector<int> writers;
  std::vector<jiffy::fiber> readers;
  std::vector<std::unique_ptr<jiffy::file>> files;
  const auto parks_before = rt.stats().parks;
  for (int i = 0; i < 100; ++i) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    files.push_back(std::make_unique<jiffy::file>(fds[0]));
    writers.push_back(fds[1]);
    jiffy::file* f = files.back().get();
    readers.push_back(rt.spawn([f] {
      char c;
      (void)f->read(&c, 1);
    }));
  }
  // Measure only once every reader has found its pipe empty and parked:
  // from then on nothing in the runtime has anything to do.
  REQUIRE(test::wait_until([&] { return rt.stats().parks >= parks_before + 100; }));
  long used = test::cpu_us_used_while([] { std::this_thread::sleep_for(500ms); });
  CHECK(used < 100000);
  for (int w : writers) CHECK(::write(w, "x", 1) == 1);
  for (auto& r : readers) r.join();
  for (int w : writers) ::close(w);
}

// The monitor preempts a computing fiber because work waits; work readied
// by the network waits in the global queue. It must all run before the
// preempted fiber resumes, not one fiber per preemption (each preemption
// gives the computing fiber a fresh quantum: eight readers would otherwise
// take eight quanta, with the computing fiber progressing in between).
//
// Left to the monitor's polls, the eight writes could straddle two of them
// and the readers come in two batches by luck. So the test takes the poller
// (as the monitor does for its look), writes to all eight pipes, and readies
// all eight in one poll: they join the global queue together. And the
// computing fiber holds still meanwhile (it makes no progress, and under
// `voluntary` reaches no preemption point): under `full` a preemption can
// still land between two of the poll's wake-ups and run the readers queued
// so far, but those all see the progress the fiber had when it stopped.
// Every reader that runs once all eight are queued must then see one value:
// the preempted fiber did not resume between them.
TEST_CASE("fibers the network readies while the only worker computes all run before the preempted fiber resumes") {
  for (auto mode : {jiffy::preempt_mode::full, jiffy::preempt_mode::voluntary}) {
    CAPTURE(static_cast<int>(mode));
    test::watchdog wd(120s, "network work beside a computing fiber");
    jiffy::runtime rt({.workers = 1, .preempt = mode, .quantum = 1ms});
    auto* core = rt.block_on([] { return jiffy::detail::current_runtime_core(); });
    constexpr int readers_n = 8;
    std::vector<std::unique_ptr<jiffy::file>> files;
    std::vector<int> writers;
    std::atomic<long> progress{0};
    std::atomic<bool> hold{false}, held{false};
    long seen[readers_n];
    bool while_held[readers_n];
    std::vector<jiffy::fiber> readers;
    const auto parks_before = rt.stats().parks;
    for (int i = 0; i < readers_n; ++i) {
      int fds[2];
      REQUIRE(::pipe(fds) == 0);
      files.push_back(std::make_unique<jiffy::file>(fds[0]));
      writers.push_back(fds[1]);
      jiffy::file* f = files.back().get();
      readers.push_back(rt.spawn([&, i, f] {
        char c;
        CHECK(f->read(&c, 1).ok());
        seen[i] = progress.load(std::memory_order_relaxed);
        while_held[i] = hold.load();
      }));
    }
    // Every reader found its pipe empty and parked in the poller.
    REQUIRE(test::wait_until([&] { return rt.stats().parks >= parks_before + readers_n; }));
    std::atomic<bool> stop{false};
    auto computing = rt.spawn([&, mode] {
      while (!stop.load(std::memory_order_relaxed)) {
        if (hold.load()) {
          held.store(true);
          // Holding still, the fiber keeps the worker but gives the CPU
          // back (a plain OS sleep, no switch): on two CPUs the test
          // thread's claim loop below must run beside the monitor, which
          // otherwise takes the test thread's CPU at each of its looks and
          // re-enters the poller before the test thread runs again
          // (claimed in none of 20 s in one run of two).
          std::this_thread::sleep_for(50us);
          continue;
        }
        progress.fetch_add(1, std::memory_order_relaxed);
        if (mode == jiffy::preempt_mode::voluntary) jiffy::cond_resched();
      }
    });
    REQUIRE(test::wait_until([&] { return progress.load() > 1000; }));
    hold = true;
    REQUIRE(test::wait_until([&] { return held.load(); }));
    const long stopped_at = progress.load();
    // Nobody else polls while we hold the poller (the monitor's and the
    // busy worker's looks find it taken): the writes are seen by our poll.
    // Claimed in a tight loop: with every worker busy the monitor waits in
    // the poller itself and frees it only for an instant between its looks.
    auto give_up = std::chrono::steady_clock::now() + 20s;
    bool claimed = false;
    while (!(claimed = jiffy::detail::netpoll_claim_for_look(core)) && std::chrono::steady_clock::now() < give_up) {
    }
    REQUIRE(claimed);
    for (int w : writers) CHECK(::write(w, "x", 1) == 1);
    int events = jiffy::detail::netpoll_poll(core, 0);
    jiffy::detail::netpoll_release_after_look(core);
    hold = false;  // all eight are queued: readers that see this ran after that
    CHECK(events >= readers_n);
    for (auto& r : readers) r.join();
    stop = true;
    computing.join();
    for (int w : writers) ::close(w);
    std::vector<long> after;  // what the readers that ran once all were queued saw
    int early = 0;
    for (int i = 0; i < readers_n; ++i) {
      if (while_held[i]) {
        ++early;
        CHECK(seen[i] == stopped_at);
      } else {
        after.push_back(seen[i]);
      }
    }
    std::sort(after.begin(), after.end());
    int distinct = static_cast<int>(std::unique(after.begin(), after.end()) - after.begin());
    MESSAGE(early << " readers ran while the poll was readying them; the computing fiber's progress took " << distinct
                  << " distinct values while the other " << after.size() << " ran");
    CHECK(distinct <= 1);
    // Under `voluntary` nothing can preempt the computing fiber while it
    // holds still, outside a preemption point.
    if (mode == jiffy::preempt_mode::voluntary) CHECK(early == 0);
  }
}

// Workers that go idle while the monitor (or a busy worker) holds the poller
// for a non-blocking look find it taken and sleep on their futexes; whoever
// held it must hand it over when done, or with every worker idle nobody
// waits for readiness again and a fiber waiting for it parks forever (seen
// as a hung http_server under load). The test takes the look's place, so the
// interleaving is certain rather than a race to win.
TEST_CASE("workers that went idle while the poller was taken for a look are not left without a poller") {
  test::watchdog wd(120s, "poller hand-over");
  jiffy::runtime rt({.workers = 2, .preempt = jiffy::preempt_mode::full, .quantum = 1ms});
  auto* core = rt.block_on([] { return jiffy::detail::current_runtime_core(); });
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  jiffy::file in(fds[0]);
  std::atomic<bool> parked{false}, got{false};
  auto reader = rt.spawn([&] {
    char c;
    parked = true;
    got = in.read(&c, 1).ok();
  });
  REQUIRE(test::wait_until([&] { return parked.load(); }));
  std::atomic<bool> release{false};
  auto busy = [&] {
    while (!release.load(std::memory_order_relaxed)) {
    }
  };
  auto a = rt.spawn(busy), b = rt.spawn(busy);  // both workers leave the poller
  REQUIRE(test::wait_until([&] { return core->sleepers.load() == 0; }));
  // Claimed in a tight loop: with every worker busy the monitor waits in
  // the poller itself and frees it only for an instant between its looks.
  auto give_up = std::chrono::steady_clock::now() + 20s;
  bool claimed = false;
  while (!(claimed = jiffy::detail::netpoll_claim_for_look(core)) && std::chrono::steady_clock::now() < give_up) {
  }
  REQUIRE(claimed);
  release = true;  // the workers go idle while the look holds the poller
  a.join();
  b.join();
  REQUIRE(test::wait_until([&] { return core->sleepers.load() == 2; }));
  jiffy::detail::netpoll_poll(core, 0);
  jiffy::detail::netpoll_release_after_look(core);
  // The monitor looks at the network too until it sees every worker idle
  // and sleeps itself; only then is the poller the only way to be woken.
  REQUIRE(test::wait_until([&] { return core->monitor.idle.load(); }));
  std::this_thread::sleep_for(20ms);
  REQUIRE(::write(fds[1], "x", 1) == 1);
  bool woke = test::wait_until([&] { return got.load(); }, 5000ms);
  CHECK(woke);
  if (!woke) in.close();  // wakes the reader directly, not through the poller
  reader.join();
  ::close(fds[1]);
}

TEST_CASE("a file that waited in a runtime closes cleanly after that runtime is gone") {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  jiffy::file in(fds[0]), out(fds[1]);
  {
    jiffy::runtime rt({.workers = 1});
    rt.block_on([&] {
      // Waiting for data registers the descriptor with this runtime's poller.
      auto reader = jiffy::spawn([&] {
        char c = 0;
        auto r = in.read(&c, 1);
        CHECK(r.ok());
        CHECK(c == 'x');
      });
      jiffy::this_fiber::sleep_for(std::chrono::milliseconds(5));
      char c = 'x';
      CHECK(out.write(&c, 1).ok());
      reader.join();
    });
  }
  // The runtime and its epoll set are gone; closing must not reach them
  // (AddressSanitizer saw a use after free here).
  CHECK_FALSE(in.close());
  CHECK_FALSE(out.close());
}
