#include "http/http_client_core.hpp"

#include "http/body_sink_writer.hpp"
#include "http/content_decoding.hpp"
#include "http/pending_request.hpp"
#include "securechannel/error.hpp"
#include "securechannel/http_request_check.hpp"

#include <boost/asio/append.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/http/field.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <string_view>
#include <utility>

namespace securechannel::detail {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;

namespace {

// Whether start() would send `request` unchanged (see its by-value overload), so that a shared
// one can go as it is: Accept-Encoding present when decoding, and prepare_payload() done.
bool ready_to_send(const HttpRequest& request, const HttpRequestOptions& options) {
  if (options.decode_content && request.find(http::field::accept_encoding) == request.end()) return false;
  if (options.body_source) return true;
  if (request.chunked()) return false;  // prepare_payload() sends a string body with its length
  const std::size_t size = request.body().size();
  const http::verb method = request.method();
  if (method == http::verb::trace && size > 0) return false;  // prepare_payload() refuses it
  // prepare_payload() sets a Content-Length for a body, and for an empty one of these methods.
  if (size == 0 && method != http::verb::post && method != http::verb::put && method != http::verb::options) {
    return true;
  }
  const auto length = request.find(http::field::content_length);
  if (length == request.end()) return false;
  std::array<char, 24> digits{};
  const auto written = std::to_chars(digits.data(), digits.data() + digits.size(), size).ptr;
  return length->value() == std::string_view(digits.data(), static_cast<std::size_t>(written - digits.data()));
}

}  // namespace

HttpClientCore::HttpClientCore(std::shared_ptr<SecureChannelPool> pool)
    : pool_(std::move(pool)),
      strand_(asio::make_strand(pool_->get_executor())),
      retry_policy_(pool_->config().random),
      deadline_timer_(strand_) {}

void HttpClientCore::start(HttpRequest&& request, HttpRequestOptions&& options, HttpClient::ResponseHandler&& handler,
                           bool on_pool_executor) {
  if (options.decode_content && request.find(http::field::accept_encoding) == request.end()) {
    request.set(http::field::accept_encoding, "gzip, deflate, br");
  }
  // With a body source the length is the caller's Content-Length or unknown, never the
  // (ignored) string body's.
  if (!options.body_source) request.prepare_payload();
  launch(std::make_shared<PendingRequest>(std::move(request), std::move(options), std::move(handler)),
         on_pool_executor);
}

void HttpClientCore::start(std::shared_ptr<const HttpRequest>&& request, HttpRequestOptions&& options,
                           HttpClient::ResponseHandler&& handler, bool on_pool_executor) {
  if (!ready_to_send(*request, options)) {
    return start(HttpRequest(*request), std::move(options), std::move(handler), on_pool_executor);
  }
  launch(std::make_shared<PendingRequest>(std::move(request), std::move(options), std::move(handler)),
         on_pool_executor);
}

void HttpClientCore::launch(PendingPointer pending, bool on_pool_executor) {
  pending->handler_on_pool_executor = on_pool_executor;
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  watch_cancellation(pending);
  if (auto problem = find_request_problem(pending->request())) {
    // Smuggling-shaped input never reaches a connection. Named here, once per request: the
    // error code alone cannot say which field it was.
    spdlog::warn("HttpClient: request refused (invalid_request): {}", *problem);
    post_on_strand(strand_, [self = shared_from_this(), pending = std::move(pending)] {
      self->complete(pending, errc::invalid_request);
    });
    return;
  }
  if (pending->options.affinity.key.size() > max_affinity_key_bytes) {
    post_on_strand(strand_, [self = shared_from_this(), pending = std::move(pending)] {
      self->complete(pending, errc::affinity_key_too_long);
    });
    return;
  }
  // HTTP/1.1 needs nothing of the strand: the request goes out from here, on the caller's
  // thread. Nothing completes inside this call (a failed write, like the pool's failures, is
  // posted), except a body source's first read, so requests with callbacks take the strand.
  if (protocol_.load(std::memory_order_relaxed) == HttpProtocol::http1_1 && !shut_down_ && !pending->has_callbacks()) {
    return begin(pending);
  }
  post_on_strand(strand_, [self = shared_from_this(), pending = std::move(pending)] {
    if (self->shut_down_) return self->complete(pending, asio::error::operation_aborted);
    self->begin(pending);
  });
}

void HttpClientCore::begin(const PendingPointer& pending) {
  watch_deadline(pending);
  // Posted here by launch() (or the caller runs on the strand): no second hop through it.
  if (strand_.running_in_this_thread()) {
    if (!pending->done) dispatch(pending);
    return;
  }
  dispatch_anywhere(pending);
}

void HttpClientCore::dispatch_anywhere(const PendingPointer& pending) {
  if (protocol_.load(std::memory_order_relaxed) == HttpProtocol::http1_1) {
    ++pending->attempts;
    return acquire_for_http1(pending);
  }
  post_on_strand(strand_, [self = shared_from_this(), pending] {
    if (!pending->done) self->dispatch(pending);
  });
}

void HttpClientCore::dispatch(const PendingPointer& pending) {
  ++pending->attempts;
  if (protocol_.load(std::memory_order_relaxed) == HttpProtocol::http1_1) return acquire_for_http1(pending);
  // HTTP/2, or not known yet: wait for a stream slot (or for the first connection to tell).
  if (try_http2_slot(pending)) return;
  pending->waiting = true;
  waiting_.push_back(pending);
  open_http2_connection_if_needed();
}

void HttpClientCore::abandon(const PendingPointer& pending, error_code error) {
  if (pending->done.exchange(true)) return;  // it completed meanwhile
  {
    // An HTTP/1.1 exchange in progress ends with an error once its connection is cut (and an
    // attempt about to start sees `done` under this lock and does not).
    std::lock_guard lock(pending->lease_mutex);
    if (pending->lease) pending->lease.abort();
    if (pending->acquiring) pending->acquire_cancel.emit(asio::cancellation_type::terminal);
  }
  deliver(pending, error, HttpResponse{});
}

void HttpClientCore::complete(const PendingPointer& pending, error_code error) {
  complete(pending, error, HttpResponse{});
}

void HttpClientCore::complete(const PendingPointer& pending, error_code error, HttpResponse&& response) {
  if (pending->done.exchange(true)) return;
  deliver(pending, error, std::move(response));
}

void HttpClientCore::deliver(const PendingPointer& pending_reference, error_code error, HttpResponse&& response) {
  // Our own reference: the caller's may be an element of waiting_ or watched_, both erased below.
  const PendingPointer pending = pending_reference;
  unwatch_deadline(*pending);
  if (pending->waiting) {
    waiting_.erase(std::find(waiting_.begin(), waiting_.end(), pending));
    pending->waiting = false;
  }
  if (pending->has_callbacks()) {
    std::lock_guard lock(pending->callbacks_mutex);  // waits for a callback in progress
    pending->callbacks_closed = true;
  }
  (error ? failed_requests_ : requests_).fetch_add(1, std::memory_order_relaxed);
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  HttpClient::ResponseHandler handler = std::move(pending->handler);
  // Never inline from async_request: no path completes inside start(). This thread is one of the
  // pool's executor's, where a handler without an executor of its own belongs: what dispatch
  // would do, without its type-erased executor and work tracking.
  if (pending->handler_on_pool_executor) return std::move(handler)(error, std::move(response));
  auto executor = asio::get_associated_executor(handler, pool_->get_executor());
  asio::dispatch(executor, asio::append(std::move(handler), error, std::move(response)));
}

void HttpClientCore::note_attempt(PendingRequest& pending, std::uint64_t connection_id, bool reused,
                                  HttpProtocol protocol, AffinityOutcome affinity) {
  HttpExchangeInfo& exchange = pending.exchange;
  exchange.connection_id = connection_id;
  exchange.affinity = affinity;
  exchange.reused = reused;
  exchange.protocol = protocol;
  exchange.attempts = static_cast<unsigned>(pending.attempts);
  exchange.acquire_time =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - pending.started);
}

void HttpClientCore::complete_with_response(const PendingPointer& pending, HttpResponse&& response, bool reused) {
  if (pending->done) return;
  if (reused) requests_reused_.fetch_add(1, std::memory_order_relaxed);
  // The protocol code timed the first byte from the attempt's start on its connection.
  const std::chrono::microseconds first_byte_on_connection = response.exchange.time_to_first_byte;
  response.exchange = pending->exchange;
  response.exchange.time_to_first_byte = pending->exchange.acquire_time + first_byte_on_connection;
  response.exchange.total_time =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - pending->started);
  if (pending->user_sink) {
    // The body went to the sink, decoded by the protocol code when asked: its framing fields
    // describe bytes the caller never saw.
    if (pending->options.decode_content &&
        BodySinkWriter::coding_of(response.base(), true) != ContentCoding::identity) {
      response.erase(http::field::content_encoding);
      response.erase(http::field::content_length);
    }
  } else if (pending->options.decode_content) {
    const auto coding_field = response.find(http::field::content_encoding);
    const ContentCoding coding =
        coding_field == response.end() ? ContentCoding::identity : parse_content_coding(coding_field->value());
    if (coding != ContentCoding::identity) {
      std::string decoded;
      if (error_code error = decode_content(coding, response.body(), pending->options.max_response_body, decoded)) {
        return complete(pending, error);
      }
      response.body() = std::move(decoded);
      response.erase(http::field::content_encoding);
      response.content_length(response.body().size());
    }
  }
  complete(pending, {}, std::move(response));
}

void HttpClientCore::retry_or_fail(const PendingPointer& pending, const error_code& error, bool reused,
                                   bool response_started) {
  if (pending->done) return;
  const FailedAttempt attempt{
      .error = error,
      .reused = reused,
      .response_started = response_started,
      .attempts = pending->attempts,
      .method_replayable = is_idempotent(pending->request().method()) || pending->options.replay_non_idempotent,
      .body_source = static_cast<bool>(pending->user_source),
      .callbacks_used = pending->callbacks_used.load(std::memory_order_relaxed)};
  if (shut_down_) return complete(pending, RetryPolicy::error_reported(attempt));
  const RetryDecision next = retry_policy_.after(attempt);
  switch (next.action) {
    case RetryAction::give_up:
      return complete(pending, next.error);
    case RetryAction::send_again:
      retries_.fetch_add(1, std::memory_order_relaxed);
      return dispatch_anywhere(pending);
    case RetryAction::send_again_later:
      retries_.fetch_add(1, std::memory_order_relaxed);
      return dispatch_after(pending, next.delay);
  }
}

void HttpClientCore::dispatch_after(const PendingPointer& pending, std::chrono::milliseconds delay) {
  auto timer = std::make_shared<asio::steady_timer>(strand_, delay);
  timer->async_wait([self = shared_from_this(), pending, timer](error_code) {
    if (!pending->done && !self->shut_down_) self->dispatch_anywhere(pending);
  });
}

namespace {

// The shutdown, run on the core's strand. A stream in flight holds its handler, which holds the
// core, which holds the stream's session: a cycle only the shutdown breaks (it ends the streams).
// When the io_context is destroyed before the shutdown ran, Asio destroys it uncalled; it then
// lets go of the sessions instead, so that the sessions, the core and the pool are freed with
// the io_context's other pending operations.
class ShutdownOnStrand {
 public:
  ShutdownOnStrand(std::shared_ptr<HttpClientCore> core, bool abort_streams)
      : core_(std::move(core)), abort_streams_(abort_streams) {}
  ShutdownOnStrand(ShutdownOnStrand&& other) noexcept
      : core_(std::move(other.core_)), abort_streams_(other.abort_streams_) {}
  ShutdownOnStrand& operator=(ShutdownOnStrand&&) = delete;
  ~ShutdownOnStrand() {
    if (core_) core_->abandon_sessions();
  }

  void operator()() { std::exchange(core_, nullptr)->shutdown_on_strand(abort_streams_); }

 private:
  std::shared_ptr<HttpClientCore> core_;
  bool abort_streams_;
};

}  // namespace

void HttpClientCore::shutdown(bool abort_streams) {
  asio::post(strand_, ShutdownOnStrand(shared_from_this(), abort_streams));
}

void HttpClientCore::shutdown_on_strand(bool abort_streams) {
  shut_down_ = true;
  std::deque<PendingPointer> waiting;
  waiting.swap(waiting_);
  for (const auto& pending : waiting) {
    pending->waiting = false;
    complete(pending, asio::error::operation_aborted);
  }
  http2_.shutdown(abort_streams);
}

void HttpClientCore::abandon_sessions() noexcept {
  // Released here, outside the list's lock: the last reference to a session may be this one.
  const std::vector<Http2Connections::SessionPointer> sessions = http2_.take_all();
}

HttpClientStats HttpClientCore::stats() const {
  HttpClientStats stats;
  stats.protocol = protocol_.load(std::memory_order_relaxed);
  stats.requests = requests_.load(std::memory_order_relaxed);
  stats.requests_on_reused_connections = requests_reused_.load(std::memory_order_relaxed);
  stats.failed_requests = failed_requests_.load(std::memory_order_relaxed);
  stats.retries = retries_.load(std::memory_order_relaxed);
  stats.requests_in_flight = in_flight_.load(std::memory_order_relaxed);
  http2_.add_to(stats);
  return stats;
}

}  // namespace securechannel::detail
