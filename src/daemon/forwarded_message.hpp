// How a request and its response change on their way through the http listener (RFC 9110 7.6):
// hop-by-hop headers stay on their hop, the upstream gets its own Host, and the local client
// gets a response framed for its HTTP/1.1 connection (Content-Length, never chunked: the whole
// body is at hand). Pure functions on Beast messages, no I/O.
//
//   HttpRequest upstream = make_upstream_request(std::move(local), {.authority = "api.example.com"});
//   HttpResponse local = make_local_response(std::move(upstream_response), head_request, keep_alive);
#pragma once

#include "securechannel/http_message.hpp"

#include <boost/beast/http/fields.hpp>

#include <string_view>

namespace securechannel::daemon {

struct UpstreamRequestSettings {
  std::string_view authority;           // the Host / :authority sent upstream
  bool add_forwarded_headers = false;   // X-Forwarded-For/-Proto/-Host
  std::string_view client_address = {};  // the local peer's IP, for X-Forwarded-For
};

// Removes Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade and
// every field the Connection header names.
void strip_hop_by_hop(boost::beast::http::fields& fields);

// The local request as it goes upstream: hop-by-hop fields and Expect (the body has been read
// already) removed, Host replaced, an absolute-form target reduced to origin-form (HTTP/2's
// :path), Content-Length from the body.
HttpRequest make_upstream_request(HttpRequest&& local, const UpstreamRequestSettings& settings);

// The upstream response as it goes to the local client: hop-by-hop fields removed, Content-Length
// set from the body except where the status or a HEAD request says the length is not the body's,
// and Connection: close unless `keep_alive`.
HttpResponse make_local_response(HttpResponse&& upstream, bool head_request, bool keep_alive);

}  // namespace securechannel::daemon
