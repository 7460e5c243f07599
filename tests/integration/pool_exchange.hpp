// Request/response exchanges over a Lease, for the pool tests: an echo round trip, and an
// HTTP/1.1 keep-alive GET with a Content-Length body (enough for nginx's fixed responses).
#pragma once

#include "securechannel/secure_channel_pool.hpp"
#include "securechannel/stream_helpers.hpp"

#include <boost/asio/read_until.hpp>

#include <future>
#include <stdexcept>
#include <utility>
#include <string>

namespace securechannel::testing {


// Every wait here completes through a plain callback, which runs on the io_context's thread.
// (asio::use_future would run the operations' intermediate steps on Asio's system thread pool,
// where they could drop the last reference to a connection after the test's io_context is gone;
// and a future carrying an exception_ptr trips ThreadSanitizer on libstdc++'s reference count.)

// Runs one asynchronous operation that completes with (error_code, size_t); returns both.
template <class Operation>
std::pair<boost::system::error_code, std::size_t> complete(Operation&& start) {
  std::promise<std::pair<boost::system::error_code, std::size_t>> outcome;
  auto result = outcome.get_future();
  start([&outcome](boost::system::error_code error, std::size_t bytes) { outcome.set_value({error, bytes}); });
  return result.get();
}

template <class Operation>
boost::system::error_code operation_error(Operation&& start) {
  return complete(std::forward<Operation>(start)).first;
}

inline void throw_if(const boost::system::error_code& error, const char* what) {
  if (error) throw std::runtime_error(std::string(what) + ": " + error.message());
}

struct AcquireOutcome {
  boost::system::error_code error;
  Lease lease;
};

inline AcquireOutcome acquire_outcome(SecureChannelPool& pool) {
  std::promise<AcquireOutcome> outcome;
  auto result = outcome.get_future();
  pool.async_acquire([&outcome](boost::system::error_code error, Lease lease) {
    outcome.set_value({error, std::move(lease)});
  });
  return result.get();
}

inline boost::system::error_code acquire_error(SecureChannelPool& pool) { return acquire_outcome(pool).error; }

// A lease, or std::runtime_error naming the failure.
inline Lease acquire(SecureChannelPool& pool) {
  AcquireOutcome outcome = acquire_outcome(pool);
  throw_if(outcome.error, "acquire");
  return std::move(outcome.lease);
}

inline std::future<void> start_shutdown(SecureChannelPool& pool, std::chrono::milliseconds grace) {
  auto done = std::make_shared<std::promise<void>>();
  auto result = done->get_future();
  pool.async_shutdown(grace, [done](boost::system::error_code) { done->set_value(); });
  return result;
}

inline void shutdown(SecureChannelPool& pool, std::chrono::milliseconds grace) { start_shutdown(pool, grace).get(); }

struct PendingAcquire {
  std::future<boost::system::error_code> error;
  std::shared_ptr<Lease> lease = std::make_shared<Lease>();
};

// Starts an acquire and returns at once; the lease (if any) lands in `lease` before `error` is set.
inline PendingAcquire start_acquire(SecureChannelPool& pool) {
  PendingAcquire pending;
  auto outcome = std::make_shared<std::promise<boost::system::error_code>>();
  pending.error = outcome->get_future();
  pool.async_acquire([outcome, slot = pending.lease](boost::system::error_code error, Lease lease) {
    *slot = std::move(lease);
    outcome->set_value(error);
  });
  return pending;
}

// One echo round trip that reports failure as an error code.
inline boost::system::error_code echo_error(Lease& lease, const std::string& message) {
  if (auto error = operation_error([&](auto handler) { async_write_all(lease, boost::asio::buffer(message), handler); })) {
    return error;
  }
  std::string reply(message.size(), '\0');
  return operation_error([&](auto handler) { async_read_exact(lease, boost::asio::buffer(reply), handler); });
}

// Writes `message` and reads the same number of bytes back; std::runtime_error on failure.
inline std::string echo_exchange(Lease& lease, const std::string& message) {
  throw_if(operation_error([&](auto handler) { async_write_all(lease, boost::asio::buffer(message), handler); }),
           "write");
  std::string reply(message.size(), '\0');
  throw_if(operation_error([&](auto handler) { async_read_exact(lease, boost::asio::buffer(reply), handler); }),
           "read");
  return reply;
}

struct HttpReply {
  int status = 0;
  std::string body;
};

// One keep-alive GET. Throws system_error on I/O failure, runtime_error on a malformed reply.
inline HttpReply http_get(Lease& lease, const std::string& path = "/") {
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nUser-Agent: securechannel-test\r\n\r\n";
  throw_if(operation_error([&](auto handler) { async_write_all(lease, boost::asio::buffer(request), handler); }),
           "write");
  std::string buffer;
  const auto [read_error, header_end] = complete([&](auto handler) {
    boost::asio::async_read_until(lease, boost::asio::dynamic_buffer(buffer), "\r\n\r\n", handler);
  });
  throw_if(read_error, "read");
  HttpReply reply;
  if (buffer.compare(0, 9, "HTTP/1.1 ") != 0) throw std::runtime_error("not an HTTP/1.1 response: " + buffer);
  reply.status = std::stoi(buffer.substr(9, 3));
  const auto length_at = buffer.find("Content-Length: ");
  if (length_at == std::string::npos || length_at > header_end) throw std::runtime_error("no Content-Length");
  const std::size_t length = std::stoul(buffer.substr(length_at + 16));
  reply.body = buffer.substr(header_end);
  if (reply.body.size() < length) {
    std::string rest(length - reply.body.size(), '\0');
    throw_if(operation_error([&](auto handler) { async_read_exact(lease, boost::asio::buffer(rest), handler); }),
             "read");
    reply.body += rest;
  }
  return reply;
}

}  // namespace securechannel::testing
