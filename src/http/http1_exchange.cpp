#include "http/http1_exchange.hpp"

#include "http/body_sink_writer.hpp"
#include "http/body_source_reader.hpp"
#include "http/http1_message_head.hpp"
#include "http/http1_response_parser.hpp"
#include "securechannel/error.hpp"

#include <boost/asio/defer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <memory>
#include <optional>

namespace securechannel::detail {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;

// A streamed body (either way) passes through a buffer of this size: the most the exchange holds
// of it.
constexpr std::size_t streamed_piece_bytes = 64 * 1024;
// Request bodies up to this size are copied behind the head and leave in its TLS record.
constexpr std::size_t max_inline_body_bytes = 8 * 1024;

class Http1Exchange : public std::enable_shared_from_this<Http1Exchange> {
 public:
  Http1Exchange(Lease& lease, const HttpRequest& request, const HttpRequestOptions& options, Http1Handler handler)
      : lease_(lease),
        request_(request),
        options_(options),
        handler_(std::move(handler)),
        buffer_(max_unparsed_response_bytes(options, streamed_piece_bytes)) {}

  void start() {
    if (options_.body_source) return write_streamed_request();
    // Written now, on the thread that started the exchange (HttpClient: the caller's, once the
    // protocol is known), as wrk writes a request as soon as the previous response is in.
    write_request();
  }

 private:
  // --- A request from memory: its head (with a small body) in one buffer, one TLS record.

  void write_request() {
    const std::string& body = request_.body();
    // A small body joins the head: one record and one send. A large one goes out as it is,
    // never copied.
    const bool inline_body = body.size() <= max_inline_body_bytes;
    append_request_head(request_, head_, inline_body ? body.size() : 0);
    if (inline_body) head_.append(body);
    body_after_head_ = inline_body ? asio::const_buffer() : asio::buffer(body);
    write_request_rest();
  }

  // As much as the connection takes at once, then a wait for the rest (a full socket buffer).
  void write_request_rest() {
    for (;;) {
      const asio::const_buffer rest = written_ < head_.size() ? asio::buffer(head_) + written_
                                                              : body_after_head_ + (written_ - head_.size());
      if (rest.size() == 0) {
        std::string().swap(head_);  // the request is out: its bytes are not needed
        return read_response_after_queued_work();
      }
      error_code error;
      const std::size_t written = lease_.write_some_now(rest, error);
      if (error) {
        // Maybe still inside start_http1_exchange: the handler must not run there.
        return asio::post(lease_.get_executor(),
                          [self = shared_from_this(), error] { self->finish(translate_http1_error(error)); });
      }
      if (written == 0) {
        return lease_.async_write_some(rest, [self = shared_from_this()](error_code wait_error, std::size_t n) {
          if (wait_error) return self->finish(translate_http1_error(wait_error));
          self->written_ += n;
          self->write_request_rest();
        });
      }
      written_ += written;
    }
  }

  void read_any_response() { options_.body_sink ? read_streamed_header() : read_response(); }

  // A read started just after the write finds nothing (the reply is a round trip away) and waits
  // in the reactor: two system calls, one for nothing. Started after the work already queued on
  // this thread (other connections' replies under load), it often finds the reply there: one.
  // Only on a thread running the connection's io_context, where defer() queues it on this
  // thread and wakes nobody; a caller's thread starts the read at once.
  void read_response_after_queued_work() {
    const asio::any_io_executor executor = lease_.get_executor();  // target() points into it
    const auto* io = executor.target<asio::io_context::executor_type>();
    if (io == nullptr || !io->running_in_this_thread()) return read_any_response();
    asio::defer(*io, [self = shared_from_this()] { self->read_any_response(); });
  }

  // --- A streamed request body (options_.body_source): Beast's buffer_body serializer, one
  // piece at a time. The whole request is written before the response is read.

  void write_streamed_request() {
    Streaming& streamed = streaming();
    auto& request = streamed.request.emplace();
    request.base() = request_.base();
    const auto length = BodySourceReader::declared_length(request_);
    if (!length) {
      request.erase(http::field::content_length);  // an invalid one, if any
      request.chunked(true);
    }
    streamed.source.emplace(options_.body_source, length);
    streamed.piece = std::make_unique<std::array<char, streamed_piece_bytes>>();
    streamed.serializer.emplace(request);
    if (fill_request_piece()) write_request_piece();
  }

  // False when the source failed (the exchange is finished).
  bool fill_request_piece() {
    Streaming& streamed = streaming();
    error_code error;
    const std::size_t got = streamed.source->read(*streamed.piece, error);
    if (error) {
      finish(error);
      return false;
    }
    auto& body = streamed.request->body();
    body.data = got == 0 ? nullptr : streamed.piece->data();
    body.size = got;
    body.more = got != 0;
    return true;
  }

  void write_request_piece() {
    http::async_write(lease_, *streaming().serializer,
                      [self = shared_from_this()](error_code error, std::size_t) { self->on_request_piece(error); });
  }

  void on_request_piece(error_code error) {
    if (error == http::error::need_buffer) error = {};  // the piece went out: the next one
    if (error) return finish(translate_http1_error(error));
    if (streaming().serializer->is_done()) return read_any_response();
    if (fill_request_piece()) write_request_piece();
  }

  // --- A response into memory: Http1ResponseParser over the bytes as they arrive, read with
  // one operation on the lease each time (what http::async_read does, without its layers of
  // composed operations per read).

  void read_response() {
    parser_.emplace(options_, request_.method());
    parse_received();
  }

  void parse_received() {
    if (const auto outcome = parser_->parse(buffer_)) return on_response(*outcome);
    // Not 0: parse() fails when the buffer is full.
    const std::size_t room = boost::beast::read_size(buffer_, streamed_piece_bytes);
    lease_.async_read_some(buffer_.prepare(room), [self = shared_from_this()](error_code error, std::size_t got) {
      self->on_received(error, got);
    });
  }

  void on_received(error_code error, std::size_t got) {
    if (got > 0 && !outcome_.response_started) note_first_byte();
    buffer_.commit(got);
    if (error == asio::error::eof) return on_response(parser_->parse_eof(buffer_));
    if (error) return on_response(error);
    parse_received();
  }

  void on_response(const error_code& error) {
    if (parser_->response_started(buffer_)) outcome_.response_started = true;
    if (error) return finish(translate_http1_error(error));
    // The parser's keep_alive() was worked out from the Connection field as it was parsed; the
    // message's would parse the field again.
    outcome_.reusable = parser_->keep_alive() && request_.keep_alive() && buffer_.size() == 0;
    outcome_.response = parser_->take_response();
    finish({});
  }

  // --- A streamed body (options_.body_sink): Beast's buffer_body parser, one piece at a time.

  void read_streamed_header() {
    Streaming& streamed = streaming();
    // The writer counts what reaches the sink: no body limit here.
    configure_response_parser(streamed.response.emplace(), request_.method(),
                              response_header_limit(options_, streamed.interim_header_bytes), boost::none);
    http::async_read_header(lease_, buffer_, *streamed.response,
                            [self = shared_from_this()](error_code error, std::size_t parsed) {
                              self->on_streamed_header(error, parsed);
                            });
  }

  void on_streamed_header(const error_code& error, std::size_t parsed) {
    Streaming& streamed = streaming();
    if (streamed.response->got_some() || buffer_.size() != 0 || streamed.interim_header_bytes != 0) {
      if (!outcome_.response_started) note_first_byte();
      outcome_.response_started = true;
    }
    if (error) return finish(translate_http1_error(error));
    // `parsed`: the header's bytes, nothing after it.
    if (!response_header_fits(parsed, response_header_limit(options_, streamed.interim_header_bytes))) {
      return finish(errc::response_headers_too_large);
    }
    const auto outcome = response_status_outcome(streamed.response->get().result_int());
    if (!outcome) {
      // Interim responses share the final one's header budget (as Http1ResponseParser's do).
      streamed.interim_header_bytes += parsed;
      if (response_header_limit(options_, streamed.interim_header_bytes) == 0) {
        return finish(errc::response_headers_too_large);
      }
      return read_streamed_header();
    }
    if (*outcome) return finish(*outcome);
    streamed.writer.emplace(options_.body_sink, options_.max_response_body,
                            BodySinkWriter::coding_of(streamed.response->get().base(), options_.decode_content));
    if (!streamed.piece) streamed.piece = std::make_unique<std::array<char, streamed_piece_bytes>>();
    read_streamed_piece();
  }

  void read_streamed_piece() {
    Streaming& streamed = streaming();
    if (streamed.response->is_done()) return on_streamed_body_done();
    auto& body = streamed.response->get().body();
    body.data = streamed.piece->data();
    body.size = streamed.piece->size();
    http::async_read(lease_, buffer_, *streamed.response, [self = shared_from_this()](error_code error, std::size_t) {
      self->on_streamed_piece(error);
    });
  }

  void on_streamed_piece(error_code error) {
    if (error == http::error::need_buffer) error = {};  // the piece is full: hand it on, read on
    if (error) return finish(translate_http1_error(error));
    Streaming& streamed = streaming();
    const std::size_t received = streamed.piece->size() - streamed.response->get().body().size;
    if (error_code sink_error = streamed.writer->write({streamed.piece->data(), received})) return finish(sink_error);
    read_streamed_piece();
  }

  void on_streamed_body_done() {
    Streaming& streamed = streaming();
    if (error_code error = streamed.writer->finish()) return finish(error);
    auto& response = streamed.response->get();
    outcome_.reusable = response.keep_alive() && request_.keep_alive() && buffer_.size() == 0;
    outcome_.response.base() = std::move(response.base());  // trailers included
    finish({});
  }

  void note_first_byte() {
    outcome_.response_started = true;
    outcome_.time_to_first_byte =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started_);
  }

  void finish(const error_code& error) {
    outcome_.error = error;
    if (error || !outcome_.reusable) lease_.mark_broken();  // never reuse a connection in an unknown state
    Http1Handler handler = std::move(handler_);
    std::move(handler)(std::move(outcome_));
  }

  Lease& lease_;
  const HttpRequest& request_;
  const HttpRequestOptions& options_;
  Http1Handler handler_;
  std::string head_;  // the request's head, and its body when small
  asio::const_buffer body_after_head_;  // a large body, written after the head
  std::size_t written_ = 0;  // of head_, then of body_after_head_
  boost::beast::flat_buffer buffer_;  // at most max_unparsed_response_bytes()
  std::optional<Http1ResponseParser> parser_;
  Http1Outcome outcome_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  // Only a streamed body (either way) needs these; apart, they keep the exchange of an ordinary
  // request small enough for the allocator's per-thread cache (1.5 KB with them).
  struct Streaming {
    std::optional<http::request<http::buffer_body>> request;
    std::optional<BodySourceReader> source;
    std::optional<http::request_serializer<http::buffer_body>> serializer;
    std::optional<http::response_parser<http::buffer_body>> response;
    std::optional<BodySinkWriter> writer;
    std::unique_ptr<std::array<char, streamed_piece_bytes>> piece;  // the request's, then the response's
    std::size_t interim_header_bytes = 0;  // parsed before the final response's header
  };
  Streaming& streaming() {
    if (!streaming_) streaming_ = std::make_unique<Streaming>();
    return *streaming_;
  }
  std::unique_ptr<Streaming> streaming_;
};

}  // namespace

void start_http1_exchange(Lease& lease, const HttpRequest& request, const HttpRequestOptions& options,
                          Http1Handler handler) {
  std::make_shared<Http1Exchange>(lease, request, options, std::move(handler))->start();
}

}  // namespace securechannel::detail
