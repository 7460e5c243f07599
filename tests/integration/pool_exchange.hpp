// Request/response exchanges over a Lease, for the pool tests: an echo round trip, and an
// HTTP/1.1 keep-alive GET with a Content-Length body (enough for nginx's fixed responses).
#pragma once

#include "securechannel/lease.hpp"
#include "securechannel/stream_helpers.hpp"

#include <boost/asio/read_until.hpp>
#include <boost/asio/use_future.hpp>

#include <string>

namespace securechannel::testing {

// Writes `message` and reads the same number of bytes back. Throws system_error on failure.
inline std::string echo_exchange(Lease& lease, const std::string& message) {
  async_write_all(lease, boost::asio::buffer(message), boost::asio::use_future).get();
  std::string reply(message.size(), '\0');
  async_read_exact(lease, boost::asio::buffer(reply), boost::asio::use_future).get();
  return reply;
}

struct HttpReply {
  int status = 0;
  std::string body;
};

// One keep-alive GET. Throws system_error on I/O failure, runtime_error on a malformed reply.
inline HttpReply http_get(Lease& lease, const std::string& path = "/") {
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nUser-Agent: securechannel-test\r\n\r\n";
  async_write_all(lease, boost::asio::buffer(request), boost::asio::use_future).get();
  std::string buffer;
  const std::size_t header_end =
      boost::asio::async_read_until(lease, boost::asio::dynamic_buffer(buffer), "\r\n\r\n", boost::asio::use_future)
          .get();
  HttpReply reply;
  if (buffer.compare(0, 9, "HTTP/1.1 ") != 0) throw std::runtime_error("not an HTTP/1.1 response: " + buffer);
  reply.status = std::stoi(buffer.substr(9, 3));
  const auto length_at = buffer.find("Content-Length: ");
  if (length_at == std::string::npos || length_at > header_end) throw std::runtime_error("no Content-Length");
  const std::size_t length = std::stoul(buffer.substr(length_at + 16));
  reply.body = buffer.substr(header_end);
  if (reply.body.size() < length) {
    std::string rest(length - reply.body.size(), '\0');
    async_read_exact(lease, boost::asio::buffer(rest), boost::asio::use_future).get();
    reply.body += rest;
  }
  return reply;
}

}  // namespace securechannel::testing
