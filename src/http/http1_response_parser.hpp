// Beast's HTTP/1.1 response parser as an exchange uses it, apart from the I/O: Http1Exchange
// reads into the buffer and calls parse(), tests/fuzz/http1_response_fuzzer.cpp appends a hostile
// server's bytes instead. What is ours around Beast's parser: the limits taken from
// HttpRequestOptions, the HEAD rule, interim (1xx) responses skipped within one header budget,
// a bound on the bytes held unparsed, and the translation of Beast's errors into ours.
//
//   boost::beast::flat_buffer buffer(max_unparsed_response_bytes(options, 64 * 1024));
//   Http1ResponseParser parser(options, request.method());
//   std::optional<error_code> outcome;
//   while (!(outcome = parser.parse(buffer))) buffer.commit(read_some(buffer.prepare(room)));
//   // (room: boost::beast::read_size(buffer, 64 * 1024), never 0 when parse() asks for more;
//   //  at the end of the stream: outcome = parser.parse_eof(buffer))
//   if (!*outcome) use(parser.take_response());
#pragma once

#include "http/claimed_length_body.hpp"
#include "securechannel/http_message.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/optional/optional.hpp>
#include <boost/system/error_code.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>

namespace securechannel::detail {

// The header limit left once `spent` bytes of interim responses' headers have been parsed (Beast
// counts raw header bytes, status line and CRLFs included: a little more than the HTTP/2
// reckoning of max_response_header_bytes, so the bound holds either way). 0: none left.
inline std::uint32_t response_header_limit(const HttpRequestOptions& options, std::size_t spent) noexcept {
  const std::size_t left = options.max_response_header_bytes - std::min(spent, options.max_response_header_bytes);
  return static_cast<std::uint32_t>(std::min<std::size_t>(left, std::numeric_limits<std::uint32_t>::max()));
}

// Whether a complete header of `header_bytes` (status line to blank line) keeps to `limit`.
// Beast's header_limit alone does not quite: when the status line and the fields arrive in one
// piece it holds each of them to the limit apart, so the header may reach twice the limit, or
// not, depending on how the bytes were cut.
inline bool response_header_fits(std::size_t header_bytes, std::uint32_t limit) noexcept {
  return header_bytes <= limit;
}

// The limits and the HEAD rule, for either body type the exchange reads into. `header_limit`
// from response_header_limit(), not 0.
template <class Body>
void configure_response_parser(boost::beast::http::response_parser<Body>& parser, boost::beast::http::verb method,
                               std::uint32_t header_limit, boost::optional<std::uint64_t> body_limit) {
  parser.header_limit(header_limit);
  parser.body_limit(body_limit);
  // A HEAD response announces a body it does not carry (RFC 9110 9.3.2).
  if (method == boost::beast::http::verb::head) parser.skip(true);
}

// The max_size of the buffer a response is read into. The header is bounded by Beast's
// header_limit, but a chunk-size line (chunk extensions) and the trailer section are not: Beast
// waits for their line ends however long they grow. Bounding what is held unparsed bounds them;
// `read_piece`, the most one read adds, keeps body reads whole when the header limit is small.
std::size_t max_unparsed_response_bytes(const HttpRequestOptions& options, std::size_t read_piece) noexcept;

// Beast's HTTP errors (and a buffer that overflowed its max_size) as ours:
// errc::response_too_large, response_headers_too_large, http_protocol_error, connection_closed
// (the stream ended before a response began); other errors (I/O) as they are.
boost::system::error_code translate_http1_error(const boost::system::error_code& error);

// After a complete response header with `status`: no value for an interim response (1xx: 100
// Continue, 103 Early Hints, ...), which another response follows; otherwise the outcome: no
// error for a final response, http_protocol_error for 101 (it would switch protocols, which we
// never ask for).
std::optional<boost::system::error_code> response_status_outcome(unsigned status);

// One response into memory: the interim responses before it are skipped, its body goes into a
// string (ClaimedLengthBody), at most options.max_response_body bytes. `options` must outlive it.
class Http1ResponseParser {
 public:
  Http1ResponseParser(const HttpRequestOptions& options, boost::beast::http::verb method);

  // Parses what `buffer` holds and consumes what the parser used. No value: the response is
  // incomplete and the buffer has room for more (read on). Otherwise the outcome: no error when
  // the final response is complete (bytes after it stay in `buffer`), else the error that ends
  // the exchange, already translated.
  std::optional<boost::system::error_code> parse(boost::beast::flat_buffer& buffer);
  // The connection ended after what `buffer` holds: the outcome, as parse()'s. A response
  // without a length ends with the connection; one cut short is an error.
  boost::system::error_code parse_eof(boost::beast::flat_buffer& buffer);

  // Some byte of a response was parsed (or is waiting in the buffer): the server may have acted
  // on the request, so it must not be sent again automatically.
  bool response_started(const boost::beast::flat_buffer& buffer) const noexcept {
    return header_bytes_spent_ != 0 || parser_->got_some() || buffer.size() != 0;
  }
  // The final response lets the connection carry another (its Connection field, its version).
  bool keep_alive() const noexcept { return parser_->keep_alive(); }
  // The final response, once parse() said it is complete. Once.
  HttpResponse take_response();

 private:
  // A new parser, for the first response or the one after an interim response.
  void start_message();

  const HttpRequestOptions& options_;
  boost::beast::http::verb method_;
  std::optional<boost::beast::http::response_parser<ClaimedLengthBody>> parser_;
  std::uint32_t header_limit_ = 0;      // of the current message
  std::size_t message_bytes_ = 0;       // parsed of the current message
  std::size_t header_bytes_spent_ = 0;  // by interim responses, in Beast's reckoning
};

}  // namespace securechannel::detail
