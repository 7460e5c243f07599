#include "http/http1_exchange.hpp"

#include "securechannel/error.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <memory>
#include <optional>

namespace securechannel::detail {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;

// Header blocks above this are refused (Beast's default is 8 KB; some APIs send big cookies).
constexpr std::uint32_t max_header_bytes = 64 * 1024;

error_code translated(const error_code& error) {
  if (error == http::error::body_limit) return errc::response_too_large;
  if (error.category() == error_code(http::error::end_of_stream).category() && error != http::error::end_of_stream) {
    return errc::http_protocol_error;  // bad status line, bad chunk, bad header, ...
  }
  if (error == http::error::end_of_stream) return errc::connection_closed;
  return error;
}

class Http1Exchange : public std::enable_shared_from_this<Http1Exchange> {
 public:
  Http1Exchange(Lease& lease, const HttpRequest& request, std::size_t max_body, asio::any_io_executor executor,
                Http1Handler handler)
      : lease_(lease), request_(request), max_body_(max_body), executor_(std::move(executor)),
        handler_(std::move(handler)) {}

  void start() {
    http::async_write(lease_, request_,
                      asio::bind_executor(executor_, [self = shared_from_this()](error_code error, std::size_t) {
                        if (error) return self->finish(translated(error));
                        self->read_response();
                      }));
  }

 private:
  void read_response() {
    parser_.emplace();
    parser_->header_limit(max_header_bytes);
    parser_->body_limit(max_body_);
    // A HEAD response announces a body it does not carry (RFC 9110 9.3.2).
    if (request_.method() == http::verb::head) parser_->skip(true);
    http::async_read(lease_, buffer_, *parser_,
                     asio::bind_executor(executor_, [self = shared_from_this()](error_code error, std::size_t) {
                       self->on_response(error);
                     }));
  }

  void on_response(const error_code& error) {
    if (parser_->got_some() || buffer_.size() != 0) outcome_.response_started = true;
    if (error) return finish(translated(error));
    const unsigned status = parser_->get().result_int();
    // 100 Continue, 103 Early Hints, ...: the final response follows. 101 would switch
    // protocols, which this client never asks for.
    if (status >= 100 && status < 200) {
      if (status == 101) return finish(errc::http_protocol_error);
      return read_response();
    }
    outcome_.reusable = parser_->get().keep_alive() && request_.keep_alive() && buffer_.size() == 0;
    outcome_.response = parser_->release();
    finish({});
  }

  void finish(const error_code& error) {
    outcome_.error = error;
    if (error || !outcome_.reusable) lease_.mark_broken();  // never reuse a connection in an unknown state
    Http1Handler handler = std::move(handler_);
    std::move(handler)(std::move(outcome_));
  }

  Lease& lease_;
  const HttpRequest& request_;
  const std::size_t max_body_;
  asio::any_io_executor executor_;
  Http1Handler handler_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;
  Http1Outcome outcome_;
};

}  // namespace

void start_http1_exchange(Lease& lease, const HttpRequest& request, std::size_t max_body,
                          asio::any_io_executor executor, Http1Handler handler) {
  std::make_shared<Http1Exchange>(lease, request, max_body, std::move(executor), std::move(handler))->start();
}

}  // namespace securechannel::detail
