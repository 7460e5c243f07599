// What the library's protocol code does with a lease beyond what users can: tune its channel (an
// HTTP/2 session keeps its buffers warm; HTTP/1.1 probes a reused connection before writing to
// it), hear why the pool wants it back, and show the pool its slots when it multiplexes.
// Lease::channel() gives users a read-only view, Lease::on_retire a listener without the reason.
#pragma once

#include "pool/lease_slots.hpp"
#include "securechannel/lease.hpp"
#include "securechannel/secure_channel_pool.hpp"

#include <chrono>
#include <functional>
#include <memory>

namespace securechannel::detail {

struct LeaseInternals {
  static SecureChannel& channel(Lease& lease) noexcept { return lease.connection_->channel(); }

  // How recent "moments ago" is below: a server's close or stray bytes would have to come within
  // it of the reply they follow, where a probe before writing races them anyway.
  static constexpr std::chrono::microseconds moments{1000};

  // The last thing done on the connection was a read that found its socket empty, under
  // `moments` ago (the I/O clock, not the pool's coarse one): a probe now could see only what
  // came since. HttpClient reuses such a connection for HTTP/1.1 without its probe.
  static bool emptied_moments_ago(Lease& lease) noexcept {
    return lease.connection_ && lease.connection_->channel().emptied_by_last_read() &&
           std::chrono::steady_clock::now() - lease.connection_->last_io() < moments;
  }

  // Lease::on_retire with the reason, which tells a multiplexing holder whether to open a
  // replacement first. RetireReason::idle is a suggestion: the listener stays, the connection is
  // not marked, and the holder that agrees says so with retiring_for.
  static void on_retire(Lease& lease, std::function<void(RetireReason)> listener) {
    if (lease.connection_ && listener) lease.pool_->watch_retire(*lease.connection_, std::move(listener));
  }

  // From now until the lease ends, the pool reads `slots` for status, its idle rule and the
  // connection's health (LeaseSlots).
  static void share_slots(Lease& lease, std::shared_ptr<const LeaseSlots> slots) {
    if (lease.connection_) lease.pool_->share_slots(*lease.connection_, std::move(slots));
  }

  // The holder gives the connection back for `reason` once its exchanges are done: counted so
  // when the lease ends. For RetireReason::idle, which the pool only suggests (the holder knows
  // whether a stream began meanwhile).
  static void retiring_for(Lease& lease, RetireReason reason) {
    if (lease.connection_) lease.pool_->holder_retires(*lease.connection_, reason);
  }

  // Affinity keys for a holder's own exchanges (an HTTP/2 session's streams): the connection a
  // key has (0: none), and the key bound to the connection its exchange went to.
  static std::uint64_t affinity_connection_id(SecureChannelPool& pool, std::string_view key) {
    return pool.affinity_connection_id(key);
  }
  static AffinityOutcome bind_affinity(SecureChannelPool& pool, std::string_view key, std::uint64_t connection_id) {
    return pool.bind_affinity(key, connection_id);
  }
};

}  // namespace securechannel::detail
