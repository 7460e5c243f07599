// The HTTP messages HttpClient sends and receives: Beast's, with string bodies, whichever
// protocol (HTTP/1.1 or HTTP/2) carries them; and the per-request options.
//
//   securechannel::HttpRequest request{boost::beast::http::verb::get, "/v1/ticker", 11};
//   request.set(boost::beast::http::field::host, "api.example.com");
//   securechannel::HttpRequestOptions options{.timeout = std::chrono::seconds(2)};
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <cstddef>

namespace securechannel {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

struct HttpRequestOptions {
  // From the call until the whole response is in, connection wait and retries included.
  std::chrono::milliseconds timeout{30'000};
  // A request that failed on a reused connection before any response byte arrived is sent once
  // more on a fresh connection when it is idempotent (GET, HEAD, OPTIONS, TRACE, PUT, DELETE).
  // Others fail with errc::request_not_replayed unless this is set.
  bool replay_non_idempotent = false;
  // Decode Content-Encoding gzip, deflate and br (and ask for them with Accept-Encoding when the
  // request does not say). The response then carries the decoded body and no Content-Encoding.
  bool decode_content = false;
  // Larger bodies fail with errc::response_too_large (after decoding, when decoding).
  std::size_t max_response_body = 64 * 1024 * 1024;
};

// True for the methods RFC 9110 9.2.2 calls idempotent: safe to send again after a failure.
bool is_idempotent(boost::beast::http::verb method) noexcept;

}  // namespace securechannel
