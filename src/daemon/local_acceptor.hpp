// The accepting half every sidecar listener shares: binds at creation (so bind errors surface
// before anything is served), accepts onto a strand per connection, stops accepting at
// max_connections (further clients wait in the kernel's backlog, holding none of our
// descriptors) and resumes when a connection closes, pauses after an accept error such as
// EMFILE instead of spinning, and winds down with a drain that has a deadline.
//
//   auto acceptor = LocalAcceptor::create(executor, endpoint, max_connections, "tcp listener", pool_name, error);
//   acceptor->start([](tcp::socket socket) { start_session(std::move(socket)); });
//   ... when a session's socket closes: acceptor->connection_closed();
//   acceptor->async_drain(grace, {.begin = drain_sessions, .deadline = close_sessions}, done);
//
// Thread-safety: all member functions may be called from any thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/system/error_code.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace securechannel::daemon {

class LocalAcceptor : public std::enable_shared_from_this<LocalAcceptor> {
  struct PrivateTag {};

 public:
  using executor_type = boost::asio::any_io_executor;
  // Gets each accepted socket, on the socket's own strand's executor. A slot is taken for it:
  // call connection_closed() once when that socket closes.
  using AcceptHandler = std::function<void(boost::asio::ip::tcp::socket)>;

  struct DrainSteps {
    std::function<void()> begin;     // at once: let open connections finish what they are doing
    std::function<void()> deadline;  // at the grace: close whatever is still open
  };

  // Binds and listens; nullptr with `error` set when it cannot (address_in_use, ...).
  // `what` and `pool_name` name it in the log ("tcp listener", "relay").
  static std::shared_ptr<LocalAcceptor> create(executor_type executor, const boost::asio::ip::tcp::endpoint& endpoint,
                                               std::size_t max_connections, std::string what, std::string pool_name,
                                               boost::system::error_code& error);

  LocalAcceptor(PrivateTag, executor_type executor, std::size_t max_connections, std::string what,
                std::string pool_name);

  // Starts accepting. Idempotent; does nothing after stop_accepting().
  void start(AcceptHandler on_accept);
  void stop_accepting();
  void connection_closed();
  // A new cap (> 0). Raised: accepting resumes at once if it had paused at the old one. Lowered:
  // open connections stay; the accept already waiting may take one more, then accepting pauses
  // until fewer than the new cap are open.
  void set_max_connections(std::size_t max_connections);
  std::size_t max_connections() const noexcept { return max_connections_.load(std::memory_order_relaxed); }
  // Stops accepting, runs steps.begin, and steps.deadline after `grace` if connections are still
  // open; `done` is posted (never run inline) once none is open. A second call's `done` runs then too.
  void async_drain(std::chrono::milliseconds grace, DrainSteps steps, std::function<void()> done);

  boost::asio::ip::tcp::endpoint local_endpoint() const noexcept { return local_endpoint_; }
  std::size_t open_connections() const noexcept { return open_.load(std::memory_order_relaxed); }
  std::uint64_t connections_accepted() const noexcept { return accepted_.load(std::memory_order_relaxed); }
  std::uint64_t accept_pauses() const noexcept { return pauses_.load(std::memory_order_relaxed); }
  executor_type get_executor() const noexcept { return executor_; }

 private:
  boost::system::error_code listen(const boost::asio::ip::tcp::endpoint& endpoint);
  void accept_next();
  void on_accept(const boost::system::error_code& error, boost::asio::ip::tcp::socket socket);
  void on_slot_released();
  void stop_on_strand();
  void finish_drain_if_empty();

  executor_type executor_;
  boost::asio::strand<executor_type> strand_;  // the acceptor and the fields below
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_retry_;
  boost::asio::steady_timer drain_deadline_;
  boost::asio::ip::tcp::endpoint local_endpoint_;
  std::atomic<std::size_t> max_connections_;
  const std::string what_;
  const std::string pool_name_;
  AcceptHandler on_accept_;
  bool accepting_ = false;
  bool stopped_ = false;
  bool accept_paused_ = false;
  bool draining_ = false;
  std::vector<std::function<void()>> drain_done_;
  std::atomic<std::size_t> open_{0};
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> pauses_{0};
};

}  // namespace securechannel::daemon
