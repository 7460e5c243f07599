// `scpool request URL`: curl-like requests through a pool and HttpClient, repeated and
// concurrent on demand, with status, timings and the reuse ratio printed.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace scpool {

struct RequestOptions {
  std::string url;
  std::string method;                 // empty: GET, or POST when a body is given
  std::vector<std::string> headers;   // "Name: value"
  std::string body;                   // -d
  std::string ca_file;                // --ca: trusted in addition to the system store
  std::vector<std::string> pins;      // --pin sha256//...
  bool http1_only = false;            // --http1.1
  bool http2_only = false;            // --http2
  std::size_t count = 1;              // -n
  std::size_t concurrency = 1;        // -c
  double timeout_seconds = 30;
  bool print_headers = false;         // -i
  bool verbose = false;               // -v: how each response came (connection, reuse, timings) on stderr
  std::string config_file;            // --config: pool settings for the URL's endpoint
  std::string affinity_key;           // --affinity: every request over the key's connection
};

// Returns the process exit code: 0 when every request got a response, 1 otherwise, 2 for
// unusable arguments.
int run_request(const RequestOptions& options);

}  // namespace scpool
