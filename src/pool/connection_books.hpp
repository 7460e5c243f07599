// ConnectionBooks: the connections a pool holds and how many are in each state. Every live
// connection (connecting, idle, leased) is listed once, by position, so it leaves the list in
// constant time; the idle ones also sit on a LIFO stack (the back is the warmest); connections
// sending close_notify are only counted, yet still count against max_connections.
//
//   auto& connection = books.open(std::make_shared<PooledConnection>(books.next_id(), ...));
//   books.move(connection, ConnectionState::idle);     // leaves `connecting`, joins the stack
//   auto owned = books.take_out(connection);           // off the list; then closing or closed
//
// The pool's lock guards it; the pool decides the moves (SecureChannelPool::transition).
#pragma once

#include "securechannel/detail/pooled_connection.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace securechannel::detail {

class ConnectionBooks {
 public:
  // `lifetime_seed` spreads max_lifetime differently in every pool (past_lifetime).
  explicit ConnectionBooks(std::uint64_t lifetime_seed) : lifetime_seed_(lifetime_seed) {}

  std::uint64_t next_id() noexcept { return ++last_id_; }
  std::uint64_t lifetime_seed() const noexcept { return lifetime_seed_; }

  // A connection just made, in ConnectionState::connecting.
  PooledConnection& open(std::shared_ptr<PooledConnection> connection) {
    connection->index_in_pool_ = static_cast<std::uint32_t>(live_.size());
    live_.push_back(std::move(connection));
    ++connecting_;
    return *live_.back();
  }

  // Off the list of live connections, keeping the one moved into its place findable. Its state
  // is left to the caller's next move (closing or closed).
  std::shared_ptr<PooledConnection> take_out(PooledConnection& connection) {
    const std::uint32_t index = connection.index_in_pool_;
    std::shared_ptr<PooledConnection> owned = std::move(live_[index]);
    if (index + 1 != live_.size()) {
      live_[index] = std::move(live_.back());
      live_[index]->index_in_pool_ = index;
    }
    live_.pop_back();
    return owned;
  }

  // Out of the state it is in, into `to`.
  void move(PooledConnection& connection, ConnectionState to) {
    switch (connection.state_) {
      case ConnectionState::connecting: --connecting_; break;
      case ConnectionState::idle: idle_.erase(std::find(idle_.rbegin(), idle_.rend(), &connection).base() - 1); break;
      case ConnectionState::leased: --leased_; break;
      case ConnectionState::closing: --closing_; break;
      case ConnectionState::closed: break;
    }
    switch (to) {
      case ConnectionState::connecting: ++connecting_; break;
      case ConnectionState::idle: idle_.push_back(&connection); break;
      case ConnectionState::leased: ++leased_; break;
      case ConnectionState::closing: ++closing_; break;
      case ConnectionState::closed: break;
    }
    connection.state_ = to;
  }

  // Connecting, idle and leased.
  const std::vector<std::shared_ptr<PooledConnection>>& live() const noexcept { return live_; }
  // Oldest first: back() is the warmest, the one handed out next.
  const std::vector<PooledConnection*>& idle() const noexcept { return idle_; }
  std::size_t connecting() const noexcept { return connecting_; }
  std::size_t leased() const noexcept { return leased_; }
  // Sockets that count against max_connections: the live ones and those sending close_notify.
  std::size_t total() const noexcept { return live_.size() + closing_; }
  // Nothing connecting, idle or closing: what a shutdown waits for beside the leases.
  bool settled_but_leases() const noexcept { return connecting_ == 0 && closing_ == 0 && idle_.empty(); }

 private:
  std::vector<std::shared_ptr<PooledConnection>> live_;
  std::vector<PooledConnection*> idle_;
  std::size_t connecting_ = 0;
  std::size_t leased_ = 0;
  std::size_t closing_ = 0;
  std::uint64_t last_id_ = 0;
  const std::uint64_t lifetime_seed_;
};

}  // namespace securechannel::detail
