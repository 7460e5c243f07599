#include "http/http_client_core.hpp"

#include "core/deadline.hpp"
#include "http/body_sink_writer.hpp"
#include "http/content_decoding.hpp"
#include "http/http1_exchange.hpp"
#include "securechannel/error.hpp"
#include "securechannel/http_request_check.hpp"

#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/bind_executor.hpp>
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

struct PendingRequest {
  PendingRequest(HttpRequest&& r, HttpRequestOptions&& o, HttpClient::ResponseHandler&& h)
      : PendingRequest(std::move(o), std::move(h)) {
    owned_request = std::move(r);
  }
  PendingRequest(std::shared_ptr<const HttpRequest>&& r, HttpRequestOptions&& o, HttpClient::ResponseHandler&& h)
      : PendingRequest(std::move(o), std::move(h)) {
    shared_request = std::move(r);
  }
  PendingRequest(HttpRequestOptions&& o, HttpClient::ResponseHandler&& h)
      : options(std::move(o)),
        started(std::chrono::steady_clock::now()),
        deadline(deadline_after(started, options.timeout)),
        handler(std::move(h)) {
    // The protocol code calls these stand-ins, which note that the caller's callbacks were used:
    // from then on a failed attempt is never sent again (retry_after).
    if (options.body_sink) {
      user_sink = std::move(options.body_sink);
      options.body_sink = [this](std::string_view piece) {
        std::lock_guard lock(callbacks_mutex);
        if (callbacks_closed) return false;  // completed meanwhile (its deadline): the caller moved on
        callbacks_used.store(true, std::memory_order_relaxed);
        return user_sink(piece);
      };
    }
    if (options.body_source) {
      user_source = std::move(options.body_source);
      options.body_source = [this](std::span<char> buffer) -> std::optional<std::size_t> {
        std::lock_guard lock(callbacks_mutex);
        if (callbacks_closed) return std::nullopt;
        callbacks_used.store(true, std::memory_order_relaxed);
        return user_source(buffer);
      };
    }
  }
  PendingRequest(const PendingRequest&) = delete;  // the stand-ins point at this object
  PendingRequest& operator=(const PendingRequest&) = delete;

  bool has_callbacks() const noexcept { return user_sink || user_source; }
  const HttpRequest& request() const noexcept { return shared_request ? *shared_request : owned_request; }

  // The request sent: the caller's own, or one shared with other calls (never changed).
  HttpRequest owned_request;
  std::shared_ptr<const HttpRequest> shared_request;
  HttpRequestOptions options;
  HttpBodySink user_sink;
  HttpBodySource user_source;
  // Set by the stand-ins, on the connection's strand (an HTTP/2 session's is not ours): a body
  // reached the sink or was taken from the source, so this request cannot be replayed.
  std::atomic<bool> callbacks_used{false};
  // The callbacks are never called once complete() has begun to hand the outcome over, nor
  // while it does: an HTTP/2 session may still be busy with the stream when our deadline
  // completes the request.
  std::mutex callbacks_mutex;
  bool callbacks_closed = false;  // under callbacks_mutex
  std::chrono::steady_clock::time_point started;  // the async_request call
  std::chrono::steady_clock::time_point deadline;
  HttpClient::ResponseHandler handler;
  // The attempt in progress: its connection and how long the request waited for it. Written when
  // the attempt gets its connection, read when it completes (one attempt runs at a time).
  HttpExchangeInfo exchange;
  std::size_t watch_index = 0;  // in HttpClientCore::watched_, under its deadlines_mutex_
  // HTTP/1.1: the connection of the attempt in progress. The deadline (on the strand) aborts it
  // while the exchange may be finishing on another thread: the handle is set and cleared under
  // lease_mutex; the exchange itself only reads it.
  std::mutex lease_mutex;
  Lease lease;
  // HTTP/1.1: whether the attempt is waiting in the pool's line for a connection (under
  // lease_mutex), and how abandon() takes it out of the line: otherwise a cancelled or timed-out
  // request would hold its place, and be handed a connection it no longer wants.
  bool acquiring = false;
  asio::cancellation_signal acquire_cancel;
  // HTTP/2: the session of the attempt in progress, so that a cancelled request resets its
  // stream there (strand only).
  std::weak_ptr<Http2Session> session;
  std::atomic<bool> done{false};  // completed: set once, by whichever completion came first
  int attempts = 0;       // sends so far; one attempt runs at a time
  bool waiting = false;   // in HttpClientCore::waiting_ (strand only; never during an HTTP/1.1 exchange)
  bool handler_on_pool_executor = false;  // no executor of its own: called on our strand
};

namespace {

// A refused HTTP/2 stream was never processed, so sending it again is always safe. A server that
// closes connections after a few streams (nginx's keepalive_requests) refuses a burst's tail on
// each, so a stream may be refused by several connections in a row; the bound stops a server
// that refuses everything from costing more than a handful of connections per request.
constexpr int max_attempts_when_refused = 16;
// The waits between those attempts: uniform(0, min(1 s, 25 ms * 2^(n-1))) before the (n+1)-th.
constexpr std::chrono::milliseconds refused_backoff_base{25};
constexpr std::chrono::milliseconds refused_backoff_max{1000};

// Failures that say the connection was gone rather than that the server answered badly.
bool connection_failure(const error_code& error) {
  return error == errc::connection_closed || error == asio::error::eof || error == asio::error::connection_reset ||
         error == asio::error::broken_pipe || error == asio::error::not_connected ||
         error == asio::error::connection_aborted || error == errc::protocol_error;
}

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

// What a failed attempt that is not sent again reports: request_not_replayed when only its
// method, or its body source that cannot be rewound, kept it from going again (see retry_after).
error_code error_not_sent_again(const PendingRequest& pending, const error_code& error, bool reused,
                                bool response_started) {
  const bool not_replayable =
      (!is_idempotent(pending.request().method()) && !pending.options.replay_non_idempotent) || pending.user_source;
  const bool unsafe_to_replay = reused && !response_started && connection_failure(error) && not_replayable;
  return unsafe_to_replay ? error_code(errc::request_not_replayed) : error;
}

}  // namespace

HttpClientCore::HttpClientCore(std::shared_ptr<SecureChannelPool> pool)
    : pool_(std::move(pool)),
      strand_(asio::make_strand(pool_->get_executor())),
      posting_strand_(asio::require(strand_, asio::execution::blocking.never)),
      refused_backoff_(refused_backoff_base, refused_backoff_max, pool_->config().random),
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
    posting_strand_.execute([self = shared_from_this(), pending = std::move(pending)] {
      self->complete(pending, errc::invalid_request);
    });
    return;
  }
  // HTTP/1.1 needs nothing of the strand: the request goes out from here, on the caller's
  // thread. Nothing completes inside this call (a failed write, like the pool's failures, is
  // posted), except a body source's first read, so requests with callbacks take the strand.
  if (protocol_.load(std::memory_order_relaxed) == HttpProtocol::http1_1 && !shut_down_ && !pending->has_callbacks()) {
    return begin(pending);
  }
  posting_strand_.execute([self = shared_from_this(), pending = std::move(pending)] {
    if (self->shut_down_) return self->complete(pending, asio::error::operation_aborted);
    self->begin(pending);
  });
}

void HttpClientCore::begin(const PendingPointer& pending) {
  watch_deadline(pending);
  dispatch_anywhere(pending);
}

void HttpClientCore::watch_deadline(const PendingPointer& pending) {
  std::lock_guard lock(deadlines_mutex_);
  watched_.push_back(pending);
  pending->watch_index = watched_.size() - 1;
  // Requests with one timeout arrive in deadline order, so this rarely moves the timer.
  if (deadline_timer_at_ == std::chrono::steady_clock::time_point{} || pending->deadline < deadline_timer_at_) {
    arm_deadline_timer(pending->deadline);
  }
}

void HttpClientCore::unwatch_deadline(PendingRequest& pending) {
  std::lock_guard lock(deadlines_mutex_);
  if (watched_.empty() || watched_[pending.watch_index].get() != &pending) return;
  // Swap with the last: O(1), and the timer keeps its time (it re-reads the list when it fires).
  std::swap(watched_[pending.watch_index], watched_.back());
  watched_[pending.watch_index]->watch_index = pending.watch_index;
  watched_.pop_back();
  if (watched_.empty() && deadline_timer_at_ != std::chrono::steady_clock::time_point{}) {
    // Nothing left to time: a pending wait would keep the caller's io_context running.
    deadline_timer_at_ = {};
    deadline_timer_.cancel();
  }
}

void HttpClientCore::arm_deadline_timer(std::chrono::steady_clock::time_point at) {
  deadline_timer_at_ = at;
  deadline_timer_.expires_at(at);
  // Weakly held: the timer must not keep a client alive for a whole timeout after its owner left.
  deadline_timer_.async_wait([weak = weak_from_this(), at](error_code error) {
    const auto self = weak.lock();
    if (error || !self) return;  // cancelled
    self->on_deadline_timer(at);
  });
}

void HttpClientCore::on_deadline_timer(std::chrono::steady_clock::time_point fired_at) {
  std::vector<PendingPointer> expired;
  auto earliest = std::chrono::steady_clock::time_point::max();
  {
    std::lock_guard lock(deadlines_mutex_);
    if (deadline_timer_at_ != fired_at) return;  // re-armed earlier meanwhile
    deadline_timer_at_ = {};
    const auto now = std::chrono::steady_clock::now();
    for (const auto& pending : watched_) {
      if (pending->deadline <= now) {
        expired.push_back(pending);
      } else {
        earliest = std::min(earliest, pending->deadline);
      }
    }
  }
  for (const auto& pending : expired) on_deadline(pending);
  std::lock_guard lock(deadlines_mutex_);
  if (earliest == std::chrono::steady_clock::time_point::max() || watched_.empty()) return;
  // A request that began meanwhile armed the timer for its own deadline, which may be later
  // than `earliest` (a 50 ms request left waiting behind a new 20 s one): the earlier one wins.
  const bool armed_meanwhile = deadline_timer_at_ != std::chrono::steady_clock::time_point{};
  if (!armed_meanwhile || earliest < deadline_timer_at_) arm_deadline_timer(earliest);
}

void HttpClientCore::dispatch_anywhere(const PendingPointer& pending) {
  if (protocol_.load(std::memory_order_relaxed) == HttpProtocol::http1_1) {
    ++pending->attempts;
    return acquire_for_http1(pending);
  }
  posting_strand_.execute([self = shared_from_this(), pending] {
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

void HttpClientCore::on_deadline(const PendingPointer& pending) {
  // An HTTP/2 stream has the same deadline inside its session, which resets it there and asks
  // the connection for a PING (a stalled stream may be a stalled connection).
  abandon(pending, errc::request_timeout);
}

void HttpClientCore::watch_cancellation(const PendingPointer& pending) {
  asio::cancellation_slot slot = asio::get_associated_cancellation_slot(pending->handler);
  if (!slot.is_connected()) return;
  // Weak references: the slot is never cleared (it belongs to the caller's signal, which may be
  // gone by the time the request completes), so a late emit must find nothing to do.
  slot.assign([core = weak_from_this(), weak_pending = std::weak_ptr<PendingRequest>(pending)](
                  asio::cancellation_type type) {
    if ((type & (asio::cancellation_type::terminal | asio::cancellation_type::partial)) ==
        asio::cancellation_type::none) {
      return;
    }
    auto self = core.lock();
    auto cancelled = weak_pending.lock();
    if (!self || !cancelled) return;
    // From the emitting thread, whichever it is: the request's state lives on the strand.
    self->posting_strand_.execute([self, cancelled] { self->cancel(cancelled); });
  });
}

void HttpClientCore::cancel(const PendingPointer& pending) {
  if (pending->done) return;
  // Reset now: the stream's own deadline would reset it only at the request's deadline.
  if (auto session = pending->session.lock()) session->cancel_stream(pending->request());
  abandon(pending, asio::error::operation_aborted);
}

void HttpClientCore::abandon(const PendingPointer& pending, error_code error) {
  if (pending->done.exchange(true)) return;  // it completed meanwhile
  {
    // An HTTP/1.1 exchange in progress ends with an error once its connection is cut (and an
    // attempt about to start sees `done` under this lock and does not).
    std::lock_guard lock(pending->lease_mutex);
    if (pending->lease) pending->lease.channel().abort();
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
                                  HttpProtocol protocol) {
  HttpExchangeInfo& exchange = pending.exchange;
  exchange.connection_id = connection_id;
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

bool HttpClientCore::retry_after(const PendingPointer& pending, const error_code& error, bool reused,
                                 bool response_started) {
  if (pending->done || shut_down_) return false;
  // Part of the response body is in the caller's hands already (sending the request again would
  // hand them the start of another response after it), or the request body source was read
  // (it cannot be rewound).
  if (pending->callbacks_used.load(std::memory_order_relaxed)) return false;
  if (error == errc::stream_refused) {
    if (pending->attempts >= max_attempts_when_refused) return false;
    // The first refusal is usually a graceful GOAWAY: the next connection serves. A server that
    // refuses again and again is not met with a connection per round trip (Go's Transport backs
    // off the same way): later sends wait, with full jitter.
    if (pending->attempts >= 2) {
      retries_.fetch_add(1, std::memory_order_relaxed);
      dispatch_after(pending, refused_backoff_.delay_after(static_cast<unsigned>(pending->attempts - 1)));
      return true;
    }
  } else {
    // A connection that had served before may have been closed by the server meanwhile (its
    // keep-alive timeout): the request never reached it. Once, and only when nothing came back.
    if (!reused || response_started || pending->attempts > 1 || !connection_failure(error)) return false;
    if (!is_idempotent(pending->request().method()) && !pending->options.replay_non_idempotent) return false;
  }
  retries_.fetch_add(1, std::memory_order_relaxed);
  dispatch_anywhere(pending);
  return true;
}

void HttpClientCore::dispatch_after(const PendingPointer& pending, std::chrono::milliseconds delay) {
  auto timer = std::make_shared<asio::steady_timer>(strand_, delay);
  timer->async_wait([self = shared_from_this(), pending, timer](error_code) {
    if (!pending->done && !self->shut_down_) self->dispatch_anywhere(pending);
  });
}

// ---- HTTP/1.1 ---------------------------------------------------------------------------------

void HttpClientCore::acquire_for_http1(const PendingPointer& pending) {
  // An idle connection at hand is taken at once, on this thread: the asynchronous path costs a
  // handler allocation and a completion posted through the pool's executor, per request.
  if (std::optional<Lease> idle = pool_->try_acquire()) return use_lease(pending, std::move(*idle));
  // Under lease_mutex, which abandon() takes to cancel: the cancellation slot is connected before
  // anyone can emit on it, and a request abandoned before this point does not join the line.
  std::lock_guard lock(pending->lease_mutex);
  if (pending->done) return;
  pending->acquiring = true;
  auto on_lease = [self = shared_from_this(), pending](error_code error, Lease lease) {
    {
      std::lock_guard acquired(pending->lease_mutex);
      pending->acquiring = false;
    }
    if (pending->done) return;  // abandoned meanwhile (its wait cancelled, or the lease goes back unused)
    if (error) return self->complete(pending, error);
    self->use_lease(pending, std::move(lease));
  };
  pool_->async_acquire(
      asio::bind_cancellation_slot(pending->acquire_cancel.slot(), asio::bind_executor(strand_, std::move(on_lease))));
}

void HttpClientCore::use_lease(const PendingPointer& pending, Lease lease) {
  if (lease.channel().negotiated_alpn() == "h2") {
    // The upstream speaks HTTP/2 after all (it changed, or the protocol was not known yet):
    // sessions live on the strand.
    protocol_.store(HttpProtocol::http2, std::memory_order_relaxed);
    asio::dispatch(strand_, [self = shared_from_this(), pending, lease = std::move(lease)]() mutable {
      self->start_session(std::move(lease));
      --pending->attempts;  // dispatch counts it again
      if (!pending->done) self->dispatch(pending);
    });
    return;
  }
  run_http1(pending, std::move(lease));
}

void HttpClientCore::run_http1(const PendingPointer& pending, Lease lease) {
  const bool reused = lease.reused();
  // Bytes may have come while the connection sat idle: a reply nobody asked for (a hostile or
  // broken server), or its close. The pool probes only connections idle longer than
  // validate_after_inactivity, and a request written now would take such a reply for its own.
  // One recv(MSG_PEEK) tells; nothing was sent yet, so any request may go on another connection.
  if (reused && lease.channel().probe_idle() != IdleHealth::healthy) {
    lease.mark_broken();
    lease.release();
    --pending->attempts;  // dispatch_anywhere counts it again
    return dispatch_anywhere(pending);
  }
  note_attempt(*pending, lease.connection_id(), reused, HttpProtocol::http1_1);
  {
    std::lock_guard lock(pending->lease_mutex);
    if (pending->done) return;  // timed out meanwhile: the lease goes back unused
    pending->lease = std::move(lease);
  }
  start_http1_exchange(
      pending->lease, pending->request(), pending->options,
      [self = shared_from_this(), pending, reused](Http1Outcome&& outcome) {
        Lease finished;
        {
          std::lock_guard lock(pending->lease_mutex);
          finished = std::move(pending->lease);
        }
        finished.release();  // marked broken by the exchange unless it can serve again
        if (pending->done) return;
        if (outcome.error) {
          if (self->retry_after(pending, outcome.error, reused, outcome.response_started)) return;
          return self->complete(pending,
                                error_not_sent_again(*pending, outcome.error, reused, outcome.response_started));
        }
        outcome.response.exchange.time_to_first_byte = outcome.time_to_first_byte;
        self->complete_with_response(pending, std::move(outcome.response), reused);
      });
}

// ---- HTTP/2 -----------------------------------------------------------------------------------

bool HttpClientCore::try_http2_slot(const PendingPointer& pending) {
  std::shared_ptr<Http2Session> chosen;
  {
    std::lock_guard lock(sessions_mutex_);
    // Fill connections in order: a new one opens only when every existing one is full.
    for (const auto& session : sessions_) {
      if (session->try_reserve_stream()) {
        chosen = session;
        break;
      }
    }
  }
  if (!chosen) return false;
  submit_stream(chosen, pending);
  return true;
}

void HttpClientCore::submit_stream(const std::shared_ptr<Http2Session>& session, const PendingPointer& pending) {
  const bool reused = session->streams_started() > 0;
  pending->session = session;
  note_attempt(*pending, session->connection_id(), reused, HttpProtocol::http2);
  // Shared with the pending request, not copied (a refused stream is sent again from it).
  session->submit(std::shared_ptr<const HttpRequest>(pending, &pending->request()), pending->options, pending->deadline,
                  asio::bind_executor(strand_, [self = shared_from_this(), pending, reused](
                                                   error_code error, HttpResponse response, bool response_started) {
                    self->serve_waiting();  // a slot is free
                    if (pending->done) return;
                    if (error) {
                      if (self->retry_after(pending, error, reused, response_started)) return;
                      return self->complete(pending, error_not_sent_again(*pending, error, reused, response_started));
                    }
                    self->complete_with_response(pending, std::move(response), reused);
                  }));
}

void HttpClientCore::open_http2_connection_if_needed() {
  if (shut_down_ || waiting_.empty() || connections_opening_ > 0) return;
  forget_closed_sessions();  // a closed session no longer holds a pool connection
  std::size_t live = 0;
  {
    std::lock_guard lock(sessions_mutex_);
    // A draining session (GOAWAY, or its max_requests_per_connection streams reserved) takes no
    // more streams: its replacement is opened now, and the pool's acquire waits for capacity
    // when it is still holding the last connection allowed.
    live = static_cast<std::size_t>(std::count_if(sessions_.begin(), sessions_.end(),
                                                  [](const auto& session) { return session->accepts_new_streams(); }));
  }
  if (live >= pool_->limits().max_connections) return;  // wait for a slot to free up
  open_http2_connection();
}

void HttpClientCore::open_http2_connection() {
  ++connections_opening_;
  pool_->async_acquire(asio::bind_executor(strand_, [self = shared_from_this()](error_code error, Lease lease) {
    self->on_discovery_lease(error, std::move(lease));
  }));
}

void HttpClientCore::on_discovery_lease(error_code error, Lease lease) {
  --connections_opening_;
  if (shut_down_ || error) retire_replaced_sessions();  // no replacement: they drain anyway
  if (shut_down_) return;
  if (error) {
    // Waiting behind a draining session that still holds the last connection allowed (its long
    // stream not done yet): its close frees the place, and the requests keep their own deadlines.
    if (error == errc::acquire_timeout && draining_session_open()) return open_http2_connection_if_needed();
    // Like the pool: each failure answers the oldest caller; the others get their own attempt.
    if (!waiting_.empty()) complete(waiting_.front(), error);
    return open_http2_connection_if_needed();
  }
  if (lease.channel().negotiated_alpn() == "h2") {
    protocol_.store(HttpProtocol::http2, std::memory_order_relaxed);
    start_session(std::move(lease));
    retire_replaced_sessions();  // the new session takes their streams from now on
    serve_waiting();
    return open_http2_connection_if_needed();
  }
  // HTTP/1.1: every request takes its own connection from now on; this one serves the oldest.
  retire_replaced_sessions();
  protocol_.store(HttpProtocol::http1_1, std::memory_order_relaxed);
  std::deque<PendingPointer> waiting;
  waiting.swap(waiting_);
  for (const auto& pending : waiting) pending->waiting = false;
  bool first = true;
  for (const auto& pending : waiting) {
    if (pending->done) continue;
    if (first) {
      first = false;
      run_http1(pending, std::move(lease));
    } else {
      acquire_for_http1(pending);
    }
  }
}

void HttpClientCore::start_session(Lease lease) {
  // On our strand: a request goes from dispatch() into nghttp2, and a response from nghttp2 to
  // complete(), without crossing strands (each crossing is a post and a strand hand-off).
  Http2SessionOptions session_options;
  session_options.idle_ping_after = pool_->config().http2_ping_after;  // liveness: a blackholed peer
  session_options.ping_timeout = pool_->config().http2_ping_timeout;   // fails its streams in seconds
  session_options.max_streams = pool_->config().max_requests_per_connection;
  // The pool wants the connection back (max_lifetime, reload_tls, its shutdown): heard on the
  // strand, where the session is known by then (a listener called at once is posted too).
  auto known_as = std::make_shared<std::weak_ptr<Http2Session>>();
  lease.on_retire([core = weak_from_this(), known_as, strand = strand_] {
    asio::post(strand, [core, known_as] {
      if (auto self = core.lock()) self->on_retire_requested(known_as->lock());
    });
  });
  auto session = Http2Session::start(std::move(lease), std::move(session_options), strand_);
  *known_as = session;
  std::lock_guard lock(sessions_mutex_);
  sessions_.push_back(std::move(session));
}

void HttpClientCore::on_retire_requested(const std::shared_ptr<Http2Session>& session) {
  if (!session || session->is_closed() || session->retiring()) return;
  forget_closed_sessions();
  bool another_takes_streams = false;
  std::size_t sessions_open = 0;
  {
    std::lock_guard lock(sessions_mutex_);
    another_takes_streams = std::any_of(sessions_.begin(), sessions_.end(), [&](const auto& other) {
      return other != session && other->accepts_new_streams();
    });
    sessions_open = sessions_.size();
  }
  // The only session taking streams keeps taking them until its replacement is open: capacity
  // never drops to nothing while the replacement connects, and a request arriving meanwhile
  // does not wait for a handshake (a client between two requests is busy all the same). With
  // another session open, or no room for one more connection, it drains now.
  if (shut_down_ || another_takes_streams || sessions_open + connections_opening_ >= pool_->limits().max_connections) {
    return session->retire();
  }
  retire_when_replaced_.push_back(session);
  if (connections_opening_ > 0) return;  // the connection on its way replaces it
  open_http2_connection();
}

void HttpClientCore::retire_replaced_sessions() {
  for (const auto& replaced : std::exchange(retire_when_replaced_, {})) {
    if (auto session = replaced.lock()) session->retire();
  }
}

void HttpClientCore::serve_waiting() {
  while (!waiting_.empty()) {
    PendingPointer pending = waiting_.front();
    if (!try_http2_slot(pending)) break;
    pending->waiting = false;
    waiting_.pop_front();
  }
  open_http2_connection_if_needed();
}

bool HttpClientCore::draining_session_open() const {
  std::lock_guard lock(sessions_mutex_);
  return std::any_of(sessions_.begin(), sessions_.end(), [](const std::shared_ptr<Http2Session>& session) {
    return !session->is_closed() && !session->accepts_new_streams();
  });
}

void HttpClientCore::forget_closed_sessions() {
  std::lock_guard lock(sessions_mutex_);
  std::erase_if(sessions_, [this](const std::shared_ptr<Http2Session>& session) {
    if (!session->is_closed()) return false;
    goaways_of_closed_sessions_ += session->goaways_received();
    return true;
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
  std::lock_guard lock(sessions_mutex_);
  for (const auto& session : sessions_) abort_streams ? session->close() : session->shutdown();
}

void HttpClientCore::abandon_sessions() noexcept {
  std::vector<std::shared_ptr<Http2Session>> sessions;
  {
    std::lock_guard lock(sessions_mutex_);
    sessions.swap(sessions_);
  }
  // Released here, outside the lock: the last reference to a session may be this one.
}

HttpClientStats HttpClientCore::stats() const {
  HttpClientStats stats;
  stats.protocol = protocol_.load(std::memory_order_relaxed);
  stats.requests = requests_.load(std::memory_order_relaxed);
  stats.requests_on_reused_connections = requests_reused_.load(std::memory_order_relaxed);
  stats.failed_requests = failed_requests_.load(std::memory_order_relaxed);
  stats.retries = retries_.load(std::memory_order_relaxed);
  stats.requests_in_flight = in_flight_.load(std::memory_order_relaxed);
  std::lock_guard lock(sessions_mutex_);
  stats.goaways = goaways_of_closed_sessions_;
  for (const auto& session : sessions_) {
    stats.goaways += session->goaways_received();
    stats.http2_connections.push_back({.connection_id = session->connection_id(),
                                       .streams_in_flight = session->streams_in_flight(),
                                       .peer_max_concurrent_streams = session->peer_max_concurrent_streams(),
                                       .streams_started = session->streams_started(),
                                       .draining = !session->accepts_new_streams()});
  }
  return stats;
}

}  // namespace securechannel::detail
