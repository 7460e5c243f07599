#include "daemon/http_forward_session.hpp"

#include "daemon/daemon_log.hpp"
#include "daemon/forwarded_message.hpp"
#include "daemon/local_acceptor.hpp"
#include "daemon/upstream_error_response.hpp"
#include "http/http1_message_head.hpp"
#include "securechannel/error.hpp"
#include "securechannel/http_client.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <limits>
#include <utility>

namespace securechannel::daemon {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;

namespace {

// Room for one full header plus the start of the next read; the parser's header_limit decides
// first, this only bounds what one connection can make us buffer outside the body.
constexpr std::size_t buffer_slack = 4096;

constexpr std::string_view continue_response = "HTTP/1.1 100 Continue\r\n\r\n";

// Errors that mean the client went away (or never said anything): no one to answer.
bool client_gone(const error_code& error) {
  return error == http::error::end_of_stream || error == http::error::partial_message ||
         error.category() != http::make_error_code(http::error::end_of_stream).category();
}

std::uint32_t parser_limit(std::size_t limit) {
  return static_cast<std::uint32_t>(std::min<std::size_t>(limit, std::numeric_limits<std::uint32_t>::max()));
}

// "GET /path" for the log; no query: it is the client's. Made only when a line is logged.
std::string request_line(const HttpRequest& request) {
  const std::string_view target = request.target();
  return fmt::format("{} {}", request.method_string(), target.substr(0, target.find('?')));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// HttpForwardSession

HttpForwardSession::HttpForwardSession(asio::ip::tcp::socket socket, std::shared_ptr<ForwardContext> context,
                                       std::uint64_t connection_id)
    : socket_(std::move(socket)),
      deadline_timer_(socket_.get_executor()),
      context_(std::move(context)),
      options_(context_->settings.current()),
      connection_id_(connection_id),
      buffer_(options_->limits.max_header_bytes + buffer_slack) {
  error_code ignored;
  const auto peer = socket_.remote_endpoint(ignored);
  peer_address_ = peer.address().to_string();
}

HttpForwardSession::~HttpForwardSession() {
  // Normally Closed by now; not when the io_context was destroyed with our handlers pending.
  if (state_ != State::Closed) context_->release_slot();
  context_->sessions.remove(this);
}

void HttpForwardSession::start() {
  asio::dispatch(socket_.get_executor(), [self = shared_from_this()] {
    if (self->state_ != State::Starting) return;  // closed before it started
    self->read_next_request();
  });
}

void HttpForwardSession::close() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->close_now(); });
}

void HttpForwardSession::drain() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->draining_ = true;
    switch (self->state_) {
      case State::Starting:
      case State::AwaitingRequest:
        return self->close_now();
      case State::ReadingHeader:
        // Nothing of a request has arrived yet: there is nothing in flight to finish.
        if (self->buffer_.size() == 0 && !self->parser_->got_some()) self->close_now();
        return;
      case State::ReadingBody:
      case State::Forwarding:
      case State::Writing:
      case State::Lingering:
      case State::Closed:
        return;  // the response (if any) is written, then the connection closes
    }
  });
}

void HttpForwardSession::transition(State next) {
  switch (next) {
    case State::Starting:
    case State::AwaitingRequest:
    case State::ReadingHeader:
    case State::ReadingBody:
    case State::Forwarding:
    case State::Writing:
    case State::Lingering:
      break;
    case State::Closed:
      // The slot is free as soon as the socket is, not when the last handler has unwound.
      if (state_ != State::Closed) context_->release_slot();
      break;
  }
  state_ = next;
}

void HttpForwardSession::read_next_request() {
  if (draining_) return close_now();
  // A new connection, or bytes of the next request already buffered: the header clock runs now.
  if (first_request_ || buffer_.size() > 0) return read_header();
  transition(State::AwaitingRequest);
  expire_after(options_->limits.idle_timeout);
  socket_.async_read_some(buffer_.prepare(1024), [self = shared_from_this()](error_code error, std::size_t bytes) {
    if (self->state_ == State::Closed) return;
    // The client closed, or a reset: no answer (after the idle timeout the socket is closed).
    if (error) return self->close_now();
    self->buffer_.commit(bytes);
    self->read_header();
  });
}

void HttpForwardSession::read_header() {
  transition(State::ReadingHeader);
  first_request_ = false;
  header_timed_out_ = false;
  parser_.emplace();
  parser_->header_limit(parser_limit(options_->limits.max_header_bytes));
  parser_->body_limit(options_->limits.max_body_bytes);
  if (error_code error; header_complete_in_buffer(error) || error) return on_header(error);
  expire_after(options_->limits.header_timeout);
  http::async_read_header(socket_, buffer_, *parser_,
                          [self = shared_from_this()](error_code error, std::size_t) { self->on_header(error); });
}

bool HttpForwardSession::header_complete_in_buffer(error_code& error) {
  if (buffer_.size() == 0) return false;
  // As async_read_header does first; need_more leaves the bytes in the buffer for it.
  buffer_.consume(parser_->put(buffer_.data(), error));
  if (error == http::error::need_more) error = {};
  return !error && parser_->is_header_done();
}

void HttpForwardSession::on_header(const error_code& error) {
  if (state_ == State::Closed) return;
  if (!error) return check_request();
  if (header_timed_out_) return reject(408, "request_timeout", "request header not received in time");
  if (error == http::error::header_limit || error == http::error::buffer_overflow) {
    return reject(431, "request_header_fields_too_large", "request header is larger than the limit");
  }
  // A Content-Length above the body limit is refused by the parser as soon as it reads the header.
  if (error == http::error::body_limit) {
    return reject(413, "content_too_large", "request body is larger than the limit");
  }
  if (client_gone(error)) return close_now();
  reject(400, "bad_request", "malformed request: " + error.message());
}

void HttpForwardSession::check_request() {
  context_->requests.fetch_add(1, std::memory_order_relaxed);
  const auto& request = parser_->get();
  head_request_ = request.method() == http::verb::head;
  // A tunnel is not a request/response exchange: the HttpClient cannot carry it (yet).
  if (request.method() == http::verb::connect || request.find(http::field::upgrade) != request.end()) {
    return reject(501, "not_implemented", "CONNECT and Upgrade (WebSocket) are not forwarded by this listener");
  }
  // An absolute-form https:// target asks for TLS to the upstream: never carried in the clear.
  if (const std::string_view target = request.target();
      target.size() >= 8 && boost::beast::iequals(target.substr(0, 8), "https://") &&
      !context_->upstreams->members().front().pool->config().tls.enabled) {
    return reject(400, "bad_request", "an https:// target, and this listener's pool is plain TCP (tls = false)");
  }
  affinity_key_.clear();
  if (!options_->affinity_header.empty()) {
    if (const auto key = request.find(options_->affinity_header); key != request.end()) {
      if (key->value().size() > max_affinity_key_bytes) {
        return reject(400, "bad_request",
                      fmt::format("{} is an affinity key, at most {} bytes; this one has {}", options_->affinity_header,
                                  max_affinity_key_bytes, key->value().size()));
      }
      affinity_key_ = std::string(key->value());
    }
  }
  if (parser_->is_done()) return forward();
  transition(State::ReadingBody);
  // curl and others wait (a second or so) for this before they send a large body.
  const auto expect = request.find(http::field::expect);
  if (expect == request.end() || !boost::beast::iequals(expect->value(), "100-continue")) return read_body();
  expire_after(options_->limits.idle_timeout);
  asio::async_write(socket_, asio::buffer(continue_response.data(), continue_response.size()),
                    [self = shared_from_this()](error_code write_error, std::size_t) {
                      if (self->state_ == State::Closed) return;
                      if (write_error) return self->close_now();
                      self->read_body();
                    });
}

void HttpForwardSession::read_body() {
  // One deadline for the whole body: a client trickling bytes cannot hold the slot for longer.
  expire_after(options_->limits.idle_timeout);
  http::async_read(socket_, buffer_, *parser_,
                   [self = shared_from_this()](error_code error, std::size_t) { self->on_body(error); });
}

void HttpForwardSession::on_body(const error_code& error) {
  if (state_ == State::Closed) return;
  if (!error) return forward();
  if (error == http::error::body_limit) {
    return reject(413, "content_too_large", "request body is larger than the limit");
  }
  if (client_gone(error)) return close_now();
  reject(400, "bad_request", "malformed request body: " + error.message());
}

void HttpForwardSession::forward() {
  transition(State::Forwarding);
  expire_never();  // the request timeout bounds the upstream exchange
  HttpRequest local = parser_->release();
  parser_.reset();
  keep_alive_requested_ = local.version() >= 11 && local.keep_alive();
  upstream_request_ = std::make_shared<const HttpRequest>(make_upstream_request(
      std::move(local), {.authority = context_->upstream_authority,
                         .add_forwarded_headers = options_->add_forwarded_headers,
                         .client_address = peer_address_}));
  retried_ = false;
  if (!send_upstream()) {
    context_->upstream_errors.fetch_add(1, std::memory_order_relaxed);
    HttpResponse answer = no_endpoint_response();
    const AfterResponse after = keep_alive_requested_ && !draining_ && !further_request_arrived()
                                    ? AfterResponse::KeepAlive
                                    : AfterResponse::Close;
    answer.keep_alive(after == AfterResponse::KeepAlive);
    respond(std::move(answer), after);
  }
}

bool HttpForwardSession::send_upstream(const UpstreamGroup::Member* avoid) {
  pick_ = context_->upstreams->pick(affinity_key_, avoid);
  if (!pick_) return false;
  HttpRequestOptions options;
  options.timeout = options_->request_timeout;
  options.affinity.key = affinity_key_;
  // The handler runs on this connection's strand; it holds the session until the exchange ends,
  // even when the local client has gone (the upstream request is not cancelled: HTTP/2 streams
  // of other connections share its connection, and the timeout bounds it).
  pick_.member->http_client->async_request(
      upstream_request_, std::move(options),
      asio::bind_executor(socket_.get_executor(), [self = shared_from_this()](error_code error, HttpResponse response) {
        self->on_upstream_response(error, std::move(response));
      }));
  return true;
}

bool HttpForwardSession::retry_elsewhere(const error_code& error, const UpstreamGroup::Member* failed) {
  // Once, for a request that may be sent twice, after a failure that left no response begun,
  // and only to another endpoint: the same one would most likely fail the same way.
  if (retried_ || !is_idempotent(upstream_request_->method()) || !worth_another_endpoint(error)) return false;
  if (context_->upstreams->members().size() < 2 && context_->upstreams->state().backup.empty()) return false;
  retried_ = true;
  if (!send_upstream(failed)) return false;
  context_->retries.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void HttpForwardSession::on_upstream_response(const error_code& error, HttpResponse&& response) {
  const bool failed = error || response.result_int() >= 500;
  context_->upstreams->report(pick_, failed ? UpstreamGroup::Outcome::failure : UpstreamGroup::Outcome::success);
  const UpstreamGroup::Member* tried = pick_.member;
  pick_ = {};
  if (state_ == State::Closed) return;
  if (error && retry_elsewhere(error, tried)) return;
  const AfterResponse after =
      keep_alive_requested_ && !draining_ && !further_request_arrived() ? AfterResponse::KeepAlive : AfterResponse::Close;
  if (!error) {
    HttpResponse local = make_local_response(std::move(response), head_request_, after == AfterResponse::KeepAlive);
    // The caller learns whether its key kept its connection (state it keeps there is gone when not).
    if (!affinity_key_.empty()) local.set(affinity_response_header, to_string(local.exchange.affinity));
    return respond(std::move(local), after);
  }
  context_->upstream_errors.fetch_add(1, std::memory_order_relaxed);
  HttpResponse answer = upstream_error_response(error);
  if (std::uint64_t suppressed = 0; context_->may_log_upstream_error(suppressed)) {
    log_pool(spdlog::level::warn, context_->pool_name, 0,
             fmt::format("http listener: {} from {} (local connection {}): upstream error {}: {}; answered {}{}",
                         request_line(*upstream_request_), peer_address_, connection_id_, error_kind(error), error.message(),
                         answer.result_int(),
                         suppressed == 0 ? "" : fmt::format(" ({} more upstream errors since the last line)", suppressed)));
  }
  respond(std::move(answer), after);
}

void HttpForwardSession::reject(unsigned status, std::string_view error, std::string_view message) {
  context_->rejected.fetch_add(1, std::memory_order_relaxed);
  respond(json_error_response(status, error, message), AfterResponse::Close);
}

void HttpForwardSession::respond(HttpResponse response, AfterResponse after) {
  transition(State::Writing);
  after_response_ = after;
  response_ = std::move(response);
  // HEAD: our own answers keep GET's Content-Length and drop the body (forwarded ones have none).
  if (head_request_) response_.body().clear();
  response_.keep_alive(after == AfterResponse::KeepAlive);
  response_head_.clear();
  detail::append_response_head(response_, response_head_);
  expire_after(options_->limits.idle_timeout);
  const std::array<asio::const_buffer, 2> bytes{asio::buffer(response_head_), asio::buffer(response_.body())};
  asio::async_write(socket_, bytes,
                    [self = shared_from_this()](error_code error, std::size_t) { self->on_written(error); });
}

void HttpForwardSession::on_written(const error_code& error) {
  if (state_ == State::Closed) return;
  if (error) return close_now();
  context_->count_response(response_.result_int());
  response_ = HttpResponse{};
  head_request_ = false;
  if (after_response_ == AfterResponse::KeepAlive && !draining_) return read_next_request();
  linger();
}

bool HttpForwardSession::further_request_arrived() const {
  // Bytes after the request in our buffer: the client sent the next request with this one, a
  // pipelining burst. The socket's receive queue is not asked (one ioctl per request, ~5% of the
  // listener's CPU): a request that arrives there while this one is forwarded is read after the
  // response is written and answered in order, as for any keep-alive client.
  return buffer_.size() > 0;
}

}  // namespace securechannel::daemon
