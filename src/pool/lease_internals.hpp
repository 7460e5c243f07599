// What the library's protocol code does with a lease beyond what users can: tune its channel (an
// HTTP/2 session keeps its buffers warm; HTTP/1.1 probes a reused connection before writing to
// it), hear why the pool wants it back, and show the pool its slots when it multiplexes.
// Lease::channel() gives users a read-only view, Lease::on_retire a listener without the reason.
#pragma once

#include "pool/slot_report.hpp"
#include "securechannel/lease.hpp"
#include "securechannel/secure_channel_pool.hpp"

#include <functional>
#include <memory>

namespace securechannel::detail {

struct LeaseInternals {
  static SecureChannel& channel(Lease& lease) noexcept { return lease.connection_->channel(); }

  // Lease::on_retire with the reason, which tells a multiplexing holder whether to open a
  // replacement first (RetireReason::idle: nothing needs one).
  static void on_retire(Lease& lease, std::function<void(RetireReason)> listener) {
    if (lease.connection_ && listener) lease.pool_->watch_retire(*lease.connection_, std::move(listener));
  }

  // From now until the lease ends, the pool reads `slots` for status and for the idle rule
  // (SlotReport). Held weakly: the pool never keeps the holder alive.
  static void share_slots(Lease& lease, std::weak_ptr<const SlotReport> slots) {
    if (lease.connection_) lease.pool_->share_slots(*lease.connection_, std::move(slots));
  }
};

}  // namespace securechannel::detail
