// The leases whose holders keep them for long (an HTTP/2 session): the listener by which the pool
// asks each connection back (Lease::on_retire), and, for a holder that multiplexes, its slots
// (SlotReport) with the start of its current idle spell. Few entries (one per session), so a
// list beside the connections rather than fields in every one of them, idle ones included.
//
//   leases.entry(connection).listener = std::move(listener);
//   if (auto listener = leases.take_listener(connection)) call(listener, RetireReason::idle);
//   leases.forget(connection);   // the lease came back
//
// Threads: guarded by the pool's lock.
#pragma once

#include "pool/slot_report.hpp"
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
    std::weak_ptr<const SlotReport> slots{};  // expired or empty: one exchange at a time
    std::uint64_t started_seen = 0;           // exchanges_started() when the idle spell began
    Clock::time_point quiet_since{};          // pool clock: the idle spell's start, as first seen
    bool quiet = false;                       // quiet_since holds: no look found it busy since
    std::uint64_t failures_seen = 0;          // exchanges_failed() at the last cleanup pass
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
  // does not multiplex (or is gone). The spell starts at the first look that finds nothing in
  // use and nothing started since the last look, so it is late by up to one look's interval:
  // a connection is closed for idleness late, never early.
  std::optional<Clock::duration> quiet_for(const PooledConnection& connection, Clock::time_point now) {
    Entry* found = find(connection);
    if (!found) return std::nullopt;
    const std::shared_ptr<const SlotReport> slots = found->slots.lock();
    if (!slots) return std::nullopt;
    const std::uint64_t started = slots->exchanges_started();
    if (slots->slots_in_use() > 0) {
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

  // Exchanges that failed on the connection since the last call (the cleanup pass's), or, with
  // `consume` false, since then without moving the mark (status).
  std::uint32_t recent_failures(const PooledConnection& connection, bool consume) {
    Entry* found = find(connection);
    if (!found) return 0;
    const std::shared_ptr<const SlotReport> slots = found->slots.lock();
    if (!slots) return 0;
    const std::uint64_t failed = slots->exchanges_failed();
    const std::uint64_t recent = failed - std::min(failed, found->failures_seen);
    if (consume) found->failures_seen = failed;
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(recent, UINT32_MAX));
  }

  const std::vector<Entry>& entries() const noexcept { return entries_; }

 private:
  std::vector<Entry> entries_;
};

}  // namespace securechannel::detail
