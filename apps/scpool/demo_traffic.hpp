// The local clients of `scpool demo`: plain TCP clients of a tcp listener (each one connection,
// many echo round trips) and HTTP/1.1 keep-alive clients of an http listener, on threads of
// their own, each read and write bounded by a 10 s socket timeout. What a user's service would do.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace scpool {

struct TrafficResult {
  std::size_t succeeded = 0;
  std::size_t failed = 0;
  std::vector<double> round_trip_us;
  std::string first_error;
  double seconds = 0;

  void add(TrafficResult&& other);
  // "2000 ok, 0 failed in 0.41 s (4878/s); round trip p50 180.2 us, p95 402.7 us"
  std::string summary();
};

// `exchanges` round trips of `message_size` bytes over `clients` connections to a tcp listener
// whose upstream echoes.
TrafficResult drive_tcp_echo(std::uint16_t port, std::size_t clients, std::size_t exchanges, std::size_t message_size);
// `requests` GET `target` over `clients` keep-alive connections to an http listener; a 200 counts.
TrafficResult drive_http_gets(std::uint16_t port, std::size_t clients, std::size_t requests, const std::string& target);

}  // namespace scpool
