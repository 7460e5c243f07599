#include "monitor/monitoring_session.hpp"

#include "monitor/json_error.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <limits>
#include <utility>
#include <vector>

namespace securechannel::monitor {

namespace http = boost::beast::http;
using boost::system::error_code;

namespace {

// After a final response we shut down our side and read (and drop) until the client closes:
// closing with its unread request bytes still queued would make the kernel send a reset, which
// can destroy our response before the client reads it. A client that never closes gets this long.
constexpr std::chrono::seconds linger_limit{2};

// Room for one full header plus the start of a pipelined request; the parser's header_limit
// decides first, this only bounds what one connection can make us buffer.
constexpr std::size_t buffer_slack = 4096;

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

// The tokens a request presents: X-Auth-Token, and the credentials of `Authorization: Bearer`
// (what Prometheus's `authorization` scrape setting and most HTTP clients send). Either may be
// the right one (a proxy may add the other); empty values are no token.
std::vector<std::string_view> presented_tokens(const http::request<http::empty_body>& request) {
  std::vector<std::string_view> tokens;
  if (const auto token = request.find("X-Auth-Token"); token != request.end() && !token->value().empty()) {
    tokens.push_back(token->value());
  }
  const auto authorization = request.find(http::field::authorization);
  if (authorization == request.end()) return tokens;
  const std::string_view value = authorization->value();
  constexpr std::string_view scheme = "bearer ";  // RFC 9110 11.1: the scheme is case-insensitive
  if (value.size() <= scheme.size() ||
      !std::equal(scheme.begin(), scheme.end(), value.begin(),
                  [](char expected, char actual) { return expected == (actual | 0x20); })) {
    return tokens;
  }
  std::string_view credentials = value.substr(scheme.size());
  while (!credentials.empty() && credentials.front() == ' ') credentials.remove_prefix(1);
  if (!credentials.empty()) tokens.push_back(credentials);
  return tokens;
}

// Errors that mean the client went away (or never said anything): no one to answer.
bool client_gone(const error_code& error) {
  return error == http::error::end_of_stream || error == http::error::partial_message ||
         error.category() != http::make_error_code(http::error::end_of_stream).category();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// ServerContext

ServerContext::ServerContext(MonitoringServerOptions server_options, MonitoringHandler request_handler)
    : auth_token_(std::move(server_options.auth_token)),
      auth_failures(AuthFailureAllowance{.allowed = server_options.auth_failures_allowed,
                                         .interval = server_options.auth_failure_interval}),
      options(std::move(server_options)),
      handler(std::move(request_handler)),
      tls_(options.tls) {}

std::shared_ptr<MonitoringTls> ServerContext::tls() const {
  std::lock_guard lock(tls_mutex_);
  return tls_;
}

void ServerContext::set_tls(std::shared_ptr<MonitoringTls> tls) {
  std::lock_guard lock(tls_mutex_);
  tls_ = std::move(tls);
}

void ServerContext::close_all() {
  sessions.for_each_alive([](MonitoringSession& session) { session.close(); });
}

bool ServerContext::requires_token(std::string_view target) const {
  if (!auth_token_ || auth_token_->empty()) return false;
  const std::string_view path = path_of(target);
  return std::none_of(options.unauthenticated_paths.begin(), options.unauthenticated_paths.end(),
                      [path](const std::string& open_path) { return open_path == path; });
}

void ServerContext::release_slot() {
  open_connections.fetch_sub(1);
  if (slot_released) slot_released();
}

bool ServerContext::token_matches(std::string_view presented) const {
  return auth_token_ && auth_token_->equals(presented);
}

// ---------------------------------------------------------------------------------------------
// MonitoringSession

MonitoringSession::MonitoringSession(boost::asio::ip::tcp::socket socket, std::shared_ptr<ServerContext> context)
    : stream_(std::move(socket)),
      header_deadline_(stream_.get_executor()),
      context_(std::move(context)),
      buffer_(context_->options.max_header_bytes + buffer_slack) {
  error_code unknown;  // a socket reset before this has no peer: counted as the unspecified address
  client_address_ = stream_.socket().remote_endpoint(unknown).address();
  tls_ = context_->tls();
  if (tls_) tls_stream_.emplace(stream_, tls_->context());
}

MonitoringSession::~MonitoringSession() {
  // Normally Closed by now; not when the io_context was destroyed with our handlers pending.
  if (state_ != State::Closed) context_->release_slot();
  context_->sessions.remove(this);
}

void MonitoringSession::start() {
  boost::asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    if (self->state_ != State::Starting) return;  // closed before it started
    if (!self->tls_stream_) return self->read_next_request();
    self->transition(State::Handshaking);
    self->stream_.expires_after(self->context_->options.read_timeout);
    self->tls_stream_->async_handshake(boost::asio::ssl::stream_base::server,
                                       [self](error_code error) { self->on_handshake(error); });
  });
}

void MonitoringSession::on_handshake(const error_code& error) {
  if (state_ == State::Closed) return;
  if (!error) return read_next_request();
  // A plain HTTP client, a port scanner, an untrusting client, or the deadline: nothing to
  // answer in HTTP. Counted, not logged: anyone who can connect could fill the log.
  context_->tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
  close_now();
}

void MonitoringSession::close() {
  boost::asio::post(stream_.get_executor(), [self = shared_from_this()] { self->close_now(); });
}

void MonitoringSession::transition(State next) {
  switch (next) {
    case State::Starting:
    case State::Handshaking:
    case State::AwaitingRequest:
    case State::ReadingHeader:
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

void MonitoringSession::read_next_request() {
  // A new connection, or bytes of the next request already buffered: the header clock runs now.
  if (first_request_ || buffer_.size() > 0) {
    read_header();
    return;
  }
  transition(State::AwaitingRequest);
  stream_.expires_after(context_->options.idle_timeout);
  auto on_first_bytes = [self = shared_from_this()](error_code error, std::size_t bytes) {
    if (self->state_ == State::Closed) return;
    // Idle timeout (the stream has closed the socket), the client closed, or a reset: no answer.
    if (error) return self->close_now();
    self->buffer_.commit(bytes);
    self->read_header();
  };
  with_stream([&](auto& stream) { stream.async_read_some(buffer_.prepare(1024), on_first_bytes); });
}

void MonitoringSession::read_header() {
  transition(State::ReadingHeader);
  first_request_ = false;
  header_timed_out_ = false;
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(
      std::min<std::size_t>(context_->options.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
  stream_.expires_never();
  header_deadline_.expires_after(context_->options.read_timeout);
  header_deadline_.async_wait([self = shared_from_this(), generation = ++header_generation_](error_code error) {
    self->on_header_deadline(error, generation);
  });
  auto on_read = [self = shared_from_this()](error_code error, std::size_t) { self->on_header(error); };
  with_stream([&](auto& stream) { http::async_read_header(stream, buffer_, *parser_, on_read); });
}

void MonitoringSession::on_header_deadline(const error_code& error, std::uint64_t generation) {
  // Cancelled, or already past this header (its completion may have been queued with success).
  if (error || generation != header_generation_ || state_ != State::ReadingHeader) return;
  header_timed_out_ = true;
  error_code ignored;
  stream_.socket().cancel(ignored);  // the read completes with operation_aborted; on_header answers 408
}

void MonitoringSession::on_header(const error_code& error) {
  if (state_ == State::Closed) return;
  header_deadline_.cancel();
  if (!error) return handle_request();
  if (header_timed_out_) {
    context_->timed_out.fetch_add(1, std::memory_order_relaxed);
    return respond(json_error(408, "request_timeout", "request header not received in time"), AfterResponse::Close);
  }
  if (error == http::error::header_limit || error == http::error::buffer_overflow) {
    context_->bad_requests.fetch_add(1, std::memory_order_relaxed);
    return respond(json_error(431, "request_header_fields_too_large", "request header is larger than the limit"),
                   AfterResponse::Close);
  }
  if (client_gone(error)) return close_now();
  context_->bad_requests.fetch_add(1, std::memory_order_relaxed);
  respond(json_error(400, "bad_request", "malformed request: " + error.message()), AfterResponse::Close);
}

void MonitoringSession::handle_request() {
  const auto& request = parser_->get();
  const bool has_body = parser_->chunked() || parser_->content_length().value_or(0) > 0;
  const bool head_request = request.method() == http::verb::head;
  if (has_body && (head_request || request.method() == http::verb::get)) {
    context_->bad_requests.fetch_add(1, std::memory_order_relaxed);
    return respond(json_error(400, "bad_request", "a GET or HEAD request must not have a body"),
                   AfterResponse::Close, head_request);
  }
  // HTTP/1.0 closes even when it asks for keep-alive; a body we did not read ends the connection.
  const auto after = request.version() >= 11 && request.keep_alive() && !has_body ? AfterResponse::KeepAlive
                                                                                   : AfterResponse::Close;
  if (auto refusal = refuse_without_token()) {
    // Closed after the answer: a client guessing tokens or paths pays a new connection for each
    // try, and holds no slot while it thinks.
    return respond(std::move(*refusal), AfterResponse::Close, head_request);
  }
  MonitoringResponse answer = call_handler(request.method_string(), request.target());
  const bool probing = answer.status == 404 || answer.status == 405;  // unknown paths or methods
  respond(std::move(answer), probing ? AfterResponse::Close : after, head_request);
}

std::optional<MonitoringResponse> MonitoringSession::refuse_without_token() {
  const auto& request = parser_->get();
  if (!context_->requires_token(request.target())) return std::nullopt;
  const auto unauthorized = [this] {
    context_->rejected_unauthorized.fetch_add(1, std::memory_order_relaxed);
    MonitoringResponse answer = json_error(401, "unauthorized", "missing or invalid X-Auth-Token");
    answer.headers.emplace_back("WWW-Authenticate", "Bearer");  // RFC 9110 11.6.1: a 401 names a scheme
    return answer;
  };
  const std::vector<std::string_view> tokens = presented_tokens(request);
  // No token at all is not a guess (a page before its user typed the token): not counted.
  if (tokens.empty()) return unauthorized();
  const auto now = std::chrono::steady_clock::now();
  if (const auto wait = context_->auth_failures.admit(client_address_, now); wait.count() > 0) {
    context_->rejected_rate_limited.fetch_add(1, std::memory_order_relaxed);
    const auto seconds = std::chrono::ceil<std::chrono::seconds>(wait).count();
    MonitoringResponse answer = json_error(
        429, "too_many_requests",
        "too many wrong tokens from this address: the next try is accepted in " + std::to_string(seconds) + " s");
    answer.headers.emplace_back("Retry-After", std::to_string(seconds));
    return answer;
  }
  const bool right = std::any_of(tokens.begin(), tokens.end(),
                                 [this](std::string_view token) { return context_->token_matches(token); });
  if (!right) return unauthorized();
  context_->auth_failures.refund(client_address_, now);
  return std::nullopt;
}

MonitoringResponse MonitoringSession::call_handler(std::string_view method, std::string_view target) {
  // Only the path is logged: the query is the client's, and headers (the token) never are.
  try {
    MonitoringResponse answer = context_->handler(MonitoringRequest{method, target});
    if (answer.status >= 100 && answer.status <= 999) {
      context_->requests_served.fetch_add(1, std::memory_order_relaxed);
      return answer;
    }
    spdlog::error("monitoring server: handler returned status {} for {} {}", answer.status, method, path_of(target));
  } catch (const std::exception& failure) {
    spdlog::error("monitoring server: handler failed for {} {}: {}", method, path_of(target), failure.what());
  } catch (...) {
    spdlog::error("monitoring server: handler failed for {} {} with a non-standard exception", method,
                  path_of(target));
  }
  context_->handler_failures.fetch_add(1, std::memory_order_relaxed);
  return json_error(500, "internal_error", "the request handler failed");
}

void MonitoringSession::respond(MonitoringResponse answer, AfterResponse after, bool head_request) {
  transition(State::Writing);
  after_response_ = after;
  response_ = {};
  response_.version(11);
  response_.result(answer.status);
  for (auto& [name, value] : answer.headers) response_.insert(name, value);
  response_.set(http::field::content_type, answer.content_type);
  response_.set(http::field::cache_control, "no-store");
  response_.keep_alive(after == AfterResponse::KeepAlive);
  // HEAD: GET's Content-Length, no body (the serializer writes whatever body() holds).
  response_.content_length(answer.body.size());
  if (!head_request) response_.body() = std::move(answer.body);
  stream_.expires_after(context_->options.write_timeout);
  auto on_write = [self = shared_from_this()](error_code error, std::size_t) { self->on_written(error); };
  with_stream([&](auto& stream) { http::async_write(stream, response_, on_write); });
}

void MonitoringSession::on_written(const error_code& error) {
  if (state_ == State::Closed) return;
  if (error) return close_now();
  if (after_response_ == AfterResponse::KeepAlive) return read_next_request();
  linger();
}

void MonitoringSession::linger() {
  transition(State::Lingering);
  stream_.expires_after(linger_limit);
  if (tls_stream_) {
    // close_notify, then wait for the client's (or its close): the same purpose as the TCP
    // linger below, and the client learns that the response was complete.
    tls_stream_->async_shutdown([self = shared_from_this()](error_code) { self->close_now(); });
    return;
  }
  error_code ignored;
  stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
  discard_until_closed();
}

void MonitoringSession::discard_until_closed() {
  buffer_.clear();
  stream_.async_read_some(buffer_.prepare(1024), [self = shared_from_this()](error_code error, std::size_t) {
    if (self->state_ == State::Closed) return;
    if (error) return self->close_now();  // the client closed, or linger_limit passed
    self->discard_until_closed();
  });
}

void MonitoringSession::close_now() {
  if (state_ == State::Closed) return;
  header_deadline_.cancel();
  stream_.close();
  // After the close, so that open_connections() == 0 means every socket is closed.
  transition(State::Closed);
}

}  // namespace securechannel::monitor
