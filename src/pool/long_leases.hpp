// The leases whose holders keep them for long (an HTTP/2 session): the listener by which the pool
// asks each connection back (Lease::on_retire), and, for a holder that multiplexes, its slots
// (LeaseSlots) with the start of its current idle spell and the failures already counted. Few
// entries (one per session), so a list beside the connections rather than fields in every one
// of them, idle ones included.
//
//   leases.entry(connection).listener = std::move(listener);
//   if (auto listener = leases.take_listener(connection)) call(listener, RetireReason::max_lifetime);
//   leases.forget(connection);   // the lease came back
//
// Threads: guarded by the pool's lock.
#pragma once

#include "pool/lease_slots.hpp"
#include "securechannel/clock.hpp"
#include "securechannel/detail/pooled_connection.hpp"

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace securechannel::detail {

class LongLeases {
 public:
  using Listener = std::function<void(RetireReason)>;

  struct Entry {
    const PooledConnection* connection = nullptr;
    Listener listener{};                      // empty once called
    std::shared_ptr<const LeaseSlots> slots{};  // empty: one exchange at a time
    std::uint64_t started_seen = 0;           // slots->started when the idle spell began
    Clock::time_point quiet_since{};          // pool clock: the idle spell's start, as first seen
    bool quiet = false;                       // quiet_since holds: no look found it busy since
    std::uint64_t failures_seen = 0;          // slots->failed at the last cleanup pass
  };

  // The connection's entry, made on first use.
  Entry& entry(const PooledConnection& connection) {
    if (Entry* found = find(connection)) return *found;
    return entries_.emplace_back(Entry{.connection = &connection});
  }

  Entry* find(const PooledConnection& connection) noexcept {
    const auto found = std::find_if(entries_.begin(), entries_.end(),
                                    [&](const Entry& entry) { return entry.connection == &connection; });
    return found == entries_.end() ? nullptr : &*found;
  }

  // The listener, once: later calls return an empty one.
  Listener take_listener(const PooledConnection& connection) noexcept {
    Entry* found = find(connection);
    return found ? std::exchange(found->listener, nullptr) : nullptr;
  }

  void forget(const PooledConnection& connection) {
    std::erase_if(entries_, [&](const Entry& entry) { return entry.connection == &connection; });
  }

  // How long the connection's holder has run no exchange, as the pool saw it: nullopt when it
  // does not multiplex. The spell starts at the first look that finds nothing in use and
  // nothing started since the last look, so it is late by up to one look's interval: a
  // connection is closed for idleness late, never early.
  std::optional<Clock::duration> quiet_for(const PooledConnection& connection, Clock::time_point now) {
    Entry* found = find(connection);
    if (!found || !found->slots) return std::nullopt;
    // In use first: a stream that starts and ends between the two reads still moves `started`.
    const bool busy = found->slots->in_use.load(std::memory_order_acquire) > 0;
    const std::uint64_t started = found->slots->started.load(std::memory_order_acquire);
    if (busy) {
      found->quiet = false;  // the spell can start only at a look that finds it idle
      return Clock::duration::zero();
    }
    if (!found->quiet || started != found->started_seen) {
      found->started_seen = started;
      found->quiet_since = now;
      found->quiet = true;
      return Clock::duration::zero();
    }
    return now - found->quiet_since;
  }

  // Exchanges that failed on the entry's connection since the last take_failures (the cleanup
  // pass's); 0 for a connection that does not multiplex.
  static std::uint32_t failures_since_taken(const Entry& entry) noexcept {
    if (!entry.slots) return 0;
    const std::uint64_t failed = entry.slots->failed.load(std::memory_order_relaxed);
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(failed - std::min(failed, entry.failures_seen), UINT32_MAX));
  }
  std::uint32_t take_failures(const PooledConnection& connection) noexcept {
    Entry* found = find(connection);
    if (!found) return 0;
    const std::uint32_t recent = failures_since_taken(*found);
    if (found->slots) found->failures_seen = found->slots->failed.load(std::memory_order_relaxed);
    return recent;
  }

  const std::vector<Entry>& entries() const noexcept { return entries_; }

 private:
  std::vector<Entry> entries_;
};

}  // namespace securechannel::detail
