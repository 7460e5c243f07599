// Loopback ports for the local upstreams the demo and the tests start.
#pragma once

#include <cstdint>
#include <string>

namespace securechannel::demo {

// A TCP port on 127.0.0.1 that was free a moment ago: for peers that cannot bind port 0
// themselves and report it (nginx). Another process may take it meanwhile, so callers retry.
std::uint16_t pick_free_tcp_port();

// The port of "127.0.0.1:PORT", "[::1]:PORT" or "http://127.0.0.1:PORT".
std::uint16_t port_of(const std::string& address);

}  // namespace securechannel::demo
