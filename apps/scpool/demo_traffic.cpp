#include "demo_traffic.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/core.h>

#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>

namespace scpool {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

double percentile(std::vector<double>& values, double quantile) {
  if (values.empty()) return 0;
  const auto rank = static_cast<std::size_t>(quantile * static_cast<double>(values.size() - 1) + 0.5);
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(rank), values.end());
  return values[rank];
}

// A blocking socket to 127.0.0.1:port whose every read and write gives up after 10 s.
asio::ip::tcp::socket connect_bounded(asio::io_context& io, std::uint16_t port) {
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address_v4("127.0.0.1"), port});
  const timeval limit{10, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  return socket;
}

// Runs `client(index, share, result)` on `clients` threads and merges what they found.
template <class Client>
TrafficResult on_threads(std::size_t clients, std::size_t total, Client client) {
  clients = std::max<std::size_t>(1, std::min(clients, total));
  std::vector<TrafficResult> results(clients);
  std::vector<std::thread> threads;
  const auto started = Clock::now();
  for (std::size_t c = 0; c < clients; ++c) {
    const std::size_t share = total / clients + (c < total % clients ? 1 : 0);
    threads.emplace_back([&, c, share] {
      TrafficResult& result = results[c];
      result.round_trip_us.reserve(share);
      try {
        client(share, result);
      } catch (const std::exception& failure) {
        const std::size_t done = result.succeeded + result.failed;
        result.failed += share > done ? share - done : 0;
        if (result.first_error.empty()) result.first_error = failure.what();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  TrafficResult merged;
  for (TrafficResult& result : results) merged.add(std::move(result));
  merged.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return merged;
}

}  // namespace

void TrafficResult::add(TrafficResult&& other) {
  succeeded += other.succeeded;
  failed += other.failed;
  round_trip_us.insert(round_trip_us.end(), other.round_trip_us.begin(), other.round_trip_us.end());
  if (first_error.empty()) first_error = std::move(other.first_error);
}

std::string TrafficResult::summary() {
  std::string text = fmt::format("{} ok, {} failed in {:.2f} s", succeeded, failed, seconds);
  if (succeeded > 0) {
    text += fmt::format(" ({:.0f}/s); round trip p50 {:.1f} us, p95 {:.1f} us",
                        static_cast<double>(succeeded) / seconds, percentile(round_trip_us, 0.50),
                        percentile(round_trip_us, 0.95));
  }
  if (!first_error.empty()) text += "; first error: " + first_error;
  return text;
}

TrafficResult drive_tcp_echo(std::uint16_t port, std::size_t clients, std::size_t exchanges, std::size_t message_size) {
  return on_threads(clients, exchanges, [&](std::size_t share, TrafficResult& result) {
    asio::io_context io;
    asio::ip::tcp::socket socket = connect_bounded(io, port);
    const std::string message(message_size, 'x');
    std::string reply(message_size, '\0');
    for (std::size_t i = 0; i < share; ++i) {
      const auto started = Clock::now();
      asio::write(socket, asio::buffer(message));
      asio::read(socket, asio::buffer(reply));
      result.round_trip_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - started).count());
      if (reply == message) {
        ++result.succeeded;
      } else {
        ++result.failed;
      }
    }
  });
}

TrafficResult drive_http_gets(std::uint16_t port, std::size_t clients, std::size_t requests, const std::string& target) {
  return on_threads(clients, requests, [&](std::size_t share, TrafficResult& result) {
    asio::io_context io;
    asio::ip::tcp::socket socket = connect_bounded(io, port);
    http::request<http::empty_body> request{http::verb::get, target, 11};
    request.set(http::field::host, "localhost");
    boost::beast::flat_buffer buffer;
    for (std::size_t i = 0; i < share; ++i) {
      const auto started = Clock::now();
      http::write(socket, request);
      http::response<http::string_body> response;
      http::read(socket, buffer, response);
      result.round_trip_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - started).count());
      if (response.result_int() == 200) {
        ++result.succeeded;
      } else {
        ++result.failed;
        if (result.first_error.empty()) result.first_error = fmt::format("HTTP {}: {}", response.result_int(), response.body());
      }
      if (!response.keep_alive()) {
        socket = connect_bounded(io, port);
        buffer.clear();
      }
    }
  });
}

}  // namespace scpool
