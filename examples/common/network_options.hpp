// examples/common/network_options.hpp — the options every example that talks
// TCP takes, read and checked one way: --address, --port and --workers.
#pragma once

#include "cli.hpp"

#include <jiffy/jiffy.hpp>

#include <cstdint>
#include <string>

namespace examples {

struct network_options {
  std::string address = "127.0.0.1";  // numeric only: the examples do no name lookups
  long port = 0;
  long workers = 0;  // 0: one per hardware thread

  // Takes the current argument (and its value) if it is one of these
  // options; false if it is not. A server passes lowest_port 0 ("pick a free
  // port"), a client 1.
  bool read(cli::arguments& args, long lowest_port) {
    if (args.is("--address"))
      address = args.address();
    else if (args.is("--port"))
      port = args.number(lowest_port, 65535);
    else if (args.is("--workers"))
      workers = args.number(1, 1024);
    else
      return false;
    return true;
  }

  // Where to listen or connect (the address was checked when it was read).
  jiffy::ip_endpoint endpoint() const {
    return jiffy::ip_endpoint::parse(address, static_cast<std::uint16_t>(port)).value;
  }

  jiffy::runtime_options runtime() const { return {.workers = static_cast<unsigned>(workers)}; }
};

}  // namespace examples
