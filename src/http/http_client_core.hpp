// The state behind HttpClient: requests waiting for an HTTP/2 stream slot, the HTTP/2 sessions,
// the protocol learned from the first connection, the deadlines, and the counters.
//
// Threads: the HTTP/2 sessions, the waiting requests and the discovery of the protocol live on
// the core's strand. An HTTP/1.1 request does not: once the protocol is known it starts on the
// caller's thread and completes on whichever thread of the pool's executor finished its
// response, without a hop through the strand (each hop is a post, a queue and a type-erased
// executor's work tracking). What those paths share is guarded instead: the deadline list by
// deadlines_mutex_, a request's lease by its lease_mutex, its completion by the atomic `done`;
// the counters are atomics and the session list has its own mutex.
//
// Files: http_client_core.cpp (a request from start to completion, retries),
// http_client_deadlines.cpp (its deadline and its caller's cancellation), http_client_http1.cpp
// and http_client_http2.cpp (an attempt over each protocol).
#pragma once

#include "core/strand_calls.hpp"
#include "http/http2_connections.hpp"
#include "http/retry_policy.hpp"
#include "securechannel/http_client.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

namespace securechannel::detail {

struct PendingRequest;

class HttpClientCore : public std::enable_shared_from_this<HttpClientCore> {
 public:
  using Strand = boost::asio::strand<boost::asio::any_io_executor>;

  explicit HttpClientCore(std::shared_ptr<SecureChannelPool> pool);

  // on_pool_executor: the handler has no executor of its own (HttpClient::async_request).
  void start(HttpRequest&& request, HttpRequestOptions&& options, HttpClient::ResponseHandler&& handler,
             bool on_pool_executor);
  void start(std::shared_ptr<const HttpRequest>&& request, HttpRequestOptions&& options,
             HttpClient::ResponseHandler&& handler, bool on_pool_executor);
  void shutdown(bool abort_streams);  // from any thread: runs on the strand
  void shutdown_on_strand(bool abort_streams);
  // Drops the references to the HTTP/2 sessions, for a shutdown destroyed before it could run
  // (the io_context went first): the sessions then live only as long as their own operations.
  void abandon_sessions() noexcept;
  HttpClientStats stats() const;
  const std::shared_ptr<SecureChannelPool>& pool() const noexcept { return pool_; }

 private:
  using PendingPointer = std::shared_ptr<PendingRequest>;

  void launch(PendingPointer pending, bool on_pool_executor);
  // Starts the deadline and the first attempt. Any thread for HTTP/1.1, else the strand.
  void begin(const PendingPointer& pending);
  // Sends an attempt: on this thread for HTTP/1.1, through the strand otherwise.
  void dispatch_anywhere(const PendingPointer& pending);
  void dispatch(const PendingPointer& pending);  // on the strand
  void on_deadline(const PendingPointer& pending);
  // The handler's cancellation slot, when it has one, cancels the request (terminal or partial
  // cancellation; total cannot be promised once a request may have been sent).
  void watch_cancellation(const PendingPointer& pending);
  void cancel(const PendingPointer& pending);  // on the strand; resets an HTTP/2 stream
  // Ends a request that has not completed with `error`; an HTTP/1.1 exchange's connection is
  // cut. On the strand.
  void abandon(const PendingPointer& pending, boost::system::error_code error);
  // Deadlines: one timer for all requests, set to the earliest deadline it knows of. A timer per
  // request would cost an allocation, a timer-queue insertion and a cancellation handler each.
  // watch/unwatch take deadlines_mutex_, arm_deadline_timer runs with it held, and the timer's
  // own handler runs on the strand and takes it.
  void watch_deadline(const PendingPointer& pending);
  void unwatch_deadline(PendingRequest& pending);
  void arm_deadline_timer(std::chrono::steady_clock::time_point at);
  void on_deadline_timer(std::chrono::steady_clock::time_point fired_at);
  // Any thread. The first completion of a request wins; later ones do nothing.
  void complete(const PendingPointer& pending, boost::system::error_code error);
  void complete(const PendingPointer& pending, boost::system::error_code error, HttpResponse&& response);
  void deliver(const PendingPointer& pending, boost::system::error_code error, HttpResponse&& response);
  void complete_with_response(const PendingPointer& pending, HttpResponse&& response, bool reused);
  // An attempt got its connection (HTTP/2: its stream): what the response's exchange will say.
  static void note_attempt(PendingRequest& pending, std::uint64_t connection_id, bool reused, HttpProtocol protocol,
                           AffinityOutcome affinity);
  // A failed attempt: sent again (and counted as a retry) as the RetryPolicy says, or the request
  // fails with what the policy says the caller is told.
  void retry_or_fail(const PendingPointer& pending, const boost::system::error_code& error, bool reused,
                     bool response_started);
  // Sends the request again after `delay` (on the strand), unless it completed meanwhile.
  void dispatch_after(const PendingPointer& pending, std::chrono::milliseconds delay);

  // HTTP/1.1
  void acquire_for_http1(const PendingPointer& pending);
  void use_lease(const PendingPointer& pending, Lease lease);
  void run_http1(const PendingPointer& pending, Lease lease);

  // HTTP/2
  bool try_http2_slot(const PendingPointer& pending);
  void submit_stream(const std::shared_ptr<Http2Session>& session, const PendingPointer& pending,
                     AffinityOutcome affinity);
  void open_http2_connection_if_needed();
  // Takes one more connection from the pool, for a session (counted in connections_opening_).
  void open_http2_connection();
  void on_discovery_lease(boost::system::error_code error, Lease lease);
  void start_session(Lease lease);
  // The pool asked a session's connection back (Lease::on_retire), for `reason`. On the strand.
  void on_retire_requested(const std::shared_ptr<Http2Session>& session, RetireReason reason);
  void serve_waiting();

  std::shared_ptr<SecureChannelPool> pool_;
  Strand strand_;  // posted to with post_on_strand (core/strand_calls.hpp): no type-erased query
  std::atomic<HttpProtocol> protocol_{HttpProtocol::unknown};
  RetryPolicy retry_policy_;
  std::deque<PendingPointer> waiting_;  // for an HTTP/2 stream slot, or for the first connection
  std::mutex deadlines_mutex_;
  std::vector<PendingPointer> watched_;  // requests in progress, each knowing its index here
  boost::asio::steady_timer deadline_timer_;
  std::chrono::steady_clock::time_point deadline_timer_at_{};  // time_point{} when not armed
  std::size_t connections_opening_ = 0;
  std::atomic<bool> shut_down_{false};
  Http2Connections http2_;

  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> requests_reused_{0};
  std::atomic<std::uint64_t> failed_requests_{0};
  std::atomic<std::uint64_t> retries_{0};
  std::atomic<std::size_t> in_flight_{0};
};

}  // namespace securechannel::detail
