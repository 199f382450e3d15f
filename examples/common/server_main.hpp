// examples/common/server_main.hpp — how an example server process starts and
// stops, the same for each:
//
//  * SIGINT and SIGTERM are blocked before the runtime starts, so every thread
//    (the workers included) inherits the mask and the signals queue on a
//    signalfd, which a fiber reads. A handler could only set a flag; a fiber
//    can start the shutdown itself.
//  * Once the listener is bound it prints exactly "listening on ADDRESS:PORT"
//    (flushed): with --port 0, tests and scripts learn the port from it.
//  * A stop signal calls the server's begin_shutdown() (stop accepting, close
//    idle connections); the busy ones finish, and the process exits 0.
//  * It exits 1 if it cannot set up the signals or bind the listener.
#pragma once

#include <jiffy/jiffy.hpp>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <pthread.h>
#include <sys/signalfd.h>
#include <utility>

namespace examples {

// Blocks SIGINT and SIGTERM in this thread (and every thread it creates
// later), so they queue on the returned signalfd; -1 if that fails.
inline int block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) return -1;
  return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

// Parks the fiber until a stop signal arrives (true) or the signalfd is
// closed (false).
inline bool wait_for_stop_signal(jiffy::file& signals) {
  signalfd_siginfo info;
  auto r = signals.read(&info, sizeof info);
  return r && r.value == sizeof info;
}

// Runs a Server on `at` until SIGINT or SIGTERM, then stops it gracefully;
// returns main's exit status. The Server is built as
// Server(jiffy::tcp_listener, args...) inside the runtime, and offers
//   accept_loop()           accepts until begin_shutdown() closes the listener
//   begin_shutdown()        starts a graceful stop; may be called twice
//   wait_for_connections()  returns once every connection has finished
template <class Server, class... Args>
int serve_until_stopped(const char* program, const jiffy::ip_endpoint& at, const jiffy::runtime_options& options,
                        Args&... args) {
  int sfd = block_stop_signals();  // before the runtime: its threads inherit the mask
  if (sfd < 0) {
    std::fprintf(stderr, "%s: cannot set up signal handling: %s\n", program, std::strerror(errno));
    return 1;
  }
  auto listener = jiffy::tcp_listener::bind(at);
  if (!listener) {
    std::fprintf(stderr, "%s: cannot listen on %s: %s\n", program, at.to_string().c_str(),
                 listener.error.message().c_str());
    return 1;
  }
  jiffy::ip_endpoint bound = listener.value.local_endpoint().value;  // the real port when asked for port 0

  jiffy::runtime rt(options);
  rt.block_on([&] {
    jiffy::file signals(sfd);
    Server srv(std::move(listener.value), args...);
    jiffy::fiber watcher = jiffy::spawn([&] {
      wait_for_stop_signal(signals);  // a signal, or closed because the server ended on its own
      srv.begin_shutdown();
    });
    std::printf("listening on %s\n", bound.to_string().c_str());
    std::fflush(stdout);
    srv.accept_loop();
    srv.begin_shutdown();  // if the loop ended without a signal
    srv.wait_for_connections();
    signals.close();
    watcher.join();
  });
  return 0;
}

}  // namespace examples
