// One HTTP/1.1 request and its response over a lease: our request head writer and Beast's
// parser (its serializer for a streamed request body) on our TLS stream. No timer of its own:
// the caller bounds it by aborting the connection at its deadline (SecureChannel::abort, safe
// from any thread), which makes the pending step fail.
#pragma once

#include "securechannel/http_message.hpp"
#include "securechannel/lease.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>

namespace securechannel::detail {

struct Http1Outcome {
  boost::system::error_code error;
  HttpResponse response;
  // Some byte of the response arrived: the server may have acted on the request, so it must not
  // be sent again automatically (RFC 9110 9.2.2).
  bool response_started = false;
  // The connection can carry another request: keep-alive on both sides and nothing left unread.
  bool reusable = false;
  // From the exchange's start until the first byte of the response (a streamed body: its header).
  std::chrono::microseconds time_to_first_byte{0};
};

// The outcome is passed by reference: by value, each layer of the type erasure would move the
// response once more.
using Http1Handler = boost::asio::any_completion_handler<void(Http1Outcome&&)>;

// Writes `request` (its body from options.body_source when set: chunked unless the request
// has a Content-Length; otherwise its string body, framed by the caller's prepare_payload) and
// reads the response into memory, at most options.max_response_body body bytes
// (errc::response_too_large beyond); or, with options.body_sink, hands the body to the sink as
// it arrives (decoded when options.decode_content) and leaves the response's body empty.
// `request` and `options` must stay alive until the handler runs. Interim 1xx responses are
// skipped. Each step runs where the lease's previous operation completed (a thread of the
// lease's executor), and so does the handler: the steps follow one another, so they need no
// strand of their own. Errors: the lease's I/O errors, errc::http_protocol_error for a malformed
// response, the sink's (BodySinkWriter::write), the source's (errc::request_body_aborted).
void start_http1_exchange(Lease& lease, const HttpRequest& request, const HttpRequestOptions& options,
                          Http1Handler handler);

}  // namespace securechannel::detail
