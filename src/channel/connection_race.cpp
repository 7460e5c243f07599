#include "channel/connection_race.hpp"

#include "channel/abandon_check.hpp"
#include "securechannel/error.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <memory>

namespace securechannel::detail {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {

// What the attempts' completions and the racing coroutine share; both run on the same strand.
// Owned by the completions too, so that attempts closed after the race may complete late.
struct Race {
  explicit Race(const asio::any_io_executor& strand) : wake(strand) {}

  void close_all_but(std::optional<std::size_t> kept) {
    for (std::size_t i = 0; i < sockets.size(); ++i) {
      if (kept && *kept == i) continue;
      error_code ignored;
      sockets[i]->close(ignored);
    }
  }

  asio::steady_timer wake;  // cancelled by every completion
  std::vector<std::unique_ptr<tcp::socket>> sockets;
  std::size_t failed = 0;
  std::optional<std::size_t> winner;
};

}  // namespace

std::vector<tcp::endpoint> interleave_families(const std::vector<tcp::endpoint>& addresses) {
  if (addresses.empty()) return {};
  const bool first_is_v6 = addresses.front().address().is_v6();
  std::vector<tcp::endpoint> preferred, other;
  for (const tcp::endpoint& address : addresses) {
    (address.address().is_v6() == first_is_v6 ? preferred : other).push_back(address);
  }
  std::vector<tcp::endpoint> ordered;
  ordered.reserve(addresses.size());
  for (std::size_t i = 0; i < std::max(preferred.size(), other.size()); ++i) {
    if (i < preferred.size()) ordered.push_back(preferred[i]);
    if (i < other.size()) ordered.push_back(other[i]);
  }
  return ordered;
}

asio::awaitable<RaceOutcome> race_connections(std::vector<tcp::endpoint> addresses,
                                              asio::any_io_executor socket_executor, Clock::time_point deadline,
                                              std::function<bool()> abandoned) {
  const auto strand = co_await asio::this_coro::executor;
  auto race = std::make_shared<Race>(strand);
  std::size_t next = 0;
  Clock::time_point last_start{};
  error_code open_error;
  while (!race->winner) {
    const auto now = Clock::now();
    const bool every_attempt_failed = race->failed == race->sockets.size();
    if (next == addresses.size() && every_attempt_failed) break;
    if (now >= deadline || (abandoned && abandoned())) {
      race->close_all_but(std::nullopt);
      co_return RaceOutcome{.error = now >= deadline ? error_code(errc::connect_timeout)
                                                     : error_code(asio::error::operation_aborted)};
    }
    if (next < addresses.size() && (every_attempt_failed || now - last_start >= connection_attempt_delay)) {
      const std::size_t index = race->sockets.size();
      race->sockets.push_back(std::make_unique<tcp::socket>(socket_executor));
      tcp::socket& socket = *race->sockets.back();
      last_start = now;
      socket.open(addresses[next].protocol(), open_error);
      if (open_error) {
        ++race->failed;  // no descriptor: the next address is tried at once
      } else {
        socket.async_connect(addresses[next], asio::bind_executor(strand, [race, index](const error_code& error) {
                               if (error) {
                                 ++race->failed;
                               } else if (race->winner) {
                                 error_code ignored;  // a second connection, not needed
                                 race->sockets[index]->close(ignored);
                               } else {
                                 race->winner = index;
                               }
                               race->wake.cancel();
                             }));
      }
      ++next;
      continue;
    }
    auto wake_at = std::min(deadline, now + abandon_check_interval);
    if (next < addresses.size()) wake_at = std::min(wake_at, last_start + connection_attempt_delay);
    race->wake.expires_at(wake_at);
    co_await race->wake.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (!race->winner) {
    // Refused or unreachable everywhere (errc::connect_refused's message says both); a socket
    // that could not even be opened says why instead.
    co_return RaceOutcome{.error = race->sockets.size() == 1 && open_error ? open_error
                                                                          : error_code(errc::connect_refused)};
  }
  race->close_all_but(race->winner);
  RaceOutcome won;
  won.socket.emplace(std::move(*race->sockets[*race->winner]));
  co_return won;
}

}  // namespace securechannel::detail
