// What an HttpClient did so far, as HttpClient::stats() returns it: requests, reuse, failures,
// retries, GOAWAYs, and per HTTP/2 connection its streams. Its own header so monitoring code can
// report these figures without compiling Asio and Beast.
//
//   const securechannel::HttpClientStats stats = client.stats();
//   std::cout << to_string(stats.protocol) << " " << stats.requests << "\n";
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace securechannel {

enum class HttpProtocol {
  unknown,  // no connection made yet
  http1_1,
  http2,
};

// "unknown", "http/1.1" or "h2" (the ALPN names): the value of the `protocol` label and JSON field.
std::string_view to_string(HttpProtocol protocol) noexcept;

// One HTTP/2 connection of a client, for status pages.
struct Http2ConnectionStats {
  std::uint64_t connection_id = 0;
  std::size_t streams_in_flight = 0;
  std::uint32_t peer_max_concurrent_streams = 0;
  std::uint64_t streams_started = 0;
  bool draining = false;  // GOAWAY received or sent: takes no new streams
};

struct HttpClientStats {
  HttpProtocol protocol = HttpProtocol::unknown;
  std::uint64_t requests = 0;                       // completed with a response
  std::uint64_t requests_on_reused_connections = 0;  // of those: on a connection that had served before
  std::uint64_t failed_requests = 0;                // completed with an error
  std::uint64_t retries = 0;                        // requests sent a second time (stream refused, stale connection)
  std::uint64_t goaways = 0;                        // GOAWAY frames received
  std::size_t requests_in_flight = 0;
  std::vector<Http2ConnectionStats> http2_connections;
};

}  // namespace securechannel
