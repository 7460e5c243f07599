// HTTP requests over a pool: HTTP/1.1 with keep-alive, or HTTP/2 with many streams per
// connection, chosen by what the upstream negotiates with ALPN (offer both with
// PoolBuilder::with_alpn({"h2", "http/1.1"})).
//
//   auto pool = securechannel::SecureChannelPool::builder("api.example.com:443")
//                   .with_alpn({"h2", "http/1.1"}).build(io.get_executor());
//   securechannel::HttpClient client(pool);
//   securechannel::HttpRequest request{boost::beast::http::verb::get, "/v1/ticker", 11};
//   request.set(boost::beast::http::field::host, "api.example.com");
//   client.async_request(std::move(request), {}, [](boost::system::error_code ec, securechannel::HttpResponse r) {
//     if (!ec) std::cout << r.result_int() << " " << r.body() << "\n";
//   });
//
// HTTP/1.1 takes a lease per request and gives the connection back for the next one when both
// sides keep it alive. HTTP/2 keeps its connections for itself: new streams go to a connection
// with a free slot (the peer's SETTINGS_MAX_CONCURRENT_STREAMS), another connection is opened only
// when all are full (up to the pool's max_connections), and a connection that received GOAWAY
// drains while new streams go elsewhere. A request that failed on a reused connection before any
// response byte is sent once more when that is safe (HttpRequestOptions::replay_non_idempotent).
//
// Thread-safety: all members may be called from any thread; handlers run on their associated
// executor (default: the pool's), never inside async_request.
#pragma once

#include "securechannel/http_client_stats.hpp"
#include "securechannel/http_message.hpp"
#include "securechannel/secure_channel_pool.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/system_executor.hpp>

#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace securechannel {

namespace detail {
class HttpClientCore;
}

class HttpClient {
 public:
  // Holds the caller's handler; the response is passed on by reference (by value, each layer of
  // the type erasure would move it once more) and reaches the caller's handler as its argument.
  using ResponseHandler = boost::asio::any_completion_handler<void(boost::system::error_code, HttpResponse&&)>;

  explicit HttpClient(std::shared_ptr<SecureChannelPool> pool);
  // Closes its HTTP/2 connections (streams in flight fail with operation_aborted); HTTP/1.1
  // requests in flight complete on their own, they hold their connections. When the executor
  // never runs again (its io_context is destroyed next), the handlers of requests in flight are
  // destroyed uncalled, as Asio does with every pending handler, and everything they held goes
  // with them.
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `request` and reads its response. Handler: void(boost::system::error_code, HttpResponse).
  // Errors: the pool's (acquire_timeout, circuit_open, certificate_verify_failed, ...),
  // request_timeout, request_not_replayed, response_too_large, content_decoding_failed,
  // http_protocol_error, stream_refused (after its retry), response_body_aborted (the
  // options' body_sink said stop), request_body_aborted (their body_source failed),
  // connection_closed and I/O errors.
  // Any HTTP status is a response, not an error.
  // Cancellation: a token with a cancellation slot (asio::bind_cancellation_slot) cancels the
  // request on a terminal or partial emit: the handler then gets operation_aborted at once, an
  // HTTP/1.1 request's connection is closed (the server may have seen the request), an HTTP/2
  // stream is reset with CANCEL and its connection kept. A late emit does nothing.
  template <class Token>
  auto async_request(HttpRequest request, HttpRequestOptions options, Token&& token) {
    return initiate(std::move(request), std::move(options), std::forward<Token>(token));
  }

  // The same for a request sent many times over (a poll of one endpoint): shared, read but never
  // copied or changed, so one request may be in flight on many calls at once. It goes out as it
  // is when nothing is left to add: prepare_payload() done, and an Accept-Encoding header when
  // the options decode content. Otherwise a copy is completed and sent, as by the overload above.
  // Throws std::invalid_argument for a null request.
  template <class Token>
  auto async_request(std::shared_ptr<const HttpRequest> request, HttpRequestOptions options, Token&& token) {
    if (!request) throw std::invalid_argument("HttpClient::async_request: the shared request is null");
    return initiate(std::move(request), std::move(options), std::forward<Token>(token));
  }
  // Sends GOAWAY on every HTTP/2 connection and lets their streams finish.
  void shutdown();

  HttpClientStats stats() const;
  const std::shared_ptr<SecureChannelPool>& pool() const noexcept;

 private:
  template <class Request, class Token>
  auto initiate(Request request, HttpRequestOptions options, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, HttpResponse)>(
        [this](auto handler, Request r, HttpRequestOptions o) {
          // A handler without an executor of its own runs on the pool's: the client completes
          // requests there already, so it is called directly rather than dispatched through a
          // type-erased executor (which costs a heap-held executor per request).
          constexpr bool on_pool_executor =
              std::is_same_v<boost::asio::associated_executor_t<std::decay_t<decltype(handler)>>,
                             boost::asio::system_executor>;
          start_request(std::move(r), std::move(o), ResponseHandler(std::move(handler)), on_pool_executor);
        },
        token, std::move(request), std::move(options));
  }

  void start_request(HttpRequest&& request, HttpRequestOptions&& options, ResponseHandler&& handler,
                     bool on_pool_executor);
  void start_request(std::shared_ptr<const HttpRequest>&& request, HttpRequestOptions&& options,
                     ResponseHandler&& handler, bool on_pool_executor);

  std::shared_ptr<detail::HttpClientCore> core_;
};

}  // namespace securechannel
