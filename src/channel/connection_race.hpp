// Happy Eyeballs (RFC 8305): connect to a host's addresses without waiting for a broken one.
// The addresses are tried with their families alternating (the resolver's first address first,
// then the other family's first, ...); while no attempt has connected a new one starts every
// connection_attempt_delay, or at once when every attempt so far has failed; the first socket to
// connect wins and the others are closed. A host whose IPv6 route is a blackhole thus costs
// 250 ms more than an IPv4-only one, not a whole connect timeout.
//
//   RaceOutcome won = co_await race_connections(interleave_families(addresses), io_executor,
//                                               deadline, abandoned);
//   if (won.error) ...   // connect_timeout, connect_refused (every address failed), operation_aborted
//   socket_ = std::move(*won.socket);
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <vector>

namespace securechannel::detail {

// RFC 8305 section 8's recommended Connection Attempt Delay.
constexpr std::chrono::milliseconds connection_attempt_delay{250};

// The order in which to try `addresses`: families alternating, starting with the first
// address's family, each family's addresses in the resolver's order (RFC 8305 section 4).
std::vector<boost::asio::ip::tcp::endpoint> interleave_families(const std::vector<boost::asio::ip::tcp::endpoint>& addresses);

struct RaceOutcome {
  boost::system::error_code error{};
  std::optional<boost::asio::ip::tcp::socket> socket{};  // connected, when error is empty
};

// On the calling coroutine's executor, which must be a strand (or one thread); sockets are made
// on `socket_executor`. `abandoned` (may be empty) is asked at least every 100 ms: true closes
// every attempt and ends with operation_aborted.
boost::asio::awaitable<RaceOutcome> race_connections(std::vector<boost::asio::ip::tcp::endpoint> addresses,
                                                     boost::asio::any_io_executor socket_executor,
                                                     std::chrono::steady_clock::time_point deadline,
                                                     std::function<bool()> abandoned);

}  // namespace securechannel::detail
