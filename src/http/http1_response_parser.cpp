#include "http/http1_response_parser.hpp"

#include "securechannel/error.hpp"

#include <boost/beast/http/error.hpp>

namespace securechannel::detail {
namespace {

namespace http = boost::beast::http;
using boost::system::error_code;

}  // namespace

std::size_t max_unparsed_response_bytes(const HttpRequestOptions& options, std::size_t read_piece) noexcept {
  // At least the header limit: a header that does not fit fails as Beast's header_limit.
  return std::max(options.max_response_header_bytes, read_piece);
}

error_code translate_http1_error(const error_code& error) {
  if (error == http::error::body_limit) return errc::response_too_large;
  if (error == http::error::header_limit) return errc::response_headers_too_large;
  // The buffer is full and the parser still waits for a line end: a chunk-size line or a
  // trailer section longer than max_unparsed_response_bytes.
  if (error == http::error::buffer_overflow) return errc::response_headers_too_large;
  if (error == http::error::end_of_stream) return errc::connection_closed;
  if (error.category() == error_code(http::error::end_of_stream).category()) {
    return errc::http_protocol_error;  // bad status line, bad chunk, bad header, ...
  }
  return error;
}

Http1ResponseParser::Http1ResponseParser(const HttpRequestOptions& options, http::verb method)
    : options_(options), method_(method) {
  start_message();
}

void Http1ResponseParser::start_message() {
  message_bytes_ = 0;
  header_limit_ = response_header_limit(options_, header_bytes_spent_);
  configure_response_parser(parser_.emplace(), method_, header_limit_, options_.max_response_body);
}

std::optional<error_code> Http1ResponseParser::parse(boost::beast::flat_buffer& buffer) {
  for (;;) {
    while (buffer.size() != 0 && !parser_->is_done()) {
      error_code error;
      const bool had_header = parser_->is_header_done();
      const std::size_t used = parser_->put(buffer.data(), error);
      buffer.consume(used);
      message_bytes_ += used;
      if (error == http::error::need_more) break;  // a line is incomplete: read on
      if (error) return translate_http1_error(error);
      // The put that completes the header ends with it (the parser is not eager).
      if (!had_header && parser_->is_header_done() && !response_header_fits(message_bytes_, header_limit_)) {
        return make_error_code(errc::response_headers_too_large);
      }
    }
    if (!parser_->is_done()) {
      if (buffer.size() >= buffer.max_size()) return translate_http1_error(http::error::buffer_overflow);
      return std::nullopt;
    }
    if (const auto outcome = response_status_outcome(parser_->get().result_int())) return outcome;
    // An interim response is all header: what it took comes off the final response's budget,
    // so that a server sending 1xx responses without end is stopped as endless header lines are.
    header_bytes_spent_ += message_bytes_;
    if (response_header_limit(options_, header_bytes_spent_) == 0) return make_error_code(errc::response_headers_too_large);
    start_message();
  }
}

error_code Http1ResponseParser::parse_eof(boost::beast::flat_buffer& buffer) {
  // No byte of a response at all: the server closed first.
  if (!parser_->got_some() && buffer.size() == 0) return translate_http1_error(http::error::end_of_stream);
  error_code error;
  parser_->put_eof(error);
  if (error) return translate_http1_error(error);
  return response_status_outcome(parser_->get().result_int()).value_or(error_code{});
}

std::optional<error_code> response_status_outcome(unsigned status) {
  if (status < 100 || status >= 200) return error_code{};
  if (status == 101) return make_error_code(errc::http_protocol_error);
  return std::nullopt;
}

HttpResponse Http1ResponseParser::take_response() {
  // The parser's string moves into an HttpResponse; the parser is made anew for each response.
  http::response<ClaimedLengthBody>& parsed = parser_->get();
  return HttpResponse(std::move(parsed.base()), std::move(parsed.body()));
}

}  // namespace securechannel::detail
