// The state behind HttpClient: requests waiting for an HTTP/2 stream slot, the HTTP/2 sessions,
// the protocol learned from the first connection, and the counters. Everything but the counters
// and the session list (which stats() reads from any thread, under a mutex) is touched only on
// the core's strand.
#pragma once

#include "http/http2_session.hpp"
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
  void start(HttpRequest request, HttpRequestOptions options, HttpClient::ResponseHandler handler,
             bool on_pool_executor);
  void shutdown(bool abort_streams);
  HttpClientStats stats() const;
  const std::shared_ptr<SecureChannelPool>& pool() const noexcept { return pool_; }

 private:
  using PendingPointer = std::shared_ptr<PendingRequest>;

  void dispatch(const PendingPointer& pending);
  void on_deadline(const PendingPointer& pending);
  // Deadlines: one timer for all requests, set to the earliest deadline it knows of. A timer per
  // request would cost an allocation, a timer-queue insertion and a cancellation handler each.
  void watch_deadline(PendingRequest& pending);
  void unwatch_deadline(PendingRequest& pending);
  void arm_deadline_timer(std::chrono::steady_clock::time_point at);
  void on_deadline_timer();
  void complete(const PendingPointer& pending, boost::system::error_code error, HttpResponse response = {});
  void complete_with_response(const PendingPointer& pending, HttpResponse response, bool reused);
  // True when the failed attempt is sent again (and counted as a retry).
  bool retry_after(const PendingPointer& pending, const boost::system::error_code& error, bool reused,
                   bool response_started);

  // HTTP/1.1
  void acquire_for_http1(const PendingPointer& pending);
  void use_lease(const PendingPointer& pending, Lease lease);
  void run_http1(const PendingPointer& pending, Lease lease);

  // HTTP/2
  bool try_http2_slot(const PendingPointer& pending);
  void submit_stream(const std::shared_ptr<Http2Session>& session, const PendingPointer& pending);
  void open_http2_connection_if_needed();
  void on_discovery_lease(boost::system::error_code error, Lease lease);
  void start_session(Lease lease);
  void serve_waiting();
  void forget_closed_sessions();

  std::shared_ptr<SecureChannelPool> pool_;
  Strand strand_;
  std::atomic<HttpProtocol> protocol_{HttpProtocol::unknown};
  std::deque<PendingPointer> waiting_;  // for an HTTP/2 stream slot, or for the first connection
  std::vector<PendingPointer> watched_;  // requests in progress, each knowing its index here
  boost::asio::steady_timer deadline_timer_;
  std::chrono::steady_clock::time_point deadline_timer_at_{};  // time_point{} when not armed
  std::size_t connections_opening_ = 0;
  bool shut_down_ = false;

  mutable std::mutex sessions_mutex_;
  std::vector<std::shared_ptr<Http2Session>> sessions_;
  std::uint64_t goaways_of_closed_sessions_ = 0;

  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> requests_reused_{0};
  std::atomic<std::uint64_t> failed_requests_{0};
  std::atomic<std::uint64_t> retries_{0};
  std::atomic<std::size_t> in_flight_{0};
};

}  // namespace securechannel::detail
