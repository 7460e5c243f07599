// An https:// (or http://) URL taken apart for a request: whether it asks for TLS, host, port, the
// target to send and the Host header.
// What is never sent is refused or dropped here, with the reason: control characters and spaces
// anywhere (they would reach the request line), user information, a port outside 1-65535. A
// #fragment is dropped, as browsers and curl do (RFC 9110 4.2.5: it is the client's, not the
// server's).
//
//   std::string problem;
//   if (auto url = securechannel::detail::parse_upstream_url("https://[::1]:8443/v1?x=1#top", problem)) {
//     // url->host "::1", url->port "8443", url->target "/v1?x=1", url->authority "[::1]:8443"
//   }
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace securechannel::detail {

struct UpstreamUrl {
  bool tls = true;        // https://; false for http:// (a pool with TLS off)
  std::string host;       // without IPv6 brackets
  std::string port;       // decimal, 1-65535; "443" (https) or "80" (http) when the URL names none
  std::string target;     // path and query, starting with '/'
  std::string authority;  // the Host header: host[:port] as written
};

// nullopt with `problem` set ("missing scheme (use https:// or http://)", "port 70000 is not
// 1-65535", ...).
std::optional<UpstreamUrl> parse_upstream_url(std::string_view url, std::string& problem);

}  // namespace securechannel::detail
