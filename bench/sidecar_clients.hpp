// The load the sidecar benchmark sends through each proxy, and what it reads back:
// - run_wrk: Debian's wrk (`-t1 -cN -dSs --latency`), its requests/s, errors and p50/p99;
// - download_through: GET /big over and over on one plain connection, bytes/s of the bodies;
// - connection_setup_through: connect + one GET / round trip, N new connections in sequence.
// Every loop is bounded in count and in time, and talks to loopback only.
//
//   WrkSlice slice = run_wrk("/usr/bin/wrk", "http://127.0.0.1:7080/", 64, 2);
//   BulkSlice bulk = download_through("127.0.0.1:7000", 64 << 20, std::chrono::seconds(2));
//   SetupSample setup = connection_setup_through("127.0.0.1:7000", 100, std::chrono::milliseconds(10));
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace securechannel::bench {

struct WrkSlice {
  double seconds = 0;          // wrk's own measured time
  std::uint64_t requests = 0;  // responses with a 2xx or 3xx status
  std::uint64_t errors = 0;    // other statuses, and connect, read, write and timeout errors
  double p50_ms = 0;
  double p99_ms = 0;
  std::string note{};  // wrk's output when it could not be read

  double requests_per_second() const { return seconds > 0 ? static_cast<double>(requests) / seconds : 0; }
};

// Runs wrk with one thread against `url` for `seconds` (killed 30 s after that at the latest).
WrkSlice run_wrk(const std::string& wrk, const std::string& url, std::size_t connections, int seconds);

// Parses wrk's --latency output (exposed for that reason: it is the fragile part).
WrkSlice parse_wrk_output(const std::string& output);

struct BulkSlice {
  std::uint64_t bytes = 0;  // body bytes received, each checked against the generated file
  double seconds = 0;
  std::uint64_t responses = 0;  // whole /big bodies
  std::string error{};          // why it stopped before its time, "" when it did not

  double bytes_per_second() const { return seconds > 0 ? static_cast<double>(bytes) / seconds : 0; }
};

// Requests GET /big (`file_bytes` long) on one keep-alive connection to `address` until
// `duration` has passed, then closes mid-body.
BulkSlice download_through(const std::string& address, std::size_t file_bytes, std::chrono::milliseconds duration);

struct SetupSample {
  std::vector<double> milliseconds{};  // one per connection that got its answer
  std::size_t failures = 0;
  std::string error{};  // the first failure's cause
};

// `connections` times: connect to `address`, send GET /, read the whole "hello\n" response,
// close; then wait `gap` (a sidecar's pool refills its warm connections meanwhile, as it would
// between a service's real connections). Stops at `limit` whatever the count.
SetupSample connection_setup_through(const std::string& address, std::size_t connections,
                                     std::chrono::milliseconds gap, std::chrono::milliseconds limit);

}  // namespace securechannel::bench
