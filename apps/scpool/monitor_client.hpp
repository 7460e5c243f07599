// A small synchronous HTTP/1.1 GET client for a monitoring server (scpool status, health, ...):
// http:// or https://, one connection per request, one deadline over connect, handshake, write
// and read.
//
//   scpool::MonitorClient client({.url = "https://127.0.0.1:9090", .token = token, .ca_file = "ca.pem"});
//   scpool::MonitorReply reply = client.get("/healthz");
//   if (reply.error != scpool::MonitorError::none) { /* reply.message says why, for a human */ }
//   else if (reply.status == 200) { use(reply.body); }
//
// Over https:// the server's certificate is verified as curl does: the chain against ca_file, or
// the system's trust store when it is empty, and the URL's host name or IP address.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace scpool {

enum class MonitorError {
  none,             // a complete HTTP response arrived (any status but 401)
  bad_url,          // not http(s)://host[:port][/prefix]
  unreachable,      // name resolution, connect, or the connection broke
  tls_failure,      // https://: the handshake failed, e.g. the certificate is not trusted
  timed_out,        // the deadline passed before the response was complete
  unauthorized,     // 401: the token is missing or wrong
  bad_response,     // not HTTP, or not what the endpoint should answer (set by callers too)
};

struct MonitorReply {
  MonitorError error = MonitorError::none;
  std::string message;  // for a human, when error != none: "cannot reach http://...: connection refused"
  unsigned status = 0;
  std::string body;
};

struct MonitorClientOptions {
  std::string url = "http://127.0.0.1:9090";  // a path in it prefixes every request
  std::string token;                          // sent as X-Auth-Token when not empty
  std::chrono::milliseconds timeout{5'000};   // per request, everything included
  std::string ca_file;                        // https: PEM CAs to trust; empty: the system's
};

class MonitorClient {
 public:
  explicit MonitorClient(MonitorClientOptions options);
  ~MonitorClient();  // wipes the token
  MonitorClient(const MonitorClient&) = delete;
  MonitorClient& operator=(const MonitorClient&) = delete;

  // GET `path_and_query` (starting with '/'). Never throws for network or protocol failures.
  MonitorReply get(std::string_view path_and_query) const;
  const std::string& url() const noexcept { return options_.url; }

 private:
  MonitorClientOptions options_;
};

}  // namespace scpool
