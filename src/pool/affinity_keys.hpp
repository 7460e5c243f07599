// AffinityKeys: which connection each affinity key (securechannel/affinity.hpp) is bound to,
// the least recently used forgotten beyond a bound, and how many keys each connection holds.
// A key names its connection by id, never by pointer: a connection that closes only leaves the
// table of live connections, and its keys find it gone on their next use (they move, and their
// caller is told) without a walk over every key when it closes.
//
//   AffinityKeys keys(10'000);
//   if (PooledConnection* bound = keys.find("session-42")) take(*bound);
//   const AffinityOutcome outcome = keys.bind("session-42", connection);  // new_key, kept, moved
//   keys.forget_connection(connection);                                   // it closed
//
// Threads: guarded by the pool's lock.
#pragma once

#include "securechannel/affinity.hpp"
#include "securechannel/detail/pooled_connection.hpp"

#include <cstdint>
#include <list>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

namespace securechannel::detail {

class AffinityKeys {
 public:
  // max_keys >= 1 (PoolConfig::validate).
  explicit AffinityKeys(std::size_t max_keys) : max_keys_(max_keys) {}

  // The key's live connection: nullptr when the key is new, forgotten, or its connection
  // closed. Counts as a use of the key (it becomes the most recently used).
  PooledConnection* find(std::string_view key) {
    const auto entry = by_key_.find(key);
    if (entry == by_key_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, entry->second);
    const auto bound = connections_.find(entry->second->connection_id);
    return bound == connections_.end() ? nullptr : bound->second.connection;
  }

  // Binds the key to `connection` (most recently used): new_key when it was not remembered,
  // kept when it was bound to this connection already, moved otherwise. Remembering a new key
  // beyond max_keys forgets the least recently used one.
  AffinityOutcome bind(std::string_view key, PooledConnection& connection) {
    auto entry = by_key_.find(key);
    if (entry != by_key_.end()) {
      lru_.splice(lru_.begin(), lru_, entry->second);
      Entry& bound = *entry->second;
      if (bound.connection_id == connection.id()) return AffinityOutcome::kept;
      drop_count(bound.connection_id);
      bound.connection_id = connection.id();
      add_count(connection);
      ++moves_;
      return AffinityOutcome::moved;
    }
    if (lru_.size() >= max_keys_) forget_least_recent();
    lru_.push_front(Entry{std::string(key), connection.id()});
    by_key_.emplace(lru_.front().key, lru_.begin());
    add_count(connection);
    return AffinityOutcome::new_key;
  }

  // The connection closed: its keys stay remembered and move on their next use.
  void forget_connection(const PooledConnection& connection) { connections_.erase(connection.id()); }

  std::uint32_t keys_of(const PooledConnection& connection) const {
    const auto bound = connections_.find(connection.id());
    return bound == connections_.end() ? 0 : bound->second.keys;
  }

  // Of the idle stack (oldest first, the warmest last), the connection holding the fewest keys;
  // the warmest among equals. Where a new key goes, so that keys spread over the connections.
  PooledConnection* fewest_keys(std::span<PooledConnection* const> idle) const {
    PooledConnection* best = nullptr;
    std::uint32_t best_keys = UINT32_MAX;
    for (auto candidate = idle.rbegin(); candidate != idle.rend() && best_keys != 0; ++candidate) {
      const std::uint32_t keys = keys_of(**candidate);
      if (keys < best_keys) {
        best = *candidate;
        best_keys = keys;
      }
    }
    return best;
  }

  bool empty() const noexcept { return lru_.empty(); }
  // Keys remembered, including those whose connection closed.
  std::size_t size() const noexcept { return lru_.size(); }
  // Keys that went to another connection than the one they had (AffinityOutcome::moved).
  std::uint64_t moves() const noexcept { return moves_; }
  // Keys forgotten to stay within max_keys.
  std::uint64_t evictions() const noexcept { return evictions_; }

 private:
  struct Entry {
    std::string key;
    std::uint64_t connection_id;
  };
  struct Bound {
    PooledConnection* connection;
    std::uint32_t keys;
  };

  void forget_least_recent() {
    const Entry& oldest = lru_.back();
    drop_count(oldest.connection_id);
    by_key_.erase(oldest.key);
    lru_.pop_back();
    ++evictions_;
  }
  void add_count(PooledConnection& connection) {
    auto [bound, added] = connections_.try_emplace(connection.id(), Bound{&connection, 0});
    ++bound->second.keys;
  }
  void drop_count(std::uint64_t connection_id) {
    const auto bound = connections_.find(connection_id);
    if (bound != connections_.end() && --bound->second.keys == 0) connections_.erase(bound);
  }

  const std::size_t max_keys_;
  std::list<Entry> lru_;  // the most recently used first; a node never moves, so views stay valid
  std::unordered_map<std::string_view, std::list<Entry>::iterator> by_key_;  // views of lru_'s keys
  // Live connections that hold keys.
  std::unordered_map<std::uint64_t, Bound> connections_;
  std::uint64_t moves_ = 0;
  std::uint64_t evictions_ = 0;
};

}  // namespace securechannel::detail
