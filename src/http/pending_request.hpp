// PendingRequest: one HttpClient request from the call to its completion, across its attempts:
// the request, the caller's options, callbacks and handler, its deadline, and what the attempt in
// progress holds (an HTTP/1.1 lease, or an HTTP/2 session's stream).
#pragma once

#include "core/deadline.hpp"
#include "http/http2_session.hpp"
#include "securechannel/http_client.hpp"

#include <boost/asio/cancellation_signal.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

namespace securechannel::detail {

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
    // from then on a failed attempt is never sent again (RetryPolicy).
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
  boost::asio::cancellation_signal acquire_cancel;
  // HTTP/2: the session of the attempt in progress, so that a cancelled request resets its
  // stream there (strand only).
  std::weak_ptr<Http2Session> session;
  std::atomic<bool> done{false};  // completed: set once, by whichever completion came first
  int attempts = 0;       // sends so far; one attempt runs at a time
  bool waiting = false;   // in HttpClientCore::waiting_ (strand only; never during an HTTP/1.1 exchange)
  // HTTP/2 with an affinity key: waiting only for a slot on its key's full session, so neither
  // holding up the requests behind it nor calling for a new connection (strand only).
  bool waits_for_own_session = false;
  bool handler_on_pool_executor = false;  // no executor of its own: called on our strand
};

}  // namespace securechannel::detail
