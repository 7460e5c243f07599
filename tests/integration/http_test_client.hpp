// A blocking HTTP/1.1 client for the monitoring-server tests: sends raw bytes (so tests can be
// malformed on purpose), reads one response with Beast's parser, and tells whether the server
// closed the connection. Every wait is bounded: the operations run on a private io_context with
// run_for(), so a test that goes wrong fails instead of hanging.
//
//   HttpTestConnection connection(server->port());
//   HttpTestReply reply = connection.get("/metrics", {{"X-Auth-Token", "secret"}});
//   EXPECT_EQ(reply.result_int(), 200);
//   EXPECT_TRUE(connection.closed_by_server());
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace securechannel::testing {

using HttpTestReply = boost::beast::http::response<boost::beast::http::string_body>;
using HttpTestHeaders = std::vector<std::pair<std::string, std::string>>;

// "GET /path HTTP/1.1\r\nHost: ...\r\n<headers>\r\n"
inline std::string http_request(std::string_view method, std::string_view target, const HttpTestHeaders& headers = {},
                                std::string_view version = "HTTP/1.1") {
  std::string request = std::string(method) + " " + std::string(target) + " " + std::string(version) +
                         "\r\nHost: 127.0.0.1\r\n";
  for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
  return request + "\r\n";
}

class HttpTestConnection {
 public:
  explicit HttpTestConnection(std::uint16_t port, std::chrono::milliseconds limit = std::chrono::seconds(10))
      : socket_(io_), limit_(limit) {
    const boost::asio::ip::tcp::endpoint server(boost::asio::ip::make_address_v4("127.0.0.1"), port);
    run_bounded("connect", [&](auto done) { socket_.async_connect(server, [done](auto error) { done(error, 0); }); });
  }

  void send(std::string_view bytes) {
    run_bounded("write", [&](auto done) { boost::asio::async_write(socket_, boost::asio::buffer(bytes), done); });
  }

  // One response. `head_request`: the response to a HEAD, whose Content-Length announces no body.
  HttpTestReply read_reply(bool head_request = false) {
    boost::beast::http::response_parser<boost::beast::http::string_body> parser;
    parser.skip(head_request);
    parser.body_limit(1 << 20);
    run_bounded("read", [&](auto done) { boost::beast::http::async_read(socket_, buffer_, parser, done); });
    return parser.release();
  }

  HttpTestReply request(std::string_view method, std::string_view target, const HttpTestHeaders& headers = {}) {
    send(http_request(method, target, headers));
    return read_reply(method == "HEAD");
  }
  HttpTestReply get(std::string_view target, const HttpTestHeaders& headers = {}) {
    return request("GET", target, headers);
  }

  // True when the server closes (end of stream or reset) within the limit; false when data
  // arrives or nothing happens.
  bool closed_by_server() {
    if (buffer_.size() > 0) return false;
    char byte = 0;
    boost::system::error_code outcome;
    bool finished = false;
    socket_.async_read_some(boost::asio::buffer(&byte, 1), [&](boost::system::error_code error, std::size_t) {
      outcome = error;
      finished = true;
    });
    return run_until(finished) && outcome;
  }

  boost::asio::ip::tcp::socket& socket() { return socket_; }

 private:
  // Runs one operation that completes with (error_code, size_t); throws on error or timeout.
  template <class Start>
  void run_bounded(const char* what, Start&& start) {
    boost::system::error_code outcome;
    bool finished = false;
    start([&outcome, &finished](boost::system::error_code error, std::size_t) {
      outcome = error;
      finished = true;
    });
    if (!run_until(finished)) throw std::runtime_error(std::string(what) + ": no answer within the limit");
    if (outcome) throw boost::system::system_error(outcome, what);
  }

  // False on timeout. Then the socket is closed, so that the pending operation has completed
  // (aborted) before we return and nothing refers to the caller's stack any more.
  bool run_until(const bool& finished) {
    io_.restart();
    io_.run_for(limit_);
    if (finished) return true;
    boost::system::error_code ignored;
    socket_.close(ignored);
    io_.restart();
    io_.run();
    return false;
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  std::chrono::milliseconds limit_;
};

}  // namespace securechannel::testing
