// The HTTP messages HttpClient sends and receives: Beast's, with string bodies, whichever
// protocol (HTTP/1.1 or HTTP/2) carries them; and the per-request options, among them a sink
// that receives a large response body piece by piece instead of in the response, and a source
// that supplies a large request body piece by piece.
//
//   securechannel::HttpRequest request{boost::beast::http::verb::get, "/v1/ticker", 11};
//   request.set(boost::beast::http::field::host, "api.example.com");
//   securechannel::HttpRequestOptions options{.timeout = std::chrono::seconds(2)};
//   std::ofstream file("dump.bin", std::ios::binary);
//   options.body_sink = [&file](std::string_view piece) { return bool(file.write(piece.data(), piece.size())); };
#pragma once

#include "securechannel/affinity.hpp"
#include "securechannel/http_client_stats.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

namespace securechannel {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;

// How a response came, as Go's httptrace and Envoy's access log tell it: which of the pool's
// connections carried it, and where the time went, counted from the async_request call.
struct HttpExchangeInfo {
  std::uint64_t connection_id = 0;  // the pool's id (ConnectionSnapshot::connection_id, /status/connections)
  bool reused = false;              // the connection (HTTP/2: the session) had carried a request before
  HttpProtocol protocol = HttpProtocol::unknown;
  unsigned attempts = 0;  // sends of the request: more than 1 after a retry (the figures are the last one's)
  // With HttpRequestOptions::affinity: whether the request went over its key's connection
  // (kept), or the key is new or moved there (the caller's state on the old one is gone).
  AffinityOutcome affinity = AffinityOutcome::none;
  // Until the request had its connection (HTTP/2: its stream): the pool's wait, a connect, a
  // handshake, or nothing at all for a warm idle connection.
  std::chrono::microseconds acquire_time{0};
  // Until the first byte of the response arrived (HTTP/2: its HEADERS frame; HTTP/1.1 with a
  // body_sink: its complete header).
  std::chrono::microseconds time_to_first_byte{0};
  std::chrono::microseconds total_time{0};  // until the whole response was in
};

// Beast's response, and how it came. Converts from and to Beast's message type, so that every
// Beast function takes it.
class HttpResponse : public boost::beast::http::response<boost::beast::http::string_body> {
 public:
  using message_type = boost::beast::http::response<boost::beast::http::string_body>;
  using message_type::message_type;
  HttpResponse() = default;
  HttpResponse(message_type&& beast_message) noexcept : message_type(std::move(beast_message)) {}  // NOLINT: implicit on purpose
  HttpResponse& operator=(message_type&& beast_message) noexcept {
    message_type::operator=(std::move(beast_message));
    exchange = {};  // another message: what was said of the old one does not hold
    return *this;
  }

  // Filled in by HttpClient when the response is handed over; zeros on a response made elsewhere.
  HttpExchangeInfo exchange;
};

// Receives a response body as it arrives, in pieces (each valid only during the call). True to
// go on; false (or an exception) stops the transfer and the request fails with
// errc::response_body_aborted.
// It runs on the connection's strand, inside the read loop: while it runs nothing more is read,
// so a slow sink slows the upstream down (TCP, and HTTP/2 flow control: the stream's window
// reopens only for bytes the sink has returned from). It should hand pieces on, not wait for
// other work of the same client (which may need the thread it runs on).
using HttpBodySink = std::function<bool(std::string_view piece)>;

// Supplies a request body in pieces, the way libcurl's READFUNCTION does: writes up to
// buffer.size() bytes into `buffer` and returns how many; 0 says the body is complete. No value
// (or an exception) stops the request with errc::request_body_aborted. Called on the
// connection's strand when the connection can take more (HTTP/2: within flow control); it must
// not block waiting for data.
using HttpBodySource = std::function<std::optional<std::size_t>(std::span<char> buffer)>;

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
  // Larger bodies fail with errc::response_too_large (after decoding, when decoding). With a
  // body_sink it bounds the bytes handed to the sink (decoded ones, when decoding), not memory:
  // set it to SIZE_MAX for a download of any size.
  std::size_t max_response_body = 64 * 1024 * 1024;
  // The response's header fields, all blocks together (interim responses, the final header,
  // trailers), counted as HTTP/2 counts a header list: name + value + 32 bytes per field. More
  // fails the request with errc::response_headers_too_large (HTTP/1.1 closes the connection,
  // HTTP/2 resets the stream). Bounds what a hostile server's endless headers cost us.
  std::size_t max_response_header_bytes = 64 * 1024;
  // When set, the response body goes here as it arrives (decoded first when decode_content; the
  // response then has no Content-Encoding and no Content-Length) and the response's own body
  // stays empty, for either protocol. The handler still runs once, after the last piece (or with
  // the error that ended the transfer); the sink is never called after (or while) it runs.
  // Once a piece reached the sink, the request is never sent again automatically: a failure
  // after that is the caller's to handle (errors as usual, e.g. connection_closed,
  // request_timeout). On abort, HTTP/1.1 closes the connection (the rest of the body is
  // unread), HTTP/2 resets only the stream (RST_STREAM CANCEL).
  HttpBodySink body_sink{};
  // When set, the request body comes from here, piece by piece as the connection can take it,
  // instead of from the request's (then ignored) string body. With a Content-Length field in the
  // request the source must supply exactly that many bytes; without one HTTP/1.1 sends the body
  // chunked (HTTP/2 needs neither). Once the source has been called the request is never sent
  // again automatically (a source cannot be rewound).
  HttpBodySource body_source{};
  // Sends the request over the connection this key has (docs/POOL.md, "Connection affinity"):
  // HTTP/1.1 waits for it while it carries another request (up to the pool's acquire_timeout,
  // unless may_move); HTTP/2 sends it as a stream of the key's session, waiting for a slot there
  // when the session is full. The response's exchange.affinity tells whether the key kept its
  // connection. Keys belong to the pool: clients sharing a pool share them. A key longer than
  // max_affinity_key_bytes fails the request with errc::affinity_key_too_long.
  Affinity affinity{};
};

// True for the methods RFC 9110 9.2.2 calls idempotent: safe to send again after a failure.
bool is_idempotent(boost::beast::http::verb method) noexcept;

}  // namespace securechannel
